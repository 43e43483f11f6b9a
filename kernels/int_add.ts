/**
 * WebGPU `shiftkit.IntAdd`, bit-exact with `intAdd` of quant/int_add.ts (its CPU oracle).
 * @module
 */

import { checkDyadic } from "../quant/dyadic.ts";
import type { IntAddParams } from "../quant/int_add.ts";
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
  count: "u32",
  aMultiplier: "i32",
  aShift: "u32",
  bMultiplier: "i32",
  bShift: "u32",
  lo: "i32",
  hi: "i32",
});

/** Variant key of the IntAdd pipeline (no override constants). */
export const INT_ADD_VARIANT_KEY = "int_add:elementwise";

/**
 * Encode IntAdd on tensors already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param inputs the two branches, same element count
 * @param params dyadic factors and output width
 * @returns the recorded op and its int8/int16 output (shape of the first input)
 * @throws {RangeError} on mismatched lengths or invalid dyadic pairs
 */
export async function encodeIntAdd(
  scope: BufferScope,
  inputs: [DeviceTensor, DeviceTensor],
  params: IntAddParams,
): Promise<Encoded> {
  const { device } = await getGpu();
  const [a, b] = inputs;
  const count = a.dims.reduce((p, d) => p * d, 1);
  const countB = b.dims.reduce((p, d) => p * d, 1);
  if (count !== countB) throw new RangeError(`Invalid IntAdd: inputs have ${count} and ${countB} elements`);
  checkDyadic(params.a, "IntAdd a");
  checkDyadic(params.b, "IntAdd b");
  const bits = params.outputBits ?? 16;
  if (bits !== 8 && bits !== 16) {
    throw new RangeError(`Invalid IntAdd: outputBits must be 8 or 16, got ${bits}`);
  }
  const [lo, hi] = intRange(bits, true);
  const y = allocate(scope, bits === 8 ? DataType.INT8 : DataType.INT16, a.dims);
  const run = await encodeKernel(device, {
    key: INT_ADD_VARIANT_KEY,
    label: "int_add",
    file: "int_add.wgsl",
    includes: ["dyadic.wgsl"],
    structs: [PARAMS.wgsl],
    entryPoint: "int_add",
    buffers: [
      a.buffer,
      b.buffer,
      y.buffer,
      scope.uniform(PARAMS.pack({
        count,
        aMultiplier: params.a.multiplier,
        aShift: params.a.shift,
        bMultiplier: params.b.multiplier,
        bShift: params.b.shift,
        lo,
        hi,
      })),
    ],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * shiftkit.IntAdd on WebGPU, same signature and bits as `intAdd` of quant/int_add.ts.
 *
 * @param inputs the two branches `[a, b]`, same length
 * @param params dyadic factors and output width
 * @returns Int8Array or Int16Array at the output scale
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dyadic } from "../quant/dyadic.ts";
 * import { intAddGpu } from "./int_add.ts";
 * const y = await intAddGpu([new Int16Array([10, 30000]), new Int8Array([4, 100])], { a: dyadic(1), b: dyadic(0.5) });
 * assertEquals(Array.from(y), [12, 30050]);
 * ```
 */
export async function intAddGpu(
  inputs: [Int8Array | Int16Array | Int32Array, Int8Array | Int16Array | Int32Array],
  params: IntAddParams,
): Promise<Int8Array | Int16Array> {
  const host = (d: Int8Array | Int16Array | Int32Array) => ({
    dtype: DataType.INT32,
    dims: [d.length],
    data: d,
  });
  const t = await runOnHost(
    [host(inputs[0]), host(inputs[1])],
    (scope, [a, b]) => encodeIntAdd(scope, [a, b], params),
  );
  return t.data as Int8Array | Int16Array;
}
