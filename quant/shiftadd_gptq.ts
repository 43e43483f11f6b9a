/**
 * ShiftAddLLM's multi-objective weight quantization (arXiv 2406.05981 §3.2, Eq. 4–6): binary-coded
 * quantization with power-of-two alphas ({@link ./bcq.ts}) inside a GPTQ-style loop (arXiv 2210.17323,
 * Alg. 1) so that the output error `‖XW − XŴ‖` on calibration data is minimised, not only the weight error.
 *
 * Layout is ONNX MatMul's: `W` is `K x N` row-major (`K` input features = the reduction axis, `N` outputs),
 * `Y = X W`. GPTQ's "columns" are therefore the K feature rows of W: row k (all N outputs) is quantized at
 * once, and its scaled error is pushed onto the rows not yet quantized.
 *
 * Where alphas are fitted: alphas are per (output column, group of `groupSize` consecutive input features)
 * in accuracy mode, per (block of 8 output columns, group) in latency mode. A group's alpha sets are fitted
 * by `fitBcq` ({@link ./bcq_fit.ts}) when the loop first reaches a feature of that group, on the current error-updated
 * weights of the whole group — GPTQ's `find_params` at a group's first column. Without act-order and with
 * `groupSize` a multiple of `blockSize` (or the whole K) that is the group's first row at the start of a
 * block, with all earlier errors applied; with act-order, the group is fitted when its most salient feature
 * comes up (rows beyond the current block still miss that block's lazily applied errors, as in GPTQ).
 * Groups always stay contiguous in the original feature order, which is what the op stores.
 * @module
 */

import { collectGarbage } from "./f64_kernels.ts";
import { fillBcqLevels, nearestMid, POT_EXP_NONE } from "./bcq.ts";
import { BcqFitter } from "./bcq_fit.ts";
import {
  type HessianCache,
  outputEnergy,
  prepareGptq,
  type QuantErrorStats,
  quantErrorStats,
  quantErrorStatsFromLoss,
  runGptq,
  type WeightMatrix,
} from "./gptq.ts";
import { addScaledRowErrorSq } from "./gptq_stats.ts";

export type { HessianCache, WeightMatrix };

/** Options for {@linkcode quantizeShiftAdd}. */
export interface ShiftAddGptqOptions {
  /**
   * Binary planes per weight (q), 1..8; ShiftAddLLM uses 2, 3 or 4.
   * @default {3}
   */
  bits?: number;
  /**
   * Input features per alpha group; `0` or anything `>= K` means one group over the whole K.
   * @default {128}
   */
  groupSize?: number;
  /**
   * `"accuracy"`: every output column has its own alpha set per group; `"latency"`: 8 consecutive output
   * columns share one alpha set per group.
   * @default {"accuracy"}
   */
  mode?: "accuracy" | "latency";
  /**
   * `"output"`: GPTQ-style error feedback with the Hessian (needs `hessian`); `"weight"`: plain BCQ fit of
   * every group, no error feedback.
   * @default {"output" when a hessian is given, else "weight"}
   */
  objective?: "output" | "weight";
  /**
   * Quantize features in order of decreasing `diag(H)` (GPTQ act-order); results are stored in the original
   * order.
   * @default {false}
   */
  actOrder?: boolean;
  /**
   * Features per GPTQ block (lazy batch update).
   * @default {128}
   */
  blockSize?: number;
  /**
   * Dampening added to `diag(H)`, as a fraction of its mean.
   * @default {0.01}
   */
  damp?: number;
  /**
   * Alternating BCQ rounds per group fit.
   * @default {20}
   */
  rounds?: number;
  /**
   * Reuse the damped inverse-Hessian factor across layers that share one `hessian` array (see
   * `GptqPrepareOptions.cache` in {@link ./gptq.ts}).
   * @default {undefined}
   */
  cache?: HessianCache;
  /**
   * Signed power-of-two terms per alpha.
   * @default {3}
   */
  terms?: number;
  /** Called after each block with the number of features done and the total K. */
  onProgress?: (done: number, total: number) => void;
  /**
   * The hessian is not needed after this call (no other layer reads it, no cache): GPTQ's factor is made in
   * its memory where that runs as fast (`GptqPrepareOptions.consume`), its array is overwritten, and the
   * output error comes from the loop's loss (`quantErrorStatsFromLoss` in {@link ./gptq_stats.ts}, equal
   * to the direct trace up to rounding) with the output energy taken before. Codes, alphas and `Ŵ` are the
   * same bits either way. Ignored with a cache or the weight objective.
   * @default {false}
   */
  consumeHessian?: boolean;
}

