/**
 * WebGPU `shiftkit.ShiftSigmoid`, bit-exact with `shiftSigmoid` of quant/shiftsigmoid.ts (its CPU oracle).
 * @module
 */

import { checkShiftExp } from "../quant/shiftmax.ts";
import type { ShiftSigmoidParams } from "../quant/shiftsigmoid.ts";
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

const PARAMS = defineStruct("Params", { count: "u32", p: "u32", n: "u32", shift: "i32", k: "u32" });

/** Variant key of the ShiftSigmoid pipeline (no override constants). */
export const SHIFT_SIGMOID_VARIANT_KEY = "shift_sigmoid:elementwise";

/**
 * Encode ShiftSigmoid on a tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x integer input
 * @param params attributes
 * @returns the recorded op and its int8/int16 output
 * @throws {RangeError} on invalid attributes or p * 2^(n + k) > 2^31 - 1
 */
export async function encodeShiftSigmoid(
  scope: BufferScope,
  x: DeviceTensor,
  params: ShiftSigmoidParams,
): Promise<Encoded> {
  const { device } = await getGpu();
  const { p, n } = params;
  const shift = params.expShift ?? 0;
  const bits = params.outputBits ?? 8;
  checkShiftExp(p, n, shift, "ShiftSigmoid");
  if (bits !== 8 && bits !== 16) {
    throw new RangeError(`Invalid ShiftSigmoid: outputBits must be 8 or 16, got ${bits}`);
  }
  const k = bits - 1;
  if (p * 2 ** (n + k) > 2 ** 31 - 1) {
    throw new RangeError(`Invalid ShiftSigmoid: p * 2^(n + ${k}) = ${p * 2 ** (n + k)} exceeds 2^31 - 1`);
  }
  const count = x.dims.reduce((a, b) => a * b, 1);
  const y = allocate(scope, bits === 8 ? DataType.INT8 : DataType.INT16, x.dims);
  const run = await encodeKernel(device, {
    key: SHIFT_SIGMOID_VARIANT_KEY,
    label: "shift_sigmoid",
    file: "shift_sigmoid.wgsl",
    includes: ["shift_exp.wgsl"],
    structs: [PARAMS.wgsl],
    entryPoint: "shift_sigmoid",
    buffers: [x.buffer, y.buffer, scope.uniform(PARAMS.pack({ count, p, n, shift, k }))],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * shiftkit.ShiftSigmoid on WebGPU, same signature and bits as `shiftSigmoid` of quant/shiftsigmoid.ts.
 *
 * @param x int8/int16/int32 input
 * @param params attributes
 * @returns Int8Array (scale 2^-7) or Int16Array (scale 2^-15)
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftSigmoidGpu } from "./shift_sigmoid.ts";
 * const y = await shiftSigmoidGpu(new Int8Array([0, 127, -128]), { p: 16, n: 12 });
 * assertEquals(Array.from(y), [64, 127, 0]);
 * ```
 */
export async function shiftSigmoidGpu(
  x: Int8Array | Int16Array | Int32Array,
  params: ShiftSigmoidParams,
): Promise<Int8Array | Int16Array> {
  const t = await runOnHost(
    [{ dtype: DataType.INT32, dims: [x.length], data: x }],
    (scope, [dx]) => encodeShiftSigmoid(scope, dx, params),
  );
  return t.data as Int8Array | Int16Array;
}
