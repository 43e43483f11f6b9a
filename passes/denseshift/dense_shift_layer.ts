/**
 * Per-layer numerics of the DenseShift pass (passes/denseshift/dense_shift.ts): shift-quantize one layer from its
 * calibration statistics (alpha search, exponent caps, bias correction, estimated output SQNR) and estimate
 * the output noise of the int8 fallback, both on the layer's Gram matrix.
 * @module
 */
import {
  biasCorrection,
  decodePow2,
  encodePow2,
  pow2AlphaMax,
  pow2AlphaMse,
  type Pow2AlphaOutputOptions,
} from "../../quant/pow2.ts";
import { learnRounding } from "../../quant/learned_rounding.ts";
import { type LowRankDiag, lowRankPlusDiagonal, type RowsCovariance } from "../../quant/lowrank.ts";
import type { Sketch } from "../../quant/sketch.ts";
import { pow2AlphaLowRank } from "../../quant/pow2_lowrank.ts";
import { rowsTimes, symmetricProduct } from "../../quant/sym_product.ts";
import { pow2Brackets } from "../../quant/pow2.ts";
import { clamp, roundHalfEven } from "../../quant/round.ts";
import type { Target } from "./dense_shift_calib.ts";

/**
 * Calibration statistics of one layer, per group: Gram matrices E[x x^T] (or only their diagonals) and mean
 * inputs E[x].
 */
export interface LayerStats {
  /**
   * Gram of the inputs the layer sees when it is quantized (float model, or upstream already quantized);
   * empty when only the diagonal was collected.
   */
  gram: Float64Array[];
  /** Without `gram`: its diagonal E[x_k^2] over every calibration row. */
  diag?: Float64Array[];
  /**
   * Without `gram`: a subsample of the rows (kept as rows, or as their Gram matrix: quant/sketch.ts), whose
   * dominant subspace (with `diag`) forms the diagonal-plus-low-rank approximation that nearest rounding's
   * alpha search, energy rescale and SQNR use.
   */
  sketch?: Sketch[];
  /**
   * Without `gram`: every calibration row itself (nearest rounding, where fewer rows than features make
   * them cheaper than their Gram: passes/denseshift/dense_shift_collect.ts `rowsKept`), with `diag` their
   * E[x_k^2]. The same statistics as the Gram, `X^T X / m`, exactly: the search's approximation and the
   * per-channel forms are taken on the rows.
   */
  rows?: RowsCovariance[];
  /** Mean of those inputs. */
  mean: Float64Array[];
  /** Gram of the float model's inputs, for the signal term of the SQNR (default: `gram`). */
  floatGram?: Float64Array[];
}

/** How a layer is shift-quantized. */
export interface LayerQuantOptions {
  bits: number;
  alpha: "max" | "mse" | "output";
  biasCorrection: boolean;
  search?: Omit<Pow2AlphaOutputOptions, "bits">;
  /**
   * With bias correction, search alpha on the input covariance `H - mu mu^T` instead of H: the mean part of
   * the output error is removed by the bias, so only the centred part is left to minimise.
   */
  centered: boolean;
  /**
   * Rank of the diagonal-plus-low-rank approximation of the Gram / covariance the alpha search runs on
   * (quant/pow2_lowrank.ts).
   * @default 32 for a Conv, 8 otherwise
   */
  rank?: number | undefined;
  /** Rescale alpha per channel to keep the float output energy (see quantizeLayer). */
  energy?: boolean;
  /**
   * `"learned"`: choose each weight's level between its two neighbouring powers of two by the layer's output
   * error on the calibration Gram (quant/learned_rounding.ts), alternating with the closed-form alpha for
   * the chosen codes; `"nearest"`: each weight to its nearest level.
   */
  rounding?: "nearest" | "learned";
}

/** A shift-quantized layer. */
export interface QuantizedLayer {
  /** `[nOut, fanIn]` codes, channel-major. */
  codes: Uint8Array;
  /** `nOut` alphas. */
  alpha: Float32Array;
  /** New bias (null when the layer had none and no correction was made). */
  bias: Float32Array | null;
  /** Estimated output SQNR (dB), when calibrated. */
  sqnrDb?: number;
  /** Signal `sum_c w_c^T H w_c` and noise of the estimate (0 when not calibrated). */
  signal: number;
  noise: number;
}

