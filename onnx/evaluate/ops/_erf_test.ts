import { assert, assertEquals } from "@std/assert";
import { erf, erfSeries } from "./_erf.ts";
import { mulberry32 } from "../../../quant/_rng.ts";

Deno.test("erf (grid + Hermite expansion) equals the A&S series within 5e-15 (both ~1e-15 accurate), and in float32", () => {
  const r = mulberry32(3);
  let worst = 0, f32Diff = 0;
  for (let k = 0; k < 200000; k++) {
    const x = (r() * 2 - 1) * (k % 2 ? 7 : 2);
    const a = erf(x), b = erfSeries(x);
    const rel = Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
    worst = Math.max(worst, rel);
    if (Math.fround(a) !== Math.fround(b)) f32Diff++;
  }
  assert(worst < 5e-15, `worst relative difference ${worst}`);
  assert(f32Diff <= 20, `${f32Diff} of 200000 float32 results differ`);
  assertEquals([erf(0), erf(-0.5), erf(6.5), erf(-9), erf(NaN)], [0, -erfSeries(0.5), 1, -1, NaN]);
});
