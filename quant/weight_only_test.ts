import { assert, assertAlmostEquals, assertEquals, assertLess, assertThrows } from "@std/assert";
import { gaussian } from "./_rng.ts";
import { quantErrorStats } from "./gptq.ts";
import { quantizeBlockwise } from "./weight_only.ts";
import { arenaMatrix } from "./f64_factor.ts";

/** Independent RTN of one group (onnxruntime's quant_slice_* written out with plain Math). */
function rtnGroup(vals: number[], bits: number, symmetric: boolean): number[] {
  const maxq = 2 ** bits - 1, half = 2 ** (bits - 1);
  const rne = (x: number) => {
    const f = Math.floor(x), d = x - f;
    return d > 0.5 ? f + 1 : d < 0.5 ? f : (f % 2 === 0 ? f : f + 1);
  };
  if (symmetric) {
    const hi = Math.max(...vals), lo = Math.min(...vals);
    const s = Math.fround((Math.abs(hi) > Math.abs(lo) ? hi : lo) / -half);
    return vals.map((v) => Math.fround((Math.min(half - 1, Math.max(-half, s === 0 ? 0 : rne(v / s)))) * s));
  }
  const lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
  const s = Math.fround((hi - lo) / maxq);
  if (s === 0) return vals.map(() => 0);
  const zp = Math.min(maxq, Math.max(0, rne(-lo / s)));
  return vals.map((v) => Math.fround((Math.min(maxq, Math.max(0, rne(v / s) + zp)) - zp) * s));
}

function randomLayer(K: number, N: number, seed: number) {
  const g = gaussian(seed);
  const w = Float32Array.from({ length: K * N }, () => g());
  // Correlated activations with a few strong features: X = Z A, H = XᵀX / rows.
  const rows = 4 * K, x = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) {
    let prev = 0;
    for (let k = 0; k < K; k++) {
      prev = 0.7 * prev + g();
      x[r * K + k] = prev * (k % 9 === 0 ? 5 : 1);
    }
  }
  const h = new Float64Array(K * K);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) h[i * K + j]! += x[r * K + i]! * x[r * K + j]! / rows;
    }
  }
  return { w, h, x, rows };
}

Deno.test("weight_only: RTN equals an independent per-group computation (asymmetric and symmetric, 2..8 bits)", () => {
  const K = 80, N = 5, gs = 32; // last group partial (16 rows)
  const { w } = randomLayer(K, N, 3);
  for (const bits of [2, 3, 4, 8]) {
    for (const symmetric of [false, true]) {
      const q = quantizeBlockwise({ data: w, rows: K, cols: N }, null, { bits, groupSize: gs, symmetric });
      assertEquals([q.groups, q.groupSize], [3, 32]);
      for (let n = 0; n < N; n++) {
        for (let g = 0; g < 3; g++) {
          const ks = Array.from({ length: Math.min(K, (g + 1) * gs) - g * gs }, (_, i) => g * gs + i);
          const want = rtnGroup(ks.map((k) => w[k * N + n]!), bits, symmetric);
          assertEquals(
            ks.map((k) => q.dequantized[k * N + n]!),
            want,
            `bits ${bits} sym ${symmetric} n ${n} g ${g}`,
          );
          for (const k of ks) {
            const c = q.codes[k * N + n]!;
            assert(c >= 0 && c < 2 ** bits);
            assertEquals(
              Math.fround((c - q.zeroPoints[n * 3 + g]!) * q.scales[n * 3 + g]!),
              q.dequantized[k * N + n],
            );
          }
        }
      }
      if (symmetric) assert(q.zeroPoints.every((z) => z === 2 ** (bits - 1)));
    }
  }
});

