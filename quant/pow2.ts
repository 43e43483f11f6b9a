/**
 * DenseShift zero-free power-of-two weights (arXiv 2208.09708, METHODS.md section 3), post-training.
 *
 * An N-bit code (N = 1..8) holds 1 sign bit and N-1 exponent bits:
 * `code = (signBit << (N-1)) | p`, `signBit = 1` for a negative weight, `p` in `[0, pmax]`,
 * `pmax = 2^(N-1) - 1`. Its level is `alpha * s * 2^p` with `s = 1 - 2 * signBit`; there is no zero level
 * (3-bit levels are `±{1, 2, 4, 8} * alpha`). `alpha` is a per-output-channel float32 scale.
 *
 * Weights are channel-major: a Float32Array `[nOut, fanIn]`, row `n` uses `alpha[n]` (for a Conv weight
 * `[Cout, Cin/group, kh, kw]` that is its natural layout; a MatMul weight `[K, N]` must be transposed).
 *
 * Deviation from the paper (which trains from scratch with the codes in the loop): this module converts
 * pretrained weights after training. It picks alpha per channel (max-based, weight-MSE or output-error
 * search), rounds each weight to the nearest level, and {@linkcode biasCorrection} removes the mean output
 * drift with calibration data.
 * @module
 */

import { clamp } from "./round.ts";

/** Options shared by the encoders and decoders of this module. */
export interface Pow2Options {
  /**
   * Code width N in bits, 1..8 (1 sign bit + N-1 exponent bits).
   * @default 3
   */
  bits?: number;
}

/** Options of {@linkcode encodePow2}. */
export interface EncodePow2Options extends Pow2Options {
  /**
   * Per-channel exponent cap q (integer in [0, pmax]): channel n uses only p <= q[n] and saturates above
   * `alpha * 2^q[n]`. {@linkcode pow2AlphaOutput} chooses it together with alpha.
   * @default pmax for every channel (no cap)
   */
  maxExponent?: ArrayLike<number>;
}

/** Options of the alpha searches {@linkcode pow2AlphaMse} and {@linkcode pow2AlphaOutput}. */
export interface Pow2AlphaSearchOptions extends Pow2Options {
  /**
   * Grid resolution: candidates are `alpha = fround(center * 2^(i / stepsPerOctave))`.
   * @default 64
   */
  stepsPerOctave?: number;
  /**
   * Searched range of `log2(alpha / center)`, in octaves, where the center is the max-based alpha
   * ({@linkcode pow2AlphaMax}). Both searches use the same grid for the same options.
   * @default [-4, 1]
   */
  octaves?: readonly [number, number];
}

/** Options of {@linkcode pow2AlphaOutput}. */
export interface Pow2AlphaOutputOptions extends Pow2AlphaSearchOptions {
  /**
   * Also try, per channel, saturating at the top exponent `q = 2^(M-1) - 1` of every narrower width
   * M = minBits..bits-1 (each with its own grid, centred on `max|w| / 2^q`). This makes the N-bit result
   * never worse on H than the M-bit one for every M in minBits..N (the N-bit candidates contain the M-bit
   * ones), which plain alpha search does not guarantee: with zero-free levels the rounding errors of small
   * and clipped weights can cancel in the output, and finer levels can break that cancellation. Costs one
   * more grid sweep per extra width; set minBits = bits to search the uncapped grid only.
   * @default 3 (or `bits` when bits < 3)
   */
  minBits?: number;
}

/** Result of {@linkcode pow2AlphaOutput}: per channel, alpha and the exponent cap to encode with. */
export interface Pow2Fit {
  /** `nOut` float32 alphas. */
  alpha: Float32Array;
  /** `nOut` exponent caps q (pass as `maxExponent` to {@linkcode encodePow2}). */
  maxExponent: Uint8Array;
}

/**
 * Largest exponent of an N-bit DenseShift code: `pmax = 2^(N-1) - 1`.
 *
 * @param bits code width N, 1..8
 * @returns pmax
 * @throws {RangeError} if `bits` is not an integer in 1..8
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2MaxExponent } from "./pow2.ts";
 * assertEquals([3, 4, 5, 6].map(pow2MaxExponent), [3, 7, 15, 31]);
 * ```
 */
