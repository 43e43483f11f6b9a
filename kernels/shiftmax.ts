/**
 * WebGPU `shiftkit.Shiftmax` (one workgroup per row), bit-exact with `shiftmax` of quant/shiftmax.ts (its
 * CPU oracle).
 * @module
 */

import { checkShiftExp, type ShiftmaxParams } from "../quant/shiftmax.ts";
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
  p: "u32",
  n: "u32",
  shift: "i32",
  down: "u32",
});

/** Variant key of the Shiftmax pipeline (no override constants). */
export const SHIFTMAX_VARIANT_KEY = "shiftmax:rows";

/**
 * Encode Shiftmax over the last axis of a tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x integer logits; `params.rowLength` must be its last dimension
 * @param params attributes and row length
 * @returns the recorded op and its int8/int16 output
 * @throws {RangeError} on invalid attributes or a broken overflow precondition
 */
export async function encodeShiftmax(
  scope: BufferScope,
  x: DeviceTensor,
  params: ShiftmaxParams,
): Promise<Encoded> {
  const { device } = await getGpu();
  const { rowLength: len, p, n } = params;
  const shift = params.expShift ?? 0;
  const bits = params.outputBits ?? 8;
  checkShiftExp(p, n, shift, "Shiftmax");
  if (bits !== 8 && bits !== 16) {
    throw new RangeError(`Invalid Shiftmax: outputBits must be 8 or 16, got ${bits}`);
  }
  const count = x.dims.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(len) || len < 1 || count % len !== 0) {
    throw new RangeError(`Invalid Shiftmax: ${count} values do not split into rows of ${len}`);
  }
  if (len * p * 2 ** n > 2 ** 31 - 1) {
    throw new RangeError(`Invalid Shiftmax: rowLength * p * 2^n = ${len * p * 2 ** n} exceeds 2^31 - 1`);
  }
  const rows = count / len;
  const y = allocate(scope, bits === 8 ? DataType.INT8 : DataType.INT16, x.dims);
  const run = await encodeKernel(device, {
    key: SHIFTMAX_VARIANT_KEY,
    label: "shiftmax",
    file: "shiftmax.wgsl",
    includes: ["shift_exp.wgsl"],
    structs: [PARAMS.wgsl],
    entryPoint: "shiftmax",
    buffers: [x.buffer, y.buffer, scope.uniform(PARAMS.pack({ rows, len, p, n, shift, down: 32 - bits }))],
    workgroups: grid1d(rows, 1, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * shiftkit.Shiftmax on WebGPU, same signature and bits as `shiftmax` of quant/shiftmax.ts.
 *
 * @param x int8/int16/int32 logits, rows of `rowLength` contiguous values
 * @param params attributes and row length
 * @returns Int8Array (outputBits 8) or Int16Array (16)
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftmaxGpu } from "./shiftmax.ts";
 * const y = await shiftmaxGpu(new Int8Array([0, 0, -128]), { rowLength: 3, p: 8, n: 15 });
 * assertEquals(Array.from(y), [63, 63, 0]);
 * ```
 */
export async function shiftmaxGpu(
  x: Int8Array | Int16Array | Int32Array,
  params: ShiftmaxParams,
): Promise<Int8Array | Int16Array> {
  const t = await runOnHost(
    [{ dtype: DataType.INT32, dims: [x.length], data: x }],
    (scope, [dx]) => encodeShiftmax(scope, dx, params),
  );
  return t.data as Int8Array | Int16Array;
}
