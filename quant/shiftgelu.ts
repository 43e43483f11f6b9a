/**
 * ShiftGELU (I-ViT, arXiv 2207.01405, Sec. 3.4) and shiftkit's definition of I-Segmenter's lambda-ShiftGELU
 * (arXiv 2509.10334; its exact form is not public).
 *
 * Both compute GELU(x) ~ x * sigmoid(1.702 x) with the integer sigmoid of ./shiftsigmoid.ts and return the
 * input's element type at the input's scale s. The factor 1.702 is folded into the integer unit p at
 * conversion time, p = roundHalfEven(2^lambda / (1.702 s)), as the authors' code does
 * (`scaling_factor_sig = scaling_factor * 1.702`); the paper's x + (x>>1) + (x>>3) + (x>>4) = 1.6875 x is
 * both coarser and more ops.
 *
 * lambda (this project's definition): a power-of-two gain 2^lambda applied to |x| before the shift-exp,
 * with p scaled to match. Long-tailed activations force a coarse uniform scale s, so the plain unit
 * p = round(1 / (1.702 s)) becomes 1..3: the exponent grid is a third of an octave or worse and rounding p
 * alone mis-states the sigmoid's slope by up to 20%. 2^lambda restores a fine grid (p in [64, 128)) at
 * the cost of one shift; negative lambda does the converse for fine int16 scales. lambda = 0 is plain
 * ShiftGELU. Default: "auto" = the smallest lambda with p >= 64 (see {@linkcode shiftGeluParams}).
 * @module
 */

import { shiftExpParams } from "./shiftmax.ts";
import { shiftSwish } from "./shiftsigmoid.ts";

/** GELU's sigmoid slope (Hendrycks & Gimpel: GELU(x) ~ x * sigmoid(1.702 x)). */
export const GELU_SIGMOID_GAIN = 1.702;

/** Attributes of {@linkcode shiftGelu}. */
export interface ShiftGeluParams {
  /** Integer for 1.0 of 1.702 x: roundHalfEven(1 / (1.702 s)) (attribute `p`). */
  p: number;
  /** Octaves kept (attribute `n`). */
  n: number;
}

/** Attributes of {@linkcode lambdaShiftGelu}. */
export interface LambdaShiftGeluParams extends ShiftGeluParams {
  /** Pre-shift of |x| before the shift-exp (attribute `lambda`), p built as 2^lambda / (1.702 s). */
  lambda: number;
}

/**
 * shiftkit.ShiftGelu: y = floor((x * sig + 2^14) / 2^15), sig = floor(sigmoid(1.702 x) * 2^15) from the
 * shift-exp with unit p and n octaves; same element type and scale as x.
 *
 * @param x int8 or int16 input
 * @param params p and n (p * 2^n <= 65535)
 * @returns GELU(x) at the input scale
 * @throws {RangeError} on invalid attributes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftGelu } from "./shiftgelu.ts";
 * // scale 1/16: p = round(16 / 1.702) = 9; GELU(2) = 1.95 -> 31.2 LSB, GELU(-2) = -0.045 -> -0.7 LSB
 * assertEquals(Array.from(shiftGelu(new Int8Array([32, -32, 0]), { p: 9, n: 12 })), [31, -1, 0]);
 * ```
 */
export function shiftGelu<T extends Int8Array | Int16Array>(x: T, params: ShiftGeluParams): T {
  return shiftSwish(x, { p: params.p, n: params.n, shift: 0 });
}

/**
 * shiftkit.LambdaShiftGelu: ShiftGelu with |x| pre-shifted by lambda (left when positive, floor right
 * when negative) before the shift-exp; p must be built for the same lambda.
 *
 * @param x int8 or int16 input
 * @param params p, n and lambda
 * @returns GELU(x) at the input scale
 * @throws {RangeError} on invalid attributes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lambdaShiftGelu } from "./shiftgelu.ts";
 * // scale 1/4: plain p = round(4 / 1.702) = 2; lambda = 5 gives p = round(128 / 1.702) = 75
 * const x = new Int8Array([4, 8, -4]);
 * assertEquals(Array.from(lambdaShiftGelu(x, { p: 75, n: 9, lambda: 5 })), [3, 8, -1]);
 * ```
 */
export function lambdaShiftGelu<T extends Int8Array | Int16Array>(x: T, params: LambdaShiftGeluParams): T {
  return shiftSwish(x, { p: params.p, n: params.n, shift: params.lambda });
}

/** Options of {@linkcode shiftGeluParams}. */
export interface ShiftGeluParamsOptions {
  /** Pre-shift; 0 = plain ShiftGelu, "auto" = smallest lambda with p >= 64. @default 0 */
  lambda?: number | "auto";
  /** Sigmoid gain folded into p (1 gives Swish). @default GELU_SIGMOID_GAIN */
  gain?: number;
}

/**
 * Conversion-time attributes for ShiftGelu / LambdaShiftGelu from the input scale: p as above and the
 * largest n <= 15 with p * 2^n <= 65535 (the x * sigmoid precondition).
 *
 * @param scale real value of one input LSB
 * @param options lambda and gain
 * @returns p, n, lambda
 * @throws {RangeError} when the scale is not positive or no valid n exists
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftGeluParams } from "./shiftgelu.ts";
 * assertEquals(shiftGeluParams(0.25), { p: 2, n: 14, lambda: 0 });
 * assertEquals(shiftGeluParams(0.25, { lambda: "auto" }), { p: 75, n: 9, lambda: 5 });
 * ```
 */
export function shiftGeluParams(scale: number, options: ShiftGeluParamsOptions = {}): LambdaShiftGeluParams {
  const r = shiftExpParams(scale, {
    gain: options.gain ?? GELU_SIGMOID_GAIN,
    expShift: options.lambda ?? 0,
    maxE0: 65535,
    maxN: 15,
  });
  return { p: r.p, n: r.n, lambda: r.expShift };
}