export function pow2MaxExponent(bits: number): number {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) {
    throw new RangeError(`Cannot form power-of-two codes: bits must be an integer in 1..8, got ${bits}`);
  }
  return 2 ** (bits - 1) - 1;
}

/**
 * The exponent caps an output-error alpha search tries: one per code width minBits..bits (see
 * {@linkcode Pow2AlphaOutputOptions.minBits}), shared by the full-matrix and the low-rank searches.
 *
 * @param bits code width
 * @param minBits narrowest width tried (default `min(3, bits)`)
 * @param what the search, for the error message
 * @returns `pow2MaxExponent(m)` for m = minBits..bits
 * @throws {RangeError} when minBits is not an integer in 1..bits
 */
export function pow2ExponentCaps(bits: number, minBits: number | undefined, what: string): number[] {
  const lo = minBits ?? Math.min(3, bits);
  if (!Number.isInteger(lo) || lo < 1 || lo > bits) {
    throw new RangeError(`Cannot search ${what}: minBits must be an integer in 1..${bits}, got ${lo}`);
  }
  const caps: number[] = [];
  for (let m = lo; m <= bits; m++) caps.push(pow2MaxExponent(m));
  return caps;
}

/**
 * The level of one code in units of alpha: `s * 2^p` (never zero).
 *
 * @param code an N-bit code `(signBit << (N-1)) | p`
 * @param bits code width N, 1..8
 * @returns `±2^p`
 * @throws {RangeError} if the code does not fit in `bits` bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2Level } from "./pow2.ts";
 * assertEquals([0, 1, 2, 3, 4, 5, 6, 7].map((c) => pow2Level(c, 3)), [1, 2, 4, 8, -1, -2, -4, -8]);
 * ```
 */
export function pow2Level(code: number, bits: number): number {
  const pmax = pow2MaxExponent(bits);
  if (!Number.isInteger(code) || code < 0 || code > 2 * pmax + 1) {
    throw new RangeError(`Cannot decode power-of-two code ${code}: not an integer in [0, ${2 * pmax + 1}]`);
  }
  const p = code & pmax;
  return code > pmax ? -(2 ** p) : 2 ** p;
}

/** Per-channel alphas as float32 values, validated; returns them with the fan-in they imply. */
function channelAlphas(
  alpha: number | ArrayLike<number>,
  length: number,
  what: string,
): [Float32Array, number] {
  const a = typeof alpha === "number" ? Float32Array.of(alpha) : Float32Array.from(alpha);
  for (let n = 0; n < a.length; n++) {
    if (!(a[n]! >= 0) || a[n] === Infinity) {
      throw new RangeError(`Cannot ${what}: alpha[${n}] = ${a[n]} is not finite and >= 0`);
    }
  }
  if (a.length === 0 || length % a.length !== 0) {
    throw new RangeError(`Cannot ${what}: ${length} values do not split into ${a.length} channels`);
  }
  return [a, length / a.length];
}

/**
 * Decision thresholds between neighbouring magnitudes: |w| > thr[p] chooses 2^(p+1) over 2^p.
 * thr[p] = 1.5 * 2^p * alpha is the linear midpoint of alpha*2^p and alpha*2^(p+1); for a float32 alpha
 * the product is exact in float64 (24 + 2 significant bits), so ties are decided without rounding.
 * Exported for the searches of quant/pow2_diag.ts (one rounding rule, written once).
 *
 * @param alpha the channel's float32 alpha
 * @param pmax the channel's top exponent (its cap)
 * @param out where to write them (at least `pmax` long; a search reuses one buffer)
 * @returns `pmax` thresholds, ascending (`out` when given)
 */
export function pow2Thresholds(alpha: number, pmax: number, out?: Float64Array): Float64Array {
  const thr = out ?? new Float64Array(pmax);
  // Doubling is exact in float64, so t equals alpha * 1.5 * 2^p at every step.
  for (let p = 0, t = alpha * 1.5; p < pmax; p++, t *= 2) thr[p] = t;
  return thr;
}

