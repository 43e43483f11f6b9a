/**
 * The OS+ scale search with a second-order estimate of the consumers' output error (see
 * {@link searchMigrationScaleMoments}): the grid, scales and quantizers of ./os_plus_search.ts, at O(N C + C O)
 * per grid point instead of O(N C O).
 * @module
 */
import { computeQParams } from "../../quant/qparams.ts";
import { roundHalfEven } from "../../quant/round.ts";
import {
  concatWeights,
  gridSearch,
  migrationScales,
  type ScaleSearchInput,
  type ScaleSearchOptions,
  type ScaleSearchResult,
} from "./os_plus_search.ts";

/** Inputs of {@link searchMigrationScaleMoments}. */
export interface MomentSearchInput extends ScaleSearchInput {
  /** Per-channel second moment E[(X - z)^2] of the shifted activation over the whole calibration set. */
  m2: Float64Array;
}

/**
 * The OS+ grid search (same grid, scales and quantizers as {@link searchMigrationScale}) with the output
 * error estimated from second-order statistics instead of a matrix product per grid point. With the
 * activation error e = Q(X~/s) - X~/s and the weight error E = Q(diag(s) W) - diag(s) W, the output error
 * is e Q(diag(s)W) + (X~/s) E; treating rounding errors of different channels as uncorrelated and
 * Q(diag(s)W) ~ diag(s)W in the first term,
 *
 *   loss(t) = sum_k (sum_j mu_j s_j W_jk)^2 + sum_j var_j s_j^2 sum_k W_jk^2 + sum_j E[X~_j^2] / s_j^2 sum_k E_jk^2,
 *
 * divided by the number of outputs, where mu_j and var_j are the mean and variance of channel j's
 * activation error over the sample tokens and E[X~_j^2] comes from every calibration token. The column sums
 * of the first and last terms run over at most `maxColumns` evenly strided columns. A grid point
 * costs O(N C + C O) instead of O(N C O), which is what keeps OS+ conversion within a few float passes.
 *
 * @param input sample tokens, per-channel ranges and second moments, consumer weights
 * @param options bit widths, grid lower bound and steps
 * @returns the chosen threshold and scales, with the (estimated) losses
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { searchMigrationScaleMoments } from "./os_plus_search_moments.ts";
 * const x = new Float32Array(64).map((_, i) => (i % 2 ? 100 : 1) * Math.sin(i));
 * const m2 = Float64Array.of(0.5, 5000);
 * const r = searchMigrationScaleMoments({
 *   x, channels: 2, cmin: new Float32Array([-1, -100]), cmax: new Float32Array([1, 100]), m2,
 *   weights: [{ data: new Float32Array([1, 0.5, 0.01, 0.02]), cols: 2 }],
 * }, { activationBits: 4, weightBits: 8 });
 * assert(r.scale[1]! > 1 && r.loss <= r.lossShiftOnly);
 * ```
 */
