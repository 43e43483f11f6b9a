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
  pow2AlphaOutput,
  type Pow2AlphaOutputOptions,
} from "../../quant/pow2.ts";
import { learnRounding } from "../../quant/learned_rounding.ts";
import { pow2Brackets } from "../../quant/pow2.ts";
import { clamp, roundHalfEven } from "../../quant/round.ts";
import type { Target } from "./dense_shift_calib.ts";

/** Calibration statistics of one layer, per group: Gram matrices E[x x^T] and mean inputs E[x]. */
export interface LayerStats {
  /** Gram of the inputs the layer sees when it is quantized (float model, or upstream already quantized). */
  gram: Float64Array[];
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

/** Output noise `sum_c e_c^T M e_c` of replacing rows `w` by `wq`, M = covariance with bias correction. */
function noiseOf(w: Float32Array, wq: Float32Array, M: Float64Array, fanIn: number): number {
  const e = new Float64Array(fanIn);
  let noise = 0;
  for (let j = 0; j < w.length / fanIn; j++) {
    for (let k = 0; k < fanIn; k++) e[k] = w[j * fanIn + k]! - wq[j * fanIn + k]!;
    noise += quadForm(M, e, fanIn);
  }
  return noise;
}

/**
 * Shift-quantize one layer: codes (channel-major), alphas, new bias and the estimated output SQNR
 * (signal on the float inputs, noise `e^T (H - [bias corrected] mu mu^T) e` on the inputs it sees).
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
    let a: Float32Array, caps: Uint8Array | undefined;
    if (o.alpha === "output") {
      if (!H || !M) {
        throw new RangeError(`Cannot choose output-error alphas for "${t.node.name}": no calibration rows`);
      }
      ({ alpha: a, maxExponent: caps } = pow2AlphaOutput(w, o.centered ? M : H, {
        ...o.search,
        bits: o.bits,
      }));
    } else {
      a = o.alpha === "mse"
        ? pow2AlphaMse(w, fanIn, { ...o.search, bits: o.bits })
        : pow2AlphaMax(w, fanIn, { bits: o.bits });
    }
    let c = encodePow2(w, a, caps ? { bits: o.bits, maxExponent: caps } : { bits: o.bits });
    if (o.rounding === "learned") {
      if (!H || !M) {
        throw new RangeError(`Cannot learn the rounding of "${t.node.name}": no calibration rows`);
      }
      ({ codes: c, alpha: a } = learnedCodes(w, o.centered ? M : H, a, caps, o.bits, fanIn));
    }
    let wq = decodePow2(c, a, { bits: o.bits });
    if (o.energy && M) {
      // The output-error optimum is an MMSE fit: it shrinks each channel's output by its correlation with
      // the float output, and the shrinkage compounds through deep models. Rescale alpha so the quantized
      // channel keeps the float output energy on the calibration data (codes unchanged).
      for (let j = 0; j < perGroup; j++) {
        const num = quadForm(M, w.subarray(j * fanIn, (j + 1) * fanIn), fanIn);
        const den = quadForm(M, wq.subarray(j * fanIn, (j + 1) * fanIn), fanIn);
        if (num > 0 && den > 0) a[j] = Math.fround(a[j]! * Math.sqrt(num / den));
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
    if (H && M) {
      const S = stats?.floatGram?.[gi] ?? H;
      for (let j = 0; j < perGroup; j++) signal += quadForm(S, w.subarray(j * fanIn, (j + 1) * fanIn), fanIn);
      noise += noiseOf(w, wq, M, fanIn);
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
  const e = new Float64Array(fanIn);
  for (let round = 0; round < 2; round++) {
    const b = pow2Brackets(w, a, enc);
    const r = learnRounding(w, { H: M, lo: b.lo, hi: b.hi });
    const next = new Float32Array(nOut);
    for (let j = 0; j < nOut; j++) {
      const off = j * fanIn;
      for (let k = 0; k < fanIn; k++) e[k] = w[off + k]! - r.rounded[off + k]!;
      const loss = quadForm(M, e, fanIn);
      if (loss < best[j]!) {
        best[j] = loss;
        alpha[j] = a[j]!;
        for (let k = 0; k < fanIn; k++) {
          codes[off + k] = r.choice[off + k] ? b.hiCode[off + k]! : b.loCode[off + k]!;
        }
      }
      // Closed-form alpha for the chosen codes: minimise (w - alpha u)^T M (w - alpha u).
      const u = new Float64Array(fanIn);
      for (let k = 0; k < fanIn; k++) u[k] = a[j]! === 0 ? 0 : r.rounded[off + k]! / a[j]!;
      let num = 0;
      for (let i = 0; i < fanIn; i++) {
        let s = 0;
        for (let k = 0; k < fanIn; k++) s += M[i * fanIn + k]! * w[off + k]!;
        num += u[i]! * s;
      }
      const den = quadForm(M, u, fanIn);
      next[j] = den > 0 && num > 0 ? Math.fround(num / den) : a[j]!;
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
    noise += noiseOf(w, wq, stats.gram[gi]!, fanIn);
  }
  return noise;
}