/** Exponent of the level nearest to magnitude `a` (linear domain, ties to the smaller magnitude). */
function nearestExponent(a: number, alpha: number, pmax: number, thr: Float64Array): number {
  if (pmax === 0 || alpha === 0 || !(a > thr[0]!)) return 0;
  // Estimate from the log, then settle exactly against the thresholds (Math.log2 may be off by an ulp).
  let p = clamp(Math.floor(Math.log2(a / (1.5 * alpha))) + 1, 1, pmax);
  while (p > 0 && !(a > thr[p - 1]!)) p--;
  while (p < pmax && a > thr[p]!) p++;
  return p;
}

/**
 * Encode channel-major weights to N-bit DenseShift codes for given per-channel alphas.
 *
 * Each weight takes the level `±alpha * 2^p` nearest to it in the linear domain, which minimises the
 * weight error for that alpha. Magnitudes between `alpha * 2^p` and `alpha * 2^(p+1)` switch at the linear
 * midpoint `1.5 * alpha * 2^p`, not at the log-domain midpoint `sqrt(2) * alpha * 2^p` that
 * `round(log2(|w| / alpha))` would use; an exact tie goes to the smaller magnitude `2^p`. Magnitudes below
 * alpha take p = 0 and above `alpha * 2^pmax` take pmax (saturation, as `clamp(p, 0, pmax)`). The sign bit is
 * 1 only for `w < 0`: zero (and -0) weights get `+alpha`, the smallest magnitude with sign +1, since there is
 * no zero level. A channel with `alpha = 0` gets p = 0 everywhere (it decodes to zeros). Alphas are rounded to
 * float32 first, the precision the model stores. With a `maxExponent` cap q, "pmax" above reads q.
 *
 * @param weights `[nOut, fanIn]` row-major, finite
 * @param alpha one alpha (nOut = 1) or `nOut` per-channel alphas, each finite and >= 0
 * @param options `bits`: code width N; `maxExponent`: per-channel exponent caps
 * @returns one code per weight, `(signBit << (N-1)) | p`, in the same layout
 * @throws {RangeError} on a non-finite weight, a bad alpha or bits, or a length not divisible by nOut
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodePow2 } from "./pow2.ts";
 * // 3 bits, alpha 1: levels ±{1, 2, 4, 8}. 3 is a tie between 2 and 4 -> 2; 3.1 -> 4; 0 -> +1; 100 -> 8.
 * assertEquals(encodePow2([3, 3.1, 0, -100, -1.4], 1), new Uint8Array([1, 2, 0, 7, 4]));
 * ```
 */
export function encodePow2(
  weights: ArrayLike<number>,
  alpha: number | ArrayLike<number>,
  options: EncodePow2Options = {},
): Uint8Array {
  const bits = options.bits ?? 3;
  const pmax = pow2MaxExponent(bits);
  const [alphas, fanIn] = channelAlphas(alpha, weights.length, "encode power-of-two weights");
  const caps = options.maxExponent;
  if (caps !== undefined && caps.length !== alphas.length) {
    throw new RangeError(
      `Cannot encode power-of-two weights: ${caps.length} exponent caps for ${alphas.length} channels`,
    );
  }
  const out = new Uint8Array(weights.length);
  const signBit = 1 << (bits - 1);
  const buf = new Float64Array(pmax); // every channel's thresholds, written in place
  for (let n = 0; n < alphas.length; n++) {
    const a = alphas[n]!;
    const q = caps === undefined ? pmax : caps[n]!;
    if (!Number.isInteger(q) || q < 0 || q > pmax) {
      throw new RangeError(
        `Cannot encode power-of-two weights: maxExponent[${n}] = ${q} is not an integer in [0, ${pmax}]`,
      );
    }
    const thr = pow2Thresholds(a, q, buf);
    for (let i = n * fanIn; i < (n + 1) * fanIn; i++) {
      const w = weights[i]!;
      if (!Number.isFinite(w)) {
        throw new RangeError(`Cannot encode power-of-two weight ${i}: value ${w} is not finite`);
      }
      // the nearest exponent: the number of thresholds below |w| (none for alpha 0)
      const m = Math.abs(w);
      let p = 0;
      if (a > 0) { while (p < q && m > thr[p]!) p++; }
      out[i] = (w < 0 ? signBit : 0) | p;
    }
  }
  return out;
}