/** `v^T H v` for a row-major k x k H. */
export function quadForm(H: Float64Array, v: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) {
    let r = 0;
    for (let j = 0; j < k; j++) r += H[i * k + j]! * v[j]!;
    s += v[i]! * r;
  }
  return s;
}

/** `H - mu mu^T`. */
function covariance(H: Float64Array, mu: Float64Array): Float64Array {
  const k = mu.length, c = new Float64Array(H.length);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) c[i * k + j] = H[i * k + j]! - mu[i]! * mu[j]!;
  }
  return c;
}

/** Approximations already computed, by the statistics they came from (shared across layers). */
const approximations = new WeakMap<object, Map<string, LowRankDiag>>();

/**
 * Rank of the alpha search's approximation for a layer kind when the option is unset: 32 for a Conv (im2col
 * patches spread their correlation over many directions), 8 otherwise (see DenseShiftOptions.searchRank).
 */
export function defaultSearchRank(kind: Target["kind"]): number {
  return kind === "conv" ? 32 : 8;
}

/** A sketch as the matrix its approximation is built from, centred by `mu` when given. */
function sketchMatrix(s: Sketch, mu: Float64Array | undefined): Float64Array | RowsCovariance {
  if ("gram" in s) return mu ? covariance(s.gram, mu) : s.gram;
  return mu ? { ...s.rows, mean: mu } : s.rows;
}

/**
 * A group's output-error metric: the full K x K matrix, the same matrix as its rows (`X^T X / m`, minus
 * `mean mean^T` when given), or a diagonal-plus-low-rank approximation.
 */
type Metric = { full: Float64Array } | { rows: RowsCovariance } | { approx: LowRankDiag };

/** Per row n: `a_n . b_n` for n rows of length k. */
function rowDots(a: ArrayLike<number>, b: ArrayLike<number>, k: number): Float64Array {
  const out = new Float64Array(Math.floor(a.length / k));
  for (let n = 0; n < out.length; n++) {
    let s = 0;
    for (let i = n * k; i < (n + 1) * k; i++) s += a[i]! * b[i]!;
    out[n] = s;
  }
  return out;
}

/**
 * Per row j of `w` and `wq` (`[n, k]`): `w_j^T M w_j`, `w_j^T M wq_j` and `wq_j^T M wq_j`. The full matrix goes
 * through two batched products (quant/sym_product.ts); the approximation projects both rows on Q and P once
 * (O(k r) per row).
 */
function channelForms(
  m: Metric,
  w: Float32Array,
  wq: Float32Array,
  k: number,
): { wMw: Float64Array; cross: Float64Array; qMq: Float64Array } {
  if ("full" in m) {
    const mw = symmetricProduct(m.full, w), mq = symmetricProduct(m.full, wq);
    return { wMw: rowDots(w, mw, k), cross: rowDots(wq, mw, k), qMq: rowDots(wq, mq, k) };
  }
  if ("rows" in m) return rowsForms(m.rows, w, wq);
  const { rank: r, diag, q: Q, p: P } = m.approx;
  const n = w.length / k;
  const wMw = new Float64Array(n), cross = new Float64Array(n), qMq = new Float64Array(n);
  // Q^T and P^T of every row of w and w_hat: two products with [Q P] (K x 2r) on the WebAssembly kernel
  // (each entry the in-order sum over the K features, as a loop over them would add it up).
  const qp = new Float64Array(k * 2 * r);
  for (let x = 0; x < k; x++) {
    for (let i = 0; i < r; i++) qp[x * 2 * r + i] = Q[x * r + i]!, qp[x * 2 * r + r + i] = P[x * r + i]!;
  }
  const zw = r > 0 ? rowsTimes(w, qp, 2 * r) : qp, zq = r > 0 ? rowsTimes(wq, qp, 2 * r) : qp;
  for (let j = 0; j < n; j++) {
    let dww = 0, dwq = 0, dqq = 0;
    for (let x = 0; x < k; x++) {
      const a = w[j * k + x]!, b = wq[j * k + x]!, d = diag[x]!;
      dww += d * a * a, dwq += d * a * b, dqq += d * b * b;
    }
    const o = j * 2 * r;
    for (let i = 0; i < r; i++) {
      dww += zw[o + i]! * zw[o + r + i]!,
        dwq += zw[o + i]! * zq[o + r + i]!,
        dqq += zq[o + i]! * zq[o + r + i]!;
    }
    wMw[j] = dww, cross[j] = dwq, qMq[j] = dqq;
  }
  return { wMw, cross, qMq };
}

