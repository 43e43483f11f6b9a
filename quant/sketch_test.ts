import { assert, assertEquals, assertThrows } from "@std/assert";
import { GramAccumulator } from "./gram.ts";
import { RowsOrGramAccumulator, SketchAccumulator } from "./sketch.ts";
import { mulberry32 } from "./_rng.ts";

const rows = (n: number, k: number, seed: number) => {
  const u = mulberry32(seed);
  return Float32Array.from({ length: n * k }, () => u() - 0.5);
};

Deno.test("SketchAccumulator: wide rows stay rows (in order, across adds)", () => {
  const k = 400, a = rows(30, k, 1), b = rows(20, k, 2);
  const s = new SketchAccumulator(k, { rank: 8 });
  s.add(a, 30);
  s.add(b, 20);
  assertEquals(s.count, 50);
  const out = s.result();
  assert("rows" in out);
  assertEquals(out.rows.count, 50);
  assertEquals(out.rows.k, k);
  assertEquals(out.rows.rows, Float32Array.from([...a, ...b]));
});

Deno.test("SketchAccumulator: narrow rows, or more than 4 K rows, give the Gram matrix bit for bit", () => {
  for (const [k, n, rank] of [[16, 40, 8], [300, 1300, 8], [100, 390, 8]] as const) {
    const x = rows(n, k, k + n);
    const s = new SketchAccumulator(k, { rank });
    const g = new GramAccumulator(k);
    for (let i = 0; i < n; i += 37) {
      const m = Math.min(37, n - i);
      s.add(x.subarray(i * k), m);
      g.add(x.subarray(i * k), m);
    }
    const out = s.result();
    assert("gram" in out, `k=${k} n=${n} rank=${rank}`);
    assertEquals(out.gram, g.mean());
  }
});

Deno.test("SketchAccumulator: bad widths and counts are refused", () => {
  assertThrows(() => new SketchAccumulator(0), RangeError, "positive integer");
  const s = new SketchAccumulator(3);
  assertThrows(() => s.add(new Float32Array(5), 2), RangeError, "need 6 values");
  assertThrows(() => s.result(), RangeError, "no rows");
});

Deno.test("RowsOrGramAccumulator: rows up to maxRows (with their moments), then the same Gram as direct adds", () => {
  const k = 7, a = rows(5, k, 3), b = rows(9, k, 4);
  const kept = new RowsOrGramAccumulator(k, { maxRows: 14 });
  kept.add(a, 5);
  kept.add(b, 9);
  const r = kept.result();
  assert("rows" in r);
  assertEquals(r.count, 14);
  assertEquals(r.rows, Float32Array.from([...a, ...b]));
  for (let x = 0; x < k; x++) {
    let s = 0, q = 0;
    for (let i = 0; i < 14; i++) s += r.rows[i * k + x]!, q += r.rows[i * k + x]! ** 2;
    assertEquals(r.mean[x], s / 14);
    assertEquals(r.secondMoment[x], q / 14);
  }
  // one row past maxRows: folded, bit-identical to a Gram accumulator fed the same adds
  const folded = new RowsOrGramAccumulator(k, { maxRows: 13 }), direct = new GramAccumulator(k);
  for (const [x, n] of [[a, 5], [b, 9]] as const) folded.add(x, n), direct.add(x, n);
  const f = folded.result();
  assert("gram" in f);
  assertEquals(f.gram.mean(), direct.mean());
  assertEquals(f.gram.featureMean(), direct.featureMean());
  assertThrows(() => new RowsOrGramAccumulator(k, { maxRows: 3 }).result(), RangeError, "no rows");
});
