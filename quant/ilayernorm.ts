/**
 * I-LayerNorm (I-ViT, arXiv 2207.01405, Sec. 3.5; zkkli/I-ViT `IntLayerNorm`) over the last axis, with
 * every intermediate bounded for int32 (WGSL has no i64):
 *
 *   sum  = sum x                                   int32 (N * 2^15 for int16, N <= 2^16)
 *   mean = floor((2 sum + N) / (2N))               round half up
 *   y    = x - mean                                |y| <= 65535
 *   var  = sum ((|y| >> var_shift)^2)              int32 by the precondition N * (ymax >> var_shift)^2 <= 2^31-1
 *   sd   = max(1, floor(sqrt(var)))                exact integer square root (constant rows: var = 0 -> 1)
 *   w    = clamp(trunc(y * 2^14 / (sd * 2^var_shift)), -2^15, 2^15 - 1)
 *                                                   y * 2^14 < 2^30; trunc = ONNX Div / WGSL i32 `/`
 *   acc  = w * gamma + beta                        int32: |w * gamma| < 2^30, |beta| <= 2^30
 *   out  = clamp(floor((acc * b + 2^(c-1)) / 2^c))  the Requantize step (64-bit product), int8/int16
 *
 * w ~ (y / std_pop) * 2^14 / sqrt(N) (|w| <= ~2^14), so the real value of acc is acc * s_gamma * sqrt(N) / 2^14 and the
 * output multiplier folds sqrt(N) in at conversion time (as I-ViT folds dim_sqrt into its scale). The input
 * scale drops out (LayerNorm is scale invariant); epsilon is ignored except for the constant-row guard.
 * @module
 */

import { checkDyadic, dyadic, roundingShift } from "./dyadic.ts";
import { intRange, roundHalfEven } from "./round.ts";

/** Fraction bits of the normalised value w. */
export const ILAYERNORM_FRACTION_BITS = 14;

/**
 * Exact floor(sqrt(v)) of a non-negative integer below 2^32, digit by digit (16 steps, no division): the
 * spec fixes the value, not the method; Newton from 2^16 (I-ViT) needs more than 10 steps for small v.
 *
 * @param v non-negative integer < 2^32
 * @returns floor(sqrt(v))
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isqrt } from "./ilayernorm.ts";
 * assertEquals([isqrt(0), isqrt(15), isqrt(16), isqrt(2 ** 31 - 1)], [0, 3, 4, 46340]);
 * ```
 */
export function isqrt(v: number): number {
  let rem = v;
  let root = 0;
  for (let bit = 2 ** 30; bit >= 1; bit /= 4) {
    if (rem >= root + bit) {
      rem -= root + bit;
      root = root / 2 + bit;
    } else {
      root /= 2;
    }
  }
  return root;
}

/** Attributes and constant inputs of {@linkcode iLayerNorm}. */
export interface ILayerNormParams {
  /** Length of the last axis N. */
  rowLength: number;
  /** int16 gamma, one per element of the last axis (input `gamma`). */
  gamma: Int16Array;
  /** int32 beta at the accumulator scale, |beta| <= 2^30 (input `beta`). */
  beta: Int32Array;
  /** Output requantization multiplier b (attribute `multiplier`). */
  multiplier: number;
  /** Output requantization shift c (attribute `shift`). */
  shift: number;
  /** Right shift of |y| before squaring (attribute `var_shift`). @default 0 */
  varShift?: number;
  /** Output int8 or int16. @default 8 */
  outputBits?: 8 | 16;
}

