/**
 * WebGPU integer element-wise ops of the default domain: broadcasting `Add`, `Sub`, `Mul`, `Div`, `Mod` and
 * `Cast` on 8/16/32-bit integer tensors, as the integer-only conversion emits them around its shiftkit ops
 * (int32 bias adds, the high/low byte split of 16-bit attention probabilities). Bit-exact with the CPU
 * evaluator's kernels (onnx/evaluate/ops/elementwise.ts, cast.ts), their oracle: results wrap to the output
 * width as a typed-array store does.
 * @module
 */

import { DataType, dtypeName, type Tensor } from "../onnx/tensor.ts";
import { broadcastOffsets, broadcastShapes } from "../onnx/evaluate/ops/_util.ts";
import {
  allocate,
  type DeviceTensor,
  elementCount,
  type Encoded,
  encodeKernel,
  grid1d,
  runOnHost,
} from "./device_tensor.ts";
import { type BufferScope, getGpu } from "./gpu.ts";
import { defineStruct } from "./wgsl.ts";

const PARAMS = defineStruct("Params", { count: "u32", mapA: "u32", mapB: "u32", bits: "u32", signed: "u32" });

/** The binary ops, by their `OP` override value. */
export const INT_BINARY_OPS = ["Add", "Sub", "Mul", "Div", "Mod", "Fmod"] as const;
/** A binary op (`Fmod` is `Mod` with `fmod = 1`). */
export type IntBinaryOp = typeof INT_BINARY_OPS[number];

/** Variant keys: one per binary op, and the two casts. */
export const INT_ELEMENTWISE_VARIANT_KEYS: readonly string[] = [
  ...INT_BINARY_OPS.map((o) => `int_binary:${o}`),
  "int_cast:int",
  "int_cast:float",
];

/** Integer element types the kernels hold (one i32 word per element). */
const WIDTH: Partial<Record<DataType, { bits: number; signed: boolean }>> = {
  [DataType.INT8]: { bits: 8, signed: true },
  [DataType.UINT8]: { bits: 8, signed: false },
  [DataType.INT16]: { bits: 16, signed: true },
  [DataType.UINT16]: { bits: 16, signed: false },
  [DataType.INT32]: { bits: 32, signed: true },
};

/**
 * Whether an element type is an integer the element-wise kernels hold.
 *
 * @param dtype ONNX element type
 * @returns true for int8, uint8, int16, uint16, int32
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { isDeviceInteger } from "./int_elementwise.ts";
 * assertEquals([isDeviceInteger(DataType.INT32), isDeviceInteger(DataType.INT64)], [true, false]);
 * ```
 */
export function isDeviceInteger(dtype: DataType): boolean {
  return WIDTH[dtype] !== undefined;
}

function width(dtype: DataType, what: string): { bits: number; signed: boolean } {
  const w = WIDTH[dtype];
  if (!w) throw new TypeError(`Cannot run ${what} on the GPU: element type ${dtypeName(dtype)} is not held`);
  return w;
}

/**
 * Encode a broadcasting integer binary op on device tensors.
 *
 * @param scope owner of the new buffers
 * @param op the op
 * @param a first input
 * @param b second input (same element type)
 * @returns the recorded op; its output has the broadcast shape and the inputs' element type
 * @throws {TypeError} on differing or non-integer element types
 * @throws {RangeError} on shapes that do not broadcast
 */
export async function encodeIntBinary(
  scope: BufferScope,
  op: IntBinaryOp,
  a: DeviceTensor,
  b: DeviceTensor,
): Promise<Encoded> {
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `Cannot run ${op}: input types differ (${dtypeName(a.dtype)}, ${dtypeName(b.dtype)})`,
    );
  }
  const w = width(a.dtype, op);
  const { device } = await getGpu();
  const dims = broadcastShapes([a.dims, b.dims], op);
  const count = elementCount(dims);
  const ma = broadcastOffsets(a.dims, dims), mb = broadcastOffsets(b.dims, dims);
  const y = allocate(scope, a.dtype, dims);
  const run = await encodeKernel(device, {
    key: `int_binary:${op}`,
    label: `int_binary_${op}`,
    file: "int_elementwise.wgsl",
    includes: [],
    structs: [PARAMS.wgsl],
    entryPoint: "int_binary",
    constants: { OP: INT_BINARY_OPS.indexOf(op) },
    buffers: [
      a.buffer,
      b.buffer,
      scope.storage(ma ?? new Int32Array(1), "mapA"),
      scope.storage(mb ?? new Int32Array(1), "mapB"),
      y.buffer,
      scope.uniform(
        PARAMS.pack({ count, mapA: ma ? 1 : 0, mapB: mb ? 1 : 0, bits: w.bits, signed: +w.signed }),
      ),
    ],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * Encode an integer `Cast` (to another integer type, wrapping, or to float32).
 *
 * @param scope owner of the new buffers
 * @param x the input (an integer type)
 * @param to the target element type
 * @returns the recorded op
 * @throws {TypeError} for a source or target type the kernel does not hold
 */
export async function encodeIntCast(scope: BufferScope, x: DeviceTensor, to: DataType): Promise<Encoded> {
  width(x.dtype, "Cast");
  const toFloat = to === DataType.FLOAT;
  const w = toFloat ? { bits: 32, signed: true } : width(to, "Cast");
  const { device } = await getGpu();
  const count = elementCount(x.dims);
  const y = allocate(scope, to, x.dims);
  const one = scope.storage(new Int32Array(1), "unused");
  const run = await encodeKernel(device, {
    key: `int_cast:${toFloat ? "float" : "int"}`,
    label: "int_cast",
    file: "int_elementwise.wgsl",
    includes: [],
    structs: [PARAMS.wgsl],
    entryPoint: "int_cast",
    constants: { TO_FLOAT: toFloat ? 1 : 0 },
    buffers: [
      x.buffer,
      one,
      one,
      one,
      y.buffer,
      scope.uniform(PARAMS.pack({ count, mapA: 0, mapB: 0, bits: w.bits, signed: +w.signed })),
    ],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * Run a broadcasting integer binary op on WebGPU (host in, host out).
 *
 * @param op the op
 * @param a first input
 * @param b second input
 * @returns the output tensor
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { intBinaryGpu } from "./int_elementwise.ts";
 * const y = await intBinaryGpu("Mod", { dtype: DataType.INT32, dims: [2, 2], data: new Int32Array([7, -7, 7, -7]) },
 *   { dtype: DataType.INT32, dims: [2, 1], data: new Int32Array([3, -3]) });
 * assertEquals([...y.data], [1, 2, -2, -1]);
 * ```
 */
export async function intBinaryGpu(
  op: IntBinaryOp,
  a: Tensor,
  b: Tensor,
): Promise<Tensor> {
  return await runOnHost([a, b], (scope, [x, y]) => encodeIntBinary(scope, op, x, y));
}

/**
 * Run an integer `Cast` on WebGPU (host in, host out).
 *
 * @param x the input
 * @param to target element type
 * @returns the output tensor
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { intCastGpu } from "./int_elementwise.ts";
 * const y = await intCastGpu({ dtype: DataType.INT32, dims: [3], data: new Int32Array([300, -129, 5]) }, DataType.INT8);
 * assertEquals([...y.data], [44, 127, 5]);
 * ```
 */
export async function intCastGpu(
  x: Tensor,
  to: DataType,
): Promise<Tensor> {
  return await runOnHost([x], (scope, [d]) => encodeIntCast(scope, d, to));
}
