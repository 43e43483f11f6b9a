/**
 * WebGPU float32 GEMM, tiled through workgroup memory: the float baseline the LUT kernels are measured
 * against. Results match a float64 reference within float32 rounding (summation order differs).
 * @module
 */

import { BufferScope, encodeDispatch, getGpu, getPipeline } from "./gpu.ts";
import { defineStruct, loadWgsl, withPrelude } from "./wgsl.ts";

const PARAMS = defineStruct("Params", { M: "u32", N: "u32", K: "u32" });

/** Variant key of the float32 GEMM pipeline (it has no override constants). */
export const GEMM_F32_VARIANT_KEY = "gemm_f32:tiled";

/** A row-major float32 matrix. */
export interface F32Matrix {
  /** Elements, row-major. */
  readonly data: Float32Array;
  /** `[rows, cols]`. */
  readonly dims: readonly number[];
}

/**
 * The compiled float32 GEMM pipeline (cached).
 *
 * @returns the pipeline
 */
export async function gemmF32Pipeline(): Promise<GPUComputePipeline> {
  return await getPipeline(GEMM_F32_VARIANT_KEY, async () => ({
    label: "gemm_f32",
    code: withPrelude(await loadWgsl(new URL("./gemm_f32.wgsl", import.meta.url)), PARAMS.wgsl),
    entryPoint: "gemm_f32",
  }));
}

/**
 * `C = A x B` in float32 on WebGPU.
 *
 * @param a A, dims `[M, K]`
 * @param b B, dims `[K, N]`
 * @returns C `[M, N]`, row-major
 * @throws {RangeError} when the shapes disagree
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gemmF32 } from "./gemm_f32.ts";
 * const a = { data: new Float32Array([1, 2, 3, 4]), dims: [2, 2] };
 * const b = { data: new Float32Array([5, 6, 7, 8]), dims: [2, 2] };
 * assertEquals([...(await gemmF32(a, b))], [19, 22, 43, 50]);
 * ```
 */
export async function gemmF32(a: F32Matrix, b: F32Matrix): Promise<Float32Array> {
  const [M = 0, K = 0] = a.dims, [K2 = 0, N = 0] = b.dims;
  if (
    a.dims.length !== 2 || b.dims.length !== 2 || K !== K2 || M * K !== a.data.length ||
    K * N !== b.data.length
  ) {
    throw new RangeError(`Cannot multiply A [${a.dims.join(",")}] by B [${b.dims.join(",")}]`);
  }
  if (M === 0 || N === 0) return new Float32Array(M * N);
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const c = scope.storage(M * N * 4, "C");
  const cmd = encodeDispatch(device, {
    pipeline: await gemmF32Pipeline(),
    buffers: [
      scope.storage(a.data.slice(), "A"),
      scope.storage(b.data.slice(), "B"),
      c,
      scope.uniform(PARAMS.pack({ M, N, K })),
    ],
    workgroups: [Math.ceil(N / 64), Math.ceil(M / 64)],
  });
  device.queue.submit([cmd()]);
  return new Float32Array(await scope.read(c, M * N * 4));
}
