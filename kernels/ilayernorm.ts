/**
 * WebGPU `shiftkit.ILayerNorm` (one workgroup per row), bit-exact with `iLayerNorm` of quant/ilayernorm.ts
 * (its CPU oracle).
 * @module
 */

import { checkDyadic } from "../quant/dyadic.ts";
import { type ILayerNormParams, minVarShift } from "../quant/ilayernorm.ts";
import { intRange } from "../quant/round.ts";
import { DataType } from "../onnx/tensor.ts";
import {
  allocate,
  type DeviceTensor,
  type Encoded,
  encodeKernel,
  grid1d,
  runOnHost,
} from "./device_tensor.ts";
import { type BufferScope, getGpu } from "./gpu.ts";
import { defineStruct } from "./wgsl.ts";

const PARAMS = defineStruct("Params", {
  rows: "u32",
  len: "u32",
  varShift: "u32",
  multiplier: "i32",
  shift: "u32",
  lo: "i32",
  hi: "i32",
});

/** Variant key of the ILayerNorm pipeline (no override constants). */
export const ILAYERNORM_VARIANT_KEY = "ilayernorm:rows";

/**
 * Encode ILayerNorm over the last axis of a tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x int8 or int16 input; `params.rowLength` must be its last dimension
 * @param params gamma, beta, requantization, var_shift
 * @returns the recorded op and its int8/int16 output
 * @throws {RangeError} on the preconditions `iLayerNorm` checks
 */
export async function encodeILayerNorm(
  scope: BufferScope,
  x: DeviceTensor,
  params: ILayerNormParams,
): Promise<Encoded> {
  const { device } = await getGpu();
  const { rowLength: len, gamma, beta } = params;
  const varShift = params.varShift ?? 0;
  const bits = params.outputBits ?? 8;
  checkDyadic({ multiplier: params.multiplier, shift: params.shift }, "ILayerNorm output");
  const count = x.dims.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(len) || len < 1 || count % len !== 0) {
    throw new RangeError(`Invalid ILayerNorm: ${count} values do not split into rows of ${len}`);
  }
  if (gamma.length !== len || beta.length !== len) {
    throw new RangeError(
      `Invalid ILayerNorm: gamma ${gamma.length} and beta ${beta.length}, expected ${len}`,
    );
  }
  for (const b of beta) {
    if (Math.abs(b) > 2 ** 30) throw new RangeError(`Invalid ILayerNorm: |beta| ${b} exceeds 2^30`);
  }
  if (bits !== 8 && bits !== 16) {
    throw new RangeError(`Invalid ILayerNorm: outputBits must be 8 or 16, got ${bits}`);
  }
  const inBits = x.dtype === DataType.INT8 ? 8 : 16;
  const need = minVarShift(len, inBits);
  if (!Number.isInteger(varShift) || varShift < need || varShift > 16) {
    throw new RangeError(`Invalid ILayerNorm: var_shift ${varShift} must be an integer in [${need}, 16]`);
  }
  const [lo, hi] = intRange(bits, true);
  const rows = count / len;
  const y = allocate(scope, bits === 8 ? DataType.INT8 : DataType.INT16, x.dims);
  const run = await encodeKernel(device, {
    key: ILAYERNORM_VARIANT_KEY,
    label: "ilayernorm",
    file: "ilayernorm.wgsl",
    includes: ["dyadic.wgsl"],
    structs: [PARAMS.wgsl],
    entryPoint: "ilayernorm",
    buffers: [
      x.buffer,
      scope.storage(Int32Array.from(gamma), "gamma"),
      scope.storage(Int32Array.from(beta), "beta"),
      y.buffer,
      scope.uniform(
        PARAMS.pack({ rows, len, varShift, multiplier: params.multiplier, shift: params.shift, lo, hi }),
      ),
    ],
    workgroups: grid1d(rows, 1, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * shiftkit.ILayerNorm on WebGPU, same signature and bits as `iLayerNorm` of quant/ilayernorm.ts.
 *
 * @param x int8 or int16 input
 * @param params gamma, beta, requantization, var_shift
 * @returns Int8Array or Int16Array by outputBits
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { iLayerNormParams } from "../quant/ilayernorm.ts";
 * import { iLayerNormGpu } from "./ilayernorm.ts";
 * const params = iLayerNormParams([1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], { outputScale: 1 / 32 });
 * const y = await iLayerNormGpu(new Int8Array([-50, -30, -10, 10, 30, 50, 7, 7, 7, 7, 7, 7]), params);
 * assertEquals(Array.from(y), [-47, -28, -9, 9, 28, 47, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export async function iLayerNormGpu(
  x: Int8Array | Int16Array,
  params: ILayerNormParams,
): Promise<Int8Array | Int16Array> {
  const dtype = x instanceof Int8Array ? DataType.INT8 : DataType.INT16;
  const t = await runOnHost(
    [{ dtype, dims: [x.length], data: x }],
    (scope, [dx]) => encodeILayerNorm(scope, dx, params),
  );
  return t.data as Int8Array | Int16Array;
}
