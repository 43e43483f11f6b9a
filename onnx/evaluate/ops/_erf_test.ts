import { assert, assertEquals } from "@std/assert";
import { erf, erfSeries } from "./_erf.ts";
import { erfF32, geluF32 } from "./_erf_wasm.ts";
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

Deno.test("erfF32 (WebAssembly SIMD) gives the scalar erf's float32 bits, specials and odd lengths included", () => {
  const r = mulberry32(5);
  for (const n of [0, 1, 2, 3, 5, 8, 40001, 70000]) {
    const X = new Float32Array(n).map((_, i) => (r() * 2 - 1) * (i % 3 ? 3 : 7));
    const XI = new Int32Array(X.buffer);
    const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 1, 0x80000001];
    specials.forEach((b, i) => i < n && (XI[i] = b | 0));
    [6, -6, 5.9921875, 1 / 128, 3 / 128, -5.999].forEach((v, i) => i + 8 < n && (X[i + 8] = v));
    // NaNs with payloads (their table row index is clamped to a row: the result is NaN all the same)
    [0x7fc12345, 0xffd0abcd, 0x7fffffff].forEach((b, i) => i + 14 < n && (XI[i + 14] = b | 0));
    const want = X.map((x) => erf(x)), got = new Float32Array(n).fill(7);
    assert(erfF32(X, got), "WebAssembly SIMD is available in Deno");
    for (let i = 0; i < n; i++) {
      assert(Object.is(got[i], want[i]), `n=${n} erf(${X[i]}): ${got[i]} vs ${want[i]}`);
    }
  }
});

Deno.test("geluF32 gives fl(fl(x * fl(fl(erf(fl(x / c1))) + c2)) * c3) bit for bit (odd lengths, specials)", () => {
  const f = Math.fround, c1 = f(Math.SQRT2), c2 = 1, c3 = 0.5;
  for (const n of [1, 2, 3, 5, 6, 7, 9, 33]) {
    const X = new Float32Array(n).map((_, i) => Math.sin(i * 1.3) * 5);
    if (n > 4) X[1] = NaN, X[2] = -Infinity, X[3] = -0;
    const got = new Float32Array(n);
    assert(geluF32(X, got, c1, c2, c3));
    for (let i = 0; i < n; i++) {
      const x = X[i]!, want = f(f(x * f(f(erf(f(x / c1))) + c2)) * c3);
      assert(Object.is(got[i], want), `n=${n} gelu(${x}): ${got[i]} vs ${want}`);
    }
  }
});
