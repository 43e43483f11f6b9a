import { assert, assertEquals, assertThrows } from "@std/assert";
import { GRAM_BLOCK_ROWS, GramAccumulator } from "./gram.ts";
import { mulberry32 } from "./_rng.ts";

/** Deterministic pseudo-random float32 rows (LCG), with a per-feature offset so the mean is non-zero. */
function rows(n: number, k: number, seed: number): Float32Array {
  const out = new Float32Array(n * k);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 4 + (i % k) * 0.01;
  }
  return out;
}

function directMean(x: Float32Array, n: number, k: number): Float64Array {
  const h = new Float64Array(k * k);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) h[i * k + j] = h[i * k + j]! + x[r * k + i]! * x[r * k + j]!;
    }
  }
  return h.map((v) => v / n);
}

function maxRelErr(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return err / scale;
}

Deno.test("GramAccumulator equals a direct float64 X^T X within 1e-12 (odd k, partial blocks)", () => {
  for (const [k, n] of [[1, 5], [7, 130], [33, 200]] as const) {
    const x = rows(n, k, k);
    const g = new GramAccumulator(k);
    g.add(x.subarray(0, 3 * k), 3); // batches of uneven size
    g.add(x.subarray(3 * k), n - 3);
    assertEquals(g.count, n);
    const h = g.mean();
    assert(maxRelErr(h, directMean(x, n, k)) < 1e-12, `k=${k}`);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) assertEquals(h[i * k + j], h[j * k + i]);
    const mean = g.featureMean();
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += x[r * k + i]!;
      assert(Math.abs(mean[i]! - s / n) < 1e-12);
    }
  }
});

Deno.test("GramAccumulator.merge equals one accumulator over all rows", () => {
  const k = 9;
  const x = rows(100, k, 7);
  const all = new GramAccumulator(k);
  all.add(x, 100);
  const a = new GramAccumulator(k);
  const b = new GramAccumulator(k);
  a.add(x, 40);
  b.add(x.subarray(40 * k), 60);
  a.merge(b);
  assertEquals(a.count, 100);
  assert(maxRelErr(a.mean(), all.mean()) < 1e-14);
  assert(maxRelErr(a.featureMean(), all.featureMean()) < 1e-14);
  assertThrows(() => a.merge(new GramAccumulator(3)), RangeError);
  assertThrows(() => new GramAccumulator(3).mean(), RangeError);
  assertThrows(() => a.add(x, 1000), RangeError);
});

Deno.test("GramAccumulator: k = 1024 with 1024 rows in well under a few seconds", () => {
  const k = 1024;
  const g = new GramAccumulator(k);
  const x = rows(256, k, 3);
  const t0 = performance.now();
  for (let b = 0; b < 4; b++) g.add(x, 256);
  const h = g.mean();
  const ms = performance.now() - t0;
  assertEquals(g.count, 1024);
  // diagonal entry 0 of the mean Gram: mean of x[r, 0]^2 over the four identical batches
  let d = 0;
  for (let r = 0; r < 256; r++) d += x[r * k]! ** 2;
  assert(Math.abs(h[0]! - d / 256) < 1e-12 * d);
  assert(ms < 5000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("GramAccumulator: exact block-ordered float64 sums (what both the WASM and the JS path compute)", () => {
  // Reference: for each block of GRAM_BLOCK_ROWS rows, the in-order float64 sum over the block, added to the
  // total; float32 rows (the fused kernel) and float64 rows that are not float32 values (multiply and add)
  const k = 13, n = 150, block = GRAM_BLOCK_ROWS;
  assert(block < 70 && n > 2 * block, `${block} rows per block: the rows below cross two block ends`);
  const r = mulberry32(5);
  const x32 = Float32Array.from({ length: n * k }, () => r() * 2 - 1);
  const x64 = Float64Array.from({ length: n * k }, () => (r() * 2 - 1) * (1 + 2 ** -40));
  for (const x of [x32, x64]) {
    const g = new GramAccumulator(k);
    g.add(x.subarray(0, 70 * k), 70);
    g.add(x.subarray(70 * k, 100 * k), 30);
    g.add(x.subarray(100 * k), n - 100);
    const h = g.mean();
    for (let i = 0; i < k; i++) {
      for (let j = i; j < k; j++) {
        let total = 0;
        for (let b0 = 0; b0 < n; b0 += block) {
          let s = 0;
          for (let row = b0; row < Math.min(n, b0 + block); row++) s += x[row * k + i]! * x[row * k + j]!;
          total += s;
        }
        assertEquals(h[i * k + j], total * (1 / n), `${x.constructor.name}: H[${i}, ${j}]`);
      }
    }
  }
});

Deno.test("GramAccumulator: takeMean equals mean in place and spends it; dotMean; reset", () => {
  const k = 37, n = 150, x = rows(n, k, 5);
  const a = new GramAccumulator(k), b = new GramAccumulator(k);
  a.add(x, n);
  b.add(x, n);
  const m = a.mean();
  const r = mulberry32(2);
  const s = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = i; j < k; j++) s[i * k + j] = s[j * k + i] = r() - 0.5;
  let dot = 0;
  for (let i = 0; i < k * k; i++) dot += s[i]! * m[i]!;
  assert(Math.abs(b.dotMean(s) - dot) < 1e-12 * Math.abs(dot) + 1e-12);
  assertEquals(b.takeMean(), m);
  assertThrows(() => b.add(x, 1), TypeError, "spent");
  assertThrows(() => b.reset(), TypeError, "spent");
  a.reset();
  assertEquals(a.count, 0);
  a.add(x, n);
  assertEquals(a.mean(), m);
});

Deno.test("GramAccumulator: a given sum buffer is zeroed and used, with the same results", () => {
  const x = Float32Array.from({ length: 7 * 9 }, (_, i) => Math.sin(i));
  const own = new GramAccumulator(9);
  own.add(x, 7);
  const buf = new Float64Array(100).fill(1);
  const lent = new GramAccumulator(9, { sum: buf });
  lent.add(x, 7);
  assertEquals(lent.mean(), own.mean());
  assertEquals(buf[81], 1); // only the first k² entries
  assertThrows(() => new GramAccumulator(11, { sum: buf }), RangeError, "100 entries");
});

Deno.test("GramAccumulator: toState hands the buffers over (spent after), fromState refuses buffers of another width", () => {
  const g = new GramAccumulator(5);
  g.add(rows(70, 5, 3), 70);
  const s = g.toState();
  assertEquals([s.k, s.count, s.pending], [5, 70, 6]);
  assertThrows(() => g.add(rows(1, 5, 1), 1), TypeError, "spent");
  assertThrows(() => g.toState(), TypeError, "spent");
  assertThrows(() => GramAccumulator.fromState({ ...s, sum: new Float64Array(16) }), RangeError, "width 5");
  assertThrows(() => GramAccumulator.fromState({ ...s, pending: GRAM_BLOCK_ROWS }), RangeError);
  assertThrows(() => GramAccumulator.fromState({ ...s, block: new Float64Array(8) }), RangeError);
  const back = GramAccumulator.fromState(s), direct = new GramAccumulator(5);
  direct.add(rows(70, 5, 3), 70);
  assertEquals(back.mean(), direct.mean());
});