/**
 * Decode N-bit DenseShift codes to float32 weights: `alpha[n] * s * 2^p`. Exact: a power-of-two multiple
 * of a float32 alpha is a float32 (while it stays in the normal range).
 *
 * @param codes `[nOut, fanIn]` codes `(signBit << (N-1)) | p`
 * @param alpha one alpha or `nOut` per-channel alphas, each finite and >= 0
 * @param options `bits`: code width N
 * @returns the weights, same layout
 * @throws {RangeError} on a code out of range, a bad alpha or bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodePow2 } from "./pow2.ts";
 * assertEquals(decodePow2([0, 3, 7, 4], [0.5, 0.25]), new Float32Array([0.5, 4, -2, -0.25]));
 * ```
 */
export function decodePow2(
  codes: ArrayLike<number>,
  alpha: number | ArrayLike<number>,
  options: Pow2Options = {},
): Float32Array {
  const bits = options.bits ?? 3;
  const pmax = pow2MaxExponent(bits);
  const [alphas, fanIn] = channelAlphas(alpha, codes.length, "decode power-of-two weights");
  const out = new Float32Array(codes.length);
  const level = Float64Array.from({ length: 2 * pmax + 2 }, (_, c) => c > pmax ? -(2 ** (c & pmax)) : 2 ** c);
  for (let n = 0, i = 0; n < alphas.length; n++) {
    const a = alphas[n]!;
    for (const end = i + fanIn; i < end; i++) {
      const c = codes[i]!;
      if ((c & (2 * pmax + 1)) !== c) {
        throw new RangeError(
          `Cannot decode power-of-two code ${c} at index ${i}: not in [0, ${2 * pmax + 1}]`,
        );
      }
      out[i] = a * level[c]!; // exact: a float32 times a power of two (sign included)
    }
  }
  return out;
}

/** Row views and validation shared by the alpha searches. */
function rows(weights: Float32Array, fanIn: number, what: string): number {
  if (!Number.isInteger(fanIn) || fanIn < 1 || weights.length % fanIn !== 0) {
    throw new RangeError(`Cannot ${what}: ${weights.length} weights do not split into rows of ${fanIn}`);
  }
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) {
      throw new RangeError(`Cannot ${what}: weight ${i} = ${weights[i]} is not finite`);
    }
  }
  return weights.length / fanIn;
}

/**
 * Max-based alpha of one row: the largest level alpha * 2^pmax equals max|w| (the centre of the alpha grids).
 *
 * @param weights `[nOut, fanIn]` row-major
 * @param off offset of the row
 * @param fanIn row length
 * @param pmax the top exponent
 * @returns float32 alpha (0 for an all-zero row)
 */
export function pow2RowMaxAlpha(weights: Float32Array, off: number, fanIn: number, pmax: number): number {
  let m = 0;
  for (let k = off; k < off + fanIn; k++) m = Math.max(m, Math.abs(weights[k]!));
  return Math.fround(m / 2 ** pmax);
}

/**
 * Plain power-of-two baseline: per channel, `alpha = max|w| / 2^pmax`, so the largest level covers the
 * largest weight exactly and no weight saturates. An all-zero channel gets alpha 0.
 *
 * @param weights `[nOut, fanIn]` row-major
 * @param fanIn row length K
 * @param options `bits`: code width N
 * @returns `nOut` float32 alphas
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2AlphaMax } from "./pow2.ts";
 * assertEquals(pow2AlphaMax(new Float32Array([1, -4, 0.5, 0, 0, 0]), 3), new Float32Array([0.5, 0]));
 * ```
 */
export function pow2AlphaMax(weights: Float32Array, fanIn: number, options: Pow2Options = {}): Float32Array {
  const pmax = pow2MaxExponent(options.bits ?? 3);
  const nOut = rows(weights, fanIn, "choose max-based alphas");
  const out = new Float32Array(nOut);
  for (let n = 0; n < nOut; n++) out[n] = pow2RowMaxAlpha(weights, n * fanIn, fanIn, pmax);
  return out;
}

