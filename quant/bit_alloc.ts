/**
 * ShiftAddLLM's automated bit allocation (arXiv 2406.05981 §3.3): a per-layer sensitivity from the weights
 * and the calibration Hessian, and an exact choice of 2/3/4 bits per layer that minimises the total
 * sensitivity-weighted error under an average-bit budget (weighted by parameter count). The paper states
 * this as a small integer program; here it is solved exactly by dynamic programming over a Pareto frontier.
 * @module
 */

import { choleskyInverseUpper } from "./linalg.ts";
import type { WeightMatrix } from "./gptq.ts";

/** Options for {@linkcode layerSensitivity}. */
export interface SensitivityOptions {
  /**
   * Dampening added to `diag(H)`, as a fraction of its mean (same as the quantizer's).
   * @default {0.01}
   */
  damp?: number;
}

/**
 * Sensitivity of one MatMul layer to weight quantization. With `U` the upper Cholesky factor of the damped
 * `H⁻¹` (the factor GPTQ divides errors by) and `S[k,n] = W[k,n] / U[k,k]` (ONNX layout, `k` = input feature):
 *
 * `s = ‖S‖_F · std(S)²`
 *
 * (population std over all K·N entries). `‖S‖_F²` is GPTQ's loss `Σ (w−q)²/U[k,k]²` for an error equal to the
 * weight itself, i.e. how much the outputs weigh this layer's weights; `std(S)²` grows with the spread a
 * few-level BCQ grid must cover. This is the statistic the released ShiftAddLLM code's `analyse()` records
 * (`norm` and `std` of `W / diag(U)`), combined as the paper's criterion. Dead features (`H[k,k] = 0`) count
 * as zero weights, as in the quantizer.
 *
 * @param weight W, `K x N`
 * @param hessian `H = XᵀX / n_samples`, `K x K`
 * @param options damp
 * @returns the sensitivity (>= 0)
 * @throws {TypeError} when the shapes disagree
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { layerSensitivity } from "./bit_alloc.ts";
 * // H = I (damp 0): U = I, S = W = [1, -1] -> ‖S‖ = √2, std² = 1.
 * const s = layerSensitivity({ data: new Float32Array([1, -1]), rows: 1, cols: 2 }, new Float64Array([1]), { damp: 0 });
 * assertAlmostEquals(s, Math.SQRT2, 1e-12);
 * ```
 */
export function layerSensitivity(
  weight: WeightMatrix,
  hessian: Float64Array,
  options: SensitivityOptions = {},
): number {
  const { rows: K, cols: N, data } = weight;
  if (data.length !== K * N || hessian.length !== K * K) {
    throw new TypeError(
      `Cannot compute sensitivity of a ${K}x${N} layer: weight has ${data.length} entries, hessian ${hessian.length}`,
    );
  }
  const damp = options.damp ?? 0.01;
  const h = Float64Array.from(hessian);
  const dead = new Uint8Array(K);
  let mean = 0;
  for (let k = 0; k < K; k++) {
    if (h[k * K + k] === 0) {
      h[k * K + k] = 1;
      dead[k] = 1;
    }
    mean += h[k * K + k]! / K;
  }
  for (let k = 0; k < K; k++) h[k * K + k]! += damp * mean;
  const u = choleskyInverseUpper(h);
  let sum = 0, sumSq = 0;
  for (let k = 0; k < K; k++) {
    if (dead[k]) continue;
    const inv = 1 / u[k * K + k]!;
    for (let n = 0; n < N; n++) {
      const s = data[k * N + n]! * inv;
      sum += s;
      sumSq += s * s;
    }
  }
  const count = K * N;
  const variance = Math.max(0, sumSq / count - (sum / count) ** 2);
  return Math.sqrt(sumSq) * variance;
}

/** One layer as the allocator sees it. */
export interface LayerBitCost {
  /** Parameter count (weights), the budget weight; a positive integer. */
  params: number;
  /** Sensitivity, e.g. from {@linkcode layerSensitivity}. */
  sensitivity: number;
  /**
   * Relative error of this layer at each candidate bit width (same order as `bits`), e.g. measured
   * `relOutputError²`. Without it the model `4^-b` (quantization noise power per bit) is used.
   */
  errors?: ArrayLike<number>;
  /**
   * Bits the layer stores at each candidate width (same order as `bits`; integers): codes plus every scale or
   * alpha. The budget then bounds stored bits per weight, `Σ storedBits / Σ params`. Without it a layer at
   * width b stores `params · b` bits (codes only).
   */
  storedBits?: ArrayLike<number>;
}

/** Options for {@linkcode allocateBits}. */
export interface AllocateBitsOptions {
  /**
   * Candidate bit widths, ascending.
   * @default {[2, 3, 4]}
   */
  bits?: number[];
  /**
   * Largest Pareto frontier the solver may hold before giving up (memory guard).
   * @default {2_000_000}
   */
  maxStates?: number;
}

/** Result of {@linkcode allocateBits}. */
export interface BitAllocation {
  /** Chosen bit width per layer. */
  bits: number[];
  /** `Σ params·bits / Σ params` (code bits). */
  averageBits: number;
  /** `Σ storedBits / Σ params` (all stored bits), never above the budget. */
  storedBitsPerWeight: number;
  /** `Σ sensitivity · error(bits)`, the minimised objective. */
  cost: number;
}

