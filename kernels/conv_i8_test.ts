import { assertEquals, assertRejects } from "@std/assert";
import { convInteger, type ConvIntegerOptions } from "../quant/int_gemm.ts";
import { convI8 } from "./conv_i8.ts";
import { gpuUnavailableReason } from "./gpu.ts";
import { randomBytes } from "../quant/_rng.ts";

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU kernel tests in conv_i8_test.ts: ${noGpu} !!!\n`);

const CASES: [string, number[], number[], ConvIntegerOptions][] = [
  ["1x1", [1, 3, 10, 10], [5, 3, 1, 1], { autoPad: "SAME_UPPER", strides: [3, 3] }],
  ["3x3 padded", [2, 3, 7, 9], [4, 3, 3, 3], { pads: [1, 1, 1, 1], xZeroPoint: 5, wZeroPoint: 2 }],
  ["grouped", [2, 4, 7, 9], [6, 2, 3, 3], {
    group: 2,
    pads: [1, 0, 2, 1],
    strides: [2, 1],
    dilations: [1, 2],
    xZeroPoint: 7,
    wZeroPoint: [1, 2, 3, 4, 5, 6],
  }],
  ["depthwise", [1, 8, 6, 6], [8, 1, 3, 3], { group: 8, pads: [1, 1, 1, 1], xZeroPoint: -3, wZeroPoint: 2 }],
  ["depthwise x2 multiplier", [1, 3, 5, 6], [6, 1, 2, 2], { group: 3, autoPad: "SAME_LOWER" }],
  ["K > 16, many pixels", [1, 5, 20, 18], [70, 5, 3, 3], { pads: [2, 2, 2, 2], dilations: [2, 2] }],
];

Deno.test({
  name: "convI8 equals convInteger: grouped, depthwise, strides, dilations, pads, int8 and uint8",
  ignore: noGpu !== null,
  async fn() {
    let seed = 11;
    for (const [label, xd, wd, o] of CASES) {
      for (const ux of [false, true]) {
        const uw = !ux; // mixed signedness both ways
        const x = { data: randomBytes(xd.reduce((p, v) => p * v), seed++, { unsigned: ux }), dims: xd };
        const w = { data: randomBytes(wd.reduce((p, v) => p * v), seed++, { unsigned: uw }), dims: wd };
        const shiftW = (z: ConvIntegerOptions["wZeroPoint"]) =>
          z === undefined || !uw ? z : typeof z === "number" ? z + 128 : Array.from(z, (v) => v + 128);
        const opts: ConvIntegerOptions = {
          ...o,
          xZeroPoint: (o.xZeroPoint ?? 0) + (ux ? 128 : 0),
          ...(o.wZeroPoint === undefined ? {} : { wZeroPoint: shiftW(o.wZeroPoint)! }),
        };
        const want = convInteger(x, w, opts);
        for (const variant of ["naive", "tiled"] as const) {
          assertEquals(
            await convI8(x, w, { ...opts, variant }),
            want,
            `${label} ${ux ? "u8" : "i8"} ${variant}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "convI8 pads with the x zero point at the edge values and rejects bad shapes",
  ignore: noGpu !== null,
  async fn() {
    const x = { data: new Int8Array(2 * 16).fill(-128), dims: [1, 2, 4, 4] };
    const w = { data: new Int8Array(4 * 2 * 9).fill(127), dims: [4, 2, 3, 3] };
    for (const xZeroPoint of [-128, 127, 0]) {
      const o = { xZeroPoint, wZeroPoint: -128, pads: [2, 2, 2, 2] };
      assertEquals(await convI8(x, w, o), convInteger(x, w, o), `x_zero_point ${xZeroPoint}`);
    }
    await assertRejects(() => convI8(x, { data: new Int8Array(27), dims: [1, 3, 3, 3] }), RangeError);
  },
});