/**
 * {@link channelForms} on a matrix given by its rows, `M = X^T X / m - mu mu^T`: `v^T M u = (X v) . (X u) / m
 * - (mu . v)(mu . u)`, with `X W^T` and `X W_hat^T` as two products on the WebAssembly kernel (2 n m K
 * multiply-adds instead of 2 n K^2).
 */
function rowsForms(
  c: RowsCovariance,
  w: Float32Array,
  wq: Float32Array,
): { wMw: Float64Array; cross: Float64Array; qMq: Float64Array } {
  const { k, rows: X, count: m, mean } = c;
  const n = w.length / k;
  const xt = new Float64Array(k * m); // X^T, K x m
  for (let i = 0; i < m; i++) for (let x = 0; x < k; x++) xt[x * m + i] = X[i * k + x]!;
  const yw = rowsTimes(w, xt, m), yq = rowsTimes(wq, xt, m); // n x m: row j = X w_j
  const wMw = new Float64Array(n), cross = new Float64Array(n), qMq = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let ww = 0, wqd = 0, qq = 0;
    for (let i = j * m; i < (j + 1) * m; i++) {
      const a = yw[i]!, b = yq[i]!;
      ww += a * a, wqd += a * b, qq += b * b;
    }
    let mw = 0, mq = 0;
    if (mean) {
      for (let x = 0; x < k; x++) mw += mean[x]! * w[j * k + x]!, mq += mean[x]! * wq[j * k + x]!;
    }
    wMw[j] = ww / m - mw * mw, cross[j] = wqd / m - mw * mq, qMq[j] = qq / m - mq * mq;
  }
  return { wMw, cross, qMq };
}

/**
 * Shift-quantize one layer: codes (channel-major), alphas, new bias and the estimated output SQNR
 * (signal on the float inputs, noise `e^T (H - [bias corrected] mu mu^T) e` on the inputs it sees). The
 * alpha search runs on a diagonal-plus-low-rank approximation of that matrix (quant/pow2_lowrank.ts); with
 * only a sketch in `stats` (nearest rounding), the energy rescale and the SQNR estimate use it too.
 */
