/**
 * Dyadic requantization (I-ViT, arXiv 2207.01405, Sec. 3.2): a real scale ratio M = s_in / s_out is
 * replaced at conversion time by b * 2^-c with an int32 multiplier b and a shift c, and applied at run
 * time with integers only:
 *
 *   y = clamp(floor((x * b + 2^(c-1)) / 2^c) + zero_point, qmin, qmax)
 *
 * i.e. round half up (toward +infinity) of x * b / 2^c, then saturation. This file is the single definition
 * of that step for shiftkit's `Requantize`, `IntAdd` and `ILayerNorm` (docs/ops/integer.md).
 *
 * Widths: x is int32 (|x| <= 2^31), |b| <= 2^31 - 1, so |x * b| < 2^62 and the sum with 2^(c-1) (c <= 62)
 * fits a signed 64-bit accumulator: ONNX computes it in int64, WGSL needs a 32x32->64 emulation.
 * @module
 */

import { intRange, roundHalfEven } from "./round.ts";

/** Integer views the integer ops accept. */
type IntData = Int8Array | Int16Array | Int32Array;

/** Smallest shift a dyadic multiplier may carry (the rounding term is 2^(c-1)). */
export const DYADIC_SHIFT_MIN = 1;
/** Largest shift: x * b + 2^(c-1) still fits int64 and the result of any larger shift is 0 or -1. */
export const DYADIC_SHIFT_MAX = 62;

/** A dyadic number `multiplier * 2^-shift`. */
export interface Dyadic {
  /** Signed int32 multiplier b, |b| in [2^30, 2^31 - 1] after normalisation (smaller only when the shift was capped at 62, 0 for M = 0). */
  multiplier: number;
  /** Right shift c, in [DYADIC_SHIFT_MIN, DYADIC_SHIFT_MAX]. */
  shift: number;
}

/**
 * Build the dyadic approximation b * 2^-c of a real ratio (frexp, then a 31-bit mantissa).
 *
 * M = m * 2^e with |m| in [0.5, 1); b = roundHalfEven(m * 2^31); when |b| rounds up to 2^31 it is
 * renormalised to 2^30 with e + 1; c = 31 - e. A ratio so small that c > 62 keeps c = 62 and rounds b to
 * the coarser grid (b = roundHalfEven(b / 2^(c - 62))), possibly 0.
 *
 * @param ratio the real factor M (for requantization s_in / s_out); any sign, |M| < 2^30
 * @returns the multiplier and shift
 * @throws {RangeError} when M is not finite or |M| >= 2^30 (the shift would drop below 1)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dyadic } from "./dyadic.ts";
 * assertEquals(dyadic(0.5), { multiplier: 2 ** 30, shift: 31 });
 * assertEquals(dyadic(0.75), { multiplier: 3 * 2 ** 29, shift: 31 });
 * ```
 */
export function dyadic(ratio: number): Dyadic {
  if (!Number.isFinite(ratio)) throw new RangeError(`Cannot build a dyadic multiplier: ratio is ${ratio}`);
  if (ratio === 0) return { multiplier: 0, shift: DYADIC_SHIFT_MIN };
  const mag = Math.abs(ratio);
  if (mag >= 2 ** 30) {
    throw new RangeError(`Cannot build a dyadic multiplier: |ratio| must be < 2^30, got ${ratio}`);
  }
  // frexp: mag = m * 2^e, m in [0.5, 1). Math.log2 may be off by one near powers of two: fix by loops.
  let e = Math.floor(Math.log2(mag)) + 1;
  let m = mag / 2 ** e;
  while (m >= 1) [m, e] = [m / 2, e + 1];
  while (m < 0.5) [m, e] = [m * 2, e - 1];
  let b = roundHalfEven(m * 2 ** 31);
  if (b === 2 ** 31) [b, e] = [2 ** 30, e + 1];
  let c = 31 - e;
  if (c > DYADIC_SHIFT_MAX) {
    b = roundHalfEven(b / 2 ** (c - DYADIC_SHIFT_MAX));
    c = DYADIC_SHIFT_MAX;
  }
  return { multiplier: ratio < 0 ? -b : b, shift: c };
}