export function searchMigrationScaleMoments(
  input: MomentSearchInput,
  options: ScaleSearchOptions = {},
): ScaleSearchResult {
  const { x, channels: C, cmin, cmax, weights, m2 } = input;
  if (cmin.length !== C || cmax.length !== C || m2.length !== C) {
    throw new RangeError(
      `OS+ search: ${cmin.length}/${cmax.length}/${m2.length} channel statistics for ${C} channels`,
    );
  }
  if (x.length % C !== 0 || x.length === 0) {
    throw new RangeError(`OS+ search: ${x.length} activation values are not [N > 0, ${C}]`);
  }
  if (weights.length === 0) throw new RangeError("OS+ search: no consumer weights");
  for (const w of weights) {
    if (w.data.length !== C * w.cols) {
      throw new RangeError(
        `OS+ search: a consumer weight has ${w.data.length} values, expected ${C} x ${w.cols}`,
      );
    }
  }
  const N = x.length / C;
  const w = concatWeights(weights, C);
  const O = w.cols;
  const wBits = options.weightBits ?? 8, aBits = options.activationBits ?? 8;
  const sym = options.activationSymmetric ?? false;
  const lb = options.lowerBound ?? 1;
  let t0 = 0;
  for (let j = 0; j < C; j++) t0 = Math.max(t0, cmax[j]!, -cmin[j]!);
  const steps = Math.max(1, options.steps ?? Math.max(100, Math.floor(t0 / 0.5)));

  const qmaxW = 2 ** (wBits - 1) - 1;
  const rowEnergy = new Float64Array(C);
  for (let j = 0; j < C; j++) {
    let e = 0;
    for (let k = 0; k < O; k++) e += w.data[j * O + k]! * w.data[j * O + k]!;
    rowEnergy[j] = e / O;
  }
  // The weight and bias terms on evenly strided columns (each column's error is independent of the others).
  const stride = Math.max(1, Math.ceil(O / (options.maxColumns ?? 128)));
  const cols = Math.ceil(O / stride);
  const d = new Float32Array(C * cols);
  for (let j = 0; j < C; j++) for (let k = 0; k < cols; k++) d[j * cols + k] = w.data[j * O + k * stride]!;
  const mu = new Float64Array(C), sq = new Float64Array(C), inv = new Float32Array(C);
  const bias = new Float64Array(cols), colMax = new Float32Array(cols), colInv = new Float64Array(cols);
  const colScale = new Float64Array(cols);
  const lossAt = (s: Float32Array): number => {
    let lo = 0, hi = 0;
    for (let j = 0; j < C; j++) {
      lo = Math.min(lo, cmin[j]! / s[j]!);
      hi = Math.max(hi, cmax[j]! / s[j]!);
      inv[j] = 1 / s[j]!;
    }
    // Activation error per channel on the sample tokens: mean mu_j and second moment.
    const p = computeQParams(lo, hi, { bits: aBits, signed: sym, symmetric: sym });
    const as = p.scale, zp = p.zeroPoint, qlo = p.qmin, qhi = p.qmax;
    // channel by channel (each channel's sums still run over the tokens in order: the same float64 sums)
    for (let j = 0; j < C; j++) {
      const ij = inv[j]!;
      let m = 0, m2e = 0;
      for (let at = j, end = N * C; at < end; at += C) {
        const v = x[at]! * ij, r = v / as;
        let q = roundHalfEven(r) + zp; // ties to even, as QuantizeLinear
        q = q < qlo ? qlo : q > qhi ? qhi : q;
        const e = (q - zp) * as - v;
        m += e, m2e += e * e;
      }
      mu[j] = m, sq[j] = m2e;
    }
    // Weight scales per output column of diag(s) W (symmetric, narrow range).
    colMax.fill(0);
    for (let j = 0; j < C; j++) {
      const sj = s[j]!, base = j * cols;
      for (let k = 0; k < cols; k++) {
        const v = Math.abs(d[base + k]!) * sj;
        if (v > colMax[k]!) colMax[k] = v;
      }
    }
    for (let k = 0; k < cols; k++) {
      colScale[k] = colMax[k]! > 0 ? Math.fround(colMax[k]! / qmaxW) : 1;
      colInv[k] = 1 / colScale[k]!;
    }
    bias.fill(0);
    let loss = 0;
    for (let j = 0; j < C; j++) {
      const m = mu[j]! / N, v = Math.max(0, sq[j]! / N - m * m), sj = s[j]!, base = j * cols;
      const ms = m * sj;
      let rowE = 0;
      for (let k = 0; k < cols; k++) {
        const wv = d[base + k]! * sj, r = wv * colInv[k]!;
        let q = roundHalfEven(r);
        q = q > qmaxW ? qmaxW : q < -qmaxW ? -qmaxW : q;
        const e = q * colScale[k]! - wv;
        rowE += e * e;
        bias[k] = bias[k]! + ms * d[base + k]!;
      }
      // e Wq ~ e diag(s) W: the activation term uses the float weights (their quantization changes it little).
      loss += v * sj * sj * rowEnergy[j]! + m2[j]! / (sj * sj) * rowE / cols;
    }
    for (let k = 0; k < cols; k++) loss += bias[k]! * bias[k]! / cols;
    return loss;
  };

  return gridSearch(t0, Math.min(lb, t0), steps, options.coarse ?? 0, (t) => {
    const s = migrationScales(cmin, cmax, t);
    return { scale: s, loss: lossAt(s) };
  });
}
