/**
 * Binary-coded quantization (BCQ) with power-of-two scales, the weight format of ShiftAddLLM
 * (arXiv 2406.05981 §3.2, after Xu et al. 2018 "Alternating multi-bit quantization"):
 * a group of weights is approximated as `w ≈ Σ_{i<q} α_i · B_i` with `B_i ∈ {-1, +1}` and each `α_i` a sum
 * of at most `terms` signed powers of two, so `α_i · x` is a few shifts of `x`.
 *
 * Codes: one weight's binary code is a q-bit integer whose bit `i` is 1 when `B_i = +1` and 0 when
 * `B_i = -1`. Alphas are kept sorted descending (`α_0` is the most significant plane).
 *
 * Two layers of API: `fitBcq` ({@link ./bcq_fit.ts}) fits the alpha set of one group (the alternating algorithm), and
 * {@linkcode bcqLevels} + {@linkcode nearestCode} quantize single weights to a fixed alpha set, which is what
 * the GPTQ-style loop calls weight by weight. The group a fitter sees decides the granularity: the weights of
 * one output column in one group of input features (accuracy mode) or of 8 output columns in that group
 * (latency mode) — see quant/shiftadd_gptq.ts.
 * @module
 */

/** Smallest exponent a power-of-two term may have: the int8 range minus the "no term" sentinel -128. */
export const POT_EXP_MIN = -127;
/** Stored exponent meaning "no term" (the int8 value no real term uses). */
export const POT_EXP_NONE = -128;
/** Largest exponent a power-of-two term may have (int8). */
export const POT_EXP_MAX = 127;
/**
 * Widest exponent spread of one alpha's terms: every term's exponent is `>= e0 - 23` where `e0` is the first
 * (largest) one, so the sum is a multiple of `2^(e0-23)` below `2^(e0+1)` — an exact float32 value.
 */
export const POT_SPAN = 23;
/**
 * Largest exponent gap between consecutive terms of one alpha: the ShiftAddMatMul storage keeps each further
 * term as a 3-bit gap plus a sign (docs/ops/shiftadd.md, "Alpha encoding"). A term more than 7 octaves
 * below the previous one would change alpha by less than 2^-7 of that term; greedy rounding stops there.
 */
export const POT_GAP_MAX = 7;

/** An alpha written as a sum of signed powers of two: `value = Σ_t signs[t] · 2^exps[t]`. */
export interface PotTerms {
  /** The represented value (exact in float32 and float64). */
  value: number;
  /** Exponents, strictly decreasing, each in `[POT_EXP_MIN, POT_EXP_MAX]`. */
  exps: number[];
  /** Signs, `+1` or `-1`, one per exponent. */
  signs: number[];
}

/**
 * Round a value to a sum of at most `terms` signed powers of two, greedily: take the power of two nearest
 * to the residual (log-ties, `|r| = 1.5·2^e`, go to the smaller `2^e`), subtract it, repeat. Each step at
 * least halves the residual, so exponents strictly decrease. Stops early when the residual is zero, when the
 * next exponent would fall below {@linkcode POT_EXP_MIN}, below `e0 - POT_SPAN` (float32 exactness), or
 * more than {@linkcode POT_GAP_MAX} below the previous term (the op's 4-bit term encoding).
 * Greedy is the decomposition ShiftAddLLM's released code uses; it is not always the best K-term
 * signed-digit approximation, but it is deterministic and cheap.
 *
 * @param x value to round (finite)
 * @param options `terms`: the maximum number of terms
 * @returns the terms and their exact sum
 * @throws {RangeError} when `x` is not finite or `|x| >= 2^128`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { roundToPowersOfTwo } from "./bcq.ts";
 * // 0.3 -> 0.25 + 0.0625 - 0.015625 = 0.296875
 * assertEquals(roundToPowersOfTwo(0.3), { value: 0.296875, exps: [-2, -4, -6], signs: [1, 1, -1] });
 * assertEquals(roundToPowersOfTwo(0.3, { terms: 1 }).value, 0.25);
 * ```
 */
