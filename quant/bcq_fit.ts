/**
 * Fitting the alpha set of one BCQ group (ShiftAddLLM, arXiv 2406.05981 §3.2, after Xu et al. 2018
 * "Alternating multi-bit quantization"): a greedy init, then alternating least-squares alphas for fixed codes
 * and nearest-level codes for fixed (power-of-two rounded) alphas. Number formats and the single-weight API
 * (levels, nearest level, decode) are in {@link ./bcq.ts}.
 *
 * {@linkcode BcqFitter} runs the fit with scratch buffers allocated once: a 6144 x 1536 layer at group 64 is
 * 147k fits, and the first implementation (kept test-only as `quant/_bcq_fit_ref.ts`) allocated a dozen
 * small arrays per round of each. The arithmetic is the same, in the same order, so the results are the same
 * bits (quant/bcq_fit_test.ts compares them). {@linkcode fitBcq} is the one-group convenience form.
 * @module
 */

import { decodeBcq, fillBcqLevels, nearestMid, potRound, type PotTerms, roundToPowersOfTwo } from "./bcq.ts";

/** Options for {@linkcode fitBcq} and {@linkcode BcqFitter}. */
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
 * by `roundToPowersOfTwo`, and every code re-picked as the nearest of the 2^q levels. The best
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
 * import { fitBcq } from "./bcq_fit.ts";
 * const fit = fitBcq([1.5, -0.5, 0.5, -1.5, 1.5], { bits: 2 });
 * assertEquals(Array.from(fit.alphas), [1, 0.5]);
 * assertEquals(fit.error, 0);
 * ```
 */
export function fitBcq(w: ArrayLike<number>, options: BcqFitOptions = {}): BcqFit {
  const f = new BcqFitter(options);
  const history = new Float64Array(f.rounds + 1);
  const x = w instanceof Float64Array ? w : Float64Array.from(w);
  const error = f.fit(x, 0, x.length, history);
  return {
    alphas: Float64Array.from(f.alphas),
    terms: f.pot ? Array.from({ length: f.bits }, (_, i) => f.potTerms(i)) : [],
    codes: f.codes.slice(0, x.length),
    error,
    history,
  };
}

/**
 * The BCQ fit of {@linkcode fitBcq} for many groups in a row, without allocation per group: one fitter
 * holds the scratch of the largest group seen. After {@linkcode BcqFitter.fit}, `alphas`, `codes` and
 * {@linkcode BcqFitter.potTerms} describe the best fit of that group (until the next call).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BcqFitter, fitBcq } from "./bcq_fit.ts";
 * const w = new Float64Array([0.3, -0.1, 0.05, -0.3, 0.2, 0.11]);
 * const f = new BcqFitter({ bits: 2 });
 * assertEquals(f.fit(w, 0, 6), fitBcq(w, { bits: 2 }).error);
 * assertEquals(Array.from(f.alphas), Array.from(fitBcq(w, { bits: 2 }).alphas));
 * ```
 */
export class BcqFitter {
  /** Planes q. */
  readonly bits: number;
  /** Alternating rounds. */
  readonly rounds: number;
  /** Power-of-two terms per alpha. */
  readonly terms: number;
  /** Whether alphas are rounded to powers of two. */
  readonly pot: boolean;
  /** The best fit's alphas, descending. */
  readonly alphas: Float64Array;
  /** The best fit's codes, `n` entries from 0 (capacity may be larger). */
  codes: Uint8Array;
  /** `|α|` sorted, before power-of-two rounding, of the best fit (its terms are rounded from these). */
  readonly #bestRaw: Float64Array;
  #r = new Float64Array(0);
  #cur = new Uint8Array(0); // codes the next least-squares step reads
  #next = new Uint8Array(0); // codes a refinement writes
  readonly #alphas: Float64Array; // current alphas (least-squares fallback, fixed-point test)
  readonly #sorted: Float64Array;
  readonly #al: Float64Array;
  readonly #values: Float64Array;
  readonly #lcodes: Uint8Array;
  readonly #mids: Float64Array;
  readonly #hist: Float64Array;
  readonly #g: Float64Array;
  readonly #rhs: Float64Array;
  readonly #y: Float64Array;

