import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertLess,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import { allocateBits, type LayerBitCost, layerSensitivity } from "./bit_alloc.ts";
import { quantizeShiftAdd } from "./shiftadd_gptq.ts";
import { gaussian } from "./_rng.ts";

/** Exhaustive optimum over all 3^L assignments. */
function bruteForce(layers: LayerBitCost[], budget: number, bits = [2, 3, 4]): number {
  const total = layers.reduce((a, l) => a + l.params, 0);
  let best = Infinity;
  const rec = (i: number, used: number, cost: number) => {
    if (used > budget * total + 1e-9) return;
    if (i === layers.length) {
      best = Math.min(best, cost);
      return;
    }
    const l = layers[i]!;
    bits.forEach((b, c) =>
      rec(i + 1, used + l.params * b, cost + l.sensitivity * (l.errors ? l.errors[c]! : 4 ** -b))
    );
  };
  rec(0, 0, 0);
  return best;
}

Deno.test("allocateBits is exact (matches brute force) and never exceeds the budget", () => {
  const g = gaussian(1);
  for (let trial = 0; trial < 40; trial++) {
    const L = 2 + (trial % 7);
    const layers: LayerBitCost[] = Array.from({ length: L }, () => ({
      params: 1 + Math.floor(Math.abs(g()) * 1000),
      sensitivity: Math.exp(g() * 2),
      ...(trial % 2 ? { errors: [0.2 + Math.abs(g()) * 0.1, 0.05 + Math.abs(g()) * 0.02, 0.01] } : {}),
    }));
    const budget = 2 + (trial % 5) * 0.45;
    const r = allocateBits(layers, budget);
    const total = layers.reduce((a, l) => a + l.params, 0);
    assertLessOrEqual(layers.reduce((a, l, i) => a + l.params * r.bits[i]!, 0), budget * total);
    assertAlmostEquals(
      r.averageBits,
      layers.reduce((a, l, i) => a + l.params * r.bits[i]!, 0) / total,
      1e-12,
    );
    assertAlmostEquals(r.cost, bruteForce(layers, budget), 1e-12);
  }
});

Deno.test("allocateBits meets an integer budget exactly with equal-size layers; edge budgets", () => {
  const layers = [5, 1, 0.2, 3, 0.7, 9, 0.1, 2].map((s) => ({ params: 4096, sensitivity: s }));
  const r = allocateBits(layers, 3);
  assertEquals(r.averageBits, 3);
  // Equal sizes: a more sensitive layer never gets fewer bits; the result is the brute-force optimum.
  assertEquals(r.bits, [4, 3, 2, 4, 2, 4, 2, 3]);
  layers.forEach((a, i) =>
    layers.forEach((b, j) => {
      if (a.sensitivity > b.sensitivity) assert(r.bits[i]! >= r.bits[j]!);
    })
  );
  assertAlmostEquals(r.cost, bruteForce(layers, 3), 1e-15);
  assertEquals(allocateBits(layers, 2).bits, new Array(8).fill(2));
  assertEquals(allocateBits(layers, 9).bits, new Array(8).fill(4));
  assertThrows(() => allocateBits(layers, 1.5), RangeError, "below the 2.0000 bits per weight");
  assertThrows(() => allocateBits([{ params: 0, sensitivity: 1 }], 3), TypeError);
  assertThrows(() => allocateBits([{ params: 1, sensitivity: 1, errors: [1] }], 3), TypeError, "1 errors");
});

Deno.test("allocateBits scales to a few hundred layers", () => {
  const g = gaussian(2);
  const sizes = [768 * 768, 768 * 3072, 3072 * 768, 768 * 2304];
  const layers = Array.from(
    { length: 300 },
    (_, i) => ({ params: sizes[i % 4]!, sensitivity: Math.exp(g()) }),
  );
  const t0 = performance.now();
  const r = allocateBits(layers, 3.25);
  assertLess(performance.now() - t0, 5000);
  assertLessOrEqual(r.averageBits, 3.25);
  assertLess(3.24, r.averageBits);
});

Deno.test("layerSensitivity-driven allocation beats uniform 3 bits in measured output error", () => {
  const g = gaussian(3);
  const K = 64, N = 32, M = 256;
  const layers = Array.from({ length: 6 }, (_, li) => {
    // Layers differ in input scale, outliers and weight spread.
    const x = new Float64Array(M * K);
    for (let m = 0; m < M; m++) {
      const f = g();
      for (let k = 0; k < K; k++) {
        x[m * K + k] = (1 + li) * 0.5 * (g() + (k % 16 === 3 ? 6 * f : 0.3 * f));
      }
    }
    const w = Float32Array.from({ length: K * N }, () => g() * (li % 3 === 0 ? 0.05 : 0.01));
    const h = new Float64Array(K * K);
    for (let m = 0; m < M; m++) {
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) h[i * K + j]! += x[m * K + i]! * x[m * K + j]! / M;
      }
    }
    const err = [2, 3, 4].map((bits) => {
      const r = quantizeShiftAdd({ data: w, rows: K, cols: N }, h, { bits, groupSize: 32, rounds: 10 });
      // Absolute output error power: relOutputError² · ‖XW‖².
      let out = 0;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let y = 0;
          for (let k = 0; k < K; k++) y += x[m * K + k]! * w[k * N + n]!;
          out += y * y;
        }
      }
      return r.stats.relOutputError ** 2 * out;
    });
    return { params: K * N, sensitivity: layerSensitivity({ data: w, rows: K, cols: N }, h), err };
  });
  assert(layers.every((l) => l.sensitivity > 0));
  const alloc = allocateBits(layers, 3);
  assertEquals(alloc.averageBits, 3);
  const measured = (bits: number[]) => layers.reduce((a, l, i) => a + l.err[bits[i]! - 2]!, 0);
  const uniform = measured(new Array(6).fill(3));
  assertLess(measured(alloc.bits), uniform * 0.9);
  // With the measured errors as the cost table, the optimum is at least as good.
  const exact = allocateBits(layers.map((l) => ({ params: l.params, sensitivity: 1, errors: l.err })), 3);
  assertLessOrEqual(measured(exact.bits), measured(alloc.bits));
});

Deno.test("allocateBits bounds stored bits (codes + alphas) when layers give storedBits", () => {
  // Two equal layers; storing width b costs b + 1.5·b bits per weight (e.g. one 32-bit alpha per plane per 64).
  const layer = (sensitivity: number) => ({
    params: 64,
    sensitivity,
    storedBits: [2, 3, 4].map((b) => 64 * b + 32 * b),
  });
  const r = allocateBits([layer(10), layer(1)], 6);
  // Width b stores 1.5·b bits per weight: 4 + 4 planes store exactly 6; at 4.5 only 3 + 3 or 4 + 2 fit, and the
  // sensitive layer gets 4.
  assertEquals(r.bits, [4, 4]);
  assertAlmostEquals(r.storedBitsPerWeight, 6, 1e-12);
  const tight = allocateBits([layer(10), layer(1)], 4.5);
  assertEquals(tight.bits, [4, 2]);
  assertEquals(tight.storedBitsPerWeight, 4.5);
  assertEquals(tight.averageBits, 3);
  assertThrows(() => allocateBits([layer(1)], 2.9), RangeError, "below the 3.0000 bits per weight");
});