/**
 * The exact integer `floor((x * b + 2^(c-1)) / 2^c)`: x * b / 2^c rounded half up, as a 64-bit
 * accumulator computes it. Exact for |x| <= 2^31, |b| <= 2^31 - 1, 1 <= c <= 62 whenever the result
 * magnitude is below 2^53; larger results are only saturated afterwards, and their sign and magnitude
 * ordering are preserved.
 *
 * Doubles hold 53 bits, so b is split into 16-bit limbs b = bh * 2^16 + bl (0 <= bl < 2^16):
 * x * bh and x * bl are exact (< 2^47), and the rounding term rides on the high limb.
 *
 * @param x integer input
 * @param d the multiplier and shift
 * @returns the rounded product (not saturated)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { roundingShift } from "./dyadic.ts";
 * const half = { multiplier: 2 ** 30, shift: 31 }; // 0.5
 * assertEquals([roundingShift(3, half), roundingShift(-3, half), roundingShift(5, half)], [2, -1, 3]);
 * ```
 */
export function roundingShift(x: number, d: Dyadic): number {
  const b = d.multiplier;
  const c = d.shift;
  const bh = Math.floor(b / 65536);
  const bl = b - bh * 65536;
  const hi = x * bh; // |hi| <= 2^46
  const lo = x * bl; // |lo| < 2^47
  if (c >= 17) {
    // floor((hi*2^16 + lo + 2^(c-1)) / 2^c) = floor((hi + 2^(c-17) + floor(lo/2^16)) / 2^(c-16))
    return Math.floor((hi + 2 ** (c - 17) + Math.floor(lo / 65536)) / 2 ** (c - 16));
  }
  // c <= 16: hi * 2^(16-c) is an integer, so it leaves the floor untouched.
  return hi * 2 ** (16 - c) + Math.floor((lo + 2 ** (c - 1)) / 2 ** c);
}

/** Options of {@linkcode requantize}. */
export interface RequantizeOptions {
  /** Output width; the result saturates at the signed range of this many bits. @default 8 */
  outputBits?: 8 | 16 | 32;
  /** Added after rounding, before saturation. @default 0 */
  zeroPoint?: number;
  /**
   * Per-channel layout: element i belongs to channel floor(i / innerSize) % C where C is the length of
   * the multiplier array (innerSize = product of the dims after the channel axis; 1 = last axis).
   * @default 1
   */
  innerSize?: number;
}

/** Per-tensor (numbers) or per-channel (arrays of equal length) dyadic parameters. */
export interface RequantizeParams {
  /** int32 multiplier(s) b. */
  multiplier: number | ArrayLike<number>;
  /** Shift(s) c in [1, 62]. */
  shift: number | ArrayLike<number>;
}

/**
 * shiftkit.Requantize: y = clamp(floor((x * b + 2^(c-1)) / 2^c) + zero_point) per tensor or per channel.
 *
 * @param x integer input (int32 accumulators, or int8/int16)
 * @param params multiplier(s) and shift(s), e.g. from {@linkcode dyadic}
 * @param options output width, zero point, channel layout
 * @returns Int8Array, Int16Array or Int32Array by `outputBits`
 * @throws {RangeError} on a shift outside [1, 62], a multiplier outside int32, or mismatched channel arrays
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dyadic, requantize } from "./dyadic.ts";
 * const y = requantize(new Int32Array([1000, -1000, 100000, 5]), dyadic(0.01));
 * assertEquals(Array.from(y), [10, -10, 127, 0]);
 * ```
 */
