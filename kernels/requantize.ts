/**
 * WebGPU `shiftkit.Requantize`: the dyadic rescale of int32 accumulators with the 64-bit product emulated
 * in 32-bit limbs (dyadic.wgsl). Bit-exact with `requantize` of quant/dyadic.ts, its CPU oracle.
 * @module
 */

import { checkDyadic, type RequantizeOptions, type RequantizeParams } from "../quant/dyadic.ts";
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
  inner: "u32",
  channels: "u32",
  multPerChannel: "u32",
  shiftPerChannel: "u32",
  zeroPoint: "i32",
  lo: "i32",
  hi: "i32",
});

/** Variant key of the Requantize pipeline (no override constants). */
export const REQUANTIZE_VARIANT_KEY = "requantize:elementwise";

function outputType(bits: 8 | 16 | 32): DataType {
  return bits === 8 ? DataType.INT8 : bits === 16 ? DataType.INT16 : DataType.INT32;
}

/**
 * Encode Requantize on a tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x input (integer words)
 * @param params multiplier(s) and shift(s)
 * @param options output width, zero point, channel layout
 * @returns the recorded op and its int8/int16/int32 output
 * @throws {RangeError} on invalid dyadic pairs or mismatched channel arrays
 */
export async function encodeRequantize(
  scope: BufferScope,
  x: DeviceTensor,
  params: RequantizeParams,
  options: RequantizeOptions = {},
): Promise<Encoded> {
  const { device } = await getGpu();
  const bits = options.outputBits ?? 8;
  const inner = options.innerSize ?? 1;
  const mults = typeof params.multiplier === "number" ? [params.multiplier] : Array.from(params.multiplier);
  const shifts = typeof params.shift === "number" ? [params.shift] : Array.from(params.shift);
  if (mults.length !== shifts.length && mults.length !== 1 && shifts.length !== 1) {
    throw new RangeError(`Cannot requantize: ${mults.length} multipliers but ${shifts.length} shifts`);
  }
  const channels = Math.max(mults.length, shifts.length);
  for (let ch = 0; ch < channels; ch++) {
    checkDyadic({
      multiplier: mults[mults.length === 1 ? 0 : ch]!,
      shift: shifts[shifts.length === 1 ? 0 : ch]!,
    }, `channel ${ch}`);
  }
  if (!Number.isInteger(inner) || inner < 1) {
    throw new RangeError(`Cannot requantize: innerSize must be a positive integer, got ${inner}`);
  }
  const [lo, hi] = intRange(bits, true);
  const count = x.dims.reduce((a, b) => a * b, 1);
  const y = allocate(scope, outputType(bits), x.dims);
  const run = await encodeKernel(device, {
    key: REQUANTIZE_VARIANT_KEY,
    label: "requantize",
    file: "requantize.wgsl",
    includes: ["dyadic.wgsl"],
    structs: [PARAMS.wgsl],
    entryPoint: "requantize",
    buffers: [
      x.buffer,
      scope.storage(Int32Array.from(mults), "multiplier"),
      scope.storage(Uint32Array.from(shifts), "shift"),
      y.buffer,
      scope.uniform(PARAMS.pack({
        count,
        inner,
        channels,
        multPerChannel: mults.length > 1 ? 1 : 0,
        shiftPerChannel: shifts.length > 1 ? 1 : 0,
        zeroPoint: options.zeroPoint ?? 0,
        lo,
        hi,
      })),
    ],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * shiftkit.Requantize on WebGPU, same signature and bits as `requantize` of quant/dyadic.ts.
 *
 * @param x integer input (int32 accumulators, or int8/int16)
 * @param params multiplier(s) and shift(s)
 * @param options output width, zero point, channel layout
 * @returns Int8Array, Int16Array or Int32Array by `outputBits`
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dyadic } from "../quant/dyadic.ts";
 * import { requantizeGpu } from "./requantize.ts";
 * const y = await requantizeGpu(new Int32Array([1000, -1000, 100000, 5]), dyadic(0.01));
 * assertEquals(Array.from(y), [10, -10, 127, 0]);
 * ```
 */
export async function requantizeGpu(
  x: Int8Array | Int16Array | Int32Array,
  params: RequantizeParams,
  options: RequantizeOptions = {},
): Promise<Int8Array | Int16Array | Int32Array> {
  const t = await runOnHost(
    [{ dtype: DataType.INT32, dims: [x.length], data: x }],
    (scope, [dx]) => encodeRequantize(scope, dx, params, options),
  );
  return t.data as Int8Array | Int16Array | Int32Array;
}