/**
 * Choose a bit width per layer minimising `Σ_l sensitivity_l · error_l(b_l)` subject to
 * `Σ_l stored_l(b_l) <= budget · Σ_l params_l`, exactly, where `stored_l(b)` is the layer's `storedBits`
 * (default `params_l · b`). Dynamic programming over layers keeps the Pareto
 * frontier of (extra bits·params used, cost): every reachable budget use with its least cost, dominated
 * points dropped. Exact for any sizes; the frontier stays small when layer sizes repeat (transformers), and
 * is bounded by `maxStates`.
 *
 * @param layers the layers, with parameter counts and sensitivities
 * @param budget average bits per parameter, `>= min(bits)`
 * @param options candidate bits, maxStates
 * @returns bits per layer, the achieved average and the cost
 * @throws {RangeError} when the budget is below the smallest storage, or the frontier outgrows maxStates
 * @throws {TypeError} on bad layer entries
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { allocateBits } from "./bit_alloc.ts";
 * const r = allocateBits([{ params: 100, sensitivity: 10 }, { params: 100, sensitivity: 1 }], 3);
 * assertEquals(r.bits, [4, 2]);
 * assertEquals(r.averageBits, 3);
 * ```
 */
export function allocateBits(
  layers: LayerBitCost[],
  budget: number,
  options: AllocateBitsOptions = {},
): BitAllocation {
  const bits = options.bits ?? [2, 3, 4];
  const maxStates = options.maxStates ?? 2_000_000;
  if (bits.length === 0 || bits.some((b, i) => !Number.isInteger(b) || (i > 0 && b <= bits[i - 1]!))) {
    throw new TypeError(`Cannot allocate bits: candidates must be ascending integers, got [${bits}]`);
  }
  const bmin = bits[0]!;
  let total = 0;
  const costs = layers.map((l, i) => {
    if (!Number.isInteger(l.params) || l.params < 1 || !(l.sensitivity >= 0)) {
      throw new TypeError(
        `Cannot allocate bits: layer ${i} has params ${l.params}, sensitivity ${l.sensitivity}`,
      );
    }
    if (l.errors && l.errors.length !== bits.length) {
      throw new TypeError(
        `Cannot allocate bits: layer ${i} has ${l.errors.length} errors for ${bits.length} widths`,
      );
    }
    if (l.storedBits && l.storedBits.length !== bits.length) {
      throw new TypeError(
        `Cannot allocate bits: layer ${i} has ${l.storedBits.length} storage sizes for ${bits.length} widths`,
      );
    }
    total += l.params;
    return bits.map((b, c) => l.sensitivity * (l.errors ? l.errors[c]! : 4 ** -b));
  });
  const sizes = layers.map((l) => bits.map((b, c) => l.storedBits ? l.storedBits[c]! : l.params * b));
  const base = sizes.reduce((a, s) => a + s[0]!, 0);
  if (!(budget * total >= base - 1e-9 * Math.max(1, total))) {
    throw new RangeError(
      `Cannot allocate bits: budget ${budget} is below the ${(base / total).toFixed(4)} bits per weight ` +
        `the narrowest width (${bmin}) stores`,
    );
  }
  // Integer capacity for the storage above the narrowest width (sizes are integers, so usage is too).
  const capacity = Math.floor(budget * total - base + 1e-9 * Math.max(1, total));

  // Frontier after each layer: used (ascending), cost (strictly decreasing), back pointers.
  let used = [0];
  let cost = [0];
  const back: Array<{ prev: Int32Array; choice: Uint8Array }> = [];
  for (let l = 0; l < layers.length; l++) {
    const cand: Array<[number, number, number, number]> = []; // used, cost, prev index, choice
    for (let c = 0; c < bits.length; c++) {
      const extra = sizes[l]![c]! - sizes[l]![0]!;
      const lc = costs[l]![c]!;
      for (let s = 0; s < used.length; s++) {
        const u = used[s]! + extra;
        if (u <= capacity) cand.push([u, cost[s]! + lc, s, c]);
      }
    }
    cand.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const nu: number[] = [], nc: number[] = [], prev: number[] = [], choice: number[] = [];
    for (const [u, c, s, ch] of cand) {
      if (nc.length > 0 && c >= nc[nc.length - 1]!) continue; // dominated: uses more, costs no less
      nu.push(u);
      nc.push(c);
      prev.push(s);
      choice.push(ch);
    }
    if (nu.length > maxStates) {
      throw new RangeError(
        `Cannot allocate bits exactly: frontier reached ${nu.length} states (> ${maxStates})`,
      );
    }
    used = nu;
    cost = nc;
    back.push({ prev: Int32Array.from(prev), choice: Uint8Array.from(choice) });
  }
  // Costs decrease along the frontier, so the last point is the optimum.
  let s = used.length - 1;
  const out = new Array<number>(layers.length);
  let weighted = 0, stored = 0;
  for (let l = layers.length - 1; l >= 0; l--) {
    const b = back[l]!;
    out[l] = bits[b.choice[s]!]!;
    weighted += layers[l]!.params * out[l]!;
    stored += sizes[l]![b.choice[s]!]!;
    s = b.prev[s]!;
  }
  return {
    bits: out,
    averageBits: total > 0 ? weighted / total : bmin,
    storedBitsPerWeight: total > 0 ? stored / total : bmin,
    cost: cost[used.length - 1]!,
  };
}
