/**
 * Integer residual add (I-ViT, arXiv 2207.01405, Sec. 3.2; I-Segmenter keeps the residual stream in int16):
 * both branches are requantized with their own dyadic multiplier to the common output scale, added, and
 * saturated.
 *
 *   ya = clamp(floor((a * ba + 2^(ca-1)) / 2^ca), -2^30, 2^30 - 1)     (64-bit product, round half up)
 *   yb = clamp(floor((b * bb + 2^(cb-1)) / 2^cb), -2^30, 2^30 - 1)
 *   y  = clamp(ya + yb, qmin, qmax)                                       (|ya + yb| < 2^31: int32)
 * The ±2^30 guard only bites when a branch alone is beyond 2^30 output LSBs (far outside any int16 range).
 * @module
 */

import { checkDyadic, type Dyadic, dyadic, roundingShift } from "./dyadic.ts";
import { intRange } from "./round.ts";

/** Integer views the integer ops accept. */
type IntData = Int8Array | Int16Array | Int32Array;

/** Attributes of {@linkcode intAdd}. */
export interface IntAddParams {
  /** Dyadic factor s_a / s_out (attributes `a_multiplier`, `a_shift`). */
  a: Dyadic;
  /** Dyadic factor s_b / s_out (attributes `b_multiplier`, `b_shift`). */
  b: Dyadic;
  /** Output int8 or int16 (attribute `output_bits`). @default 16 */
  outputBits?: 8 | 16;
}

/**
 * shiftkit.IntAdd of two equally shaped integer tensors (steps in the module doc).
 *
 * @param inputs the two branches `[a, b]`, same length
 * @param params dyadic factors and output width
 * @returns Int8Array or Int16Array at the output scale
 * @throws {RangeError} on mismatched lengths or invalid dyadic pairs
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dyadic } from "./dyadic.ts";
 * import { intAdd } from "./int_add.ts";
 * // a at scale 0.5, b at scale 0.25, output scale 0.5
 * const y = intAdd([new Int16Array([10, 30000]), new Int8Array([4, 100])], { a: dyadic(1), b: dyadic(0.5) });
 * assertEquals(Array.from(y), [12, 30050]);
 * ```
 */
export function intAdd(inputs: [IntData, IntData], params: IntAddParams): Int8Array | Int16Array {
  const [a, b] = inputs;
  if (a.length !== b.length) {
    throw new RangeError(`Invalid IntAdd: inputs have ${a.length} and ${b.length} elements`);
  }
  checkDyadic(params.a, "IntAdd a");
  checkDyadic(params.b, "IntAdd b");
  const outputBits = params.outputBits ?? 16;
  if (outputBits !== 8 && outputBits !== 16) {
    throw new RangeError(`Invalid IntAdd: outputBits must be 8 or 16, got ${outputBits}`);
  }
  const [lo, hi] = intRange(outputBits, true);
  const g = 2 ** 30;
  const out = outputBits === 8 ? new Int8Array(a.length) : new Int16Array(a.length);
  for (let i = 0; i < a.length; i++) {
    let ya = roundingShift(a[i]!, params.a);
    let yb = roundingShift(b[i]!, params.b);
    ya = ya < -g ? -g : ya > g - 1 ? g - 1 : ya;
    yb = yb < -g ? -g : yb > g - 1 ? g - 1 : yb;
    const s = ya + yb;
    out[i] = s < lo ? lo : s > hi ? hi : s;
  }
  return out;
}

/**
 * Conversion-time attributes of IntAdd from the three real scales.
 *
 * @param scales `[s_a, s_b]`
 * @param outputScale s_out
 * @returns dyadic factors s_a / s_out and s_b / s_out
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { intAddParams } from "./int_add.ts";
 * assertEquals(intAddParams([0.5, 0.25], 0.5).b, { multiplier: 2 ** 30, shift: 31 });
 * ```
 */
export function intAddParams(scales: [number, number], outputScale: number): { a: Dyadic; b: Dyadic } {
  return { a: dyadic(scales[0] / outputScale), b: dyadic(scales[1] / outputScale) };
}
