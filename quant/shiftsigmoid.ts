/**
 * Integer sigmoid from the shift-exp (I-ViT, arXiv 2207.01405, Sec. 3.4 builds ShiftGELU's sigmoid the
 * same way), and x * sigmoid(g x) (Swish for g = 1, GELU for g = 1.702), with g folded into p.
 *
 * For one element x (int), with E0 = p * 2^n and b = shiftExp(floor(|x| * 2^shift), p, n):
 *   sigmoid(y) = e^(y - max(y,0)) / (e^(y - max(y,0)) + e^(-max(y,0)))  (both exponents <= 0)
 *   num = x >= 0 ? E0 : b;  D = E0 + b;  sig_k = floor(num * 2^k / D)  in [0, 2^k], scale 2^-k
 * The per-element max(y, 0) replaces I-ViT's row maximum: it keeps one exponent at 0, so long-tailed rows
 * never push both terms past n octaves (where I-ViT's sigmoid collapses to 1/2), and the op is elementwise.
 * Precondition E0 * 2^k <= 2^31 - 1: num * 2^k fits int32/u32.
 * @module
 */

import { checkShiftExp, preShift, shiftExp } from "./shiftmax.ts";

/** Integer views the integer ops accept. */
type IntData = Int8Array | Int16Array | Int32Array;

/**
 * floor(sigmoid(x) * 2^k) from the shift-exp (see the module doc), for one integer x.
 *
 * @param x integer input
 * @param p integer for 1.0 of the pre-shifted exponent input
 * @param n octaves kept
 * @param shift exponent pre-shift (exp_shift / lambda)
 * @param k fraction bits of the result
 * @returns an integer in [0, 2^k]
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sigmoidFraction } from "./shiftsigmoid.ts";
 * assertEquals([sigmoidFraction(0, 8, 10, 0, 15), sigmoidFraction(1000, 8, 10, 0, 15)], [16384, 32768]);
 * ```
 */
export function sigmoidFraction(x: number, p: number, n: number, shift: number, k: number): number {
  const e0 = p * 2 ** n;
  const b = shiftExp(preShift(x < 0 ? -x : x, shift), p, n);
  const num = x >= 0 ? e0 : b;
  return Math.floor(num * 2 ** k / (e0 + b));
}

/** Attributes of {@linkcode shiftSigmoid}. */
export interface ShiftSigmoidParams {
  /** Integer for 1.0 of the pre-shifted input (attribute `p`). */
  p: number;
  /** Octaves kept (attribute `n`). */
  n: number;
  /** Pre-shift of |x| (attribute `exp_shift`). @default 0 */
  expShift?: number;
  /** 8 -> int8 in [0, 127] scale 2^-7; 16 -> int16 in [0, 32767] scale 2^-15. @default 8 */
  outputBits?: 8 | 16;
}

/**
 * shiftkit.ShiftSigmoid: y = min(sigmoidFraction(x, k = outputBits - 1), 2^k - 1), elementwise.
 *
 * @param x int8/int16/int32 input
 * @param params attributes
 * @returns Int8Array (scale 2^-7) or Int16Array (scale 2^-15)
 * @throws {RangeError} on invalid attributes or p * 2^n * 2^k > 2^31 - 1
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftSigmoid } from "./shiftsigmoid.ts";
 * // scale 1/16: x = 0 -> 0.5 = 64/128; x = 127 (7.9) -> saturates at 127
 * assertEquals(Array.from(shiftSigmoid(new Int8Array([0, 127, -128]), { p: 16, n: 12 })), [64, 127, 0]);
 * ```
 */
export function shiftSigmoid(x: IntData, params: ShiftSigmoidParams): Int8Array | Int16Array {
  const { p, n } = params;
  const shift = params.expShift ?? 0;
  const outputBits = params.outputBits ?? 8;
  checkShiftExp(p, n, shift, "ShiftSigmoid");
  if (outputBits !== 8 && outputBits !== 16) {
    throw new RangeError(`Invalid ShiftSigmoid: outputBits must be 8 or 16, got ${outputBits}`);
  }
  const k = outputBits - 1;
  if (p * 2 ** (n + k) > 2 ** 31 - 1) {
    throw new RangeError(`Invalid ShiftSigmoid: p * 2^(n + ${k}) = ${p * 2 ** (n + k)} exceeds 2^31 - 1`);
  }
  const out = outputBits === 8 ? new Int8Array(x.length) : new Int16Array(x.length);
  const top = 2 ** k - 1;
  for (let i = 0; i < x.length; i++) {
    const s = sigmoidFraction(x[i]!, p, n, shift, k);
    out[i] = s > top ? top : s;
  }
  return out;
}

/** Fraction bits of the sigmoid inside x * sigmoid(g x): 15, so int16 inputs lose at most 1 LSB. */
export const XSIGMOID_FRACTION_BITS = 15;

/** Attributes of {@linkcode shiftSwish} (and of ShiftGelu / LambdaShiftGelu). */
export interface ShiftSwishParams {
  /** Integer for g * 1.0 of the pre-shifted input: roundHalfEven(2^shift / (g * s)) (attribute `p`). */
  p: number;
  /** Octaves kept (attribute `n`). */
  n: number;
  /** Pre-shift of |x| (attribute `lambda` of LambdaShiftGelu). @default 0 */
  shift?: number;
}

/**
 * x * sigmoid(g x) in integers, output at the input's scale and element type (shiftkit.LambdaShiftGelu
 * arithmetic; Swish when p is built with g = 1):
 *   sig = sigmoidFraction(x, k = 15); y = floor((x * sig + 2^14) / 2^15)   (round half up; |x*sig| <= 2^30)
 *
 * @param x int8 or int16 input (scale s)
 * @param params p, n and pre-shift
 * @returns same element type as x, scale s
 * @throws {RangeError} on invalid attributes or p * 2^n > 65535 (num * 2^15 must fit int32)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftSwish } from "./shiftsigmoid.ts";
 * // scale 1/16, p = 16 (g = 1): swish(0) = 0, swish(4) = 3.93 -> 62.9/16
 * assertEquals(Array.from(shiftSwish(new Int8Array([0, 64, -128]), { p: 16, n: 11 })), [0, 63, 0]);
 * ```
 */
export function shiftSwish<T extends Int8Array | Int16Array>(x: T, params: ShiftSwishParams): T {
  const { p, n } = params;
  const shift = params.shift ?? 0;
  checkShiftExp(p, n, shift, "ShiftGelu");
  if (!(x instanceof Int8Array) && !(x instanceof Int16Array)) {
    throw new TypeError("Invalid ShiftGelu input: expected an Int8Array or Int16Array");
  }
  const k = XSIGMOID_FRACTION_BITS;
  if (p * 2 ** (n + k) > 2 ** 31 - 1) {
    throw new RangeError(`Invalid ShiftGelu: p * 2^(n + 15) = ${p * 2 ** (n + k)} exceeds 2^31 - 1`);
  }
  const out = (x instanceof Int8Array ? new Int8Array(x.length) : new Int16Array(x.length)) as T;
  const half = 2 ** (k - 1);
  const one = 2 ** k;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    // |y| <= |x|: no saturation can occur.
    out[i] = Math.floor((xi * sigmoidFraction(xi, p, n, shift, k) + half) / one);
  }
  return out;
}
