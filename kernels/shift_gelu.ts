/**
 * WebGPU `shiftkit.ShiftGelu` and `shiftkit.LambdaShiftGelu` (one shader, two variants by the USE_LAMBDA
 * override), bit-exact with `shiftGelu` / `lambdaShiftGelu` of quant/shiftgelu.ts (their CPU oracles).
 * @module
 */

import { checkShiftExp } from "../quant/shiftmax.ts";
import type { LambdaShiftGeluParams, ShiftGeluParams } from "../quant/shiftgelu.ts";
import { XSIGMOID_FRACTION_BITS } from "../quant/shiftsigmoid.ts";
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

const PARAMS = defineStruct("Params", { count: "u32", p: "u32", n: "u32", lambda: "i32" });

/** The two shader variants: plain ShiftGelu and LambdaShiftGelu. */
export type ShiftGeluVariant = "plain" | "lambda";

/**
 * Variant key of one ShiftGelu pipeline.
 *
 * @param variant "plain" or "lambda"
 * @returns the key
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftGeluVariantKey } from "./shift_gelu.ts";
 * assertEquals(shiftGeluVariantKey("lambda"), "shift_gelu:lambda");
 * ```
 */
export function shiftGeluVariantKey(variant: ShiftGeluVariant): string {
  return `shift_gelu:${variant}`;
}

/** Every variant key of this kernel. */
export const SHIFT_GELU_VARIANT_KEYS: readonly string[] = [
  shiftGeluVariantKey("plain"),
  shiftGeluVariantKey("lambda"),
];

/**
 * Encode ShiftGelu (no `lambda`) or LambdaShiftGelu (with `lambda`) on a tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x int8 or int16 input
 * @param params p, n and, for LambdaShiftGelu, lambda
 * @returns the recorded op and its output (x's element type and scale)
 * @throws {RangeError} on invalid attributes or p * 2^(n + 15) > 2^31 - 1
 */
export async function encodeShiftGelu(
  scope: BufferScope,
  x: DeviceTensor,
  params: ShiftGeluParams | LambdaShiftGeluParams,
): Promise<Encoded> {
  const { device } = await getGpu();
  const { p, n } = params;
  const lambda = "lambda" in params ? params.lambda : 0;
  const variant: ShiftGeluVariant = "lambda" in params ? "lambda" : "plain";
  checkShiftExp(p, n, lambda, "ShiftGelu");
  if (x.dtype !== DataType.INT8 && x.dtype !== DataType.INT16) {
    throw new TypeError("Invalid ShiftGelu input: expected int8 or int16");
  }
  if (p * 2 ** (n + XSIGMOID_FRACTION_BITS) > 2 ** 31 - 1) {
    throw new RangeError(`Invalid ShiftGelu: p * 2^(n + 15) = ${p * 2 ** (n + 15)} exceeds 2^31 - 1`);
  }
  const count = x.dims.reduce((a, b) => a * b, 1);
  const y = allocate(scope, x.dtype, x.dims);
  const run = await encodeKernel(device, {
    key: shiftGeluVariantKey(variant),
    label: `shift_gelu_${variant}`,
    file: "shift_gelu.wgsl",
    includes: ["shift_exp.wgsl"],
    structs: [PARAMS.wgsl],
    entryPoint: "shift_gelu",
    constants: { USE_LAMBDA: variant === "lambda" ? 1 : 0 },
    buffers: [x.buffer, y.buffer, scope.uniform(PARAMS.pack({ count, p, n, lambda }))],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * shiftkit.ShiftGelu (params without `lambda`) or LambdaShiftGelu (with `lambda`) on WebGPU, same bits as
 * `shiftGelu` / `lambdaShiftGelu` of quant/shiftgelu.ts.
 *
 * @param x int8 or int16 input
 * @param params p, n (and lambda)
 * @returns GELU(x) at the input scale, same element type
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftGeluGpu } from "./shift_gelu.ts";
 * assertEquals(Array.from(await shiftGeluGpu(new Int8Array([32, -32, 0]), { p: 9, n: 12 })), [31, -1, 0]);
 * assertEquals(Array.from(await shiftGeluGpu(new Int8Array([4, 8, -4]), { p: 75, n: 9, lambda: 5 })), [3, 8, -1]);
 * ```
 */
export async function shiftGeluGpu<T extends Int8Array | Int16Array>(
  x: T,
  params: ShiftGeluParams | LambdaShiftGeluParams,
): Promise<T> {
  const dtype = x instanceof Int8Array ? DataType.INT8 : DataType.INT16;
  const t = await runOnHost(
    [{ dtype, dims: [x.length], data: x }],
    (scope, [dx]) => encodeShiftGelu(scope, dx, params),
  );
  return t.data as T;
}
