import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  lowRankDense,
  lowRankPlusDiagonal,
  lowRankQuad,
  rowsCovarianceProduct,
  tridiagonalEigen,
} from "./lowrank.ts";
import { symmetricEigen } from "./linalg.ts";
import { mulberry32 } from "./_rng.ts";

/** A K x K Gram matrix of `rows` correlated rows (a shared factor plus noise), and the rows' generator. */
function gram(k: number, rows: number, seed: number, factors = 2): Float64Array {
  const u = mulberry32(seed);
  const h = new Float64Array(k * k);
  const loads = Array.from({ length: factors }, () => Float64Array.from({ length: k }, () => u() - 0.5));
  const x = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    x.fill(0);
    for (const l of loads) {
      const z = 3 * (u() - 0.5);
      for (let i = 0; i < k; i++) x[i]! += z * l[i]!;
    }
    for (let i = 0; i < k; i++) x[i]! += 0.3 * (u() - 0.5);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += (x[i]! * x[j]!) / rows;
  }
  return h;
}

Deno.test("lowRankPlusDiagonal: full rank reproduces the matrix; the diagonal is always exact", () => {
  const k = 12, h = gram(k, 50, 1);
  const full = lowRankDense(lowRankPlusDiagonal(h, { rank: k, iterations: 40 }));
  for (let i = 0; i < h.length; i++) assertAlmostEquals(full[i]!, h[i]!, 1e-9);
  for (const rank of [0, 1, 3]) {
    const d = lowRankDense(lowRankPlusDiagonal(h, { rank }));
    for (let i = 0; i < k; i++) assertAlmostEquals(d[i * k + i]!, h[i * k + i]!, 1e-12);
  }
});

Deno.test("lowRankPlusDiagonal: rank r captures a rank-r factor structure (quadratic forms within 5%)", () => {
  const k = 40, h = gram(k, 400, 2, 2);
  const m = lowRankPlusDiagonal(h, { rank: 2 });
  const diagOnly = lowRankPlusDiagonal(h, { rank: 0 });
  const u = mulberry32(3);
  let worst = 0, worstDiag = 0;
  for (let t = 0; t < 20; t++) {
    const v = Float64Array.from({ length: k }, () => u() - 0.5);
    let exact = 0;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) exact += v[i]! * h[i * k + j]! * v[j]!;
    worst = Math.max(worst, Math.abs(lowRankQuad(m, v) / exact - 1));
    worstDiag = Math.max(worstDiag, Math.abs(lowRankQuad(diagOnly, v) / exact - 1));
  }
  assert(worst < 0.05, `rank-2 quadratic forms off by ${worst}`);
  assert(worstDiag > 4 * worst, `the diagonal alone should be far worse (${worstDiag} vs ${worst})`);
});

Deno.test("lowRankPlusDiagonal: a given diagonal replaces A's, clamped at 0 below the low-rank part", () => {
  const k = 6, h = gram(k, 30, 4, 1);
  const target = Float64Array.from({ length: k }, (_, i) => (i === 0 ? 0 : 2 * h[i * k + i]!));
  const m = lowRankPlusDiagonal(h, { rank: 1, diag: target });
  assertEquals(m.diag[0], 0);
  const d = lowRankDense(m);
  for (let i = 1; i < k; i++) assertAlmostEquals(d[i * k + i]!, target[i]!, 1e-12);
});

Deno.test("lowRankPlusDiagonal: a matrix of lower rank drops the vanishing directions", () => {
  // u u^T with u = (1, 2, 3): rank 1; asking for 3 keeps 1 column.
  const u = [1, 2, 3], h = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) h[i * 3 + j] = u[i]! * u[j]!;
  const m = lowRankPlusDiagonal(h, { rank: 3 });
  assertEquals(m.rank, 1);
  assertAlmostEquals(lowRankQuad(m, [1, 0, -1]), 4, 1e-9);
});

Deno.test("lowRankPlusDiagonal: refuses a non-square or non-finite matrix", () => {
  assertThrows(() => lowRankPlusDiagonal(new Float64Array(5)), RangeError, "not K x K");
  assertThrows(() => lowRankPlusDiagonal(new Float64Array([1, NaN, 0, 1])), RangeError, "entry 1");
  assertThrows(() => lowRankPlusDiagonal(new Float64Array(4), { diag: [1] }), RangeError, "diagonal of 1");
});

/** m correlated rows of width k (a shared factor plus noise), float32. */
function correlatedRows(m: number, k: number, seed: number): Float32Array {
  const u = mulberry32(seed), load = Float64Array.from({ length: k }, () => u() - 0.5);
  const x = new Float32Array(m * k);
  for (let i = 0; i < m; i++) {
    const z = 3 * (u() - 0.5);
    for (let j = 0; j < k; j++) x[i * k + j] = z * load[j]! + 0.3 * (u() - 0.5) + 0.2;
  }
  return x;
}

