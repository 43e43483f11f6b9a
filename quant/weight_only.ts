/**
 * Weight-only quantization with group scales, the baseline every LLM deployment uses (onnxruntime's
 * `MatMulNBitsQuantizer`, transformers.js `q4`): each group of `groupSize` consecutive input features of one
 * output column has its own scale (and, asymmetric, zero point); codes are unsigned `bits`-bit integers and
 * `Ŵ = (code − zero_point) · scale`, exactly `com.microsoft.MatMulNBits`' and blocked `DequantizeLinear`'s
 * semantics (float32 scale, float32 product).
 *
 * Two methods: round-to-nearest (RTN: every group quantized on its own weights) and GPTQ (Frantar et al.,
 * arXiv 2210.17323: the same grid, but rows are quantized one at a time and each row's error is pushed onto
 * the rows not yet quantized with the Cholesky factor of `H⁻¹`; damping, act-order and lazy batch updates
 * from {@link ./gptq.ts}, the loop ShiftAddLLM shares).
 *
 * Grids, as onnxruntime's quantizer writes them (matmul_nbits_quantizer.py, `quant_slice_*`):
 * - asymmetric: `lo = min(min w, 0)`, `hi = max(max w, 0)`, `scale = (hi − lo) / (2^b − 1)`,
 *   `zp = round(−lo / scale)`, `code = clamp(round(w / scale) + zp, 0, 2^b − 1)`;
 * - symmetric: zero point `2^(b−1)` (MatMulNBits' default, so none is stored); the weight of largest
 *   magnitude `m` (with its sign) maps to the lowest level: `scale = m / −2^(b−1)` (scale may be negative),
 *   `code = clamp(round(w / scale), −2^(b−1), 2^(b−1) − 1) + 2^(b−1)`.
 * Rounding is half to even (numpy's and ONNX's). An all-zero group gets scale 0 and the zero-point code.
 *
 * Choices, where GPTQ's released code differs: with act-order, groups stay contiguous in the original feature
 * order (what MatMulNBits stores; the deprecated `g_idx` is not written) and a group's grid is fitted when its
 * first feature in act-order comes up, on the current error-updated weights of the whole group (rows of later
 * blocks still miss that block's lazy update, as in GPTQ). No MSE grid search.
 * @module
 */

import { arenaBytes, collectGarbage } from "./f64_kernels.ts";
import { prepareGptq, type QuantErrorStats, quantErrorStats, runGptq, type WeightMatrix } from "./gptq.ts";
import { addScaledRowErrorSq, outputEnergy, quantErrorStatsFromLoss } from "./gptq_stats.ts";
import { roundHalfEven } from "./round.ts";

/** Options for {@linkcode quantizeBlockwise}. */
export interface BlockwiseOptions {
  /**
   * Code width, 2..8.
   * @default {4}
   */
  bits?: number;
  /**
   * Input features per scale group; `0` or anything `>= K` means one group over K (per-channel).
   * @default {32}
   */
  groupSize?: number;
  /**
   * Symmetric grid (no stored zero point).
   * @default {false}
   */
  symmetric?: boolean;
  /**
   * Quantize features by decreasing `diag(H)` (GPTQ act-order; needs a hessian).
   * @default {false}
   */
  actOrder?: boolean;
  /**
   * Dampening added to `diag(H)`, as a fraction of its mean.
   * @default {0.01}
   */
  damp?: number;
  /**
   * Features per GPTQ block (lazy batch update).
   * @default {128}
   */
  blockSize?: number;
  /** Called after each block with the number of features done and the total K. */
  onProgress?: (done: number, total: number) => void;
  /**
   * GPTQ: the hessian is not read after this call (no other layer shares it). Its output energy is taken
   * first, GPTQ's factor is then made in its memory where `prepareGptq`'s `consume` allows (a `K x K`
   * float64 copy saved: 302 MB on a 6144-wide layer), and the output error comes from the loop's own loss
   * (`quantErrorStatsFromLoss`, within rounding of the direct trace). Codes, scales and `Ŵ` are unchanged.
   * @default {false}
   */
  consumeHessian?: boolean;
}

/** A group-quantized `K x N` matrix. */
export interface BlockQuantized {
  /** K, input features. */
  rows: number;
  /** N, outputs. */
  cols: number;
  /** Code width. */
  bits: number;
  /** Effective group size (`K` when one group). */
  groupSize: number;
  /** G = ceil(K / groupSize). */
  groups: number;
  /** No zero points stored (all are `2^(bits−1)`). */
  symmetric: boolean;
  /** `codes[k*N + n]`, unsigned, `0 .. 2^bits − 1`. */
  codes: Uint8Array;
  /** `scales[n*G + g]`, float32. */
  scales: Float32Array;
  /** `zeroPoints[n*G + g]` (all `2^(bits−1)` when symmetric). */
  zeroPoints: Uint8Array;
  /** `Ŵ`, `K x N`: `(code − zp) · scale` in float32. */
  dequantized: Float32Array;
  /** Error figures. */
  stats: QuantErrorStats;
}