export function requantize(
  x: IntData,
  params: RequantizeParams,
  options: RequantizeOptions = {},
): Int8Array | Int16Array | Int32Array {
  const outputBits = options.outputBits ?? 8;
  const zp = options.zeroPoint ?? 0;
  const inner = options.innerSize ?? 1;
  if (outputBits !== 8 && outputBits !== 16 && outputBits !== 32) {
    throw new RangeError(`Cannot requantize: outputBits must be 8, 16 or 32, got ${outputBits}`);
  }
  if (!Number.isInteger(inner) || inner < 1) {
    throw new RangeError(`Cannot requantize: innerSize must be a positive integer, got ${inner}`);
  }
  const mults = typeof params.multiplier === "number" ? [params.multiplier] : Array.from(params.multiplier);
  const shifts = typeof params.shift === "number" ? [params.shift] : Array.from(params.shift);
  if (mults.length !== shifts.length && mults.length !== 1 && shifts.length !== 1) {
    throw new RangeError(
      `Cannot requantize: ${mults.length} multipliers but ${shifts.length} shifts`,
    );
  }
  const channels = Math.max(mults.length, shifts.length);
  const ds: Dyadic[] = [];
  for (let ch = 0; ch < channels; ch++) {
    const d = {
      multiplier: mults[mults.length === 1 ? 0 : ch]!,
      shift: shifts[shifts.length === 1 ? 0 : ch]!,
    };
    checkDyadic(d, `channel ${ch}`);
    ds.push(d);
  }
  const [lo, hi] = intRange(outputBits, true);
  const y = outputBits === 8
    ? new Int8Array(x.length)
    : outputBits === 16
    ? new Int16Array(x.length)
    : new Int32Array(x.length);
  if (channels === 1) {
    const d = ds[0]!;
    for (let i = 0; i < x.length; i++) {
      const v = roundingShift(x[i]!, d) + zp;
      y[i] = v < lo ? lo : v > hi ? hi : v;
    }
  } else {
    for (let i = 0; i < x.length; i++) {
      const v = roundingShift(x[i]!, ds[Math.floor(i / inner) % channels]!) + zp;
      y[i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
  return y;
}

/**
 * Validate a dyadic pair against the ranges the spec guarantees exact.
 *
 * @param d multiplier and shift
 * @param what name for the message
 * @throws {RangeError} when the multiplier is not an int32 or the shift is outside [1, 62]
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkDyadic } from "./dyadic.ts";
 * assertThrows(() => checkDyadic({ multiplier: 1, shift: 0 }, "x"), RangeError);
 * ```
 */
export function checkDyadic(d: Dyadic, what: string): void {
  if (!Number.isInteger(d.multiplier) || Math.abs(d.multiplier) > 2 ** 31 - 1) {
    throw new RangeError(
      `Invalid dyadic ${what}: multiplier must be an int32 in ±(2^31-1), got ${d.multiplier}`,
    );
  }
  if (!Number.isInteger(d.shift) || d.shift < DYADIC_SHIFT_MIN || d.shift > DYADIC_SHIFT_MAX) {
    throw new RangeError(`Invalid dyadic ${what}: shift must be an integer in [1, 62], got ${d.shift}`);
  }
}

/** Scales of {@linkcode quantizeBias}. */
export interface BiasScales {
  /** Activation scale s_x. */
  inputScale: number;
  /** Weight scale s_w, per tensor or per output channel. */
  weightScale: number | ArrayLike<number>;
}

/**
 * Quantize a float bias to int32 at the accumulator scale s_w * s_x (I-ViT: bias int32, scale s_w s_x):
 * roundHalfEven(bias / (s_w * s_x)), saturated to int32.
 *
 * @param bias float bias, one per output channel
 * @param scales activation and weight scales
 * @returns int32 bias
 * @throws {RangeError} on a non-positive scale or a weight-scale array of the wrong length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quantizeBias } from "./dyadic.ts";
 * const b = quantizeBias([0.5, -0.25], { inputScale: 0.1, weightScale: [0.01, 0.02] });
 * assertEquals(Array.from(b), [500, -125]);
 * ```
 */
export function quantizeBias(bias: ArrayLike<number>, scales: BiasScales): Int32Array {
  const ws = scales.weightScale;
  if (typeof ws !== "number" && ws.length !== bias.length) {
    throw new RangeError(`Cannot quantize bias: ${bias.length} values but ${ws.length} weight scales`);
  }
  const out = new Int32Array(bias.length);
  for (let i = 0; i < bias.length; i++) {
    const s = scales.inputScale * (typeof ws === "number" ? ws : ws[i]!);
    if (!(s > 0) || !Number.isFinite(s)) {
      throw new RangeError(`Cannot quantize bias: scale of channel ${i} is ${s}, expected > 0`);
    }
    const q = roundHalfEven(bias[i]! / s);
    out[i] = q < -(2 ** 31) ? -(2 ** 31) : q > 2 ** 31 - 1 ? 2 ** 31 - 1 : q;
  }
  return out;
}
