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

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU variant tests in variants_test.ts: ${noGpu} !!!\n`);

/** All keys the kernels of this folder can produce. */
const ALL_KEYS = [...GEMM_I8_VARIANT_KEYS, IM2COL_VARIANT_KEY, GEMM_F32_VARIANT_KEY];

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
    assertEquals(cachedPipelineKeys(), [...ALL_KEYS].sort(), "every generated variant ran, and nothing else");
    await destroyGpu();
  },
});

Deno.test("the variant key list is complete and unique", () => {
  assertEquals(GEMM_I8_VARIANT_KEYS.length, 8);
  assertEquals(new Set(ALL_KEYS).size, ALL_KEYS.length);
});
