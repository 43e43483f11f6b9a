import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { mulberry32 } from "./_rng.ts";
import { type GptqPlan, prepareGptq, quantErrorStats, type QuantizeRow, runGptq } from "./gptq.ts";
import { GramAccumulator } from "./gram.ts";

/** GPTQ Alg. 1 with lazy batch updates, written plainly: one term of each update at a time, in order. */
function plainGptq(w: Float64Array, K: number, N: number, plan: GptqPlan, q: QuantizeRow, bs: number) {
  const { perm, u } = plan;
  const deq = new Float32Array(K * N);
  const err = new Float64Array(bs * N);
  for (let b0 = 0; b0 < K; b0 += bs) {
    const b1 = Math.min(K, b0 + bs);
    for (let i = b0; i < b1; i++) {
      const k = perm[i]!;
      q(k, w, deq);
      for (let n = 0; n < N; n++) err[(i - b0) * N + n] = (w[k * N + n]! - deq[k * N + n]!) / u![i * K + i]!;
      for (let j = i + 1; j < b1; j++) {
        const c = u![i * K + j]!;
        if (c !== 0) { for (let n = 0; n < N; n++) w[perm[j]! * N + n]! -= c * err[(i - b0) * N + n]!; }
      }
    }
    for (let j = b1; j < K; j++) {
      for (let i = b0; i < b1; i++) {
        const c = u![i * K + j]!;
        if (c !== 0) { for (let n = 0; n < N; n++) w[perm[j]! * N + n]! -= c * err[(i - b0) * N + n]!; }
      }
    }
  }
  return deq;
}

Deno.test("runGptq: the lazy batch update gives the bit-identical result of one term at a time", () => {
  const rnd = mulberry32(5);
  // odd block sizes leave a single last term in a block; zeros in U reach every branch of the paired update
  for (const [K, N, bs] of [[13, 5, 4], [16, 3, 5], [9, 7, 128], [24, 4, 7]] as const) {
    const u = new Float64Array(K * K);
    for (let i = 0; i < K; i++) {
      u[i * K + i] = 0.5 + rnd();
      for (let j = i + 1; j < K; j++) u[i * K + j] = rnd() < 0.3 ? 0 : (rnd() - 0.5) * 2 ** (rnd() * 8 - 4);
    }
    const perm = Int32Array.from({ length: K }, (_, i) => i);
    for (let i = K - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const plan: GptqPlan = { perm, u, dead: 0 };
    const q: QuantizeRow = (k, w, d) => {
      for (let n = 0; n < N; n++) d[k * N + n] = Math.round(w[k * N + n]! * 4) / 4;
    };
    const w0 = Float64Array.from({ length: K * N }, () => (rnd() - 0.5) * 3);
    const wa = w0.slice(), wb = w0.slice();
    const got = runGptq(wa, K, N, plan, q, { blockSize: bs });
    const want = plainGptq(wb, K, N, plan, q, bs);
    assertEquals(got, want);
    for (let i = 0; i < wa.length; i++) assert(Object.is(wa[i], wb[i]), `[${K},${N},${bs}] w[${i}]`);
  }
});

Deno.test("quantErrorStats: the output error by block pairs (K > 1024, a short last block) is ‖X(W−Ŵ)‖/‖XW‖", () => {
  for (const [K, N, R] of [[1030, 5, 40], [64, 3, 20]] as const) {
    const r = mulberry32(K);
    const x = Float32Array.from({ length: R * K }, () => r() - 0.5);
    const g = new GramAccumulator(K);
    g.add(x, R);
    const w = Float32Array.from({ length: K * N }, () => r() - 0.5);
    const d = w.map((v) => Math.round(v * 4) / 4);
    let num = 0, den = 0;
    for (let row = 0; row < R; row++) {
      for (let n = 0; n < N; n++) {
        let a = 0, b = 0;
        for (let k = 0; k < K; k++) {
          a += x[row * K + k]! * (w[k * N + n]! - d[k * N + n]!);
          b += x[row * K + k]! * w[k * N + n]!;
        }
        num += a * a;
        den += b * b;
      }
    }
    assertAlmostEquals(quantErrorStats(w, d, g.mean(), K, N, 0).relOutputError, Math.sqrt(num / den), 1e-9);
  }
});

Deno.test("runGptq: on the float64 kernels (K above a block, N with a column tail) bit-identical to one term at a time", () => {
  const rnd = mulberry32(9);
  for (const [K, N, bs] of [[300, 37, 128], [200, 16, 64]] as const) {
    const u = new Float64Array(K * K);
    for (let i = 0; i < K; i++) {
      u[i * K + i] = 0.5 + rnd();
      // features j % 7 = 0 take no feedback at all (as dead features): their rows keep their -0 weights
      // through every update that skips the zero coefficients; the others go 4 rows per kernel call
      for (let j = i + 1; j < K; j++) u[i * K + j] = j % 7 === 0 ? 0 : (rnd() - 0.5) * 0.1;
    }
    const perm = Int32Array.from({ length: K }, (_, i) => (i * 7) % K); // 7 and K coprime: a permutation
    const plan: GptqPlan = { perm, u, dead: 0 };
    const q: QuantizeRow = (k, w, d) => {
      for (let n = 0; n < N; n++) d[k * N + n] = Math.round(w[k * N + n]! * 4) / 4;
    };
    // -0 weights: a subtraction of 0 · e would turn them into +0 where the JavaScript loop skips it
    const w0 = Float64Array.from({ length: K * N }, () => rnd() < 0.05 ? -0 : (rnd() - 0.5) * 3);
    const wa = w0.slice(), wb = w0.slice();
    const got = runGptq(wa, K, N, plan, q, { blockSize: bs });
    const want = plainGptq(wb, K, N, plan, q, bs);
    assertEquals(got, want);
    for (let i = 0; i < wa.length; i++) assert(Object.is(wa[i], wb[i]), `[${K},${N},${bs}] w[${i}]`);
  }
});

Deno.test("prepareGptq + runGptq: the float64 kernels and the JavaScript loops give the same bits", () => {
  const rnd = mulberry32(21);
  const K = 260, N = 21, R = 300;
  const g = new GramAccumulator(K);
  const x = Float32Array.from({ length: R * K }, (_, i) => (i % K) % 50 === 3 ? 0 : rnd() - 0.5); // dead features
  g.add(x, R);
  const h = g.mean();
  const q: QuantizeRow = (k, w, d) => {
    for (let n = 0; n < N; n++) d[k * N + n] = Math.round(w[k * N + n]! * 8) / 8;
  };
  for (const actOrder of [false, true]) {
    const w0 = Float64Array.from({ length: K * N }, () => rnd() - 0.5);
    const [wa, wb] = [w0.slice(), w0.slice()];
    const pa = prepareGptq(wa, K, N, h, { actOrder });
    const pb = prepareGptq(wb, K, N, h, { actOrder, scalar: true });
    assertEquals(pa.perm, pb.perm);
    for (let i = 0; i < K * K; i++) assert(Object.is(pa.u![i], pb.u![i]), `actOrder ${actOrder}: U[${i}]`);
    const da = runGptq(wa, K, N, pa, q, { blockSize: 64 });
    const db = runGptq(wb, K, N, pb, q, { blockSize: 64, scalar: true });
    assertEquals(da, db);
    for (let i = 0; i < wa.length; i++) assert(Object.is(wa[i], wb[i]), `actOrder ${actOrder}: w[${i}]`);
  }
});