/**
 * Grid of candidate alphas around `center`, ascending; always contains `center` itself (i = 0). Shared by
 * every alpha search (here and quant/pow2_diag.ts), so the same options give the same candidates.
 *
 * @param center the max-based alpha ({@linkcode pow2RowMaxAlpha})
 * @param options `stepsPerOctave`, `octaves`
 * @returns the candidates `fround(center * 2^(i / stepsPerOctave))` that are finite and > 0
 * @throws {RangeError} on a bad grid
 */
export function pow2AlphaGrid(center: number, options: Pow2AlphaSearchOptions): number[] {
  const out: number[] = [];
  for (const f of pow2GridFactors(options)) {
    const a = Math.fround(center * f);
    if (a > 0 && Number.isFinite(a)) out.push(a);
  }
  return out;
}

const gridFactors = new Map<string, Float64Array>();

/**
 * The factors `2^(i / stepsPerOctave)` of {@linkcode pow2AlphaGrid}'s candidates (i ascending over the
 * octaves), before the centre multiplies them: a search that builds many grids takes them once
 * (memoized per grid setting). Candidate i is `Math.fround(center * factor[i])`, kept when finite and > 0.
 *
 * @param options `stepsPerOctave`, `octaves`
 * @returns the factors, ascending (shared: do not modify)
 * @throws {RangeError} on a bad grid
 */
export function pow2GridFactors(options: Pow2AlphaSearchOptions): Float64Array {
  const steps = options.stepsPerOctave ?? 64;
  const [lo, hi] = options.octaves ?? [-4, 1];
  const key = `${steps}|${lo}|${hi}`;
  const hit = gridFactors.get(key);
  if (hit) return hit;
  if (!Number.isInteger(steps) || steps < 1 || !(lo <= 0 && hi >= 0)) {
    throw new RangeError(
      `Cannot search alphas: stepsPerOctave=${steps} octaves=[${lo}, ${hi}] (need lo <= 0 <= hi)`,
    );
  }
  const out: number[] = [];
  for (let i = Math.ceil(lo * steps); i <= Math.floor(hi * steps); i++) out.push(2 ** (i / steps));
  const f = Float64Array.from(out);
  gridFactors.set(key, f);
  return f;
}

/**
 * Weight-error of one row for one alpha: sum (|w| - level)^2 over the sorted magnitudes, from prefix sums
 * (s1 = sum |w|, s2 = sum w^2) over the runs of weights that share a level: O(pmax log K) per alpha.
 */
function sortedRowError(
  sorted: Float64Array,
  s1: Float64Array,
  s2: Float64Array,
  a: number,
  pmax: number,
): number {
  const thr = pow2Thresholds(a, pmax);
  let err = 0;
  let start = 0;
  for (let p = 0; p <= pmax; p++) {
    // end = number of magnitudes that are <= thr[p] (those take an exponent <= p); all for p = pmax.
    let end = sorted.length;
    if (p < pmax) {
      let lo = start, hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid]! <= thr[p]!) lo = mid + 1;
        else hi = mid;
      }
      end = lo;
    }
    const level = a * 2 ** p;
    const c = end - start;
    err += s2[end]! - s2[start]! - 2 * level * (s1[end]! - s1[start]!) + c * level * level;
    start = end;
  }
  return err;
}

/**
 * Weight-MSE-optimal alpha per channel: minimises `sum_k (w_k - w_hat_k)^2` over a dense grid on log2(alpha)
 * around the max-based alpha ({@linkcode pow2AlphaMax}). The grid contains the max-based alpha, so the result
 * is never worse than it in weight error. A grid (not golden section) because the error is not unimodal in
 * alpha: it is piecewise quadratic with a jump wherever a weight changes level. The first (smallest) alpha
 * wins exact ties. Lower weight error does not imply lower output error: on correlated inputs this alpha
 * can lose to the max-based one on `||X (w - w_hat)||^2`; use {@linkcode pow2AlphaOutput} when a Gram matrix
 * is available.
 *
 * @param weights `[nOut, fanIn]` row-major
 * @param fanIn row length K
 * @param options `bits`, `stepsPerOctave`, `octaves`
 * @returns `nOut` float32 alphas
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { decodePow2, encodePow2, pow2AlphaMax, pow2AlphaMse } from "./pow2.ts";
 * const w = new Float32Array([0.1, -0.2, 0.3, -0.05, 0.9, 0.12, -0.4, 0.07]);
 * const err = (a: Float32Array) =>
 *   decodePow2(encodePow2(w, a), a).reduce((s, v, i) => s + (v - w[i]!) ** 2, 0);
 * assert(err(pow2AlphaMse(w, 8)) < err(pow2AlphaMax(w, 8)));
 * ```
 */
