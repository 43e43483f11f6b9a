/**
 * Every shader variant the kernels can generate is compiled and run here once, against its CPU oracle, so no
 * variant (override combination or entry point) can ship untested.
 */
import { assert, assertEquals } from "@std/assert";
import { convInteger, matMulInteger } from "../quant/int_gemm.ts";
import { convI8, IM2COL_VARIANT_KEY } from "./conv_i8.ts";
import { GEMM_F32_VARIANT_KEY, gemmF32 } from "./gemm_f32.ts";
import { GEMM_I8_VARIANT_KEYS, gemmI8, type GemmI8Variant, gemmI8VariantKey } from "./gemm_i8.ts";
import { cachedPipelineKeys, destroyGpu, gpuUnavailableReason } from "./gpu.ts";
import { dyadic, requantize } from "../quant/dyadic.ts";
import { intAdd } from "../quant/int_add.ts";
import { shiftmax } from "../quant/shiftmax.ts";
import { lambdaShiftGelu, shiftGelu } from "../quant/shiftgelu.ts";
import { shiftSigmoid } from "../quant/shiftsigmoid.ts";
import { iLayerNorm, iLayerNormParams } from "../quant/ilayernorm.ts";
import { dequantizeLinear, quantizeLinear } from "../quant/quantize.ts";
import { shiftAddMatMulRef } from "../quant/shiftadd_matmul.ts";
import { packShiftWeight, shiftMatMul, shiftMatMulInteger } from "../quant/dense_shift.ts";
import { REQUANTIZE_VARIANT_KEY, requantizeGpu } from "./requantize.ts";
import { INT_ADD_VARIANT_KEY, intAddGpu } from "./int_add.ts";
import { SHIFTMAX_VARIANT_KEY, shiftmaxGpu } from "./shiftmax.ts";
import { SHIFT_GELU_VARIANT_KEYS, shiftGeluGpu } from "./shift_gelu.ts";
import { SHIFT_SIGMOID_VARIANT_KEY, shiftSigmoidGpu } from "./shift_sigmoid.ts";
import { ILAYERNORM_VARIANT_KEY, iLayerNormGpu } from "./ilayernorm.ts";
import { dequantizeLinearGpu, QDQ_VARIANT_KEYS, quantizeLinearGpu } from "./qdq.ts";
import { LUT_GEMM_VARIANT_KEY, shiftAddMatMulGpu } from "./lut_gemm.ts";
import { SHIFT_GEMM_VARIANT_KEYS, shiftMatMulGpu, shiftMatMulIntegerGpu } from "./shift_gemm.ts";
import { INT_BINARY_OPS, INT_ELEMENTWISE_VARIANT_KEYS, intBinaryGpu, intCastGpu } from "./int_elementwise.ts";
import { encodeGatherMap, GATHER_MAP_VARIANT_KEY } from "./gather_map.ts";
import { SHIFT_CONV_VARIANT_KEY, shiftConvGpu } from "./shift_conv.ts";
import { matMulIntegerBatchedGpu } from "./gemm_i8_batched.ts";
import { download, upload } from "./device_tensor.ts";
import { BufferScope, getGpu } from "./gpu.ts";
import { Attrs, intAttr } from "../onnx/attributes.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { getOp } from "../onnx/evaluate/registry.ts";
import { decodeShiftWeight } from "../quant/dense_shift.ts";

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU variant tests in variants_test.ts: ${noGpu} !!!\n`);

/** All keys the kernels of this folder can produce. */
const ALL_KEYS = [
  ...GEMM_I8_VARIANT_KEYS,
  IM2COL_VARIANT_KEY,
  GEMM_F32_VARIANT_KEY,
  REQUANTIZE_VARIANT_KEY,
  INT_ADD_VARIANT_KEY,
  SHIFTMAX_VARIANT_KEY,
  ...SHIFT_GELU_VARIANT_KEYS,
  SHIFT_SIGMOID_VARIANT_KEY,
  ILAYERNORM_VARIANT_KEY,
  ...QDQ_VARIANT_KEYS,
  LUT_GEMM_VARIANT_KEY,
  ...SHIFT_GEMM_VARIANT_KEYS,
  ...INT_ELEMENTWISE_VARIANT_KEYS,
  GATHER_MAP_VARIANT_KEY,
  SHIFT_CONV_VARIANT_KEY,
];

Deno.test({
  name: "every shader variant compiles and runs once, exactly matching its oracle",
  ignore: noGpu !== null,
  async fn() {
    await destroyGpu(); // start from an empty pipeline cache so the coverage check below is meaningful
    const a = { data: new Int8Array([1, -2, 3, 127, -128, 5, 6, 7, -8, 9]), dims: [2, 5] };
    const b = { data: new Uint8Array([0, 255, 1, 2, 3, 4, 250, 6, 7, 8, 9, 10, 11, 12, 13]), dims: [5, 3] };
    for (const variant of ["naive", "tiled"] as GemmI8Variant[]) {
      for (const aPerRow of [false, true]) {
        for (const bPerColumn of [false, true]) {
          const opts = {
            aZeroPoint: aPerRow ? [3, -4] : 3,
            bZeroPoint: bPerColumn ? [100, 7, 255] : 100,
            variant,
          };
          const key = gemmI8VariantKey(variant, { aPerRow, bPerColumn });
          assertEquals(await gemmI8(a, b, opts), matMulInteger(a, b, opts), key);
          assert(cachedPipelineKeys().includes(key), `${key} was not the pipeline that ran`);
        }
      }
    }
    const x = { data: new Int8Array(2 * 5 * 5).map((_, i) => (i * 37) % 256 - 128), dims: [1, 2, 5, 5] };
    const w = { data: new Int8Array(4 * 9).map((_, i) => (i * 11) % 256 - 128), dims: [4, 1, 3, 3] };
    const co = { group: 2, pads: [1, 1, 1, 1], xZeroPoint: 3, wZeroPoint: [1, 2, 3, 4] };
    assertEquals(await convI8(x, w, co), convInteger(x, w, co), IM2COL_VARIANT_KEY);
    const f = await gemmF32({ data: new Float32Array([1, 2]), dims: [1, 2] }, {
      data: new Float32Array([3, 4]),
      dims: [2, 1],
    });
    assertEquals([...f], [11]);
    await integerAndShiftVariants();
    await validationVariants();
    assertEquals(cachedPipelineKeys(), [...ALL_KEYS].sort(), "every generated variant ran, and nothing else");
    await destroyGpu();
  },
});

Deno.test("the variant key list is complete and unique", () => {
  assertEquals(GEMM_I8_VARIANT_KEYS.length, 8);
  assertEquals(ALL_KEYS.length, 8 + 2 + 12 + 8 + 2);
  assertEquals(new Set(ALL_KEYS).size, ALL_KEYS.length);
});

/** One run of each integer / QDQ / LUT / shift kernel variant against its quant/ oracle. */
async function integerAndShiftVariants(): Promise<void> {
  const i8 = new Int8Array([-128, -5, 0, 3, 127, 64, -64, 1]);
  const i32 = new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, 12345, -999, 7, 8, -8]);
  const d = dyadic(0.013);
  assertEquals(await requantizeGpu(i32, d), requantize(i32, d), REQUANTIZE_VARIANT_KEY);
  const ia = { a: dyadic(0.7), b: dyadic(1.3), outputBits: 8 as const };
  assertEquals(await intAddGpu([i8, i32], ia), intAdd([i8, i32], ia), INT_ADD_VARIANT_KEY);
  const sm = { rowLength: 4, p: 8, n: 15 };
  assertEquals(await shiftmaxGpu(i8, sm), shiftmax(i8, sm), SHIFTMAX_VARIANT_KEY);
  assertEquals(await shiftGeluGpu(i8, { p: 19, n: 11 }), shiftGelu(i8, { p: 19, n: 11 }), "shift_gelu:plain");
  const lg = { p: 75, n: 9, lambda: 5 };
  assertEquals(await shiftGeluGpu(i8, lg), lambdaShiftGelu(i8, lg), "shift_gelu:lambda");
  assertEquals(
    await shiftSigmoidGpu(i32, { p: 16, n: 12 }),
    shiftSigmoid(i32, { p: 16, n: 12 }),
    SHIFT_SIGMOID_VARIANT_KEY,
  );
  const ln = iLayerNormParams([1, 0.5, -1, 2], [0, 0.1, 0, -0.2], { outputScale: 1 / 32 });
  assertEquals(await iLayerNormGpu(i8, ln), iLayerNorm(i8, ln), ILAYERNORM_VARIANT_KEY);
  const xf = new Float32Array([0.5, -1.5, 2.5, 100, -3, 0.25]);
  const qp = { scale: new Float32Array([0.5, 0.25]), zeroPoint: new Int32Array([1, -2]), axis: 1 };
  const q = quantizeLinear(xf, [3, 2], qp.scale, qp.zeroPoint, { axis: 1, out: new Int8Array(6) });
  assertEquals((await quantizeLinearGpu(xf, [3, 2], qp)).data, q, "qdq:quantize");
  assertEquals(
    await dequantizeLinearGpu(q, [3, 2], qp),
    dequantizeLinear(q, [3, 2], qp.scale, qp.zeroPoint, { axis: 1 }),
    "qdq:dequantize",
  );
  const sa = {
    k: 9,
    n: 2,
    bits: 2,
    groupSize: 8,
    terms: 2,
    mode: "accuracy" as const,
    planes: new Uint8Array([0x5a, 1, 0xff, 0, 0x0f, 1, 0x33, 0]),
    alphaExp: new Int8Array([0, -1, 1, -2, -1, 0, -3, 2]),
    alphaTerms: new Uint8Array([0xb, 0, 3, 0, 0, 0xc, 0, 0xb]),
  };
  const xs = { data: Float32Array.from({ length: 18 }, (_, i) => (i * 7 % 11) / 4 - 1), dims: [2, 9] };
  assertEquals((await shiftAddMatMulGpu(xs, sa)).data, shiftAddMatMulRef(xs, sa).data, LUT_GEMM_VARIANT_KEY);
  const w = packShiftWeight(new Uint8Array([3, 5, 1, 6]), {
    alpha: new Float32Array([0.25, 0.5]),
    bits: 3,
    shape: [2, 2],
    axis: 1,
  });
  const x2 = { data: new Float32Array([1, -2, 0.5, 4]), shape: [2, 2] };
  assertEquals((await shiftMatMulGpu(x2, w)).data, shiftMatMul(x2, w).data, "shift_gemm:f32");
  const xq = { data: new Int8Array([3, -7, -128, 127]), shape: [2, 2] };
  assertEquals((await shiftMatMulIntegerGpu(xq, w)).acc, shiftMatMulInteger(xq, w).acc, "shift_gemm:i8");
}

/** The kernels the validating executor added for the integer-only models: one run of each variant. */
async function validationVariants(): Promise<void> {
  const attrs = (fmod: number) => new Attrs(new Map([["fmod", intAttr("fmod", fmod)]]), "variants");
  const a = makeTensor(DataType.INT32, [2, 3], new Int32Array([-(2 ** 31), 7, -7, 2 ** 31 - 1, 100, -5]));
  const b = makeTensor(DataType.INT32, [3], new Int32Array([-1, 3, -3]));
  for (const op of INT_BINARY_OPS) {
    const cpuOp = op === "Fmod" ? "Mod" : op;
    const want = getOp("", cpuOp)([a, b], attrs(op === "Fmod" ? 1 : 0), { opset: 13 })[0]!;
    assertEquals((await intBinaryGpu(op, a, b)).data, want.data, `int_binary:${op}`);
  }
  for (const to of [DataType.INT8, DataType.FLOAT]) {
    const cast = new Attrs(new Map([["to", intAttr("to", to)]]), "variants");
    const want = getOp("", "Cast")([a], cast, { opset: 13 })[0]!;
    assertEquals((await intCastGpu(a, to)).data, want.data, `int_cast:${to}`);
  }
  const { device } = await getGpu();
  {
    using scope = new BufferScope(device);
    const x = upload(scope, a);
    const enc = await encodeGatherMap(scope, [x], [{ map: new Int32Array([5, 0, 3]), dims: [3] }], a.dtype);
    device.queue.submit([enc.run()]);
    assertEquals([...(await download(scope, enc.outputs[0]!)).data], [-5, -(2 ** 31), 2 ** 31 - 1]);
  }
  const w = packShiftWeight(new Uint8Array([3, 5, 1, 6, 0, 7, 2, 4]), {
    alpha: new Float32Array([0.25, 0.5]),
    bits: 3,
    shape: [2, 1, 2, 2],
    axis: 0,
  });
  const xc = { data: new Float32Array([1, -2, 0.5, 4, 3, -1, 0.25, 2, -8]), shape: [1, 1, 3, 3] };
  const wf = makeTensor(DataType.FLOAT, [2, 1, 2, 2], decodeShiftWeight(w));
  const want = getOp("", "Conv")(
    [makeTensor(DataType.FLOAT, xc.shape, xc.data), wf],
    new Attrs(new Map(), "v"),
    {
      opset: 13,
    },
  )[0]!;
  assertEquals((await shiftConvGpu(xc, w)).data, want.data, SHIFT_CONV_VARIANT_KEY);
  // Batched MatMulInteger reuses the gemm_i8 variants (already in the list); check it once here too.
  const ab = { data: new Int8Array([1, 2, 3, 4, -5, 6, 7, 8]), dims: [2, 2, 2] };
  const bb = { data: new Int8Array([1, -1, 2, 0, 3, 1, -2, 5]), dims: [2, 2, 2] };
  const mm = await matMulIntegerBatchedGpu(ab, bb);
  assertEquals([...mm.data], [5, -1, 11, -3, -27, 25, 5, 47]);
}
