import { assert, assertAlmostEquals, assertEquals, assertLess, assertThrows } from "@std/assert";
import {
  cholesky,
  choleskyInverse,
  choleskyInverseUpper,
  choleskyInverseUpperInPlace,
  invertLower,
  solveTriangular,
  symmetricEigen,
} from "./linalg.ts";
import { mulberry32 } from "./_rng.ts";

/** Seeded uniform [-0.5, 0.5). */
function rng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() - 0.5;
}

/** Random SPD matrix G G^T / m + eps I. */
function spd(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const m = n + 4;
  const g = new Float64Array(n * m).map(() => r());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += g[i * m + k]! * g[j * m + k]!;
      a[i * n + j] = a[j * n + i] = s / m + (i === j ? 1e-3 : 0);
    }
  }
  return a;
}

function matmul(a: Float64Array, b: Float64Array, n: number, tA = false): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = tA ? a[k * n + i]! : a[i * n + k]!;
      for (let j = 0; j < n; j++) c[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  return c;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function identity(n: number): Float64Array {
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1;
  return e;
}

Deno.test("cholesky reproduces A = L L^T and is lower triangular", () => {
  const n = 37;
  const a = spd(n, 1);
  const l = cholesky(a);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assertEquals(l[i * n + j], 0);
  const llt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += l[i * n + k]! * l[j * n + k]!;
      llt[i * n + j] = s;
    }
  }
  assertLess(maxAbsDiff(llt, a), 1e-12);
});

Deno.test("cholesky rejects non-positive-definite and non-square input", () => {
  assertThrows(() => cholesky(new Float64Array([1, 2, 2, 1])), RangeError, "not positive definite (pivot 1");
  assertThrows(() => cholesky(new Float64Array([0])), RangeError, "pivot 0 is 0");
  assertThrows(() => cholesky(new Float64Array([1, 2, 3])), TypeError, "3 entries");
});

Deno.test("invertLower and choleskyInverse give identity products", () => {
  const n = 29;
  const a = spd(n, 2);
  const l = cholesky(a);
  assertLess(maxAbsDiff(matmul(invertLower(l), l, n), identity(n)), 1e-9);
  const ai = choleskyInverse(a);
  assertLess(maxAbsDiff(matmul(ai, a, n), identity(n)), 1e-8);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assertEquals(ai[i * n + j], ai[j * n + i]);
});

Deno.test("choleskyInverseUpper equals the three-step GPTQ route and satisfies U^T U = A^-1", () => {
  const n = 24;
  const a = spd(n, 3);
  const u = choleskyInverseUpper(a);
  for (let i = 0; i < n; i++) {
    assert(u[i * n + i]! > 0);
    for (let j = 0; j < i; j++) assertEquals(u[i * n + j], 0);
  }
  const ai = choleskyInverse(a);
  assertLess(maxAbsDiff(matmul(u, u, n, true), ai), 1e-9);
  // GPTQ: upper Cholesky of A^-1 = transpose of its lower Cholesky factor.
  const lInv = cholesky(ai);
  let m = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(u[i * n + j]! - lInv[j * n + i]!));
  }
  assertLess(m, 1e-9);
});

Deno.test("solveTriangular: all four variants, several right-hand sides", () => {
  const n = 15, m = 3;
  const l = cholesky(spd(n, 4));
  const r = rng(5);
  const x = new Float64Array(n * m).map(() => r());
  const cases: Array<[boolean, boolean]> = [[true, false], [true, true], [false, false], [false, true]];
  for (const [lower, transpose] of cases) {
    // Build t (lower: l; upper: l^T) and b = op(t) x.
    const t = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        t[i * n + j] = lower ? l[i * n + j]! : l[j * n + i]!;
      }
    }
    const b = new Float64Array(n * m);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        const c = transpose ? t[k * n + i]! : t[i * n + k]!;
        for (let j = 0; j < m; j++) b[i * m + j]! += c * x[k * m + j]!;
      }
    }
    const got = solveTriangular(t, b, { lower, transpose });
    assertLess(maxAbsDiff(got, x), 1e-10, `lower=${lower} transpose=${transpose}`);
  }
  assertThrows(() => solveTriangular(l, new Float64Array(n + 1)), TypeError);
  assertThrows(() => solveTriangular(new Float64Array([0, 0, 1, 1]), new Float64Array(2)), RangeError);
});