/**
 * shiftkit.ILayerNorm over the last axis (steps in the module doc).
 *
 * @param x int8 or int16 input
 * @param params gamma, beta, requantization, var_shift
 * @returns Int8Array or Int16Array by outputBits
 * @throws {RangeError} on mismatched lengths, |beta| > 2^30, or a var_shift too small for the row length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { iLayerNorm, iLayerNormParams } from "./ilayernorm.ts";
 * // gamma = 1, beta = 0, output scale 1/32; the second row is constant
 * const params = iLayerNormParams([1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], { outputScale: 1 / 32 });
 * const y = iLayerNorm(new Int8Array([-50, -30, -10, 10, 30, 50, 7, 7, 7, 7, 7, 7]), params);
 * // float LayerNorm * 32: [-46.9, -28.1, -9.4, 9.4, 28.1, 46.9]
 * assertEquals(Array.from(y), [-47, -28, -9, 9, 28, 47, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function iLayerNorm(x: Int8Array | Int16Array, params: ILayerNormParams): Int8Array | Int16Array {
  const { rowLength: len, gamma, beta } = params;
  const varShift = params.varShift ?? 0;
  const outputBits = params.outputBits ?? 8;
  const d = { multiplier: params.multiplier, shift: params.shift };
  checkDyadic(d, "ILayerNorm output");
  if (!Number.isInteger(len) || len < 1 || x.length % len !== 0) {
    throw new RangeError(`Invalid ILayerNorm: ${x.length} values do not split into rows of ${len}`);
  }
  if (gamma.length !== len || beta.length !== len) {
    throw new RangeError(
      `Invalid ILayerNorm: gamma ${gamma.length} and beta ${beta.length}, expected ${len}`,
    );
  }
  for (const b of beta) {
    if (Math.abs(b) > 2 ** 30) throw new RangeError(`Invalid ILayerNorm: |beta| ${b} exceeds 2^30`);
  }
  if (outputBits !== 8 && outputBits !== 16) {
    throw new RangeError(`Invalid ILayerNorm: outputBits must be 8 or 16, got ${outputBits}`);
  }
  const inBits = x instanceof Int8Array ? 8 : 16;
  const need = minVarShift(len, inBits);
  if (!Number.isInteger(varShift) || varShift < need || varShift > 16) {
    throw new RangeError(
      `Invalid ILayerNorm: var_shift ${varShift} must be an integer in [${need}, 16] for rows of ${len} int${inBits}`,
    );
  }
  const [lo, hi] = intRange(outputBits, true);
  const out = outputBits === 8 ? new Int8Array(x.length) : new Int16Array(x.length);
  const y = new Int32Array(len);
  const vDiv = 2 ** varShift;
  const one = 2 ** ILAYERNORM_FRACTION_BITS;
  for (let row = 0; row < x.length; row += len) {
    let sum = 0;
    for (let j = 0; j < len; j++) sum += x[row + j]!;
    const mean = Math.floor((2 * sum + len) / (2 * len));
    let v = 0;
    for (let j = 0; j < len; j++) {
      const yj = x[row + j]! - mean;
      y[j] = yj;
      const a = Math.floor((yj < 0 ? -yj : yj) / vDiv);
      v += a * a;
    }
    const den = Math.max(1, isqrt(v)) * vDiv;
    for (let j = 0; j < len; j++) {
      let w = Math.trunc(y[j]! * one / den);
      w = w < -32768 ? -32768 : w > 32767 ? 32767 : w;
      const r = roundingShift(w * gamma[j]! + beta[j]!, d);
      out[row + j] = r < lo ? lo : r > hi ? hi : r;
    }
  }
  return out;
}

/**
 * Smallest var_shift keeping the sum of squares in int32 for rows of `rowLength` values of `inputBits`:
 * smallest s >= 0 with rowLength * ((2^inputBits - 1) >> s)^2 <= 2^31 - 1 (|y| <= 2^inputBits - 1).
 *
 * @param rowLength N
 * @param inputBits 8 or 16
 * @returns the shift
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { minVarShift } from "./ilayernorm.ts";
 * assertEquals([minVarShift(1024, 8), minVarShift(1024, 16), minVarShift(4096, 16)], [0, 6, 7]);
 * ```
 */
export function minVarShift(rowLength: number, inputBits: number): number {
  const yMax = 2 ** inputBits - 1;
  let s = 0;
  while (rowLength * Math.floor(yMax / 2 ** s) ** 2 > 2 ** 31 - 1) s++;
  return s;
}

/** Options of {@linkcode iLayerNormParams}. */
export interface ILayerNormParamsOptions {
  /** Real value of one output LSB. */
  outputScale: number;
  /** Input element width. @default 8 */
  inputBits?: 8 | 16;
  /** Output element width. @default 8 */
  outputBits?: 8 | 16;
}

/**
 * Conversion-time integer parameters from float gamma/beta: gamma per tensor symmetric int16
 * (s_g = max|gamma| / 32767), beta = roundHalfEven(beta / (s_g sqrt(N) / 2^14)) clamped to ±2^30,
 * output dyadic of s_g sqrt(N) / 2^14 / outputScale, var_shift = minVarShift.
 *
 * @param gamma float LayerNorm weight (length N)
 * @param beta float LayerNorm bias (length N)
 * @param options output scale and widths
 * @returns the params of {@linkcode iLayerNorm}
 * @throws {RangeError} on mismatched lengths or a non-positive output scale
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { iLayerNormParams } from "./ilayernorm.ts";
 * const p = iLayerNormParams([1, 0.5], [0, 0.25], { outputScale: 1 / 32 });
 * assertEquals([Array.from(p.gamma), p.varShift], [[32767, 16384], 0]);
 * ```
 */
export function iLayerNormParams(
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  options: ILayerNormParamsOptions,
): ILayerNormParams {
  const len = gamma.length;
  if (beta.length !== len || len < 1) {
    throw new RangeError(`Cannot build ILayerNorm params: gamma has ${len} values, beta ${beta.length}`);
  }
  if (!(options.outputScale > 0)) {
    throw new RangeError(`Cannot build ILayerNorm params: outputScale ${options.outputScale} must be > 0`);
  }
  let gmax = 0;
  for (let i = 0; i < len; i++) gmax = Math.max(gmax, Math.abs(gamma[i]!));
  const sg = gmax > 0 ? gmax / 32767 : 1;
  const accScale = sg * Math.sqrt(len) / 2 ** ILAYERNORM_FRACTION_BITS;
  const g = new Int16Array(len);
  const b = new Int32Array(len);
  for (let i = 0; i < len; i++) {
    g[i] = Math.max(-32767, Math.min(32767, roundHalfEven(gamma[i]! / sg)));
    b[i] = Math.max(-(2 ** 30), Math.min(2 ** 30, roundHalfEven(beta[i]! / accScale)));
  }
  const d = dyadic(accScale / options.outputScale);
  return {
    rowLength: len,
    gamma: g,
    beta: b,
    multiplier: d.multiplier,
    shift: d.shift,
    varShift: minVarShift(len, options.inputBits ?? 8),
    outputBits: options.outputBits ?? 8,
  };
}
