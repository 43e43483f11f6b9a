import { assert, assertEquals, assertLess, assertThrows } from "@std/assert";
import { HistogramObserver } from "./histogram.ts";
import { fakeQuantize } from "./quantize.ts";

/** Deterministic standard normal samples (Box-Muller over an LCG). */
function gaussian(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** 1000 tiny values, then 199k N(0, 1) samples, then 10 outliers at +-(20..29) at the very end. */
function withOutliers(): Float32Array {
  const x = new Float32Array(200_000);
  x.set(new Float32Array(1000).map((_, i) => (i % 7) * 1e-3));
  x.set(gaussian(198_990, 1), 1000);
  for (let i = 0; i < 10; i++) x[199_990 + i] = (i % 2 ? -1 : 1) * (20 + i);
  return x;
}

Deno.test("HistogramObserver: exact re-binning, identical in one or ten chunks", () => {
  const x = withOutliers();
  for (const mode of ["abs", "signed"] as const) {
    const one = new HistogramObserver({ mode });
    one.observe(x);
    const ten = new HistogramObserver({ mode });
    const edges: number[] = [];
    for (let k = 0; k < 10; k++) {
      ten.observe(x.subarray(k * 20_000, (k + 1) * 20_000));
      edges.push(ten.edge);
    }
    assertEquals(edges[0]! < 8 && edges[9] === 32, true, `edges ${edges}`); // the range grew 8x or more
    assertEquals(ten.histogram(), one.histogram()); // exact, bin for bin
    assertEquals([ten.min, ten.max, ten.count], [one.min, one.max, one.count]);
    assertEquals(ten.percentileRange(), one.percentileRange());
    assertEquals(ten.entropyRange(), one.entropyRange());
    assertEquals(ten.mseRange(), one.mseRange());
  }
});

Deno.test("HistogramObserver: thresholds on a Gaussian with outliers are in sensible order", () => {
  const x = withOutliers();
  const h = new HistogramObserver();
  h.observe(x);
  assertEquals([h.min, h.max], [-29, 28]);
  const [, p9999] = h.percentileRange(99.99);
  const [, p999] = h.percentileRange(99.9);
  const [, ent] = h.entropyRange();
  const mse = [4, 6, 8].map((bits) => h.mseRange({ bits })[1]);
  // N(0, 1): |x| exceeds 3.29 with probability 1e-3 and 4.06 with 5e-5 (99.99% keeps 10 of the
  // ~20 largest values: 10 Gaussian tail values plus 10 outliers)
  assert(p999 > 3.2 && p999 < 3.4, `p99.9 ${p999}`);
  assert(p9999 > 3.7 && p9999 < 4.5, `p99.99 ${p9999}`);
  assertLess(p999, p9999);
  // entropy (int8, 128 quantized bins) ignores the 0.005% outlier mass and clips near the Gaussian tail
  assert(ent > 3.5 && ent < 8, `entropy ${ent}`);
  // MSE-optimal: ~2.5 sigma at 4 bits (Banner et al. give 2.55 for a Gaussian); more bits clip less. At 8
  // bits the outliers' squared clipping error outweighs rounding error, so it keeps most of them.
  assert(mse[0]! > 2.2 && mse[0]! < 2.9, `mse4 ${mse[0]}`);
  assertLess(mse[0]!, mse[1]!);
  assertLess(mse[1]!, mse[2]!);
  assertLess(mse[2]!, h.max);
  assertEquals(h.mseRange()[0], -mse[2]!);
  // and it is the empirical optimum: fake-quantizing the data at other thresholds does no better
  const empirical = (t: number, bits: number) => {
    const L = 2 ** (bits - 1) - 1;
    const y = fakeQuantize(x, [x.length], new Float32Array([t / L]), null, { qmin: -L - 1, qmax: L });
    let e = 0;
    for (let i = 0; i < x.length; i++) e += (y[i]! - x[i]!) ** 2;
    return e / x.length;
  };
  for (const [k, bits] of [[0, 4], [2, 8]] as const) {
    const best = empirical(mse[k]!, bits);
    for (const t of [0.8 * mse[k]!, 1.25 * mse[k]!, ent, p9999, h.max]) {
      assertLess(best, empirical(t, bits), `${bits} bits, t = ${t}`);
    }
  }
});

Deno.test("HistogramObserver: signed mode, percentile tails and non-negative data", () => {
  const h = new HistogramObserver({ mode: "signed", bins: 16 });
  h.observe(new Float32Array([-3, -1, 0.5, 1, 1, 2, 2, 2, 2, 7]));
  assertEquals(h.edge, 8);
  assertEquals(h.histogram().counts, new Float64Array([0, 0, 0, 0, 1, 0, 1, 0, 1, 2, 4, 0, 0, 0, 0, 1]));
  assertEquals(h.percentileRange(100), [-3, 7]);
  // cut 10% = 1 value per tail: the outer edges of the bins holding the second value from each end
  assertEquals(h.percentileRange(80), [-2, 3]);
  // folded |x| histogram: bins of width 1 over [0, 8)
  assertEquals(h.absHistogram(), { counts: new Float64Array([1, 3, 4, 1, 0, 0, 0, 1]), width: 1 });
  const relu = new HistogramObserver({ bins: 256 });
  relu.observe(new Float32Array(1000).map((_, i) => (i % 100) / 100));
  assertEquals(relu.mseRange()[0], 0);
  assertEquals(relu.entropyRange()[0], 0);
  assertThrows(() => new HistogramObserver().percentileRange(), RangeError);
  assertThrows(() => relu.percentileRange(0), RangeError);
  assertThrows(() => new HistogramObserver({ bins: 1000 }), RangeError);
});

Deno.test("HistogramObserver: zeros, non-finite values and small ranges", () => {
  const h = new HistogramObserver({ bins: 8 });
  h.observe(new Float32Array([0, 0, NaN, Infinity]));
  assertEquals([h.count, h.edge], [2, 0]);
  assertEquals(h.percentileRange(), [0, 0]);
  h.observe(new Float32Array([1.5]));
  assertEquals(h.edge, 2);
  assertEquals(h.histogram().counts, new Float64Array([2, 0, 0, 0, 0, 0, 1, 0]));
  // fewer occupied bins than quantized bins: the range is the data range
  assertEquals(h.entropyRange(), [0, 1.5]);
  assertEquals(h.mseRange(), [0, 1.5]);
});
