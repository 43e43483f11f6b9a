import { assertEquals, assertThrows } from "@std/assert";
import { iLayerNorm, iLayerNormParams, isqrt, minVarShift } from "./ilayernorm.ts";
import { gaussian, lcg } from "./_integer_test_util.ts";

Deno.test("isqrt is the exact floor square root", () => {
  for (let v = 0; v < 70000; v++) assertEquals(isqrt(v), Math.floor(Math.sqrt(v)));
  for (const r of [46340, 46341, 65535]) {
    assertEquals([isqrt(r * r - 1), isqrt(r * r), isqrt(r * r + 1)], [r - 1, r, r]);
  }
  assertEquals(isqrt(2 ** 32 - 1), 65535);
});

Deno.test("iLayerNorm: constant rows give beta, extremes saturate, preconditions checked", () => {
  const prm = iLayerNormParams([1, 1, 1, 1], [0.5, -0.5, 0, 0], { outputScale: 1 / 16 });
  const y = iLayerNorm(new Int8Array([-128, -128, -128, -128, 127, -128, -128, -128]), prm);
  // constant row: y = 0 -> beta / scale = +-8; one 127 among -128: normalised 1.73 -> 27.7 (+8)
  assertEquals(Array.from(y), [8, -8, 0, 0, 36, -17, -9, -9]);
  assertEquals([minVarShift(768, 8), minVarShift(768, 16)], [0, 6]);
  assertThrows(
    () =>
      iLayerNorm(new Int16Array(768), {
        ...iLayerNormParams(new Array(768).fill(1), new Array(768).fill(0), { outputScale: 1 }),
        varShift: 5,
      }),
    RangeError,
  );
  assertThrows(() => iLayerNorm(new Int8Array(6), prm), RangeError);
});

Deno.test("iLayerNorm vs float LayerNorm on transformer-like rows (outlier channels)", () => {
  const g = gaussian(lcg(5));
  for (
    const [len, bits, maxTol, meanTol] of [[768, 8, 3, 0.9], [192, 8, 3, 0.7], [768, 16, 3, 0.4]] as const
  ) {
    const rows = 8;
    const xf = new Float64Array(rows * len);
    for (let i = 0; i < xf.length; i++) xf[i] = g() * (i % len < 4 ? 9 : 1) + 0.5;
    let mx = 0;
    for (const v of xf) mx = Math.max(mx, Math.abs(v));
    const s = mx / (bits === 8 ? 127 : 32767);
    const x = bits === 8 ? new Int8Array(xf.length) : new Int16Array(xf.length);
    for (let i = 0; i < xf.length; i++) x[i] = Math.round(xf[i]! / s);
    const gamma = Array.from({ length: len }, () => 1 + 0.3 * g());
    const beta = Array.from({ length: len }, () => 0.1 * g());
    const outScale = 8 / 127;
    const y = iLayerNorm(x, iLayerNormParams(gamma, beta, { outputScale: outScale, inputBits: bits }));
    let maxErr = 0, meanErr = 0;
    for (let r = 0; r < rows; r++) {
      let m = 0, v = 0;
      for (let j = 0; j < len; j++) m += x[r * len + j]! * s / len;
      for (let j = 0; j < len; j++) v += (x[r * len + j]! * s - m) ** 2 / len;
      for (let j = 0; j < len; j++) {
        const f = ((x[r * len + j]! * s - m) / Math.sqrt(v) * gamma[j]! + beta[j]!) / outScale;
        const err = Math.abs(y[r * len + j]! - Math.max(-128, Math.min(127, f)));
        maxErr = Math.max(maxErr, err);
        meanErr += err / x.length;
      }
    }
    assertEquals(
      maxErr < maxTol && meanErr < meanTol,
      true,
      `N ${len} int${bits}: max ${maxErr} mean ${meanErr}`,
    );
  }
});