Deno.test("linalg: 1024x1024 Cholesky + inverse-upper is right at GPTQ scale", () => {
  const n = 1024;
  const r = rng(6);
  // Diagonally dominant SPD matrix, cheap to build.
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = r() * 0.01;
    a[i * n + i] = 1 + n * 0.01;
  }
  // Speed is measured in bench/dependencies.ts, never asserted in a test (the machine may be busy).
  const u = choleskyInverseUpper(a);
  // Spot check: (U^T U)[0, j] = U[0,0] * U[0,j], so row 0 of A^-1 times column 0 of A is 1.
  let s = 0;
  for (let j = 0; j < n; j++) s += u[0]! * u[j]! * a[j * n]!;
  assertAlmostEquals(s, 1, 1e-9);
});

Deno.test("choleskyInverseUpperInPlace: bit-identical to choleskyInverseUpper, in the input's memory", () => {
  const n = 23, r = mulberry32(9);
  const m = Float64Array.from({ length: n * n }, () => r() - 0.5);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? n : 0;
      for (let k = 0; k < n; k++) s += m[i * n + k]! * m[j * n + k]!;
      a[i * n + j] = s;
    }
  }
  const u = choleskyInverseUpper(a);
  const buf = Float64Array.from(a);
  assert(choleskyInverseUpperInPlace(buf) === buf);
  assertEquals(buf, u);
});

Deno.test("cholesky and invertLower: paired loops are bit-identical to one entry at a time", () => {
  // The plain definitions: every sum over k runs in order, zero coefficients skipped.
  const plainCholesky = (a: Float64Array, n: number) => {
    const l = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let s = a[i * n + j]!;
        for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
        l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j]!;
      }
    }
    return l;
  };
  const plainInvert = (l: Float64Array, n: number) => {
    const inv = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      const acc = new Float64Array(i);
      for (let k = 0; k < i; k++) {
        const c = l[i * n + k]!;
        if (c !== 0) { for (let j = 0; j <= k; j++) acc[j] = acc[j]! + c * inv[k * n + j]!; }
      }
      for (let j = 0; j < i; j++) inv[i * n + j] = (0 - acc[j]!) / l[i * n + i]!;
      inv[i * n + i] = 1 / l[i * n + i]!;
    }
    return inv;
  };
  const same = (a: Float64Array, b: Float64Array, what: string) => {
    for (let i = 0; i < a.length; i++) assert(Object.is(a[i], b[i]), `${what}: element ${i}`);
  };
  const r = rng(11);
  for (const n of [1, 2, 5, 8, 17, 40]) {
    const a = spd(n, n);
    same(cholesky(a), plainCholesky(a, n), `cholesky ${n}`);
    // a lower-triangular matrix with exact zeros reaches every branch of the paired update
    const l = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      l[i * n + i] = 0.5 + Math.abs(r());
      for (let j = 0; j < i; j++) l[i * n + j] = Math.abs(r()) < 0.15 ? 0 : r() * 2 ** Math.floor(r() * 12);
    }
    same(invertLower(l), plainInvert(l, n), `invertLower ${n}`);
  }
});

Deno.test("symmetricEigen: V diag(values) V^T rebuilds the matrix, V orthonormal (sizes 1..32)", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (const n of [1, 2, 5, 8, 32]) {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rnd();
    const { values, vectors: v } = symmetricEigen(a);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0, o = 0;
        for (let k = 0; k < n; k++) {
          s += v[i * n + k]! * values[k]! * v[j * n + k]!, o += v[k * n + i]! * v[k * n + j]!;
        }
        assertAlmostEquals(s, a[i * n + j]!, 1e-12, `n=${n} A[${i}, ${j}]`);
        assertAlmostEquals(o, i === j ? 1 : 0, 1e-12, `n=${n} (V^T V)[${i}, ${j}]`);
      }
    }
  }
  assertThrows(() => symmetricEigen(new Float64Array([1, NaN, NaN, 1])), RangeError, "not finite");
});
