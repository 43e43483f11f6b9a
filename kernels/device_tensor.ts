/**
 * Tensors on the GPU as the elementwise integer kernels, QDQ and the executor keep them: one 32-bit word per
 * element (8/16-bit integers sign- or zero-extended to i32, float32 as is), so every kernel indexes elements
 * directly and a tensor can flow from one GPU op to the next without a repack. (The GEMM kernels pack 4
 * bytes per word for `dot4I8Packed`; see wgsl.ts `wgslStorage`.)
 * @module
 */

import { DataType, dtypeName, type Tensor } from "../onnx/tensor.ts";
import { BufferScope, type DispatchSpec, encodeDispatch, getGpu, getPipeline } from "./gpu.ts";
import { loadWgsl, withPrelude } from "./wgsl.ts";

/** A tensor in a GPU storage buffer, one 32-bit word per element. */
export interface DeviceTensor {
  /** The buffer (owned by the scope that created it). */
  readonly buffer: GPUBuffer;
  /** ONNX element type the words stand for. */
  readonly dtype: DataType;
  /** Shape. */
  readonly dims: readonly number[];
}

/** Element types a DeviceTensor may hold. */
const WORD_TYPES = new Set<DataType>([
  DataType.FLOAT,
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT32,
]);

/**
 * Whether a tensor of this element type can live on the GPU as a {@linkcode DeviceTensor}.
 *
 * @param dtype ONNX element type
 * @returns true for float32 and 8/16/32-bit integers
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { isWordType } from "./device_tensor.ts";
 * assertEquals([isWordType(DataType.INT8), isWordType(DataType.INT64)], [true, false]);
 * ```
 */
export function isWordType(dtype: DataType): boolean {
  return WORD_TYPES.has(dtype);
}

/** Number of elements of a shape. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Widen integer data to one int32 per element (the device layout).
 *
 * @param data integer or float32 elements
 * @returns an Int32Array (integers) or a Float32Array copy (floats)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { toWords } from "./device_tensor.ts";
 * assertEquals(toWords(new Int8Array([-1, 2])), new Int32Array([-1, 2]));
 * ```
 */
export function toWords(data: ArrayLike<number> & { BYTES_PER_ELEMENT?: number }): Int32Array | Float32Array {
  return data instanceof Float32Array ? data.slice() : Int32Array.from(data as ArrayLike<number>);
}

/**
 * Upload a host tensor.
 *
 * @param scope owner of the new buffer
 * @param t the tensor (float32 or 8/16/32-bit integer)
 * @returns the device tensor
 * @throws {TypeError} for another element type
 */
export function upload(scope: BufferScope, t: Tensor): DeviceTensor {
  if (!isWordType(t.dtype) || typeof t.data[0] === "string" || typeof t.data[0] === "bigint") {
    throw new TypeError(
      `Cannot upload a ${dtypeName(t.dtype)} tensor: only float32 and 8/16/32-bit integers`,
    );
  }
  const words = toWords(t.data as Float32Array | Int32Array);
  return { buffer: scope.storage(words, "tensor"), dtype: t.dtype, dims: [...t.dims] };
}

/**
 * A zero-filled device tensor (kernel output).
 *
 * @param scope owner of the buffer
 * @param dtype element type
 * @param dims shape
 * @returns the device tensor
 */
export function allocate(scope: BufferScope, dtype: DataType, dims: readonly number[]): DeviceTensor {
  return { buffer: scope.storage(elementCount(dims) * 4, "tensor"), dtype, dims: [...dims] };
}

/**
 * Narrow device words to the host typed array of `dtype`.
 *
 * @param words the words as read back
 * @param dtype element type
 * @param n element count
 * @returns the host data
 */
export function fromWords(
  words: ArrayBuffer,
  dtype: DataType,
  n: number,
): Float32Array | Int32Array | Int8Array | Uint8Array | Int16Array | Uint16Array {
  if (dtype === DataType.FLOAT) return new Float32Array(words, 0, n).slice();
  const w = new Int32Array(words, 0, n);
  switch (dtype) {
    case DataType.INT8:
      return Int8Array.from(w);
    case DataType.UINT8:
      return Uint8Array.from(w);
    case DataType.INT16:
      return Int16Array.from(w);
    case DataType.UINT16:
      return Uint16Array.from(w);
    default:
      return w.slice();
  }
}

/**
 * Read a device tensor back (waits for submitted work).
 *
 * @param scope a scope on the tensor's device
 * @param d the device tensor
 * @returns the host tensor
 */
export async function download(scope: BufferScope, d: DeviceTensor): Promise<Tensor> {
  const n = elementCount(d.dims);
  const words = await scope.read(d.buffer, n * 4);
  return { dtype: d.dtype, dims: [...d.dims], data: fromWords(words, d.dtype, n) };
}