export function pow2AlphaMse(
  weights: Float32Array,
  fanIn: number,
  options: Pow2AlphaSearchOptions = {},
): Float32Array {
  const pmax = pow2MaxExponent(options.bits ?? 3);
  const nOut = rows(weights, fanIn, "search weight-MSE alphas");
  const out = new Float32Array(nOut);
  const sorted = new Float64Array(fanIn);
  const s1 = new Float64Array(fanIn + 1);
  const s2 = new Float64Array(fanIn + 1);
  for (let n = 0; n < nOut; n++) {
    const center = pow2RowMaxAlpha(weights, n * fanIn, fanIn, pmax);
    if (center === 0) continue; // all-zero row: alpha 0 reproduces it exactly
    for (let k = 0; k < fanIn; k++) sorted[k] = Math.abs(weights[n * fanIn + k]!);
    sorted.sort();
    for (let k = 0; k < fanIn; k++) {
      s1[k + 1] = s1[k]! + sorted[k]!;
      s2[k + 1] = s2[k]! + sorted[k]! * sorted[k]!;
    }
    let best = center, bestErr = Infinity;
    for (const a of pow2AlphaGrid(center, options)) {
      const e = sortedRowError(sorted, s1, s2, a, pmax);
      if (e < bestErr) [best, bestErr] = [a, e];
    }
    out[n] = best;
  }
  return out;
}

/**
 * Output-error-optimal alpha per channel: minimises `(w - w_hat)^T H (w - w_hat)`, the squared output error
 * `||X (w - w_hat)||^2` of this channel when `H = X^T X` is the Gram matrix of the layer's calibration
 * inputs (any positive multiple of it gives the same alphas). For a Conv, X holds im2col patches of size
 * `Cin/group * kh * kw` in the weight's `[Cin/group, kh, kw]` order; with group > 1 each group has its own H,
 * so call this once per group with that group's rows. It searches the same grid as
 * {@linkcode pow2AlphaMse} (which therefore is one of its candidates), so for the same options its result is
 * never worse than the weight-MSE alpha on H. Codes stay linear-nearest ({@linkcode encodePow2}); only alpha
 * and the per-channel exponent cap (see `minBits`) are fitted to the output.
 *
 * Cost per channel: O(K^2) to start plus O(K) per weight that changes level along the grid (a rank-one
 * update of H * levels); each weight changes level about once per searched octave, so about 6 K^2 for the
 * default range (plus O(K) encoding per candidate), times the number of widths tried (`minBits`).
 *
 * @param weights `[nOut, fanIn]` row-major
 * @param gram H, `[fanIn, fanIn]` row-major, symmetric positive semi-definite
 * @param options `bits`, `stepsPerOctave`, `octaves`, `minBits`
 * @returns per channel the alpha and the exponent cap to encode with
 * @throws {RangeError} if the Gram matrix is not `fanIn * fanIn` for a fan-in that divides the weights
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2AlphaMse, pow2AlphaOutput } from "./pow2.ts";
 * const w = new Float32Array([0.1, -0.2, 0.3, -0.05]);
 * const identity = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
 * // With H = I the output error is the weight error: both searches agree (3 bits: no narrower width).
 * const fit = pow2AlphaOutput(w, identity);
 * assertEquals(fit.alpha, pow2AlphaMse(w, 4));
 * assertEquals(fit.maxExponent, new Uint8Array([3]));
 * ```
 */
