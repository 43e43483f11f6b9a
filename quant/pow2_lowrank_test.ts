import { assert, assertAlmostEquals, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { decodePow2, encodePow2, pow2AlphaOutput } from "./pow2.ts";
import { pow2AlphaLowRank } from "./pow2_lowrank.ts";
import { lowRankDense, type LowRankDiag, lowRankPlusDiagonal } from "./lowrank.ts";
import { mulberry32 } from "./_rng.ts";

/** Random weights with a few outliers, and a Gram of correlated inputs. */
function problem(k: number, n: number, seed: number): { w: Float32Array; h: Float64Array } {
  const u = mulberry32(seed);
  const w = Float32Array.from({ length: k * n }, () => (u() - 0.5) * (u() < 0.1 ? 4 : 1));
  const h = new Float64Array(k * k), x = new Float64Array(k), rows = 3 * k;
  for (let r = 0; r < rows; r++) {
    const z = u() - 0.5;
    for (let i = 0; i < k; i++) x[i] = z + 0.5 * (u() - 0.5) + (i % 7 === 0 ? 0.3 : 0);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += (x[i]! * x[j]!) / rows;
  }
  return { w, h };
}

/** Output error of one channel for (alpha, cap), evaluated directly on the dense matrix. */
function channelError(
  w: Float32Array,
  h: Float64Array,
  n: number,
  a: number,
  cap: number,
  bits: number,
): number {
  const k = Math.round(Math.sqrt(h.length)), row = w.subarray(n * k, (n + 1) * k);
  const q = decodePow2(encodePow2(row, [a], { bits, maxExponent: [cap] }), [a], { bits });
  let s = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) s += (row[i]! - q[i]!) * h[i * k + j]! * (row[j]! - q[j]!);
  }
  return s;
}

/**
 * The two searches pick the same (alpha, cap) per channel, or (only at exact ties: another (alpha, cap) with
 * the same levels, e.g. 2 alpha with cap - 1, where the round-off of the two incremental sums decides)
 * candidates of the same directly evaluated error. Returns the number of identical channels.
 */
function assertSameOrTied(
  w: Float32Array,
  dense: Float64Array,
  full: { alpha: Float32Array; maxExponent: Uint8Array },
  fast: { alpha: Float32Array; maxExponent: Uint8Array },
  bits: number,
): number {
  let same = 0;
  for (let c = 0; c < full.alpha.length; c++) {
    if (fast.alpha[c] === full.alpha[c] && fast.maxExponent[c] === full.maxExponent[c]) {
      same++;
      continue;
    }
    const ef = channelError(w, dense, c, full.alpha[c]!, full.maxExponent[c]!, bits);
    const ex = channelError(w, dense, c, fast.alpha[c]!, fast.maxExponent[c]!, bits);
    assertAlmostEquals(ex, ef, 1e-9 * ef, `channel ${c} (bits ${bits})`);
  }
  return same;
}

Deno.test("pow2AlphaLowRank: equals the full-matrix search on H = diag + rank r (random problems)", () => {
  let same = 0, total = 0;
  for (
    const [k, n, bits, rank, seed] of [[32, 8, 4, 0, 1], [48, 16, 5, 3, 2], [64, 8, 3, 8, 3], [
      20,
      30,
      6,
      2,
      4,
    ], [
      100,
      12,
      4,
      8,
      5,
    ]] as const
  ) {
    const { w, h } = problem(k, n, seed);
    const m = lowRankPlusDiagonal(h, { rank });
    const dense = lowRankDense(m);
    const full = pow2AlphaOutput(w, dense, { bits, stepsPerOctave: 16 });
    const fast = pow2AlphaLowRank(w, m, { bits, stepsPerOctave: 16 });
    same += assertSameOrTied(w, dense, full, fast, bits);
    total += n;
  }
  assert(same >= total / 2, `only ${same} of ${total} channels identical`);
});

