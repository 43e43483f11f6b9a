/**
 * Binary-coded quantization (BCQ) with power-of-two scales, the weight format of ShiftAddLLM
 * (arXiv 2406.05981 §3.2, after Xu et al. 2018 "Alternating multi-bit quantization"):
 * a group of weights is approximated as `w ≈ Σ_{i<q} α_i · B_i` with `B_i ∈ {-1, +1}` and each `α_i` a sum
 * of at most `terms` signed powers of two, so `α_i · x` is a few shifts of `x`.
 *
 * Codes: one weight's binary code is a q-bit integer whose bit `i` is 1 when `B_i = +1` and 0 when
 * `B_i = -1`. Alphas are kept sorted descending (`α_0` is the most significant plane).
 *
 * Two layers of API: {@linkcode fitBcq} fits the alpha set of one group (the alternating algorithm), and
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
  const terms = options.terms ?? 3;
  if (!Number.isFinite(x) || Math.abs(x) >= 2 ** 128) {
    throw new RangeError(`Cannot round ${x} to powers of two: not finite or beyond 2^128`);
  }
  const exps: number[] = [];
  const signs: number[] = [];
  let r = x;
  let value = 0;
  for (let t = 0; t < terms && r !== 0; t++) {
    const a = Math.abs(r);
    let e = Math.floor(Math.log2(a));
    // Math.log2 may be off by one ulp near powers of two; fix e so that 2^e <= a < 2^(e+1).
    if (2 ** e > a) e--;
    else if (2 ** (e + 1) <= a) e++;
    if (2 ** (e + 1) - a < a - 2 ** e) e++;
    if (e > POT_EXP_MAX) e = POT_EXP_MAX;
    if (
      e < POT_EXP_MIN ||
      (exps.length > 0 && (e < exps[0]! - POT_SPAN || e < exps[exps.length - 1]! - POT_GAP_MAX))
    ) break;
    const s = r > 0 ? 1 : -1;
    exps.push(e);
    signs.push(s);
    value += s * 2 ** e;
    r = x - value;
  }
  return { value, exps, signs };
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
  // Insertion sort of (value, code) by value, then code: 2^q <= 256 entries, no allocation per entry.
  for (let c = 0; c < count; c++) {
    let v = 0;
    for (let i = 0; i < q; i++) v += (c >> i) & 1 ? alphas[i]! : -alphas[i]!;
    let p = c;
    while (p > 0 && values[p - 1]! > v) {
      values[p] = values[p - 1]!;
      codes[p] = codes[p - 1]!;
      p--;
    }
    values[p] = v;
    codes[p] = c;
  }
  const mids = new Float64Array(count - 1);
  for (let i = 0; i + 1 < count; i++) mids[i] = 0.5 * (values[i]! + values[i + 1]!);
  return { bits: q, values, codes, mids };
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
  const mids = levels.mids;
  let lo = 0, hi = mids.length; // answer = number of midpoints strictly below x
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (mids[m]! < x) lo = m + 1;
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

/** Options for {@linkcode fitBcq}. */
export interface BcqFitOptions {
  /**
   * Number of binary planes q (1..8).
   * @default {3}
   */
  bits?: number;
  /**
   * Alternating rounds after the greedy init (ShiftAddLLM uses 50 and notes 20 is enough).
   * @default {20}
   */
  rounds?: number;
  /**
   * Maximum signed power-of-two terms per alpha (ShiftAddLLM's K).
   * @default {3}
   */
  terms?: number;
  /**
   * Round alphas to powers of two; `false` keeps float alphas (plain BCQ, used to show monotone descent).
   * @default {true}
   */
  powerOfTwo?: boolean;
}

/** Result of {@linkcode fitBcq} for one group. */
export interface BcqFit {
  /** q alphas, descending, non-negative; PoT-rounded unless `powerOfTwo: false`. */
  alphas: Float64Array;
  /** The power-of-two terms of each alpha (empty lists when `powerOfTwo: false`). */
  terms: PotTerms[];
  /** Code of each weight under `alphas` (the nearest level). */
  codes: Uint8Array;
  /** Squared error `Σ (w - ŵ)^2` of the returned fit. */
  error: number;
  /** Squared error after the greedy init (`[0]`, float alphas) and after each round (`[r]`). */
  history: Float64Array;
}

/**
 * Fit the alpha set of one group of weights (ShiftAddLLM §3.2 / Xu et al. 2018). Greedy init: `r = w`; for
 * each bit, `B = sign(r)` (sign(0) = +1), `α = mean|r|`, `r -= αB`. Then each round: least-squares alphas for
 * the fixed codes (q x q normal equations `(BᵀB) α = Bᵀw`, with a 1e-12 ridge against duplicate planes),
 * `|α|` sorted descending (a negative alpha is the same level set with the plane flipped), each alpha rounded
 * by {@linkcode roundToPowersOfTwo}, and every code re-picked as the nearest of the 2^q levels. The best
 * candidate (lowest squared error) among the rounded greedy init (sorted, rounded, codes re-picked) and the
 * rounds is returned; `rounds: 0` returns the rounded greedy init.
 *
 * @param w the group's weights (any order; latency mode passes 8 columns' worth)
 * @param options bits, rounds, terms, powerOfTwo
 * @returns alphas, their terms, codes, error and per-round history
 * @throws {RangeError} when bits is not in 1..8 or rounds / terms is negative
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fitBcq } from "./bcq.ts";
 * const fit = fitBcq([1.5, -0.5, 0.5, -1.5, 1.5], { bits: 2 });
 * assertEquals(Array.from(fit.alphas), [1, 0.5]);
 * assertEquals(fit.error, 0);
 * ```
 */