export function roundToPowersOfTwo(x: number, options: { terms?: number } = {}): PotTerms {
  const exps: number[] = [];
  const signs: number[] = [];
  const value = potRound(x, options.terms ?? 3, exps, signs);
  return { value, exps, signs };
}

/**
 * {@link roundToPowersOfTwo}'s greedy rounding, returning only the value unless arrays are given to receive
 * the exponents and signs: the allocation-free form the batched BCQ fitter ({@link ./bcq_fit.ts}) calls
 * thousands of times per layer. One implementation for both.
 *
 * @param x value to round (finite)
 * @param terms the maximum number of terms
 * @param exps receives the exponents, when given
 * @param signs receives the signs, when given
 * @returns the rounded value
 * @throws {RangeError} when `x` is not finite or `|x| >= 2^128`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { potRound } from "./bcq.ts";
 * assertEquals(potRound(0.3, 3), 0.296875);
 * ```
 */
export function potRound(x: number, terms: number, exps?: number[], signs?: number[]): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 2 ** 128) {
    throw new RangeError(`Cannot round ${x} to powers of two: not finite or beyond 2^128`);
  }
  let r = x;
  let value = 0;
  let first = 0, last = 0; // exponents of the first and the latest term
  for (let t = 0; t < terms && r !== 0; t++) {
    const a = Math.abs(r);
    let e = Math.floor(Math.log2(a));
    // Math.log2 may be off by one ulp near powers of two; fix e so that 2^e <= a < 2^(e+1).
    if (2 ** e > a) e--;
    else if (2 ** (e + 1) <= a) e++;
    if (2 ** (e + 1) - a < a - 2 ** e) e++;
    if (e > POT_EXP_MAX) e = POT_EXP_MAX;
    if (e < POT_EXP_MIN || (t > 0 && (e < first - POT_SPAN || e < last - POT_GAP_MAX))) break;
    const s = r > 0 ? 1 : -1;
    if (t === 0) first = e;
    last = e;
    exps?.push(e);
    signs?.push(s);
    value += s * 2 ** e;
    r = x - value;
  }
  return value;
}

/** The 2^q values one alpha set can represent, sorted, with their codes and decision thresholds. */
export interface BcqLevels {
  /** Number of bits q. */
  bits: number;
  /** Level values, ascending, `2^q` entries. */
  values: Float64Array;
  /** Code of each level (bit i = 1 ⇔ B_i = +1). */
  codes: Uint8Array;
  /** Midpoints between consecutive levels, `2^q - 1` entries: the nearest-level decision thresholds. */
  mids: Float64Array;
}

/**
 * All representable levels `Σ_i ±α_i` of an alpha set, sorted ascending.
 *
 * @param alphas the q alphas (q in 1..8)
 * @returns levels, codes and midpoints
 * @throws {RangeError} when q is not in 1..8
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bcqLevels } from "./bcq.ts";
 * const lv = bcqLevels([1, 0.5]);
 * assertEquals(Array.from(lv.values), [-1.5, -0.5, 0.5, 1.5]);
 * assertEquals(Array.from(lv.codes), [0b00, 0b10, 0b01, 0b11]);
 * ```
 */
export function bcqLevels(alphas: ArrayLike<number>): BcqLevels {
  const q = alphas.length;
  if (q < 1 || q > 8) throw new RangeError(`Cannot build BCQ levels: bits must be in 1..8, got ${q}`);
  const count = 1 << q;
  const values = new Float64Array(count);
  const codes = new Uint8Array(count);
  const mids = new Float64Array(count - 1);
  fillBcqLevels(alphas, 0, q, values, codes, mids, 0);
  return { bits: q, values, codes, mids };
}

