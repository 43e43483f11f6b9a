/**
 * Rounding and saturation: the one place shiftkit defines them. ONNX QuantizeLinear rounds half to even;
 * JavaScript's Math.round rounds half up, so nothing in shiftkit calls Math.round for quantization.
 * @module
 */

/**
 * Round to the nearest integer, ties to even (IEEE 754 roundTiesToEven, as ONNX QuantizeLinear).
 *
 * @param x value to round
 * @returns the nearest integer; for exact .5 ties the even neighbour
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { roundHalfEven } from "./round.ts";
 * assertEquals([roundHalfEven(2.5), roundHalfEven(3.5), roundHalfEven(-2.5)], [2, 4, -2]);
 * ```
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up (toward +inf); fix the ties that landed on an odd integer.
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/**
 * Clamp `x` into `[lo, hi]`.
 *
 * @param x value
 * @param lo lower bound (inclusive)
 * @param hi upper bound (inclusive)
 * @returns the saturated value
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { clamp } from "./round.ts";
 * assertEquals(clamp(300, -128, 127), 127);
 * ```
 */
export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/**
 * Integer range of an N-bit integer.
 *
 * @param bits bit width, 1..32
 * @param signed two's complement when true
 * @returns `[qmin, qmax]`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { intRange } from "./round.ts";
 * assertEquals(intRange(8, true), [-128, 127]);
 * assertEquals(intRange(4, false), [0, 15]);
 * ```
 */
export function intRange(bits: number, signed: boolean): [number, number] {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) {
    throw new RangeError(`Cannot form an integer range: bits must be an integer in 1..32, got ${bits}`);
  }
  return signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/**
 * Floor division of integers (rounds toward -infinity), the semantics of an arithmetic right shift.
 *
 * @param a dividend (integer)
 * @param b divisor (non-zero integer)
 * @returns floor(a / b)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { floorDiv } from "./round.ts";
 * assertEquals([floorDiv(-7, 2), floorDiv(7, 2)], [-4, 3]);
 * ```
 */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}
