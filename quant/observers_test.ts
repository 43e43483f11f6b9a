import { assertEquals, assertThrows } from "@std/assert";
import { HistogramObserver, MinMaxObserver, rangeFromObserver } from "./observers.ts";

// x[a][b][c] = 100a + 10b + c - 50 on a [2, 3, 4] tensor
const dims = [2, 3, 4];
const x3 = new Float32Array(24).map((_, i) =>
  100 * Math.floor(i / 12) + 10 * Math.floor((i % 12) / 4) + (i % 4) - 50
);

Deno.test("MinMaxObserver: per tensor, streaming, NaN ignored", () => {
  const o = new MinMaxObserver();
  o.observe(new Float32Array([1, NaN, -2]));
  o.observe([5, 0.5]);
  assertEquals(o.range(), [-2, 5]);
  assertEquals([o.mins, o.maxs, o.count], [new Float32Array([-2]), new Float32Array([5]), 5]);
  assertThrows(() => new MinMaxObserver().range(), RangeError);
});

Deno.test("MinMaxObserver: per channel along axis 0, 1 and -1 of a 3-d tensor", () => {
  const cases: [number, number[], number[]][] = [
    [0, [-50, 50], [-27, 73]],
    [1, [-50, -40, -30], [53, 63, 73]],
    [-1, [-50, -49, -48, -47], [70, 71, 72, 73]],
  ];
  for (const [axis, mins, maxs] of cases) {
    const o = new MinMaxObserver({ axis });
    o.observe(x3, dims);
    o.observe(x3.map((v) => v + 1), dims); // streaming: maxima grow by one, minima stay
    assertEquals(
      [o.mins, o.maxs],
      [new Float32Array(mins), new Float32Array(maxs.map((v) => v + 1))],
      `axis ${axis}`,
    );
  }
  const o = new MinMaxObserver({ axis: 1 });
  assertThrows(() => o.observe(x3), TypeError);
  assertThrows(() => o.observe(x3, [2, 3, 3]), RangeError); // 18 values expected
  o.observe(x3, dims);
  assertThrows(() => o.observe(x3, [2, 12]), RangeError); // channel count changed
  assertThrows(() => new MinMaxObserver({ axis: 3 }).observe(x3, dims), RangeError);
});

Deno.test("rangeFromObserver: every kind, and the observer each needs", () => {
  const h = new HistogramObserver({ bins: 1024 });
  const x = new Float32Array(10_000).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  x[0] = 40;
  h.observe(x);
  assertEquals(rangeFromObserver(h, "minmax"), [-0.5, 40]);
  const [plo, phi] = rangeFromObserver(h, "percentile", { percentile: 99.9 });
  // |x| <= 0.5 for 99.99% of the values; -0.5 falls in the |x| bin [0.5, 0.5625) (h = 64, 1024 bins)
  assertEquals([plo, phi], [-0.5, 0.5625]);
  for (const kind of ["entropy", "mse"] as const) {
    const [lo, hi] = rangeFromObserver(h, kind, { bits: 8 });
    assertEquals(lo, -0.5);
    assertEquals(hi >= 0.5 && hi < 40, true, `${kind} ${hi}`);
  }
  const m = new MinMaxObserver();
  m.observe(x);
  assertEquals(rangeFromObserver(m, "minmax"), [-0.5, 40]);
  assertThrows(() => rangeFromObserver(m, "entropy"), TypeError);
  assertThrows(() => rangeFromObserver(new HistogramObserver(), "minmax"), RangeError);
});