export function quantizeLayer(
  t: Target,
  stats: LayerStats | undefined,
  o: LayerQuantOptions,
): QuantizedLayer {
  const { nOut, fanIn, groups } = t;
  const perGroup = nOut / groups;
  const codes = new Uint8Array(nOut * fanIn);
  const alpha = new Float32Array(nOut);
  const bias = t.bias ? Float32Array.from(t.bias) : new Float32Array(nOut);
  let biasChanged = false, signal = 0, noise = 0;
  for (let gi = 0; gi < groups; gi++) {
    const w = t.rows.subarray(gi * perGroup * fanIn, (gi + 1) * perGroup * fanIn);
    const H = stats?.gram[gi], mu = stats?.mean[gi];
    const bc = o.biasCorrection && mu !== undefined;
    const M = H && mu && bc ? covariance(H, mu) : H;
    // Without the full Gram: the sketch Gram's dominant subspace plus the exact diagonal (centred like M).
    const S = H ? undefined : stats?.sketch?.[gi], D = stats?.diag?.[gi];
    // Nearest rounding takes the exact eigendecomposition where the rank covers K (depthwise groups: the
    // same matrix up to round-off, docs/denseshift.md); learned rounding keeps the iterations' starting alpha.
    const rank = { rank: o.rank ?? defaultSearchRank(t.kind), exactWhenFull: o.rounding !== "learned" };
    const approxOf = (
      matrix: () => Float64Array | RowsCovariance,
      d: Float64Array | undefined,
      key: object | undefined,
      tag: string,
    ) => {
      // Layers on the same rows (q, k, v) share their statistics objects, so they share the approximation.
      const memo = key ? approximations.get(key) ?? new Map<string, LowRankDiag>() : undefined;
      if (key && memo) approximations.set(key, memo);
      const id = `${tag}|${rank.rank}`;
      const hit = memo?.get(id);
      if (hit) return hit;
      const m = lowRankPlusDiagonal(matrix(), d ? { ...rank, diag: d } : rank);
      memo?.set(id, m);
      return m;
    };
    const centredDiag = D && mu && bc ? D.map((v, k) => Math.max(0, v - mu[k]! ** 2)) : D;
    // Every row instead of the Gram (nearest rounding, fewer rows than features): M exactly, as rows.
    const R = H ? undefined : stats?.rows?.[gi];
    const Mr: RowsCovariance | undefined = R && (bc ? { ...R, mean: mu } : R);
    const Ma = S ? approxOf(() => sketchMatrix(S, bc ? mu : undefined), centredDiag, S, `c${bc}`) : undefined;
    const metric: Metric | undefined = M ? { full: M } : Mr ? { rows: Mr } : Ma ? { approx: Ma } : undefined;
    let a: Float32Array, caps: Uint8Array | undefined;
    if (o.alpha === "output") {
      // The search runs on the diagonal-plus-low-rank form (O(r) per level change; quant/pow2_lowrank.ts).
      const uncentred = !o.centered && bc;
      const A = H
        ? () => (uncentred ? H : M!)
        : R
        ? () => (uncentred ? R : Mr!)
        : S && uncentred
        ? () => sketchMatrix(S, undefined)
        : undefined;
      const approxDiag = H ? undefined : R && !uncentred ? centredDiag : D;
      const approx = A ? approxOf(A, approxDiag, H ?? R ?? S, `s${uncentred}`) : Ma;
      if (!approx) {
        throw new RangeError(`Cannot choose output-error alphas for "${t.node.name}": no calibration rows`);
      }
      ({ alpha: a, maxExponent: caps } = pow2AlphaLowRank(w, approx, { ...o.search, bits: o.bits }));
    } else {
      a = o.alpha === "mse"
        ? pow2AlphaMse(w, fanIn, { ...o.search, bits: o.bits })
        : pow2AlphaMax(w, fanIn, { bits: o.bits });
    }
    let c = encodePow2(w, a, caps ? { bits: o.bits, maxExponent: caps } : { bits: o.bits });
    if (o.rounding === "learned") {
      if (!H || !M) {
        throw new RangeError(`Cannot learn the rounding of "${t.node.name}": no calibration Gram matrix`);
      }
      ({ codes: c, alpha: a } = learnedCodes(w, o.centered ? M : H, a, caps, o.bits, fanIn));
    }
    let wq = decodePow2(c, a, { bits: o.bits });
    // Per channel w^T M w, w^T M w_hat and w_hat^T M w_hat, batched (see channelForms); the energy rescale
    // multiplies w_hat by a'/a, so the forms after it follow without another pass.
    const f = metric ? channelForms(metric, w, wq, fanIn) : undefined;
    if (o.energy && f) {
      // The output-error optimum is an MMSE fit: it shrinks each channel's output by its correlation with
      // the float output, and the shrinkage compounds through deep models. Rescale alpha so the quantized
      // channel keeps the float output energy on the calibration data (codes unchanged).
      for (let j = 0; j < perGroup; j++) {
        const nj = f.wMw[j]!, dj = f.qMq[j]!, aj = a[j]!;
        if (!(nj > 0 && dj > 0 && aj > 0)) continue;
        a[j] = Math.fround(aj * Math.sqrt(nj / dj));
        const ratio = a[j]! / aj;
        f.cross[j] = f.cross[j]! * ratio;
        f.qMq[j] = f.qMq[j]! * ratio * ratio;
      }
      wq = decodePow2(c, a, { bits: o.bits });
    }
    codes.set(c, gi * perGroup * fanIn);
    alpha.set(a, gi * perGroup);
    if (bc) {
      const d = biasCorrection({ weights: w, quantized: wq }, mu);
      for (let j = 0; j < perGroup; j++) bias[gi * perGroup + j]! += d[j]!;
      biasChanged = true;
    }
    if (f) {
      const fg = stats?.floatGram?.[gi];
      for (let j = 0; j < perGroup; j++) {
        const row = w.subarray(j * fanIn, (j + 1) * fanIn);
        // w^T H w = w^T (H - mu mu^T) w + (mu . w)^2 when M is the covariance.
        let m = 0;
        if (bc) { for (let k = 0; k < fanIn; k++) m += mu[k]! * row[k]!; }
        signal += fg ? quadForm(fg, row, fanIn) : f.wMw[j]! + m * m;
        // e^T M e = w^T M w - 2 w^T M w_hat + w_hat^T M w_hat.
        noise += Math.max(0, f.wMw[j]! - 2 * f.cross[j]! + f.qMq[j]!);
      }
    }
  }
  const sqnrDb = stats ? 10 * Math.log10(signal / Math.max(noise, 1e-300)) : undefined;
  return {
    codes,
    alpha,
    bias: t.bias || biasChanged ? bias : null,
    signal,
    noise,
    ...(sqnrDb !== undefined ? { sqnrDb } : {}),
  };
}

