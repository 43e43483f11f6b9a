/**
 * Quality figures of a GPTQ-style quantized matrix (shared by weight-only GPTQ, {@link ./weight_only.ts}, and
 * ShiftAddLLM's BCQ, {@link ./shiftadd_gptq.ts}): the relative weight error and the relative output error
 * `‖X(W − Ŵ)‖ / ‖XW‖` on the calibration data, from `H = XᵀX / rows` directly or from GPTQ's own loss.
 * Re-exported by {@link ./gptq.ts}.
 * @module
 */

import { GramAccumulator } from "./gram.ts";

/** Relative errors of a quantized matrix. */
export interface QuantErrorStats {
  /** `‖W − Ŵ‖_F / ‖W‖_F`. */
  relWeightError: number;
  /** `sqrt(tr((W−Ŵ)ᵀ H (W−Ŵ)) / tr(Wᵀ H W))` with the given (undamped) H, i.e. `‖XW − XŴ‖_F / ‖XW‖_F` on
   * the calibration data; `NaN` without a hessian. */
  relOutputError: number;
  /** Features with `H[k,k] = 0` (never active): their weights are set to 0. */
  deadFeatures: number;
}

/** Scratch of {@linkcode quantErrorStats}: buffers the caller no longer needs, used instead of new ones. */
export interface QuantErrorStatsOptions {
  /** At least `K * N` entries (e.g. GPTQ's float64 working weight after `runGptq` ({@link ./gptq.ts})). */
  rows?: Float64Array;
  /** At least `K²` entries (e.g. GPTQ's factor `U` after `runGptq` ({@link ./gptq.ts}), when no other layer shares it). */
  square?: Float64Array;
}

/**
 * Relative weight error and, with H, relative output error `sqrt(tr(EᵀHE)/tr(WᵀHW))`.
 *
 * @param w the original weight, `K x N`
 * @param deq `Ŵ`
 * @param h `H`, or null
 * @param K input features
 * @param N outputs
 * @param dead dead features (reported as is)
 * @param options scratch buffers that are dead by now (the working weight and GPTQ's factor)
 * @returns the stats
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { quantErrorStats } from "./gptq_stats.ts";
 * const s = quantErrorStats(new Float32Array([1, 0]), new Float32Array([0.5, 0]), new Float64Array([1, 0, 0, 1]), 2, 1, 0);
 * assertAlmostEquals(s.relOutputError, 0.5, 1e-12);
 * ```
 */
export function quantErrorStats(
  w: Float32Array | Float64Array,
  deq: Float32Array,
  h: Float64Array | null,
  K: number,
  N: number,
  dead: number,
  options: QuantErrorStatsOptions = {},
): QuantErrorStats {
  let num = 0, den = 0;
  for (let i = 0; i < w.length; i++) {
    num += (w[i]! - deq[i]!) ** 2;
    den += w[i]! ** 2;
  }
  const relWeightError = den > 0 ? Math.sqrt(num / den) : 0;
  if (!h) return { relWeightError, relOutputError: NaN, deadFeatures: dead };
  const [te, tw] = quadTraces(h, w, deq, K, N, options);
  return { relWeightError, relOutputError: Math.sqrt(te / Math.max(tw, 1e-300)), deadFeatures: dead };
}

/**
 * `tr(Wᵀ H W)`, the output energy `‖XW‖²/rows` of a weight on the calibration data: the denominator of
 * {@linkcode quantErrorStats}'s output error, for a caller that computes it before the hessian is consumed.
 *
 * @param h `H`, `K x K`
 * @param w `W`, `K x N`
 * @param K input features
 * @param N outputs
 * @param options scratch buffers (see {@linkcode quantErrorStats})
 * @returns the trace
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { outputEnergy } from "./gptq_stats.ts";
 * assertEquals(outputEnergy(new Float64Array([2, 0, 0, 1]), new Float32Array([1, 3]), 2, 1), 11);
 * ```
 */
export function outputEnergy(
  h: Float64Array,
  w: Float32Array | Float64Array,
  K: number,
  N: number,
  options: QuantErrorStatsOptions = {},
): number {
  return quadTraces(h, w, null, K, N, options)[1];
}