/** Quality figures of one quantized matrix. */
export type ShiftAddStats = QuantErrorStats;

/** A ShiftAddLLM-quantized `K x N` matrix. */
export interface ShiftAddQuantized {
  /** K, input features. */
  rows: number;
  /** N, outputs. */
  cols: number;
  /** q. */
  bits: number;
  /** Effective group size (`K` when one group). */
  groupSize: number;
  /** G = ceil(K / groupSize). */
  groups: number;
  /** T, power-of-two term slots per alpha. */
  terms: number;
  /** Alpha granularity. */
  mode: "accuracy" | "latency";
  /** `codes[k*N + n]`: q-bit code of W[k,n]; bit i = 1 ⇔ B_i = +1 (bit i is plane i). */
  codes: Uint8Array;
  /** `alphas[(i*N + n)*G + g]`: PoT-rounded alpha of plane i, output n, group g; descending in i. */
  alphas: Float64Array;
  /** `alphaExp[((i*N + n)*G + g)*T + t]`: exponent of term t, or `POT_EXP_NONE` (-128) for no term. */
  alphaExp: Int8Array;
  /** Same layout as `alphaExp`: +1 or -1 per term, 0 where there is no term. */
  alphaSign: Int8Array;
  /** `Ŵ`, `K x N` row-major: `Σ_i alphas(i,n,g(k)) · (±1)`. */
  dequantized: Float32Array;
  /** Error figures. */
  stats: ShiftAddStats;
}

/**
 * Quantize a MatMul weight to ShiftAddLLM's BCQ + power-of-two format, with the output objective
 * (GPTQ-style loop over input features using `H = XᵀX / n_samples`) or the weight objective.
 *
 * Steps of the output objective: features with `H[k,k] = 0` get `H[k,k] = 1` and zero weights; `damp ·
 * mean(diag H)` is added to the diagonal; with act-order, features are permuted by `diag H` descending; `U`
 * = upper Cholesky factor of `H⁻¹` (quant/linalg.ts `choleskyInverseUpper`, via {@link ./gptq.ts}). Then per block of `blockSize`
 * features, per feature k: fit its group's alphas if not fitted yet (see the module doc), quantize each
 * `W[k,n]` to the nearest BCQ level, `e = (w − q) / U[k,k]`, subtract `U[k,j] · e` from the later features of
 * the block, and after the block subtract the block's errors from all later features at once.
 *
 * @param weight W, `K x N` (ONNX MatMul layout)
 * @param hessian `H = XᵀX / n_samples`, `K x K` float64 row-major; `null` for the weight objective
 * @param options bits, groupSize, mode, objective, actOrder, blockSize, damp, rounds, terms, onProgress
 * @returns codes, alphas (values and power-of-two terms), Ŵ and error stats
 * @throws {TypeError} on inconsistent shapes or the output objective without a hessian
 * @throws {RangeError} on out-of-range options
 * @example
 * ```ts
 * import { assertEquals, assertLess } from "@std/assert";
 * import { quantizeShiftAdd } from "./shiftadd_gptq.ts";
 * const w = Float32Array.from({ length: 16 * 8 }, (_, i) => Math.sin(i * 1.3));
 * const h = new Float64Array(16 * 16);
 * for (let k = 0; k < 16; k++) h[k * 16 + k] = 1 + k;
 * const r = quantizeShiftAdd({ data: w, rows: 16, cols: 8 }, h, { bits: 3, groupSize: 8 });
 * assertEquals([r.groups, r.codes.length, r.alphaExp.length], [2, 128, 3 * 8 * 2 * 3]);
 * assertLess(r.stats.relOutputError, 0.15);
 * ```
 */
