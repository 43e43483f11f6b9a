import { assertEquals } from "@std/assert";
import { dequantizeLinear, quantizeLinear } from "../quant/quantize.ts";
import { DataType } from "../onnx/tensor.ts";
import { noGpuNotice, randomInts, Rng } from "./_test_util.ts";
import { dequantizeLinearGpu, quantizeLinearGpu } from "./qdq.ts";

const noGpu = await noGpuNotice("qdq_test.ts");

function floats(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  const edges = [
    0,
    -0,
    0.5,
    1.5,
    2.5,
    -2.5,
    -0.5,
    1e30,
    -1e30,
    Infinity,
    -Infinity,
    NaN,
    127.5,
    -128.5,
    255.5,
  ];
  for (let i = 0; i < n; i++) {
    x[i] = i < edges.length ? edges[i]! : (rng.float() - 0.5) * 2 ** rng.int(-4, 10);
  }
  // Exact ties after division by 0.5: k + 0.25 for integers k.
  for (let i = edges.length; i < Math.min(n, 200); i++) x[i] = rng.int(-300, 300) / 2 + 0.25;
  return x;
}

Deno.test({
  name:
    "quantizeLinearGpu equals quantizeLinear: per tensor / per axis, int8 / uint8 / 4-bit range, ties, NaN, inf",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(21);
    const dims = [3, 5, 40];
    const x = floats(rng, 600);
    for (const dtype of [DataType.INT8, DataType.UINT8] as const) {
      const signed = dtype === DataType.INT8;
      const zp1 = new Int32Array([signed ? -3 : 128]);
      const cases = [
        { scale: new Float32Array([0.5]), zeroPoint: zp1, axis: 1 },
        { scale: new Float32Array([0.5]), zeroPoint: null, axis: 1 },
        {
          scale: Float32Array.from({ length: 5 }, () => 0.01 + rng.float()),
          zeroPoint: Int32Array.from({ length: 5 }, () => rng.int(signed ? -10 : 100, signed ? 10 : 140)),
          axis: 1,
        },
        {
          scale: Float32Array.from({ length: 40 }, () => 0.001 + rng.float() * 3),
          zeroPoint: null,
          axis: -1,
        },
        {
          scale: Float32Array.from({ length: 3 }, () => 0.1 + rng.float()),
          zeroPoint: new Int32Array([0, 1, 2]),
          axis: 0,
        },
      ];
      for (const p of cases) {
        const out = signed ? new Int8Array(x.length) : new Uint8Array(x.length);
        const want = quantizeLinear(x, dims, p.scale, p.zeroPoint, { axis: p.axis, out });
        const got = await quantizeLinearGpu(x, dims, { ...p, dtype });
        assertEquals(got.data, want, `${signed ? "int8" : "uint8"} axis ${p.axis} ${p.scale.length} scales`);
      }
      if (signed) {
        const p = { scale: new Float32Array([0.25]), zeroPoint: new Int32Array([1]), axis: 1 };
        const want = quantizeLinear(x, dims, p.scale, p.zeroPoint, {
          qmin: -8,
          qmax: 7,
          out: new Int8Array(x.length),
        });
        assertEquals(
          (await quantizeLinearGpu(x, dims, { ...p, qmin: -8, qmax: 7 })).data,
          want,
          "4-bit range",
        );
      }
    }
  },
});

Deno.test({
  name: "dequantizeLinearGpu equals dequantizeLinear: per tensor / per axis, int8 / uint8 / int32 inputs",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(23);
    const dims = [4, 6, 10];
    for (const bits of [8, 16, 32] as const) {
      const raw = randomInts(rng, 240, bits);
      const q = bits === 8 ? raw : bits === 16 ? raw : Int32Array.from(raw, (v) => v >> 15); // |q - zp| < 2^17
      const u8 = Uint8Array.from(raw, (v) => v & 0xff);
      const params = [
        { scale: new Float32Array([0.037]), zeroPoint: new Int32Array([5]), axis: 1 },
        {
          scale: Float32Array.from({ length: 6 }, () => rng.float() * 2 + 1e-3),
          zeroPoint: Int32Array.from({ length: 6 }, () => rng.int(-50, 50)),
          axis: 1,
        },
        { scale: Float32Array.from({ length: 10 }, () => rng.float() + 1e-3), zeroPoint: null, axis: 2 },
      ];
      for (const p of params) {
        assertEquals(
          await dequantizeLinearGpu(q, dims, p),
          dequantizeLinear(q, dims, p.scale, p.zeroPoint, { axis: p.axis }),
          `int${bits} ${p.scale.length}`,
        );
        assertEquals(
          await dequantizeLinearGpu(u8, dims, p),
          dequantizeLinear(u8, dims, p.scale, p.zeroPoint, { axis: p.axis }),
          `uint8 ${p.scale.length}`,
        );
      }
    }
  },
});