/** GPTQ's own account of its output error, for {@linkcode quantErrorStatsFromLoss}. */
export interface GptqLoss {
  /** `tr(Wᵀ H W)` of the original weight ({@linkcode outputEnergy}). */
  energy: number;
  /** `Σ_i ‖(w_i − ŵ_i) / U[i,i]‖²` over the loop's rows (the scaled errors `runGptq` ({@link ./gptq.ts}) propagates). */
  scaledErrorSq: number;
  /** The plan's dampening (`GptqPlan` in {@link ./gptq.ts}). */
  lambda: number;
  /** The dead features (`H[k,k] = 0`), whose rows the loop quantized from zero. */
  deadRows: ArrayLike<number>;
}

/**
 * `sum` plus one row's term of {@link GptqLoss.scaledErrorSq}, `‖(w − ŵ) / d‖²` over `cur[start, start + n)`
 * against `out` at the same indices (`d = U[i,i]`, the row's factor diagonal: the scaled error `runGptq`
 * propagates), added element by element to the running sum so the loop's loss is the same float64 sum
 * whoever calls it.
 *
 * @param sum the loss so far
 * @param cur the working row (as the loop rounds it)
 * @param out its quantized values
 * @param start first index of the row
 * @param n row length
 * @param d the factor's diagonal at the row
 * @returns the loss with the row added
 */
export function addScaledRowErrorSq(
  sum: number,
  cur: ArrayLike<number>,
  out: ArrayLike<number>,
  start: number,
  n: number,
  d: number,
): number {
  for (let i = start; i < start + n; i++) {
    const e = (cur[i]! - out[i]!) / d;
    sum += e * e;
  }
  return sum;
}

/**
 * {@linkcode quantErrorStats} with the output error taken from GPTQ's loss instead of a second `K² N` pass
 * over H (which may be gone: `GptqPrepareOptions.consume`). Quantizing row i moves the optimum of
 * `tr(Eᵀ H_d E)` (H_d: the damped H the factor was made of, dead diagonal entries 1) by exactly
 * `‖w_i − ŵ_i‖² / U[i,i]²` (GPTQ, arXiv 2210.17323, Eq. 3 with `[H_F⁻¹]_ii = U[i,i]²`), so their sum over
 * the loop is `tr(E'ᵀ H_d E')` for `E' = W' − Ŵ` (W' with dead rows zeroed); subtracting `λ‖E'‖²` and the
 * dead rows' `‖E'_k‖²` leaves `tr(Eᵀ H E)` (H's dead rows and columns are zero). Equal to the direct traces
 * up to rounding (within 1e-9 relative, quant/shiftadd_gptq_test.ts).
 *
 * @param w the original weight, `K x N`
 * @param deq `Ŵ`
 * @param K input features
 * @param N outputs
 * @param loss energy, scaled error sum, lambda and dead rows
 * @returns the stats
 */
export function quantErrorStatsFromLoss(
  w: Float32Array | Float64Array,
  deq: Float32Array,
  K: number,
  N: number,
  loss: GptqLoss,
): QuantErrorStats {
  let num = 0, den = 0, live = 0;
  const dead = new Uint8Array(K);
  for (let j = 0; j < loss.deadRows.length; j++) dead[loss.deadRows[j]!] = 1;
  let deadSq = 0;
  for (let k = 0; k < K; k++) {
    let rowLive = 0, rowDead = 0;
    for (let n = k * N; n < (k + 1) * N; n++) {
      const e = w[n]! - deq[n]!;
      num += e * e;
      den += w[n]! ** 2;
      rowLive += e * e;
      rowDead += deq[n]! * deq[n]!; // E' = 0 − Ŵ on a dead row
    }
    if (dead[k]) deadSq += rowDead;
    else live += rowLive;
  }
  const relWeightError = den > 0 ? Math.sqrt(num / den) : 0;
  const te = Math.max(0, loss.scaledErrorSq - loss.lambda * (live + deadSq) - deadSq);
  return {
    relWeightError,
    relOutputError: Math.sqrt(te / Math.max(loss.energy, 1e-300)),
    deadFeatures: loss.deadRows.length,
  };
}

