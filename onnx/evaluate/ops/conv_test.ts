import { assert, assertEquals } from "@std/assert";
import { Attrs, intAttr, intsAttr } from "../../attributes.ts";
import { DataType, makeTensor } from "../../tensor.ts";
import { mulberry32 } from "../../../quant/_rng.ts";
import { conv } from "./conv.ts";

/**
 * Direct 2-D convolution: each output sums over (ci, ky, kx) in that order (taps in the padding add 0), in
 * double (`f64`) or with every product and sum rounded to float32; then rounded to float32, plus the bias.
 */
function reference(
  X: Float32Array,
  W: Float32Array,
  B: Float32Array,
  [N, C, H, Wd]: [number, number, number, number],
  [M, kh, kw]: [number, number, number],
  group: number,
  stride: number,
  pad: number,
  f64: boolean,
): Float32Array {
  const oh = Math.floor((H + 2 * pad - kh) / stride) + 1, ow = Math.floor((Wd + 2 * pad - kw) / stride) + 1;
  const Cg = C / group, Mg = M / group, out = new Float32Array(N * M * oh * ow), f = Math.fround;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let s = 0;
          for (let ci = 0; ci < Cg; ci++) {
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                const x = iy < 0 || iy >= H || ix < 0 || ix >= Wd
                  ? 0
                  : X[((n * C + g * Cg + ci) * H + iy) * Wd + ix]!;
                const p = x * W[((m * Cg + ci) * kh + ky) * kw + kx]!;
                s = f64 ? s + p : f(s + f(p));
              }
            }
          }
          out[((n * M + m) * oh + oy) * ow + ox] = f(s) + B[m]!;
        }
      }
    }
  }
  return out;
}

Deno.test("conv: float32 in-order sums by default, double sums with float64 (the ShiftConv oracle)", () => {
  const r = mulberry32(21);
  const cases: {
    x: [number, number, number, number];
    w: [number, number, number];
    group: number;
    stride: number;
    pad: number;
  }[] = [
    { x: [2, 6, 9, 7], w: [4, 3, 3], group: 2, stride: 1, pad: 1 },
    { x: [1, 32, 8, 8], w: [5, 3, 3], group: 1, stride: 2, pad: 1 }, // K = 288: float32 and double differ
    { x: [1, 16, 6, 6], w: [7, 1, 1], group: 1, stride: 1, pad: 0 }, // 1x1: the direct path
  ];
  for (const { x, w, group, stride, pad } of cases) {
    const [, C] = x, [M, kh, kw] = w;
    const X = Float32Array.from({ length: x.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
    const W = Float32Array.from({ length: M * (C / group) * kh * kw }, () => r() * 2 - 1);
    const B = Float32Array.from({ length: M }, () => r());
    const attrs = new Attrs(
      new Map([
        ["group", intAttr("group", group)],
        ["strides", intsAttr("strides", [stride, stride])],
        ["pads", intsAttr("pads", [pad, pad, pad, pad])],
      ]),
      "conv",
    );
    const xt = makeTensor(DataType.FLOAT, x, X), wt = makeTensor(DataType.FLOAT, [M, C / group, kh, kw], W);
    const bt = makeTensor(DataType.FLOAT, [M], B);
    const outs = [false, true].map((f64) => {
      const got = conv(xt, wt, bt, attrs, { float64: f64 }).data as Float32Array;
      assertEquals(got, reference(X, W, B, x, w, group, stride, pad, f64), `${x} ${w} float64=${f64}`);
      return got;
    });
    // the two accumulations are really different arithmetic on long sums
    if (C * kh * kw >= 288) {
      assert(outs[0]!.some((v, i) => v !== outs[1]![i]), "float32 and double sums differ");
    }
  }
});