export function quantizeShiftAdd(
  weight: WeightMatrix,
  hessian: Float64Array | null,
  options: ShiftAddGptqOptions = {},
): ShiftAddQuantized {
  const { rows: K, cols: N } = weight;
  const q = options.bits ?? 3;
  const mode = options.mode ?? "accuracy";
  const objective = options.objective ?? (hessian ? "output" : "weight");
  const blockSize = options.blockSize ?? 128;
  const damp = options.damp ?? 0.01;
  const T = options.terms ?? 3;
  const rounds = options.rounds ?? 20;
  if (!Number.isInteger(K) || !Number.isInteger(N) || K < 1 || N < 1 || weight.data.length !== K * N) {
    throw new TypeError(
      `Cannot quantize a ${K}x${N} weight: expected ${K * N} entries, got ${weight.data.length}`,
    );
  }
  if (hessian && hessian.length !== K * K) {
    throw new TypeError(
      `Cannot quantize a ${K}x${N} weight: hessian has ${hessian.length} entries, not ${K * K}`,
    );
  }
  if (objective === "output" && !hessian) {
    throw new TypeError("Cannot use the output objective without a hessian");
  }
  if (!Number.isInteger(q) || q < 1 || q > 8) {
    throw new RangeError(`Cannot quantize: bits must be 1..8, got ${q}`);
  }
  if (!Number.isInteger(T) || T < 1 || T > 8) {
    throw new RangeError(`Cannot quantize: terms must be 1..8, got ${T}`);
  }
  if (!(blockSize >= 1) || !(damp >= 0)) {
    throw new RangeError(`Cannot quantize: blockSize must be >= 1 and damp >= 0, got ${blockSize}, ${damp}`);
  }
  const gs0 = options.groupSize ?? 128;
  if (!Number.isInteger(gs0) || gs0 < 0) throw new RangeError(`Cannot quantize: bad groupSize ${gs0}`);
  const gs = gs0 === 0 || gs0 > K ? K : gs0;
  const G = Math.ceil(K / gs);

  // Consuming the hessian: its output energy now (the error's trace comes from the loop's own loss), then
  // the factor in its memory.
  const consume = options.consumeHessian === true && objective === "output" && !options.cache;
  const deadRows: number[] = [];
  let energy = NaN;
  if (consume) {
    for (let k = 0; k < K; k++) if (hessian![k * K + k] === 0) deadRows.push(k);
    energy = outputEnergy(hessian!, weight.data, K, N);
    // its pair buffers (190 MB on a 6144 x 1536 layer) are garbage now: returned before the loop allocates
    if (K * K * 8 >= 2 ** 26) collectGarbage();
  }
  // The float64 working weight only now: not next to the energy's pair buffers (75 MB on that layer).
  const w = Float64Array.from(weight.data);
  // The plan (GPTQ's K x K factor) lives through runGptq below, not through the error statistics.
  let plan: ReturnType<typeof prepareGptq> | null = prepareGptq(
    w,
    K,
    N,
    objective === "output" ? hessian : null,
    {
      damp,
      actOrder: options.actOrder ?? false,
      ...(options.cache ? { cache: options.cache } : {}),
      ...(consume ? { consume } : {}),
    },
  );
  const u = plan.u;

  const codes = new Uint8Array(K * N);
  const alphas = new Float64Array(q * N * G);
  const alphaExp = new Int8Array(q * N * G * T).fill(POT_EXP_NONE);
  const alphaSign = new Int8Array(q * N * G * T);
  // The level set of every (group, output), in flat tables (set l = g * N + n): 2^q values and codes, 2^q - 1
  // midpoints each; a 6144 x 1536 layer at group 64 has 147k sets (one object and three arrays each cost
  // about 5x the memory).
  const L = 1 << q;
  const lvValues = new Float64Array(G * N * L), lvCodes = new Uint8Array(G * N * L);
  const lvMids = new Float64Array(G * N * (L - 1));
  const fitted = new Uint8Array(G);
  const span = mode === "latency" ? 8 : 1;
  const fitter = new BcqFitter({ bits: q, rounds, terms: T });
  let tr = new Float64Array(0);

  const fitGroup = (g: number) => {
    const k0 = g * gs, k1 = Math.min(K, k0 + gs), rowsG = k1 - k0;
    // Transpose the group once (row reads stay contiguous); column n's weights are then tr[n*rowsG ..].
    if (tr.length < rowsG * N) tr = new Float64Array(rowsG * N);
    for (let k = k0; k < k1; k++) for (let n = 0; n < N; n++) tr[n * rowsG + k - k0] = w[k * N + n]!;
    for (let n0 = 0; n0 < N; n0 += span) {
      const n1 = Math.min(N, n0 + span);
      fitter.fit(tr, n0 * rowsG, (n1 - n0) * rowsG);
      const fa = fitter.alphas;
      fillBcqLevels(fa, 0, q, lvValues, lvCodes, lvMids, g * N + n0);
      for (let n = n0; n < n1; n++) {
        if (n > n0) {
          lvValues.copyWithin((g * N + n) * L, (g * N + n0) * L, (g * N + n0 + 1) * L);
          lvCodes.copyWithin((g * N + n) * L, (g * N + n0) * L, (g * N + n0 + 1) * L);
          lvMids.copyWithin((g * N + n) * (L - 1), (g * N + n0) * (L - 1), (g * N + n0 + 1) * (L - 1));
        }
        for (let i = 0; i < q; i++) {
          const a = (i * N + n) * G + g;
          alphas[a] = fa[i]!;
          if (n > n0) {
            alphaExp.copyWithin(a * T, ((i * N + n0) * G + g) * T, ((i * N + n0) * G + g + 1) * T);
            alphaSign.copyWithin(a * T, ((i * N + n0) * G + g) * T, ((i * N + n0) * G + g + 1) * T);
            continue;
          }
          const t = fitter.potTerms(i);
          for (let j = 0; j < t.exps.length; j++) {
            alphaExp[a * T + j] = t.exps[j]!;
            alphaSign[a * T + j] = t.signs[j]!;
          }
        }
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
      const l = g * N + n;
      const idx = nearestMid(lvMids, l * (L - 1), L - 1, cur[rk + n]!);
      codes[rk + n] = lvCodes[l * L + idx]!;
      out[rk + n] = lvValues[l * L + idx]!;
    }
    if (consume && u) scaledErrorSq = addScaledRowErrorSq(scaledErrorSq, cur, out, rk, N, u[pos * K + pos]!);
    pos++;
  }, { blockSize, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
  const dead = plan.dead, lambda = plan.lambda;
  // The working weight and, unless a cache shares it, the K x K factor are dead now: the error statistics
  // take their scratch there (on a 6144 x 1536 layer, 190 MB not allocated next to the live factor).
  const scratch = { rows: w, ...(plan.u && !options.cache ? { square: plan.u } : {}) };
  plan = null;

  return {
    rows: K,
    cols: N,
    bits: q,
    groupSize: gs,
    groups: G,
    terms: T,
    mode,
    codes,
    alphas,
    alphaExp,
    alphaSign,
    dequantized: deq,
    stats: consume
      ? quantErrorStatsFromLoss(weight.data, deq, K, N, { energy, scaledErrorSq, lambda, deadRows })
      : quantErrorStats(weight.data, deq, hessian, K, N, dead, scratch),
  };
}
