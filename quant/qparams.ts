/**
 * Quantization parameters (scale, zero point, integer range) from a real range `[min, max]`.
 *
 * Affine scheme (METHODS.md section 0): q = clamp(round(x / s) + z, qmin, qmax), x^ = (q - z) * s.
 *
 * - Asymmetric: the range is first widened to include 0 (so 0 is exactly representable, as the ONNX
 *   quantization tool does), s = (max - min) / (qmax - qmin), z = clamp(roundHalfEven(qmin - min / s)).
 * - Symmetric: a = max(|min|, |max|); the zero point is the middle of the integer range (0 for signed,
 *   2^(N-1) for unsigned, the values onnxruntime's `compute_scale_zp` produces) and s = a / (qmax - z),
 *   i.e. s = a / qmax for signed types. So `+a` maps to qmax and `-a` to -qmax (never to -2^(N-1)).
 * - Degenerate ranges: when the range is all zeros (or its scale would fall below the smallest normal
 *   float32, 2^-126) the scale is 1 and the zero point is the one that represents 0 (as onnxruntime).
 *
 * The returned scale is a float32 value (what a QuantizeLinear initializer stores); the zero point is
 * computed from the float64 scale before that cast, as onnxruntime does.
 * @module
 */

import { clamp, intRange, roundHalfEven } from "./round.ts";

/** Per-tensor quantization parameters. */
export interface QParams {
  /** Step size (a float32 value, > 0). */
  scale: number;
  /** Integer that represents real 0, in [qmin, qmax]. */
  zeroPoint: number;
  /** Smallest integer the quantized tensor may hold. */
  qmin: number;
  /** Largest integer the quantized tensor may hold. */
  qmax: number;
}

/** Per-channel quantization parameters: one scale and zero point per channel. */
export interface PerChannelQParams {
  /** Step sizes, one per channel. */
  scale: Float32Array;
  /** Zero points, one per channel. */
  zeroPoint: Int32Array;
  /** Smallest integer the quantized tensor may hold. */
  qmin: number;
  /** Largest integer the quantized tensor may hold. */
  qmax: number;
}

/** Options of {@linkcode computeQParams} and {@linkcode computeQParamsPerChannel}. */
export interface QParamsOptions {
  /** Bit width N, 2..16. @default 8 */
  bits?: number;
  /** Two's complement range [-2^(N-1), 2^(N-1)-1] when true, [0, 2^N-1] when false. @default true */
  signed?: boolean;
  /** Symmetric scheme (zero point in the middle of the range) instead of asymmetric. @default false */
  symmetric?: boolean;
  /**
   * Signed only: drop the most negative integer (int8 becomes [-127, 127]) so the grid is symmetric.
   * @default false
   */
  narrowRange?: boolean;
}

/** Smallest normal float32: a scale below it is treated as a degenerate (all-zero) range. */
const MIN_SCALE = 2 ** -126;

/**
 * Integer range for the given options.
 *
 * @param options bit width, signedness, narrow range
 * @returns `[qmin, qmax]`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { qRange } from "./qparams.ts";
 * assertEquals(qRange({ bits: 4 }), [-8, 7]);
 * assertEquals(qRange({ bits: 8, narrowRange: true }), [-127, 127]);
 * ```
 */
export function qRange(options: QParamsOptions = {}): [number, number] {
  const { bits = 8, signed = true, narrowRange = false } = options;
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
    throw new RangeError(
      `Cannot compute quantization parameters: bits must be an integer in 2..16, got ${bits}`,
    );
  }
  const [qmin, qmax] = intRange(bits, signed);
  return [signed && narrowRange ? qmin + 1 : qmin, qmax];
}

