import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { lowRankDense, lowRankPlusDiagonal, lowRankQuad } from "./lowrank.ts";
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