/**
 * Workgroup grid for `count` invocations of a 1-D kernel with `wg` invocations per workgroup, folded into
 * two dimensions when it exceeds the per-dimension limit (kernels index `gid.x + gid.y * nwg.x * wg`).
 *
 * @param count invocations needed
 * @param wg workgroup size
 * @param max the device's maxComputeWorkgroupsPerDimension
 * @returns `[x, y]`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { grid1d } from "./device_tensor.ts";
 * assertEquals(grid1d(100, 64, 65535), [2, 1]);
 * assertEquals(grid1d(64 * 70000, 64, 65535), [35000, 2]);
 * ```
 */
export function grid1d(count: number, wg: number, max: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / wg));
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/** A recorded GPU op: its command recorder and its outputs (still on the device). */
export interface Encoded {
  /** Records the op's dispatches into a fresh command buffer. */
  readonly run: () => GPUCommandBuffer;
  /** The op's outputs. */
  readonly outputs: DeviceTensor[];
}

/**
 * Upload host inputs, encode one op on them, run it once and download its first output, in a scope that frees
 * every buffer on return: the host-side wrapper each kernel's convenience function (`requantizeGpu`, ...) uses.
 *
 * @param inputs host tensors, uploaded in order
 * @param encode builds the op on the uploaded tensors (same order), its buffers owned by `scope`
 * @returns the first output on the host
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { encodeShiftSigmoid } from "./shift_sigmoid.ts";
 * import { runOnHost } from "./device_tensor.ts";
 * const t = await runOnHost(
 *   [{ dtype: DataType.INT8, dims: [3], data: new Int8Array([0, 127, -128]) }],
 *   (scope, [x]) => encodeShiftSigmoid(scope, x, { p: 16, n: 12 }),
 * );
 * assertEquals(Array.from(t.data as Int8Array), [64, 127, 0]);
 * ```
 */
export async function runOnHost<const T extends readonly Tensor[]>(
  inputs: T,
  encode: (scope: BufferScope, inputs: { readonly [K in keyof T]: DeviceTensor }) => Promise<Encoded>,
): Promise<Tensor> {
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const uploaded = inputs.map((t) => upload(scope, t)) as unknown as {
    readonly [K in keyof T]: DeviceTensor;
  };
  const enc = await encode(scope, uploaded);
  device.queue.submit([enc.run()]);
  return await download(scope, enc.outputs[0]!);
}

/**
 * A kernel's complete WGSL: struct declarations, shared helper files (dyadic.wgsl, shift_exp.wgsl) and the
 * kernel file, all from this folder.
 *
 * @param file the kernel's `.wgsl` file
 * @param includes helper `.wgsl` files it calls into
 * @param structs struct declarations (`defineStruct(...).wgsl`)
 * @returns the source
 */
export async function kernelSource(
  file: string,
  includes: readonly string[],
  ...structs: string[]
): Promise<string> {
  const texts = await Promise.all(
    [file, ...includes].map((f) => loadWgsl(new URL(`./${f}`, import.meta.url))),
  );
  return withPrelude(texts[0]!, ...structs, ...texts.slice(1));
}

/** One dispatch of a kernel built from the files in this folder (see {@link encodeKernel}). */
export interface KernelDispatch extends Omit<DispatchSpec, "pipeline"> {
  /** Variant key: must determine file, includes, structs, entry point and constants (pipeline cache key). */
  key: string;
  /** Label for error messages. */
  label: string;
  /** The kernel's `.wgsl` file. */
  file: string;
  /** Helper `.wgsl` files it calls into. */
  includes: readonly string[];
  /** Struct declarations (`defineStruct(...).wgsl`). */
  structs: readonly string[];
  /** Entry point. */
  entryPoint: string;
  /** `override` constants. */
  constants?: Record<string, number>;
}

/**
 * Get (or compile and cache) a kernel's pipeline and encode one dispatch: the shared tail of every
 * `encodeXxx` function of the element-wise and row-wise kernels.
 *
 * @param device the GPU device
 * @param d kernel, bindings and grid
 * @returns a thunk producing the command buffer
 */
export async function encodeKernel(device: GPUDevice, d: KernelDispatch): Promise<() => GPUCommandBuffer> {
  const pipeline = await getPipeline(d.key, async () => ({
    label: d.label,
    code: await kernelSource(d.file, d.includes, ...d.structs),
    entryPoint: d.entryPoint,
    ...(d.constants ? { constants: d.constants } : {}),
  }));
  return encodeDispatch(device, { pipeline, buffers: d.buffers, workgroups: d.workgroups });
}