/**
 * Quantize a MatMul weight (`K x N`, ONNX layout) with group scales: RTN without a hessian, GPTQ with one.
 *
 * @param weight W, `K x N`
 * @param hessian `H = XᵀX / n_samples` (`K x K`, float64) for GPTQ; `null` for round-to-nearest
 * @param options bits, groupSize, symmetric, actOrder, damp, blockSize, onProgress
 * @returns codes, scales, zero points, `Ŵ` and error stats
 * @throws {TypeError} on inconsistent shapes
 * @throws {RangeError} on out-of-range options
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quantizeBlockwise } from "./weight_only.ts";
 * // One column, one group of 4 at 2 bits, asymmetric: lo = -1, hi = 2, scale = 1, zp = 1.
 * const r = quantizeBlockwise({ data: new Float32Array([-1, 0, 1.4, 2]), rows: 4, cols: 1 }, null, { bits: 2, groupSize: 4 });
 * assertEquals([Array.from(r.codes), Array.from(r.dequantized)], [[0, 1, 2, 3], [-1, 0, 1, 2]]);
 * ```
 */
export function quantizeBlockwise(
  weight: WeightMatrix,
  hessian: Float64Array | null,
  options: BlockwiseOptions = {},
): BlockQuantized {
  const { rows: K, cols: N } = weight;
  const bits = options.bits ?? 4;
  const symmetric = options.symmetric ?? false;
  if (!Number.isInteger(K) || !Number.isInteger(N) || K < 1 || N < 1 || weight.data.length !== K * N) {
    throw new TypeError(
      `Cannot quantize a ${K}x${N} weight: expected ${K * N} entries, got ${weight.data.length}`,
    );
  }
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) {
    throw new RangeError(`Cannot quantize: bits must be 2..8, got ${bits}`);
  }
  const gs0 = options.groupSize ?? 32;
  if (!Number.isInteger(gs0) || gs0 < 0) throw new RangeError(`Cannot quantize: bad groupSize ${gs0}`);
  const gs = gs0 === 0 || gs0 > K ? K : gs0;
  const G = Math.ceil(K / gs);
  const maxq = 2 ** bits - 1, half = 2 ** (bits - 1);

  // Consuming the hessian: its output energy now, the factor then in its memory, the output error from the
  // loop's loss (as quant/shiftadd_gptq.ts does).
  const consume = options.consumeHessian === true && hessian !== null;
  const deadRows: number[] = [];
  let energy = NaN;
  if (consume) {
    for (let k = 0; k < K; k++) if (hessian[k * K + k] === 0) deadRows.push(k);
    energy = outputEnergy(hessian, weight.data, K, N);
    if (K * K * 8 >= 2 ** 26) collectGarbage(); // the energy's pair buffers, before the factor
  }
  const w = Float64Array.from(weight.data);
  // The plan (GPTQ's K x K factor) lives only through runGptq below, not through the error statistics.
  let plan: ReturnType<typeof prepareGptq> | null = prepareGptq(w, K, N, hessian, {
    damp: options.damp ?? 0.01,
    actOrder: options.actOrder ?? false,
    ...(consume ? { consume } : {}),
  });
  const dead = plan.dead, lambda = plan.lambda;
  let u: Float64Array | null = plan.u;
  const codes = new Uint8Array(K * N);
  const scales = new Float32Array(N * G);
  const zeroPoints = new Uint8Array(N * G).fill(half);
  const fitted = new Uint8Array(G);

  const fitGroup = (g: number) => {
    const k0 = g * gs, k1 = Math.min(K, k0 + gs);
    for (let n = 0; n < N; n++) {
      let lo = Infinity, hi = -Infinity;
      for (let k = k0; k < k1; k++) {
        const v = w[k * N + n]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (symmetric) {
        const m = Math.abs(hi) > Math.abs(lo) ? hi : lo;
        scales[n * G + g] = Math.fround(m / -half);
      } else {
        lo = Math.min(lo, 0);
        hi = Math.max(hi, 0);
        const s = Math.fround((hi - lo) / maxq);
        scales[n * G + g] = s;
        zeroPoints[n * G + g] = s === 0 ? half : Math.min(maxq, Math.max(0, roundHalfEven(-lo / s)));
      }
    }
    fitted[g] = 1;
  };

  let pos = 0, scaledErrorSq = 0; // the loop's position (rows come in plan order) and its loss
  const deq = runGptq(w, K, N, plan, (k, cur, out) => {
    const g = Math.floor(k / gs);
    if (!fitted[g]) fitGroup(g);
    const rk = k * N;
    for (let n = 0; n < N; n++) {
      const s = scales[n * G + g]!, zp = zeroPoints[n * G + g]!;
      const c = s === 0 ? zp : Math.min(maxq, Math.max(0, roundHalfEven(cur[rk + n]! / s) + zp));
      codes[rk + n] = c;
      out[rk + n] = Math.fround((c - zp) * s);
    }
    if (consume && u) scaledErrorSq = addScaledRowErrorSq(scaledErrorSq, cur, out, rk, N, u[pos * K + pos]!);
    pos++;
  }, {
    blockSize: options.blockSize ?? 128,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const freed = arenaBytes(plan.u);
  u = null;
  plan = null;
  if (freed >= 2 ** 26) collectGarbage(); // the factor's arena, before the error statistics allocate

  return {
    rows: K,
    cols: N,
    bits,
    groupSize: gs,
    groups: G,
    symmetric,
    codes,
    scales,
    zeroPoints,
    dequantized: deq,
    stats: consume
      ? quantErrorStatsFromLoss(weight.data, deq, K, N, { energy, scaledErrorSq, lambda, deadRows })
      : quantErrorStats(weight.data, deq, hessian, K, N, dead),
  };
}