export function pow2AlphaOutput(
  weights: Float32Array,
  gram: Float64Array,
  options: Pow2AlphaOutputOptions = {},
): Pow2Fit {
  const bits = options.bits ?? 3;
  const pmax = pow2MaxExponent(bits);
  const caps = pow2ExponentCaps(bits, options.minBits, "output-error alphas");
  const fanIn = Math.round(Math.sqrt(gram.length));
  if (fanIn * fanIn !== gram.length) {
    throw new RangeError(
      `Cannot search output-error alphas: Gram matrix has ${gram.length} entries, not K*K`,
    );
  }
  const nOut = rows(weights, fanIn, "search output-error alphas");
  const out = new Float32Array(nOut);
  const outCap = new Uint8Array(nOut).fill(pmax);
  const hw = new Float64Array(fanIn); // H w
  const hl = new Float64Array(fanIn); // H L, L = levels in units of alpha
  const level = new Float64Array(fanIn);
  for (let n = 0; n < nOut; n++) {
    const off = n * fanIn;
    if (pow2RowMaxAlpha(weights, off, fanIn, pmax) === 0) continue; // all-zero row: alpha 0 reproduces it exactly
    let wHw = 0;
    for (let i = 0; i < fanIn; i++) {
      let s = 0;
      for (let j = 0; j < fanIn; j++) s += gram[i * fanIn + j]! * weights[off + j]!;
      hw[i] = s;
      wHw += weights[off + i]! * s;
    }
    level.fill(0);
    hl.fill(0);
    let c1 = 0, c2 = 0; // L . Hw and L . HL
    let best = 0, bestCap = pmax, bestErr = Infinity;
    for (const q of caps) {
      for (const a of pow2AlphaGrid(pow2RowMaxAlpha(weights, off, fanIn, q), options)) {
        const thr = pow2Thresholds(a, q);
        for (let k = 0; k < fanIn; k++) {
          const w = weights[off + k]!;
          const m = 2 ** nearestExponent(Math.abs(w), a, q, thr);
          const d = (w < 0 ? -m : m) - level[k]!;
          if (d === 0) continue;
          // Rank-one update of L -> L + d e_k (H symmetric: column k is row k).
          c1 += d * hw[k]!;
          c2 += d * (2 * hl[k]! + d * gram[k * fanIn + k]!);
          const row = k * fanIn;
          for (let j = 0; j < fanIn; j++) hl[j]! += d * gram[row + j]!;
          level[k] = level[k]! + d;
        }
        const e = wHw - 2 * a * c1 + a * a * c2;
        if (e < bestErr) [best, bestCap, bestErr] = [a, q, e];
      }
    }
    out[n] = best;
    outCap[n] = bestCap;
  }
  return { alpha: out, maxExponent: outCap };
}

/**
 * Bias correction for a quantized layer: `delta_b[n] = sum_k (W - W_hat)[n, k] * mu[k]`. Adding `delta_b`
 * to the bias makes the quantized layer's output on the calibration mean input `mu` equal the float layer's
 * (`W_hat mu + b + delta_b = W mu + b`), removing the mean output drift of the rounding.
 *
 * @param pair `weights` W and `quantized` W_hat, both `[nOut, fanIn]` row-major
 * @param mean mu, the mean input vector (length fanIn; for a Conv the mean im2col patch)
 * @returns `nOut` float32 bias deltas (accumulated in float64)
 * @throws {RangeError} if the lengths disagree
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { biasCorrection } from "./pow2.ts";
 * const weights = new Float32Array([1, 3, 0, 2]);
 * const quantized = new Float32Array([1, 2, 1, 2]);
 * assertEquals(biasCorrection({ weights, quantized }, [2, 5]), new Float32Array([5, -2]));
 * ```
 */
export function biasCorrection(
  pair: { weights: Float32Array; quantized: Float32Array },
  mean: ArrayLike<number>,
): Float32Array {
  const { weights, quantized } = pair;
  const fanIn = mean.length;
  if (quantized.length !== weights.length || fanIn === 0 || weights.length % fanIn !== 0) {
    throw new RangeError(
      `Cannot correct bias: weights ${weights.length}, quantized ${quantized.length}, mean ${fanIn} do not match`,
    );
  }
  const out = new Float32Array(weights.length / fanIn);
  for (let n = 0; n < out.length; n++) {
    let s = 0;
    for (let k = 0; k < fanIn; k++) s += (weights[n * fanIn + k]! - quantized[n * fanIn + k]!) * mean[k]!;
    out[n] = s;
  }
  return out;
}

