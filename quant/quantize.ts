/**
 * QuantizeLinear / DequantizeLinear exactly as ONNX defines them (opsets 13..21), the one implementation
 * in shiftkit. Per-tensor, per-axis and blocked (opset 21 `block_size`) scales share one index helper.
 *
 * QuantizeLinear: y = saturate(roundHalfEven(x / y_scale) + y_zero_point). onnxruntime (MLAS) divides in
 * float32, rounds with nearbyint (ties to even) and then adds the zero point; we replicate the float32
 * division with `Math.fround(x / s)` (a float64 quotient of two float32 values rounded once to float32 is
 * the correctly rounded float32 quotient), so results match onnxruntime bit for bit.
 * Saturation is at `[qmin, qmax]`, which may be narrower than the storage type: a 4-bit range stored in an
 * Int8Array saturates at [-8, 7] (how W4A4 is emulated with int8 QDQ, METHODS.md section 0).
 *
 * DequantizeLinear: y = (x - x_zero_point) * x_scale, computed as float32 like onnxruntime (the integer
 * difference is exact and the float64 product of a <= 17-bit integer and a float32 is exact, so rounding
 * the product once to float32 equals the float32 multiply).
 * @module
 */

import { QUANT_CHUNK, QUANT_LIMIT, quantizeHeap, wasmQuantize } from "./wasm_quantize.ts";
import { clamp, roundHalfEven } from "./round.ts";

/** Integer storage a quantized tensor may use; the caller chooses it. */
export type QuantStorage = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array;

/** Where the scale applies: shared by quantizeLinear, dequantizeLinear and fakeQuantize. */
export interface AxisOptions {
  /**
   * Axis of `dims` the scale runs along (negative counts from the end), ignored for a per-tensor
   * (single-element, unblocked) scale. ONNX's default.
   * @default 1
   */
  axis?: number;
  /**
   * Opset 21 blocked quantization: each scale covers `blockSize` consecutive indices along `axis`, and the
   * scale tensor has the shape of `dims` with `dims[axis]` replaced by ceil(dims[axis] / blockSize).
   * 0 means not blocked.
   * @default 0
   */
  blockSize?: number;
}

/** Options of {@linkcode quantizeLinear} and {@linkcode fakeQuantize}. */
export interface QuantizeOptions extends AxisOptions {
  /** Saturation minimum. @default the minimum of `out`'s type, or -128 without `out` */
  qmin?: number;
  /** Saturation maximum. @default the maximum of `out`'s type, or 127 without `out` */
  qmax?: number;
}

/** Options of {@linkcode quantizeLinear} with caller-chosen storage. */
export interface QuantizeIntoOptions<T extends QuantStorage> extends QuantizeOptions {
  /** Array to write into (same length as `x`). @default a new array of the smallest type holding [qmin, qmax] */
  out?: T;
}

/** Options of {@linkcode dequantizeLinear}. */
export interface DequantizeOptions extends AxisOptions {
  /** Array to write into (same length as `q`). @default a new Float32Array */
  out?: Float32Array;
}

function storageRange(a: QuantStorage): [number, number] {
  if (a instanceof Int8Array) return [-128, 127];
  if (a instanceof Uint8Array) return [0, 255];
  if (a instanceof Int16Array) return [-32768, 32767];
  if (a instanceof Uint16Array) return [0, 65535];
  return [-2147483648, 2147483647];
}

function allocate(n: number, qmin: number, qmax: number): QuantStorage {
  if (qmin >= -128 && qmax <= 127) return new Int8Array(n);
  if (qmin >= 0 && qmax <= 255) return new Uint8Array(n);
  if (qmin >= -32768 && qmax <= 32767) return new Int16Array(n);
  if (qmin >= 0 && qmax <= 65535) return new Uint16Array(n);
  return new Int32Array(n);
}

/**
 * The shared broadcasting rule. Calls `run(start, count, p, stride)` for consecutive element runs: element
 * `start + j` (j < count) uses parameter `p + j * stride`. Per-tensor: one run, stride 0. Per-axis: one
 * run per (outer, channel) of length prod(dims[axis+1:]), stride 0. Blocked: same runs with stride 1, as
 * the scale tensor keeps the inner dimensions.
 */
