import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { learnRounding } from "./learned_rounding.ts";
import { decodePow2, encodePow2, pow2Brackets } from "./pow2.ts";
import { mulberry32 } from "./_rng.ts";

/** A random Gram matrix of correlated inputs: X^T X / n with x = z A (A random mixing). */
function randomGram(k: number, rand: () => number, samples = 4 * k): Float64Array {
  const a = Float64Array.from({ length: k * k }, () => rand() * 2 - 1);
  const h = new Float64Array(k * k);
  const x = new Float64Array(k);
  for (let s = 0; s < samples; s++) {
    const z = Float64Array.from({ length: k }, () => rand() * 2 - 1);
    for (let j = 0; j < k; j++) {
      let v = 0;
      for (let i = 0; i < k; i++) v += z[i]! * a[i * k + j]!;
      x[j] = v;
    }
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += x[i]! * x[j]! / samples;
  }
  return h;
}

function objective(w: Float32Array, wq: Float32Array, h: Float64Array, k: number): number {
  let total = 0;
  for (let r = 0; r < w.length / k; r++) {
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        total += (w[r * k + i]! - wq[r * k + i]!) * h[i * k + j]! * (w[r * k + j]! - wq[r * k + j]!);
      }
    }
  }
  return total;
}

Deno.test("learnRounding: never worse than nearest, reports its objective exactly, stays on the brackets", () => {
  const rand = mulberry32(7);
  for (const k of [3, 16, 64]) {
    const rows = 5;
    const h = randomGram(k, rand);
    const w = Float32Array.from({ length: rows * k }, () => (rand() * 2 - 1) * 3);
    const lo = w.map(Math.floor), hi = w.map(Math.ceil);
    const r = learnRounding(w, { H: h, lo, hi });
    const nearest = w.map((x) => (Math.ceil(x) - x < x - Math.floor(x) ? Math.ceil(x) : Math.floor(x)));
    assertAlmostEquals(r.nearestLoss, objective(w, nearest, h, k), 1e-9 * (1 + r.nearestLoss));
    assertAlmostEquals(r.loss, objective(w, r.rounded, h, k), 1e-9 * (1 + r.loss));
    assert(r.loss <= r.nearestLoss + 1e-12, `k=${k}: ${r.loss} > ${r.nearestLoss}`);
    if (k >= 16) assert(r.loss < 0.8 * r.nearestLoss, `k=${k}: only ${r.loss / r.nearestLoss} of nearest`);
    for (let i = 0; i < w.length; i++) assert(r.rounded[i] === (r.choice[i] ? hi[i] : lo[i]));
  }
});

Deno.test("learnRounding: close to the brute-force optimum on small problems", () => {
  const rand = mulberry32(11);
  const k = 10;
  let ratio = 0, nearestRatio = 0, pairRatio = 0;
  const trials = 20;
  for (let t = 0; t < trials; t++) {
    const h = randomGram(k, rand);
    const w = Float32Array.from({ length: k }, () => (rand() * 2 - 1) * 4);
    const lo = w.map(Math.floor), hi = w.map(Math.ceil);
    const r = learnRounding(w, { H: h, lo, hi });
    let best = Infinity;
    const wq = new Float32Array(k);
    for (let mask = 0; mask < 1 << k; mask++) {
      for (let j = 0; j < k; j++) wq[j] = (mask >> j) & 1 ? hi[j]! : lo[j]!;
      best = Math.min(best, objective(w, wq, h, k));
    }
    assert(r.loss >= best - 1e-9);
    ratio += r.loss / best;
    nearestRatio += r.nearestLoss / best;
    pairRatio += learnRounding(w, { H: h, lo, hi }, { pairMoves: true }).loss / best;
  }
  // Measured: nearest 2.79x the optimum on average, learned 1.17x, with pair moves 1.16x. Descent finds a local
  // optimum, so the bound is loose but far below nearest rounding.
  assert(nearestRatio / trials > 2, `nearest / optimum = ${nearestRatio / trials}`);
  assert(ratio / trials < 1.2, `mean loss / optimum = ${ratio / trials}`);
  assert(pairRatio <= ratio + 1e-9, `pairs ${pairRatio / trials} > singles ${ratio / trials}`);
});

Deno.test("learnRounding: a saturated weight (lo = hi) keeps its level; bad input is refused", () => {
  const r = learnRounding(new Float32Array([5, 0.5]), {
    H: new Float64Array([1, 0.9, 0.9, 1]),
    lo: new Float32Array([4, 0]),
    hi: new Float32Array([4, 1]),
  });
  assertEquals(r.rounded[0], 4);
  assertThrows(
    () =>
      learnRounding(new Float32Array(3), {
        H: new Float64Array(4),
        lo: new Float32Array(3),
        hi: new Float32Array(3),
      }),
    RangeError,
  );
  assertThrows(
    () =>
      learnRounding(new Float32Array([NaN, 0]), {
        H: new Float64Array(4),
        lo: new Float32Array(2),
        hi: new Float32Array(2),
      }),
    RangeError,
  );
});

Deno.test("pow2Brackets: every weight lies between its levels, the codes decode to them, never zero", () => {
  const rand = mulberry32(3);
  for (const bits of [3, 4, 5]) {
    const nOut = 4, fanIn = 50;
    const w = Float32Array.from({ length: nOut * fanIn }, () => (rand() * 2 - 1) * 2 ** (rand() * 8 - 6));
    const alpha = Float32Array.from({ length: nOut }, () => Math.fround(2 ** (rand() * 4 - 8)));
    const caps = Uint8Array.from({ length: nOut }, (_, c) => Math.min(c + 1, 2 ** (bits - 1) - 1));
    const b = pow2Brackets(w, alpha, { bits, maxExponent: caps });
    assertEquals(decodePow2(b.loCode, alpha, { bits }), b.lo);
    assertEquals(decodePow2(b.hiCode, alpha, { bits }), b.hi);
    const nearest = decodePow2(encodePow2(w, alpha, { bits, maxExponent: caps }), alpha, { bits });
    for (let i = 0; i < w.length; i++) {
      assert(b.lo[i] !== 0 && b.hi[i] !== 0);
      const top = alpha[Math.floor(i / fanIn)]! * 2 ** caps[Math.floor(i / fanIn)]!;
      if (Math.abs(w[i]!) < top) {
        assert(b.lo[i]! <= w[i]! && w[i]! <= b.hi[i]!, `${b.lo[i]} ${w[i]} ${b.hi[i]}`);
      } else assertEquals(b.lo[i], b.hi[i]);
      // Nearest rounding is one of the two (so learned rounding starts from it).
      assert(nearest[i] === b.lo[i] || nearest[i] === b.hi[i], `${i}: nearest ${nearest[i]} not in bracket`);
    }
  }
});