/**
 * `[tr(Eᵀ H E), tr(Wᵀ H W)]` for `K x N` matrices `W` and `E = W − Ŵ`, as `Σ_{k,j} H[k,j] (M Mᵀ)[k,j]`, with
 * `M Mᵀ` from the Gram accumulator (its WASM SIMD kernel) over the N columns of M. Above 1024 features the K
 * features are split in 4 blocks and `M Mᵀ` is built one pair of blocks at a time (each diagonal block
 * counted once), in buffers allocated once: a quarter of the memory (a 6144-wide layer: 190 MB instead of
 * 600 MB) for 1.5x the work. `E`'s entries are formed as they are gathered (`float64(W) − Ŵ`, what a
 * float64 copy of E would hold), so neither E nor a float64 W is ever held whole (150 MB on that layer).
 * Without `deq` only `tr(Wᵀ H W)` is computed (the first entry is 0).
 */
function quadTraces(
  h: Float64Array,
  w: Float32Array | Float64Array,
  deq: Float32Array | null,
  K: number,
  N: number,
  scratch: QuantErrorStatsOptions,
): [number, number] {
  const nb = K > 1024 ? 4 : 1, B = Math.ceil(K / nb);
  const k2 = nb === 1 ? K : 2 * B; // features per pair; a short last block is zero-padded
  // Mᵀ on the pair's features (column n of M is row n); H on the counted entries of the pair, 0 elsewhere;
  // the pair's Gram. In the caller's dead buffers where they fit (k2 <= K, and 2 k2² <= K² when split).
  const rows = scratch.rows && scratch.rows.length >= N * k2 ? scratch.rows : undefined;
  const cols = rows ? rows.subarray(0, N * k2) : new Float64Array(N * k2);
  const sq = scratch.square && scratch.square.length >= 2 * k2 * k2 ? scratch.square : undefined;
  const mask = sq ? sq.subarray(0, k2 * k2) : new Float64Array(k2 * k2);
  const g = new GramAccumulator(k2, sq ? { sum: sq.subarray(k2 * k2, 2 * k2 * k2) } : {});
  const idx = new Int32Array(k2);
  const traces: [number, number] = [0, 0];
  const pair = (I: number, J: number, counted: (a: number, b: number) => boolean) => {
    // idx[a]: the feature at slot a (-1 for padding); slots 0..B-1 from block I, B..2B-1 from block J.
    for (let a = 0; a < k2; a++) {
      const f = nb === 1 ? a : a < B ? I * B + a : J * B + a - B;
      idx[a] = f < K ? f : -1;
    }
    mask.fill(0);
    for (let a = 0; a < k2; a++) {
      if (idx[a]! < 0) continue;
      for (let b = 0; b < k2; b++) {
        if (idx[b]! >= 0 && counted(a, b)) mask[a * k2 + b] = h[idx[a]! * K + idx[b]!]!;
      }
    }
    for (let t = deq ? 0 : 1; t < 2; t++) {
      for (let a = 0; a < k2; a++) {
        const f = idx[a]!;
        if (f < 0) { for (let n = 0; n < N; n++) cols[n * k2 + a] = 0; }
        else if (t === 0) { for (let n = 0; n < N; n++) cols[n * k2 + a] = w[f * N + n]! - deq![f * N + n]!; }
        else for (let n = 0; n < N; n++) cols[n * k2 + a] = w[f * N + n]!;
      }
      g.reset();
      g.add(cols, N);
      traces[t]! += g.dotMean(mask) * N; // Σ H ∘ (M Mᵀ) over the counted entries, from the upper triangle
    }
  };
  if (nb === 1) pair(0, 0, () => true);
  else {
    for (let I = 0; I < nb; I++) {
      for (let J = I + 1; J < nb; J++) {
        // Off-diagonal blocks always; block I's own square in its first pair (0, 1), block J's in (0, J).
        pair(I, J, (a, b) => {
          const inI = a < B, inJ = b < B;
          if (inI !== inJ) return true;
          return inI ? I === 0 && J === 1 : I === 0;
        });
      }
    }
  }
  return traces;
}