function qparamsFor(min: number, max: number, qmin: number, qmax: number, symmetric: boolean): QParams {
  if (Number.isNaN(min) || Number.isNaN(max) || !Number.isFinite(min) || !Number.isFinite(max)) {
    throw new RangeError(
      `Cannot compute quantization parameters: range must be finite, got [${min}, ${max}]`,
    );
  }
  if (min > max) {
    throw new RangeError(`Cannot compute quantization parameters: min ${min} is greater than max ${max}`);
  }
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  // Symmetric zero point: 0 for signed ranges (also narrow), 2^(N-1) for unsigned [0, 2^N - 1].
  const symZero = qmin < 0 ? 0 : (qmax + 1) / 2;
  let scale: number;
  let zeroPoint: number;
  if (symmetric) {
    zeroPoint = symZero;
    scale = Math.max(-lo, hi) / (qmax - zeroPoint);
  } else {
    scale = (hi - lo) / (qmax - qmin);
    zeroPoint = scale >= MIN_SCALE ? clamp(roundHalfEven(qmin - lo / scale), qmin, qmax) : 0;
  }
  if (!(scale >= MIN_SCALE) || !(Math.fround(scale) >= MIN_SCALE)) {
    return { scale: 1, zeroPoint: symmetric ? symZero : clamp(0, qmin, qmax), qmin, qmax };
  }
  return { scale: Math.fround(scale), zeroPoint: zeroPoint + 0, qmin, qmax };
}

/**
 * Per-tensor scale and zero point for the real range `[min, max]`.
 *
 * @param min smallest real value to represent (the range is widened to include 0)
 * @param max largest real value to represent
 * @param options bit width, signedness, symmetric scheme, narrow range
 * @returns scale (float32), zero point and the integer range
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { computeQParams } from "./qparams.ts";
 * // asymmetric uint8 over [-1, 3]: scale 4/255, zero point round(255/4) = 64
 * assertEquals(computeQParams(-1, 3, { signed: false }), {
 *   scale: Math.fround(4 / 255), zeroPoint: 64, qmin: 0, qmax: 255,
 * });
 * // symmetric int8: scale = max|x| / 127
 * assertEquals(computeQParams(-2, 1.27, { symmetric: true }).scale, Math.fround(2 / 127));
 * // all-zero range: scale 1
 * assertEquals(computeQParams(0, 0).scale, 1);
 * ```
 */
export function computeQParams(min: number, max: number, options: QParamsOptions = {}): QParams {
  const [qmin, qmax] = qRange(options);
  return qparamsFor(min, max, qmin, qmax, options.symmetric ?? false);
}

/**
 * Per-channel scales and zero points: {@linkcode computeQParams} applied to each `[mins[c], maxs[c]]`.
 *
 * @param mins per-channel minima
 * @param maxs per-channel maxima (same length as `mins`)
 * @param options bit width, signedness, symmetric scheme, narrow range
 * @returns one scale and zero point per channel, and the integer range
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { computeQParamsPerChannel } from "./qparams.ts";
 * const p = computeQParamsPerChannel(new Float32Array([-1, 0]), new Float32Array([1, 0]), { symmetric: true });
 * assertEquals(p.scale, new Float32Array([1 / 127, 1]));
 * assertEquals(p.zeroPoint, new Int32Array([0, 0]));
 * ```
 */
export function computeQParamsPerChannel(
  mins: Float32Array,
  maxs: Float32Array,
  options: QParamsOptions = {},
): PerChannelQParams {
  if (mins.length !== maxs.length) {
    throw new RangeError(
      `Cannot compute per-channel quantization parameters: ${mins.length} minima but ${maxs.length} maxima`,
    );
  }
  const [qmin, qmax] = qRange(options);
  const symmetric = options.symmetric ?? false;
  const scale = new Float32Array(mins.length);
  const zeroPoint = new Int32Array(mins.length);
  for (let c = 0; c < mins.length; c++) {
    const p = qparamsFor(mins[c]!, maxs[c]!, qmin, qmax, symmetric);
    scale[c] = p.scale;
    zeroPoint[c] = p.zeroPoint;
  }
  return { scale, zeroPoint, qmin, qmax };
}