Deno.test("rowsCovarianceProduct: the WebAssembly and JavaScript paths agree bit for bit, and equal (X^T X / m - mu mu^T) Q", () => {
  for (const [m, k, r] of [[1, 1, 1], [13, 7, 3], [64, 33, 8], [130, 40, 5]] as const) {
    const rows = correlatedRows(m, k, m + k);
    const mean = Float64Array.from({ length: k }, (_, j) => {
      let s = 0;
      for (let i = 0; i < m; i++) s += rows[i * k + j]!;
      return s / m;
    });
    const u = mulberry32(r), q = Float64Array.from({ length: k * r }, () => u() - 0.5);
    for (const c of [{ k, rows, count: m }, { k, rows, count: m, mean }]) {
      const fast = rowsCovarianceProduct(c, q, r), slow = rowsCovarianceProduct(c, q, r, { scalar: true });
      assertEquals(fast, slow, `m=${m} k=${k} r=${r}`);
      for (let j = 0; j < r; j++) {
        for (let x = 0; x < k; x++) {
          let s = 0;
          for (let y = 0; y < k; y++) {
            let g = 0;
            for (let i = 0; i < m; i++) g += rows[i * k + x]! * rows[i * k + y]!;
            s += (g / m - (c.mean ? mean[x]! * mean[y]! : 0)) * q[j * k + y]!;
          }
          assertAlmostEquals(fast[j * k + x]!, s, 1e-9 * (1 + Math.abs(s)));
        }
      }
    }
  }
});

Deno.test("lowRankPlusDiagonal: from rows it approximates as from their covariance matrix", () => {
  const m = 120, k = 30, rows = correlatedRows(m, k, 5);
  const mean = new Float64Array(k), cov = new Float64Array(k * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) mean[j]! += rows[i * k + j]! / m;
  for (let x = 0; x < k; x++) {
    for (let y = 0; y < k; y++) {
      let g = 0;
      for (let i = 0; i < m; i++) g += rows[i * k + x]! * rows[i * k + y]!;
      cov[x * k + y] = g / m - mean[x]! * mean[y]!;
    }
  }
  const diag = Float64Array.from({ length: k }, (_, i) => cov[i * k + i]!);
  const a = lowRankDense(lowRankPlusDiagonal(cov, { rank: 3, diag }));
  const b = lowRankDense(lowRankPlusDiagonal({ k, rows, count: m, mean }, { rank: 3, diag }));
  for (let i = 0; i < a.length; i++) assertAlmostEquals(b[i]!, a[i]!, 1e-9);
  assertThrows(() => lowRankPlusDiagonal({ k, rows, count: m }), TypeError, "target diagonal");
  assertThrows(() => lowRankPlusDiagonal({ k, rows, count: m + 1 }, { diag }), RangeError, "rows of 30");
});

Deno.test("lowRankPlusDiagonal: rank >= K is the exact eigendecomposition (orthonormal Q, diagonal T)", () => {
  const k = 9, h = gram(k, 60, 5, 3);
  const m = lowRankPlusDiagonal(h, { rank: 32, exactWhenFull: true });
  assertEquals(m.rank, k);
  assertEquals(lowRankPlusDiagonal(h, { rank: 32 }).lambda, undefined); // the iterations unless asked
  assert(m.lambda !== undefined && m.lambda.length === k);
  const d = lowRankDense(m);
  for (let i = 0; i < h.length; i++) assertAlmostEquals(d[i]!, h[i]!, 1e-12);
  for (let i = 0; i < k; i++) assertAlmostEquals(m.diag[i]!, 0, 1e-12);
  // Q^T Q = I and P = Q diag(lambda)
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let x = 0; x < k; x++) s += m.q[x * k + a]! * m.q[x * k + b]!;
      assertAlmostEquals(s, a === b ? 1 : 0, 1e-12);
    }
  }
  for (let x = 0; x < k * k; x++) assertEquals(m.p[x], m.q[x]! * m.lambda![x % k]!);
  // quadratic forms are v^T H v up to round-off
  const u = mulberry32(6);
  for (let t = 0; t < 5; t++) {
    const v = Float64Array.from({ length: k }, () => u() - 0.5);
    let exact = 0;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) exact += v[i]! * h[i * k + j]! * v[j]!;
    assertAlmostEquals(lowRankQuad(m, v), exact, 1e-12);
  }
});

Deno.test("tridiagonalEigen: V diag(lambda) V^T = A, V orthonormal, the Jacobi eigenvalues (full, deficient, zero)", () => {
  for (const [n, rows] of [[1, 1], [2, 5], [9, 4], [9, 30], [25, 12], [25, 80]] as const) {
    for (const zero of [false, true]) {
      const h = zero ? new Float64Array(n * n) : gram(n, rows, n + rows, 3);
      const { values, vectors: v } = tridiagonalEigen(h, n);
      let norm = 1e-300;
      for (const x of h) norm = Math.max(norm, Math.abs(x));
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0, o = 0;
          for (let k = 0; k < n; k++) {
            s += v[i * n + k]! * values[k]! * v[j * n + k]!, o += v[k * n + i]! * v[k * n + j]!;
          }
          assertAlmostEquals(s / norm, h[i * n + j]! / norm, 1e-12);
          assertAlmostEquals(o, i === j ? 1 : 0, 1e-12);
        }
      }
      const ref = [...symmetricEigen(h).values].sort((a, b) => a - b);
      const got = [...values].sort((a, b) => a - b);
      for (let i = 0; i < n; i++) assertAlmostEquals(got[i]! / norm, ref[i]! / norm, 1e-12);
    }
  }
});