  /**
   * @param options bits, rounds, terms, powerOfTwo (as {@linkcode fitBcq})
   * @throws {RangeError} when bits is not in 1..8 or rounds / terms is negative
   */
  constructor(options: BcqFitOptions = {}) {
    const q = options.bits ?? 3;
    const rounds = options.rounds ?? 20;
    const terms = options.terms ?? 3;
    if (!Number.isInteger(q) || q < 1 || q > 8) {
      throw new RangeError(`Cannot fit BCQ: bits must be in 1..8, got ${q}`);
    }
    if (!(rounds >= 0) || !(terms >= 1)) {
      throw new RangeError(`Cannot fit BCQ: rounds must be >= 0 and terms >= 1, got ${rounds} and ${terms}`);
    }
    this.bits = q;
    this.rounds = rounds;
    this.terms = terms;
    this.pot = options.powerOfTwo ?? true;
    const count = 1 << q;
    this.alphas = new Float64Array(q);
    this.codes = new Uint8Array(0);
    this.#bestRaw = new Float64Array(q);
    this.#alphas = new Float64Array(q);
    this.#sorted = new Float64Array(q);
    this.#al = new Float64Array(q);
    this.#values = new Float64Array(count);
    this.#lcodes = new Uint8Array(count);
    this.#mids = new Float64Array(count - 1);
    this.#hist = new Float64Array(2 * count);
    this.#g = new Float64Array(q * q);
    this.#rhs = new Float64Array(q);
    this.#y = new Float64Array(q);
  }