/**
 * Learned rounding of one group's rows on its Gram M: for the given alphas choose each code between the two
 * bracketing levels (quant/learned_rounding.ts), then refit each channel's alpha in closed form for those
 * codes (`alpha = u^T M w / u^T M u`, u the unit levels ±2^p), and repeat once with the new alphas; per
 * channel the best of the rounds by output error `e^T M e` is kept (never worse than nearest rounding at the
 * starting alpha, which the first round starts from).
 */
function learnedCodes(
  w: Float32Array,
  M: Float64Array,
  alpha0: Float32Array,
  caps: Uint8Array | undefined,
  bits: number,
  fanIn: number,
): { codes: Uint8Array; alpha: Float32Array } {
  const nOut = alpha0.length;
  const enc = caps ? { bits, maxExponent: caps } : { bits };
  const codes = encodePow2(w, alpha0, enc);
  const alpha = Float32Array.from(alpha0);
  const best = new Float64Array(nOut).fill(Infinity);
  let a = Float32Array.from(alpha0);
  // Per channel w^T M w, u^T M w and u^T M u from batched products (quant/sym_product.ts): the loss of the
  // rounded row a u is w^T M w - 2 a u^T M w + a^2 u^T M u.
  const mw = symmetricProduct(M, w), wMw = rowDots(w, mw, fanIn);
  const u = new Float64Array(w.length);
  for (let round = 0; round < 2; round++) {
    const b = pow2Brackets(w, a, enc);
    const r = learnRounding(w, { H: M, lo: b.lo, hi: b.hi });
    const next = new Float32Array(nOut);
    for (let j = 0; j < nOut; j++) {
      const aj = a[j]!;
      for (let k = j * fanIn; k < (j + 1) * fanIn; k++) u[k] = aj === 0 ? 0 : r.rounded[k]! / aj;
    }
    const mu = symmetricProduct(M, u), uMw = rowDots(u, mw, fanIn), uMu = rowDots(u, mu, fanIn);
    for (let j = 0; j < nOut; j++) {
      const off = j * fanIn, aj = a[j]!;
      const loss = wMw[j]! - 2 * aj * uMw[j]! + aj * aj * uMu[j]!;
      if (loss < best[j]!) {
        best[j] = loss;
        alpha[j] = aj;
        for (let k = 0; k < fanIn; k++) {
          codes[off + k] = r.choice[off + k] ? b.hiCode[off + k]! : b.loCode[off + k]!;
        }
      }
      // Closed-form alpha for the chosen codes: minimise (w - alpha u)^T M (w - alpha u).
      const num = uMw[j]!, den = uMu[j]!;
      next[j] = den > 0 && num > 0 ? Math.fround(num / den) : aj;
    }
    a = next;
  }
  return { codes, alpha };
}

/**
 * Estimated output noise of the int8 fallback (symmetric per-channel, narrow range, no bias correction),
 * `sum_c e_c^T H e_c` on the layer's float Gram matrices; the ratio to the shift noise ranks the fallback.
 */
export function int8Noise(t: Target, stats: LayerStats): number {
  const { nOut, fanIn, groups } = t;
  const perGroup = nOut / groups;
  let noise = 0;
  for (let gi = 0; gi < groups; gi++) {
    const w = t.rows.subarray(gi * perGroup * fanIn, (gi + 1) * perGroup * fanIn);
    const wq = new Float32Array(w.length);
    for (let j = 0; j < perGroup; j++) {
      let m = 0;
      for (let k = 0; k < fanIn; k++) m = Math.max(m, Math.abs(w[j * fanIn + k]!));
      const s = Math.fround(m / 127);
      for (let k = 0; k < fanIn; k++) {
        wq[j * fanIn + k] = s === 0 ? 0 : clamp(roundHalfEven(w[j * fanIn + k]! / s), -127, 127) * s;
      }
    }
    const f = channelForms({ full: stats.gram[gi]! }, w, wq, fanIn);
    for (let j = 0; j < perGroup; j++) noise += Math.max(0, f.wMw[j]! - 2 * f.cross[j]! + f.qMq[j]!);
  }
  return noise;
}