Deno.test("weight_only: GPTQ beats RTN in output error at 2, 3 and 4 bits; act-order and damping work", () => {
  const K = 96, N = 24;
  const { w, h } = randomLayer(K, N, 7);
  for (const bits of [2, 3, 4]) {
    const rtn = quantizeBlockwise({ data: w, rows: K, cols: N }, null, { bits, groupSize: 32 });
    const gptq = quantizeBlockwise({ data: w, rows: K, cols: N }, h, { bits, groupSize: 32, blockSize: 16 });
    // RTN's output error through the same H, for the comparison.
    const rtnOut = { stats: quantErrorStats(w, rtn.dequantized, h, K, N, 0) };
    assertLess(gptq.stats.relOutputError, 0.9 * rtnOut.stats.relOutputError, `bits ${bits}`);
    assert(Number.isNaN(rtn.stats.relOutputError));
    const ao = quantizeBlockwise({ data: w, rows: K, cols: N }, h, { bits, groupSize: 32, actOrder: true });
    assertLess(ao.stats.relOutputError, rtnOut.stats.relOutputError);
  }
  // Lazy batch updates are exact: block size does not change the result (up to float rounding order).
  const a = quantizeBlockwise({ data: w, rows: K, cols: N }, h, { bits: 3, blockSize: 8 });
  const b = quantizeBlockwise({ data: w, rows: K, cols: N }, h, { bits: 3, blockSize: K });
  let diff = 0;
  for (let i = 0; i < a.codes.length; i++) if (a.codes[i] !== b.codes[i]) diff++;
  assertLess(diff, a.codes.length * 0.01);
  assertAlmostEquals(a.stats.relOutputError, b.stats.relOutputError, 1e-3);
});

Deno.test("weight_only: dead features, per-channel groups, zero groups and argument errors", () => {
  const K = 32, N = 3;
  const { w, h } = randomLayer(K, N, 11);
  for (let j = 0; j < K; j++) h[5 * K + j] = h[j * K + 5] = 0;
  const q = quantizeBlockwise({ data: w, rows: K, cols: N }, h, { bits: 4, groupSize: 0 });
  assertEquals([q.groups, q.groupSize, q.stats.deadFeatures], [1, 32, 1]);
  const z = quantizeBlockwise({ data: new Float32Array(32), rows: 16, cols: 2 }, null, {
    bits: 4,
    groupSize: 16,
  });
  assert(z.dequantized.every((v) => v === 0) && z.codes.every((c) => c === 8));
  assertThrows(
    () => quantizeBlockwise({ data: w, rows: K, cols: N }, null, { bits: 1 }),
    RangeError,
    "bits must be 2..8",
  );
  assertThrows(() => quantizeBlockwise({ data: w, rows: K + 1, cols: N }, null), TypeError, "expected");
  assertThrows(
    () => quantizeBlockwise({ data: w, rows: K, cols: N }, new Float64Array(4)),
    TypeError,
    "hessian",
  );
});

Deno.test("weight_only: consuming the hessian gives the same codes, scales and Ŵ, and the same errors within 1e-9", () => {
  const K = 96, N = 24;
  const { w, h } = randomLayer(K, N, 11);
  for (let k = 5; k < K; k += 31) for (let j = 0; j < K; j++) h[k * K + j] = h[j * K + k] = 0; // dead features
  for (const actOrder of [false, true]) {
    const opts = { bits: 3, groupSize: 32, blockSize: 16, actOrder };
    const kept = quantizeBlockwise({ data: w, rows: K, cols: N }, h, opts);
    // In a float64 arena the factor is made in the hessian's memory (without act-order): the array is spent.
    const arena = arenaMatrix(K) ?? new Float64Array(K * K);
    arena.set(h);
    const spent = quantizeBlockwise({ data: w, rows: K, cols: N }, arena, { ...opts, consumeHessian: true });
    assertEquals(spent.codes, kept.codes, `act-order ${actOrder}`);
    assertEquals(spent.scales, kept.scales);
    assertEquals(spent.dequantized, kept.dequantized);
    assertAlmostEquals(
      spent.stats.relOutputError,
      kept.stats.relOutputError,
      1e-9 * kept.stats.relOutputError,
    );
    assertAlmostEquals(spent.stats.relWeightError, kept.stats.relWeightError, 1e-12);
    if (!actOrder && arenaMatrix(1)) assert(arena.some((v, i) => v !== h[i]), "the factor was made in place");
  }
});