  /**
   * The power-of-two terms of the best fit's alpha `i` (exactly those `fitBcq` reports).
   *
   * @param i plane
   * @returns its terms
   */
  potTerms(i: number): PotTerms {
    return roundToPowersOfTwo(this.#bestRaw[i]!, { terms: this.terms });
  }

  /**
   * Fit the group `w[off .. off+n)`.
   *
   * @param w weights
   * @param off first weight of the group
   * @param n weights in the group
   * @param history receives the squared error after the greedy init and each round (`rounds + 1`
   *   entries), when given
   * @returns the best fit's squared error
   */
  fit(w: Float64Array, off: number, n: number, history?: Float64Array): number {
    const q = this.bits;
    if (this.#r.length < n) {
      this.#r = new Float64Array(n);
      this.#cur = new Uint8Array(n);
      this.#next = new Uint8Array(n);
      this.codes = new Uint8Array(n);
    }
    const r = this.#r, alphas = this.#alphas;
    let cur = this.#cur;
    // Greedy init.
    cur.fill(0, 0, n);
    for (let j = 0; j < n; j++) r[j] = w[off + j]!;
    for (let i = 0; i < q; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.abs(r[j]!);
      const a = n > 0 ? s / n : 0;
      alphas[i] = a;
      for (let j = 0; j < n; j++) {
        if (r[j]! >= 0) {
          cur[j]! |= 1 << i;
          r[j]! -= a;
        } else {
          r[j]! += a;
        }
      }
    }
    if (history) {
      let e = 0;
      for (let j = 0; j < n; j++) {
        const d = w[off + j]! - decodeBcq(cur[j]!, alphas);
        e += d * d;
      }
      history[0] = e;
    }
    // The rounded greedy init is a candidate too (it can be exact where least squares is rank-deficient).
    let best = this.#refine(w, off, n, alphas);
    this.#keepBest(n);
    // the refined codes are the current ones now; the old current buffer takes the next refinement
    const refined = this.#next;
    this.#next = cur;
    cur = refined;
    for (let round = 1; round <= this.rounds; round++) {
      const err = this.#refine(w, off, n, this.#leastSquares(w, off, n, cur));
      if (history) history[round] = err;
      if (err < best) {
        best = err;
        this.#keepBest(n);
      }
      // A round whose codes and alphas equal its inputs is a fixed point: every later round would repeat it
      // exactly (same inputs, same arithmetic), so stop with the same result and history.
      const al = this.#al;
      let fixed = true;
      for (let i = 0; i < q && fixed; i++) fixed = al[i] === alphas[i];
      const made = this.#next;
      for (let j = 0; j < n && fixed; j++) fixed = made[j] === cur[j];
      // the refined codes become the current ones; the old current buffer takes the next refinement
      this.#next = cur;
      cur = made;
      alphas.set(al);
      if (fixed) {
        history?.fill(err, round + 1);
        break;
      }
    }
    this.#cur = cur;
    return best;
  }

  /** Copy the latest refinement (`#sorted`, `#al`, `#next`) as the best fit. */
  #keepBest(n: number): void {
    this.#bestRaw.set(this.#sorted);
    this.alphas.set(this.#al);
    this.codes.set(this.#next.subarray(0, n));
  }

  /**
   * Sort `|raw|` descending into `#sorted`, round into `#al`, re-pick every code into `#next`; returns the
   * squared error.
   */
  #refine(w: Float64Array, off: number, n: number, raw: Float64Array): number {
    const q = this.bits, sorted = this.#sorted, al = this.#al;
    // Descending insertion sort of |raw| (as a typed-array sort then reverse: NaN first).
    for (let i = 0; i < q; i++) {
      const v = Math.abs(raw[i]!);
      let p = i;
      while (p > 0 && above(v, sorted[p - 1]!)) {
        sorted[p] = sorted[p - 1]!;
        p--;
      }
      sorted[p] = v;
    }
    for (let i = 0; i < q; i++) al[i] = this.pot ? potRound(sorted[i]!, this.terms) : sorted[i]!;
    const values = this.#values, lcodes = this.#lcodes, mids = this.#mids, cs = this.#next;
    fillBcqLevels(al, 0, q, values, lcodes, mids, 0);
    const nm = (1 << q) - 1;
    let err = 0;
    for (let j = 0; j < n; j++) {
      const x = w[off + j]!;
      const idx = nearestMid(mids, 0, nm, x);
      cs[j] = lcodes[idx]!;
      const d = x - values[idx]!;
      err += d * d;
    }
    return err;
  }

  /**
   * Least-squares alphas for fixed codes: solve (BᵀB + ridge) α = Bᵀw by a q x q Cholesky. BᵀB and Bᵀw only
   * depend on how many weights carry each code and their sum, so they come from a 2^q-bin histogram. Falls
   * back to the current alphas when the system is not positive definite. Returns `#y`.
   */
  #leastSquares(w: Float64Array, off: number, n: number, codes: Uint8Array): Float64Array {
    const q = this.bits, count = 1 << q;
    const hist = this.#hist.fill(0); // [count of code c, Σ w with code c]
    for (let j = 0; j < n; j++) {
      const c = codes[j]!;
      hist[2 * c]!++;
      hist[2 * c + 1]! += w[off + j]!;
    }
    const g = this.#g.fill(0), rhs = this.#rhs.fill(0), y = this.#y;
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
    const ridge = 1e-12 * n + 1e-300;
    // In-place Cholesky of the lower triangle.
    for (let i = 0; i < q; i++) {
      for (let k = 0; k <= i; k++) {
        let s = g[i * q + k]! + (i === k ? ridge : 0);
        for (let m = 0; m < k; m++) s -= g[i * q + m]! * g[k * q + m]!;
        if (i === k) {
          if (!(s > 0)) {
            y.set(this.#alphas);
            return y;
          }
          g[i * q + i] = Math.sqrt(s);
        } else {
          g[i * q + k] = s / g[k * q + k]!;
        }
      }
    }
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
}

/** `a` sorts before `b` in descending order (NaN first, as a typed-array sort then reverse puts it). */
function above(a: number, b: number): boolean {
  return a > b || (a !== a && b === b);
}
