import { assert, assertEquals, assertThrows } from "@std/assert";
import { GramAccumulator } from "./gram.ts";
import { SketchAccumulator } from "./sketch.ts";
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