function forEachParamRun(
  op: string,
  length: number,
  dims: readonly number[],
  paramCount: number,
  options: AxisOptions,
  run: (start: number, count: number, p: number, stride: number) => void,
): void {
  let n = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`Cannot ${op}: bad dims [${dims}]`);
    n *= d;
  }
  if (n !== length) {
    throw new RangeError(`Cannot ${op}: data has ${length} elements, dims [${dims}] need ${n}`);
  }
  const blockSize = options.blockSize ?? 0;
  if (!Number.isInteger(blockSize) || blockSize < 0) {
    throw new RangeError(`Cannot ${op}: blockSize must be a non-negative integer, got ${blockSize}`);
  }
  if (paramCount === 1 && blockSize === 0) {
    if (n > 0) run(0, n, 0, 0);
    return;
  }
  const rank = dims.length;
  const rawAxis = options.axis ?? 1;
  const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    throw new RangeError(`Cannot ${op}: axis ${rawAxis} is out of range for rank ${rank}`);
  }
  const d = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const nb = blockSize === 0 ? d : Math.ceil(d / blockSize);
  const expected = blockSize === 0 ? d : outer * nb * inner;
  if (paramCount !== expected) {
    const what = blockSize === 0 ? `dims[${axis}] = ${d}` : `${outer} x ${nb} blocks x ${inner}`;
    throw new RangeError(`Cannot ${op}: scale has ${paramCount} elements, expected ${what}`);
  }
  if (blockSize === 0 && inner === 1) {
    // channels on the last axis (a MatMul weight [K, N] per column): one run per row, parameter = column
    for (let o = 0; o < outer; o++) run(o * d, d, 0, 1);
    return;
  }
  let start = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < d; c++, start += inner) {
      if (blockSize === 0) run(start, inner, c, 0);
      else run(start, inner, (o * nb + Math.floor(c / blockSize)) * inner, 1);
    }
  }
}

function checkParams(op: string, scale: Float32Array, zeroPoint: Int32Array | null): void {
  if (zeroPoint !== null && zeroPoint.length !== scale.length) {
    throw new RangeError(
      `Cannot ${op}: zero point has ${zeroPoint.length} elements, scale has ${scale.length}`,
    );
  }
  for (let i = 0; i < scale.length; i++) {
    const s = scale[i]!;
    if (!(s > 0) || s === Infinity) {
      throw new RangeError(`Cannot ${op}: scale[${i}] must be positive and finite, got ${s}`);
    }
  }
}

/**
 * One element of QuantizeLinear: `clamp(roundHalfEven(fround(x / s)) + zp, qmin, qmax)`, NaN storing the
 * zero point (clamped). Written as one small function over numbers so that V8 inlines it into every loop.
 */
function quantizeOne(x: number, s: number, zp: number, qmin: number, qmax: number): number {
  const v = Math.fround(x / s);
  // v !== v: NaN stores the zero point (clamped into range).
  return v !== v ? clamp(zp, qmin, qmax) : clamp(roundHalfEven(v) + zp, qmin, qmax);
}

/** QuantizeLinear of elements [start, end), element i with parameter p0 + (i - start) * stride. */
function quantizeRun(
  x: Float32Array,
  scale: Float32Array,
  zps: Int32Array,
  qmin: number,
  qmax: number,
  out: QuantStorage,
  start: number,
  end: number,
  p0: number,
  stride: number,
): void {
  for (let i = start, p = p0; i < end; i++, p += stride) {
    out[i] = quantizeOne(x[i]!, scale[p]!, zps[p]!, qmin, qmax);
  }
}

/**
 * {@linkcode quantizeRun} on the WebAssembly kernel (quant/wasm_quantize.ts: the same integers), for one
 * QuantizeLinear's runs, where SIMD runs, the tensor is large enough to pay for the copies, and the zero points
 * and bounds are within the kernel's limit; else undefined. The scales and zero points go to the kernel's
 * memory once; x and the results cross in chunks.
 */