/**
 * {@link bcqLevels} written into flat tables: the `2^q` levels of `alphas[a0 .. a0+q)` at `values[l *
 * 2^q ..]` and `codes[l * 2^q ..]`, their midpoints at `mids[l * (2^q - 1) ..]` (level set `l`). The same
 * arithmetic as {@link bcqLevels}, which calls it; lets a quantizer keep one level set per (output, group)
 * in three arrays instead of an object and three small arrays each.
 *
 * @param alphas alphas, q of them from `a0`
 * @param a0 offset of the first alpha
 * @param q bits (1..8, not checked)
 * @param values receives the level values
 * @param codes receives the level codes
 * @param mids receives the midpoints
 * @param l index of the level set in the tables
 */
export function fillBcqLevels(
  alphas: ArrayLike<number>,
  a0: number,
  q: number,
  values: Float64Array,
  codes: Uint8Array,
  mids: Float64Array,
  l: number,
): void {
  const count = 1 << q, o = l * count, m0 = l * (count - 1);
  // Insertion sort of (value, code) by value, then code: 2^q <= 256 entries, no allocation per entry.
  for (let c = 0; c < count; c++) {
    let v = 0;
    for (let i = 0; i < q; i++) v += (c >> i) & 1 ? alphas[a0 + i]! : -alphas[a0 + i]!;
    let p = c;
    while (p > 0 && values[o + p - 1]! > v) {
      values[o + p] = values[o + p - 1]!;
      codes[o + p] = codes[o + p - 1]!;
      p--;
    }
    values[o + p] = v;
    codes[o + p] = c;
  }
  for (let i = 0; i + 1 < count; i++) mids[m0 + i] = 0.5 * (values[o + i]! + values[o + i + 1]!);
}

/**
 * Index (into `levels.values`) of the level nearest to `x`, by binary search over the midpoints; a value
 * exactly on a midpoint goes to the lower level.
 *
 * @param levels levels from {@linkcode bcqLevels}
 * @param x value to quantize
 * @returns level index in `0 .. 2^q - 1`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bcqLevels, nearestLevel } from "./bcq.ts";
 * const lv = bcqLevels([1, 0.5]);
 * assertEquals([nearestLevel(lv, -9), nearestLevel(lv, 0.2), nearestLevel(lv, 0), nearestLevel(lv, 1.1)], [0, 2, 1, 3]);
 * ```
 */
export function nearestLevel(levels: BcqLevels, x: number): number {
  return nearestMid(levels.mids, 0, levels.mids.length, x);
}

/**
 * {@link nearestLevel} on a flat midpoint table (see {@link fillBcqLevels}): the number of the `count`
 * midpoints from `mids[m0]` that are strictly below `x`.
 *
 * @param mids midpoint table
 * @param m0 offset of the level set's first midpoint
 * @param count midpoints in the set (`2^q - 1`)
 * @param x value to quantize
 * @returns level index in `0 .. count`
 */
export function nearestMid(mids: Float64Array, m0: number, count: number, x: number): number {
  let lo = 0, hi = count; // answer = number of midpoints strictly below x
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (mids[m0 + m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * Code of the level nearest to `x` (bit i = 1 ⇔ B_i = +1).
 *
 * @param levels levels from {@linkcode bcqLevels}
 * @param x value to quantize
 * @returns the q-bit code
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bcqLevels, nearestCode } from "./bcq.ts";
 * assertEquals(nearestCode(bcqLevels([1, 0.5]), 0.7), 0b01); // +1 - 0.5
 * ```
 */
export function nearestCode(levels: BcqLevels, x: number): number {
  return levels.codes[nearestLevel(levels, x)]!;
}

/**
 * Value of a code under an alpha set: `Σ_i (bit i ? +α_i : -α_i)`.
 *
 * @param code q-bit code
 * @param alphas the alphas
 * @returns the dequantized value
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeBcq } from "./bcq.ts";
 * assertEquals(decodeBcq(0b01, [1, 0.5]), 0.5);
 * ```
 */
export function decodeBcq(code: number, alphas: ArrayLike<number>): number {
  let v = 0;
  for (let i = 0; i < alphas.length; i++) v += (code >> i) & 1 ? alphas[i]! : -alphas[i]!;
  return v;
}