/** Result of {@linkcode pow2Brackets}: per weight, its two neighbouring levels and their codes. */
export interface Pow2Brackets {
  /** Lower level (float32 value). */
  lo: Float32Array;
  /** Upper level; equals `lo` where the weight saturates. */
  hi: Float32Array;
  /** Code of `lo`. */
  loCode: Uint8Array;
  /** Code of `hi`. */
  hiCode: Uint8Array;
}

/**
 * The two DenseShift levels that bracket each weight on the signed line, for learned rounding
 * (quant/learned_rounding.ts): `alpha 2^p <= |w| <= alpha 2^(p+1)` gives those two (with w's sign); a
 * magnitude below alpha gives `-alpha` and `+alpha` (the grid has no zero, so the neighbours of a small weight
 * differ in sign); a magnitude at or above the top level `alpha 2^q` (q = the channel's exponent cap) gives
 * that level twice. A channel with alpha 0 gives 0 twice (code 0 decodes to 0 there).
 *
 * @param weights `[nOut, fanIn]` row-major, finite
 * @param alpha `nOut` per-channel alphas (rounded to float32, as stored)
 * @param options `bits`: code width N; `maxExponent`: per-channel exponent caps
 * @returns per weight the lower and upper level and their codes
 * @throws {RangeError} on a non-finite weight or a bad alpha, cap or bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2Brackets } from "./pow2.ts";
 * // 3 bits, alpha 1: levels ±{1, 2, 4, 8}.
 * const b = pow2Brackets([3, 0.2, -5, 9], [1], { bits: 3 });
 * assertEquals([...b.lo], [2, -1, -8, 8]);
 * assertEquals([...b.hi], [4, 1, -4, 8]);
 * assertEquals([...b.loCode], [1, 4, 7, 3]);
 * ```
 */
export function pow2Brackets(
  weights: ArrayLike<number>,
  alpha: ArrayLike<number>,
  options: EncodePow2Options = {},
): Pow2Brackets {
  const bits = options.bits ?? 3;
  const pmax = pow2MaxExponent(bits);
  const [alphas, fanIn] = channelAlphas(alpha, weights.length, "bracket power-of-two weights");
  const caps = options.maxExponent;
  if (caps !== undefined && caps.length !== alphas.length) {
    throw new RangeError(
      `Cannot bracket power-of-two weights: ${caps.length} caps for ${alphas.length} channels`,
    );
  }
  const n = weights.length;
  const lo = new Float32Array(n), hi = new Float32Array(n);
  const loCode = new Uint8Array(n), hiCode = new Uint8Array(n);
  const signBit = 1 << (bits - 1);
  for (let c = 0; c < alphas.length; c++) {
    const a = alphas[c]!;
    const q = caps === undefined ? pmax : caps[c]!;
    if (!Number.isInteger(q) || q < 0 || q > pmax) {
      throw new RangeError(
        `Cannot bracket power-of-two weights: maxExponent[${c}] = ${q} is not in [0, ${pmax}]`,
      );
    }
    for (let i = c * fanIn; i < (c + 1) * fanIn; i++) {
      const w = weights[i]!;
      if (!Number.isFinite(w)) {
        throw new RangeError(`Cannot bracket power-of-two weight ${i}: value ${w} is not finite`);
      }
      const m = Math.abs(w), neg = w < 0;
      if (a === 0) continue; // zeros, code 0
      if (m < a) {
        lo[i] = -a, hi[i] = a, loCode[i] = signBit, hiCode[i] = 0;
        continue;
      }
      // Largest p <= q with a 2^p <= m (exact comparisons: a 2^p is exact in float64).
      let p = clamp(Math.floor(Math.log2(m / a)), 0, q);
      while (p > 0 && a * 2 ** p > m) p--;
      while (p < q && a * 2 ** (p + 1) <= m) p++;
      const small = a * 2 ** p, big = p < q ? a * 2 ** (p + 1) : small;
      const pBig = p < q ? p + 1 : p;
      if (neg) {
        lo[i] = -big, hi[i] = -small, loCode[i] = signBit | pBig, hiCode[i] = signBit | p;
      } else {
        lo[i] = small, hi[i] = big, loCode[i] = p, hiCode[i] = pBig;
      }
    }
  }
  return { lo, hi, loCode, hiCode };
}