export function fitBcq(w: ArrayLike<number>, options: BcqFitOptions = {}): BcqFit {
  const q = options.bits ?? 3;
  const rounds = options.rounds ?? 20;
  const terms = options.terms ?? 3;
  const pot = options.powerOfTwo ?? true;
  if (!Number.isInteger(q) || q < 1 || q > 8) {
    throw new RangeError(`Cannot fit BCQ: bits must be in 1..8, got ${q}`);
  }
  if (!(rounds >= 0) || !(terms >= 1)) {
    throw new RangeError(`Cannot fit BCQ: rounds must be >= 0 and terms >= 1, got ${rounds} and ${terms}`);
  }
  const n = w.length;
  const history = new Float64Array(rounds + 1);
  // Greedy init.
  let codes: Uint8Array = new Uint8Array(n);
  const alphas = new Float64Array(q);
  const r = Float64Array.from(w);
  for (let i = 0; i < q; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(r[j]!);
    const a = n > 0 ? s / n : 0;
    alphas[i] = a;
    for (let j = 0; j < n; j++) {
      if (r[j]! >= 0) {
        codes[j]! |= 1 << i;
        r[j]! -= a;
      } else {
        r[j]! += a;
      }
    }
  }
  history[0] = sqError(w, codes, alphas);

  const refine = (raw: Float64Array): BcqFit => {
    const sorted = Float64Array.from(raw, Math.abs).sort().reverse();
    const tms = pot ? Array.from(sorted, (a) => roundToPowersOfTwo(a, { terms })) : [];
    const al = pot ? Float64Array.from(tms, (t) => t.value) : sorted;
    const lv = bcqLevels(al);
    const cs = new Uint8Array(n);
    let err = 0;
    for (let j = 0; j < n; j++) {
      const idx = nearestLevel(lv, w[j]!);
      cs[j] = lv.codes[idx]!;
      const d = w[j]! - lv.values[idx]!;
      err += d * d;
    }
    return { alphas: al, terms: tms, codes: cs, error: err, history };
  };
  // The rounded greedy init is a candidate too (it can be exact where least squares is rank-deficient).
  let best = refine(alphas);
  codes = best.codes;
  for (let round = 1; round <= rounds; round++) {
    const fit = refine(leastSquaresAlphas(w, codes, q, alphas));
    history[round] = fit.error;
    if (fit.error < best.error) best = fit;
    // A round whose codes and alphas equal its inputs is a fixed point: every later round would repeat it
    // exactly (same inputs, same arithmetic), so stop with the same result and history.
    let fixed = true;
    for (let i = 0; i < q && fixed; i++) fixed = fit.alphas[i] === alphas[i];
    for (let j = 0; j < n && fixed; j++) fixed = fit.codes[j] === codes[j];
    codes = fit.codes;
    alphas.set(fit.alphas);
    if (fixed) {
      history.fill(fit.error, round + 1);
      break;
    }
  }
  return best;
}

/** Squared error of codes under alphas. */
function sqError(w: ArrayLike<number>, codes: Uint8Array, alphas: Float64Array): number {
  let e = 0;
  for (let j = 0; j < w.length; j++) {
    const d = w[j]! - decodeBcq(codes[j]!, alphas);
    e += d * d;
  }
  return e;
}

/**
 * Least-squares alphas for fixed codes: solve (BᵀB + ridge) α = Bᵀw by a q x q Cholesky. BᵀB and Bᵀw only
 * depend on how many weights carry each code and their sum, so they come from a 2^q-bin histogram.
 */
function leastSquaresAlphas(
  w: ArrayLike<number>,
  codes: Uint8Array,
  q: number,
  fallback: Float64Array,
): Float64Array {
  const count = 1 << q;
  const hist = new Float64Array(2 * count); // [count of code c, Σ w with code c]
  for (let j = 0; j < w.length; j++) {
    const c = codes[j]!;
    hist[2 * c]!++;
    hist[2 * c + 1]! += w[j]!;
  }
  const g = new Float64Array(q * q);
  const rhs = new Float64Array(q);
  for (let c = 0; c < count; c++) {
    const m = hist[2 * c]!;
    if (m === 0) continue;
    const sw = hist[2 * c + 1]!;
    for (let i = 0; i < q; i++) {
      const bi = (c >> i) & 1 ? 1 : -1;
      rhs[i]! += bi * sw;
      for (let k = 0; k <= i; k++) g[i * q + k]! += (((c >> k) & 1 ? 1 : -1) * bi) * m;
    }
  }
  const ridge = 1e-12 * w.length + 1e-300;
  // In-place Cholesky of the lower triangle.
  for (let i = 0; i < q; i++) {
    for (let k = 0; k <= i; k++) {
      let s = g[i * q + k]! + (i === k ? ridge : 0);
      for (let m = 0; m < k; m++) s -= g[i * q + m]! * g[k * q + m]!;
      if (i === k) {
        if (!(s > 0)) return Float64Array.from(fallback);
        g[i * q + i] = Math.sqrt(s);
      } else {
        g[i * q + k] = s / g[k * q + k]!;
      }
    }
  }
  const y = new Float64Array(q);
  for (let i = 0; i < q; i++) {
    let s = rhs[i]!;
    for (let k = 0; k < i; k++) s -= g[i * q + k]! * y[k]!;
    y[i] = s / g[i * q + i]!;
  }
  for (let i = q - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < q; k++) s -= g[k * q + i]! * y[k]!;
    y[i] = s / g[i * q + i]!;
  }
  return y;
}
