/**
 * WebGPU ONNX QuantizeLinear / DequantizeLinear, per tensor or per axis, int8/uint8 (and any range that
 * fits int16), bit-exact with `quantizeLinear` / `dequantizeLinear` of quant/quantize.ts (the CPU oracles).
 * Blocked (opset 21 `block_size`) quantization is not implemented here: the executor runs it on the CPU.
 * @module
 */

import type { AxisOptions } from "../quant/quantize.ts";
import { DataType, type Tensor } from "../onnx/tensor.ts";
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
  qmin: "i32",
  qmax: "i32",
});

/** The two entry points. */
export type QdqVariant = "quantize" | "dequantize";

/** Every variant key of this kernel. */
export const QDQ_VARIANT_KEYS: readonly string[] = ["qdq:quantize", "qdq:dequantize"];

/** Scale, zero point and axis of one QDQ op. */
export interface QdqParams extends Pick<AxisOptions, "axis"> {
  /** One scale (per tensor) or `dims[axis]` scales. */
  scale: Float32Array;
  /** Zero points, same length as `scale`, or null for 0. */
  zeroPoint: Int32Array | null;
}

/** Options of {@linkcode encodeQuantizeLinear}. */
export interface QuantizeRange {
  /** Output element type. @default DataType.INT8 */
  dtype?: DataType.INT8 | DataType.UINT8 | DataType.INT16 | DataType.UINT16;
  /** Saturation minimum. @default the minimum of `dtype` */
  qmin?: number;
  /** Saturation maximum. @default the maximum of `dtype` */
  qmax?: number;
}

const RANGES: Record<number, [number, number]> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT16]: [-32768, 32767],
  [DataType.UINT16]: [0, 65535],
};

function layout(dims: readonly number[], params: QdqParams, op: string): { inner: number; channels: number } {
  const channels = params.scale.length;
  if (params.zeroPoint && params.zeroPoint.length !== channels) {
    throw new RangeError(
      `Cannot ${op}: zero point has ${params.zeroPoint.length} elements, scale has ${channels}`,
    );
  }
  for (const s of params.scale) {
    if (!(s > 0) || s === Infinity) {
      throw new RangeError(`Cannot ${op}: scales must be positive and finite, got ${s}`);
    }
  }
  if (channels === 1) return { inner: 1, channels: 1 };
  const rank = dims.length;
  const raw = params.axis ?? 1;
  const axis = raw < 0 ? raw + rank : raw;
  if (axis < 0 || axis >= rank || dims[axis] !== channels) {
    throw new RangeError(`Cannot ${op}: ${channels} scales do not match axis ${raw} of [${dims.join(",")}]`);
  }
  return { inner: dims.slice(axis + 1).reduce((a, b) => a * b, 1), channels };
}

async function encode(
  scope: BufferScope,
  variant: QdqVariant,
  x: DeviceTensor,
  params: QdqParams,
  out: { dtype: DataType; qmin: number; qmax: number },
): Promise<Encoded> {
  const { device } = await getGpu();
  const { inner, channels } = layout(x.dims, params, variant);
  const count = x.dims.reduce((a, b) => a * b, 1);
  const y = allocate(scope, out.dtype, x.dims);
  const run = await encodeKernel(device, {
    key: `qdq:${variant}`,
    label: `qdq_${variant}`,
    file: "qdq.wgsl",
    includes: [],
    structs: [PARAMS.wgsl],
    entryPoint: variant,
    buffers: [
      x.buffer,
      scope.storage(params.scale.slice(), "scale"),
      scope.storage(params.zeroPoint?.slice() ?? new Int32Array(channels), "zero point"),
      y.buffer,
      scope.uniform(PARAMS.pack({ count, inner, channels, qmin: out.qmin, qmax: out.qmax })),
    ],
    workgroups: grid1d(count, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * Encode QuantizeLinear on a float32 tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x float32 input
 * @param params scale(s), zero point(s), axis; plus the output type and saturation range
 * @returns the recorded op and its integer output
 * @throws {RangeError} for non-positive scales, mismatched parameter lengths or a range outside int16/uint16
 */
export function encodeQuantizeLinear(
  scope: BufferScope,
  x: DeviceTensor,
  params: QdqParams & QuantizeRange,
): Promise<Encoded> {
  const dtype = params.dtype ?? DataType.INT8;
  const [tmin, tmax] = RANGES[dtype] ?? [-128, 127];
  const qmin = params.qmin ?? tmin, qmax = params.qmax ?? tmax;
  if (!Number.isInteger(qmin) || !Number.isInteger(qmax) || qmin > qmax || qmin < tmin || qmax > tmax) {
    throw new RangeError(`Cannot quantize: bad integer range [${qmin}, ${qmax}] for the output type`);
  }
  return encode(scope, "quantize", x, params, { dtype, qmin, qmax });
}

/**
 * Encode DequantizeLinear on an integer tensor already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param q integer input
 * @param params scale(s), zero point(s), axis
 * @returns the recorded op and its float32 output
 * @throws {RangeError} for non-positive scales or mismatched parameter lengths
 */
export function encodeDequantizeLinear(
  scope: BufferScope,
  q: DeviceTensor,
  params: QdqParams,
): Promise<Encoded> {
  return encode(scope, "dequantize", q, params, { dtype: DataType.FLOAT, qmin: 0, qmax: 0 });
}

/**
 * QuantizeLinear on WebGPU, bit-exact with `quantizeLinear` of quant/quantize.ts.
 *
 * @param x float32 input
 * @param dims shape of `x`
 * @param params scale(s), zero point(s), axis, output type and range
 * @returns the quantized tensor (Int8Array, Uint8Array, Int16Array or Uint16Array by `dtype`)
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quantizeLinearGpu } from "./qdq.ts";
 * const x = new Float32Array([0.5, 1.5, 2.5, -2.5, 300]);
 * const q = await quantizeLinearGpu(x, [5], { scale: new Float32Array([1]), zeroPoint: null });
 * assertEquals(q.data, new Int8Array([0, 2, 2, -2, 127]));
 * ```
 */
export async function quantizeLinearGpu(
  x: Float32Array,
  dims: readonly number[],
  params: QdqParams & QuantizeRange,
): Promise<Tensor> {
  return await runOnHost(
    [{ dtype: DataType.FLOAT, dims, data: x }],
    (scope, [dx]) => encodeQuantizeLinear(scope, dx, params),
  );
}

/**
 * DequantizeLinear on WebGPU, bit-exact with `dequantizeLinear` of quant/quantize.ts for normal float32
 * results (an adapter that flushes subnormals differs below 2^-126).
 *
 * @param q quantized integers
 * @param dims shape of `q`
 * @param params scale(s), zero point(s), axis
 * @returns float32 values
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dequantizeLinearGpu } from "./qdq.ts";
 * const y = await dequantizeLinearGpu(new Uint8Array([130, 130]), [1, 2], {
 *   scale: new Float32Array([0.5, 2]), zeroPoint: new Int32Array([128, 129]), axis: 1 });
 * assertEquals(y, new Float32Array([1, 2]));
 * ```
 */
export async function dequantizeLinearGpu(
  q: Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array,
  dims: readonly number[],
  params: QdqParams,
): Promise<Float32Array> {
  const t = await runOnHost(
    [{ dtype: DataType.INT32, dims, data: q }],
    (scope, [dq]) => encodeDequantizeLinear(scope, dq, params),
  );
  return t.data as Float32Array;
}