Deno.test("pow2AlphaLowRank: rank 0 is the diagonal search (identical to the dense search on diag(d))", () => {
  const u = mulberry32(9), k = 50, n = 10;
  const w = Float32Array.from({ length: k * n }, () => u() - 0.5);
  const d = Float64Array.from({ length: k }, () => u() * 3);
  const h = new Float64Array(k * k);
  d.forEach((v, i) => (h[i * k + i] = v));
  const m: LowRankDiag = { k, rank: 0, diag: d, q: new Float64Array(0), p: new Float64Array(0) };
  for (const bits of [3, 4, 5]) {
    const same = assertSameOrTied(
      w,
      h,
      pow2AlphaOutput(w, h, { bits }),
      pow2AlphaLowRank(w, m, { bits }),
      bits,
    );
    assert(same >= n / 2, `${bits} bits: only ${same} of ${n} identical`);
  }
});

Deno.test("pow2AlphaLowRank: the approximation's alpha is nearly as good as the exact search on the true H", () => {
  const { w, h } = problem(64, 24, 11);
  const bits = 4;
  const exact = pow2AlphaOutput(w, h, { bits, stepsPerOctave: 16 });
  const approx = pow2AlphaLowRank(w, lowRankPlusDiagonal(h, { rank: 8 }), { bits, stepsPerOctave: 16 });
  const diag = pow2AlphaLowRank(w, lowRankPlusDiagonal(h, { rank: 0 }), { bits, stepsPerOctave: 16 });
  let e = 0, a = 0, dg = 0;
  for (let c = 0; c < 24; c++) {
    e += channelError(w, h, c, exact.alpha[c]!, exact.maxExponent[c]!, bits);
    a += channelError(w, h, c, approx.alpha[c]!, approx.maxExponent[c]!, bits);
    dg += channelError(w, h, c, diag.alpha[c]!, diag.maxExponent[c]!, bits);
  }
  assert(a <= 1.05 * e, `rank 8: ${a} vs exact ${e}`);
  assert(a < dg, `rank 8 (${a}) should beat the diagonal alone (${dg})`);
});

Deno.test("pow2AlphaLowRank: all-zero rows get alpha 0; bad input is refused", () => {
  const m = lowRankPlusDiagonal(new Float64Array([1, 0, 0, 1]), { rank: 1 });
  const fit = pow2AlphaLowRank(new Float32Array([0, 0, 0.5, -1]), m, { bits: 4 });
  assertEquals(fit.alpha[0], 0);
  assert(fit.alpha[1]! > 0);
  assertThrows(() => pow2AlphaLowRank(new Float32Array(3), m), RangeError, "do not split");
  assertThrows(() => pow2AlphaLowRank(new Float32Array([NaN, 0]), m), RangeError, "not finite");
  assertThrows(
    () => pow2AlphaLowRank(new Float32Array(2), m, { bits: 4, minBits: 5 }),
    RangeError,
    "minBits",
  );
});

Deno.test("pow2AlphaLowRank: the batched V^T w and the WebAssembly sweep give the JavaScript path's bits", () => {
  for (const [k, n, rank, bits, seed] of [[48, 20, 8, 4, 3], [37, 9, 5, 3, 4], [64, 16, 7, 5, 5]]) {
    const { w, h } = problem(k!, n!, seed!);
    const m = lowRankPlusDiagonal(h, { rank: rank! });
    const fast = pow2AlphaLowRank(w, m, { bits: bits! });
    const slow = pow2AlphaLowRank(w, m, { bits: bits!, scalar: true });
    assertEquals(fast.alpha, slow.alpha);
    assertEquals(fast.maxExponent, slow.maxExponent);
  }
});

Deno.test("pow2AlphaLowRank: -0 weights take the sign +1 (as encodePow2 codes them), like +0", () => {
  const { w, h } = problem(24, 6, 11);
  for (let i = 0; i < w.length; i += 2) w[i] = 0; // half the weights +0: their level +alpha moves the error
  const neg = Float32Array.from(w, (v) => (v === 0 ? -0 : v));
  const m = lowRankPlusDiagonal(h, { rank: 6 });
  assertEquals(pow2AlphaLowRank(neg, m, { bits: 3 }), pow2AlphaLowRank(w, m, { bits: 3 }));
  // and the zeros' sign does move the result (so the comparison above can fail)
  const flipped = Float32Array.from(w, (v, i) => (v === 0 ? (i % 4 === 0 ? 1e-30 : -1e-30) : v));
  assertNotEquals(pow2AlphaLowRank(flipped, m, { bits: 3 }).alpha, pow2AlphaLowRank(w, m, { bits: 3 }).alpha);
});