function wasmRuns(
  x: Float32Array,
  scale: Float32Array,
  zps: Int32Array,
  qmin: number,
  qmax: number,
): ((out: QuantStorage, start: number, count: number, p0: number, stride: number) => void) | undefined {
  const w = wasmQuantize;
  if (!w || x.length < 256 || qmin < -QUANT_LIMIT || qmax > QUANT_LIMIT) return undefined;
  for (let i = 0; i < zps.length; i++) if (Math.abs(zps[i]!) > QUANT_LIMIT) return undefined;
  const h = quantizeHeap(w, scale.length);
  h.f32.set(scale, h.s >> 2);
  h.f32.set(zps, h.z >> 2); // exact: |z| <= 2^16
  return (out, start, count, p0, stride) => {
    for (let a = 0; a < count; a += QUANT_CHUNK) {
      const len = Math.min(QUANT_CHUNK, count - a), at = p0 + (stride ? a : 0);
      h.f32.set(x.subarray(start + a, start + a + len), h.x >> 2);
      w.quant(h.x, len, h.s + 4 * at, h.z + 4 * at, stride, qmin, qmax, h.o);
      out.set(h.i32.subarray(h.o >> 2, (h.o >> 2) + len), start + a);
    }
  };
}

/**
 * ONNX QuantizeLinear: `q = clamp(roundHalfEven(fround(x / scale)) + zeroPoint, qmin, qmax)`.
 * NaN inputs store the zero point (onnxruntime leaves NaN platform-dependent).
 *
 * @param x float32 input
 * @param dims shape of `x`
 * @param scale one element (per tensor), `dims[axis]` elements (per axis) or the blocked scale tensor
 * @param zeroPoint same length as `scale`, or null for 0
 * @param options axis, blockSize, qmin/qmax, out
 * @returns `options.out` when given, else a new array of the smallest integer type holding [qmin, qmax]
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quantizeLinear } from "./quantize.ts";
 * const x = new Float32Array([0.5, 1.5, 2.5, -2.5, 300]);
 * const q = quantizeLinear(x, [5], new Float32Array([1]), null, { out: new Int8Array(5) });
 * assertEquals(q, new Int8Array([0, 2, 2, -2, 127])); // ties to even, saturation
 * // 4-bit range in int8 storage saturates at [-8, 7]
 * const q4 = quantizeLinear(x, [5], new Float32Array([0.25]), new Int32Array([1]), { qmin: -8, qmax: 7 });
 * assertEquals(q4, new Int8Array([3, 7, 7, -8, 7]));
 * ```
 */
export function quantizeLinear<T extends QuantStorage>(
  x: Float32Array,
  dims: readonly number[],
  scale: Float32Array,
  zeroPoint: Int32Array | null,
  options: QuantizeIntoOptions<T> & { out: T },
): T;
/**
 * ONNX QuantizeLinear into a newly allocated array (see the overload above).
 *
 * @param x float32 input
 * @param dims shape of `x`
 * @param scale one element (per tensor), `dims[axis]` elements (per axis) or the blocked scale tensor
 * @param zeroPoint same length as `scale`, or null for 0
 * @param options axis, blockSize, qmin/qmax
 * @returns a new array of the smallest integer type holding [qmin, qmax]
 */
export function quantizeLinear(
  x: Float32Array,
  dims: readonly number[],
  scale: Float32Array,
  zeroPoint: Int32Array | null,
  options?: QuantizeIntoOptions<QuantStorage>,
): QuantStorage;
export function quantizeLinear(
  x: Float32Array,
  dims: readonly number[],
  scale: Float32Array,
  zeroPoint: Int32Array | null,
  options: QuantizeIntoOptions<QuantStorage> = {},
): QuantStorage {
  const op = "quantize";
  checkParams(op, scale, zeroPoint);
  const [tmin, tmax] = options.out ? storageRange(options.out) : [-128, 127];
  const qmin = options.qmin ?? tmin;
  const qmax = options.qmax ?? tmax;
  if (!Number.isInteger(qmin) || !Number.isInteger(qmax) || qmin > qmax) {
    throw new RangeError(`Cannot ${op}: bad integer range [${qmin}, ${qmax}]`);
  }
  if (options.out && (qmin < tmin || qmax > tmax)) {
    throw new RangeError(
      `Cannot ${op}: range [${qmin}, ${qmax}] does not fit ${options.out.constructor.name} [${tmin}, ${tmax}]`,
    );
  }
  if (options.out && options.out.length !== x.length) {
    throw new RangeError(`Cannot ${op}: out has ${options.out.length} elements, x has ${x.length}`);
  }
  const out = options.out ?? allocate(x.length, qmin, qmax);
  const zps = zeroPoint ?? new Int32Array(scale.length);
  const kernel = wasmRuns(x, scale, zps, qmin, qmax);
  forEachParamRun(op, x.length, dims, scale.length, options, (start, count, p0, stride) => {
    if (kernel) kernel(out, start, count, p0, stride);
    else quantizeRun(x, scale, zps, qmin, qmax, out, start, start + count, p0, stride);
  });
  return out;
}

/**
 * ONNX DequantizeLinear: `y = (q - zeroPoint) * scale` in float32.
 *
 * @param q quantized integers
 * @param dims shape of `q`
 * @param scale one element (per tensor), `dims[axis]` elements (per axis) or the blocked scale tensor
 * @param zeroPoint same length as `scale`, or null for 0
 * @param options axis, blockSize, out
 * @returns the float32 values
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dequantizeLinear } from "./quantize.ts";
 * // per-axis along axis 1 of a [1, 2] tensor
 * const y = dequantizeLinear(new Uint8Array([130, 130]), [1, 2], new Float32Array([0.5, 2]), new Int32Array([128, 129]));
 * assertEquals(y, new Float32Array([1, 2]));
 * ```
 */
export function dequantizeLinear(
  q: QuantStorage,
  dims: readonly number[],
  scale: Float32Array,
  zeroPoint: Int32Array | null,
  options: DequantizeOptions = {},
): Float32Array {
  const op = "dequantize";
  checkParams(op, scale, zeroPoint);
  if (options.out && options.out.length !== q.length) {
    throw new RangeError(`Cannot ${op}: out has ${options.out.length} elements, q has ${q.length}`);
  }
  const out = options.out ?? new Float32Array(q.length);
  forEachParamRun(op, q.length, dims, scale.length, options, (start, count, p0, stride) => {
    for (let j = 0, p = p0; j < count; j++, p += stride) {
      out[start + j] = (q[start + j]! - (zeroPoint === null ? 0 : zeroPoint[p]!)) * scale[p]!;
    }
  });
  return out;
}

/**
 * Fake quantization: {@linkcode dequantizeLinear} of {@linkcode quantizeLinear}, per tensor or per
 * channel depending on the length of `scale` (what a QDQ pair computes in float).
 *
 * @param x float32 input
 * @param dims shape of `x`
 * @param scale one element (per tensor), `dims[axis]` elements (per axis) or the blocked scale tensor
 * @param zeroPoint same length as `scale`, or null for 0
 * @param options axis, blockSize, qmin/qmax (default int8 [-128, 127])
 * @returns the quantize-dequantized float32 values
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fakeQuantize } from "./quantize.ts";
 * const y = fakeQuantize(new Float32Array([0.3, 0.7, 9]), [3], new Float32Array([0.5]), null, { qmin: -8, qmax: 7 });
 * assertEquals(y, new Float32Array([0.5, 0.5, 3.5]));
 * ```
 */
export function fakeQuantize(
  x: Float32Array,
  dims: readonly number[],
  scale: Float32Array,
  zeroPoint: Int32Array | null,
  options: QuantizeOptions = {},
): Float32Array {
  const q = quantizeLinear(x, dims, scale, zeroPoint, {
    ...options,
    qmin: options.qmin ?? -128,
    qmax: options.qmax ?? 127,
    out: new Int32Array(x.length),
  });
  const axis: AxisOptions = {};
  if (options.axis !== undefined) axis.axis = options.axis;
  if (options.blockSize !== undefined) axis.blockSize = options.blockSize;
  return dequantizeLinear(q, dims, scale, zeroPoint, axis);
}
