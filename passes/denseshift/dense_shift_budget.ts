/**
 * Budget-driven int8 fallback of the DenseShift pass (passes/denseshift/dense_shift.ts, option `maxAverageBits`).
 *
 * Zero-free power-of-two levels keep one octave of relative precision whatever the code width, so a
 * converted layer's output SQNR saturates near 20 dB (more exponent bits only widen the range). An SQNR
 * threshold (`minSqnr`) then flips most layers at once when they all sit near that ceiling. The budget rule
 * instead treats the fallback as a knapsack: each layer's estimated relative output noise
 * `noise / signal` (from its calibration Gram matrix) is assumed to add up at the model output, and layers
 * are moved to int8 greedily by estimated noise reduction per extra stored byte while the average stored
 * bits per weight stays within the budget.
 * @module
 */

/** One layer the budget rule may move from shift codes to int8. */
export interface FallbackCandidate {
  /** Stored bytes as shift codes (codes + alphas). */
  shiftBytes: number;
  /** Stored bytes as int8 (values + scales + zero points). */
  int8Bytes: number;
  /** Estimated reduction of the relative output noise when the layer is int8 (noise/signal, shift - int8). */
  gain: number;
}

/**
 * Choose the layers to store in int8 under a byte budget: greedy by `gain / (int8Bytes - shiftBytes)`,
 * largest first, skipping a layer that no longer fits (a smaller one later may). Ties keep input order.
 *
 * @param candidates the layers that may fall back
 * @param budget `bytes`: the total allowed; `fixedBytes`: bytes already spent by layers outside `candidates`
 * @returns the indices (into `candidates`) to store in int8, ascending
 * @throws {RangeError} if even with no fallback the layers need more than `bytes`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { chooseInt8Layers } from "./dense_shift_budget.ts";
 * const c = [
 *   { shiftBytes: 10, int8Bytes: 20, gain: 1 }, // 0.1 per byte
 *   { shiftBytes: 10, int8Bytes: 15, gain: 1 }, // 0.2 per byte
 * ];
 * assertEquals(chooseInt8Layers(c, { bytes: 26, fixedBytes: 0 }), [1]);
 * assertEquals(chooseInt8Layers(c, { bytes: 35, fixedBytes: 0 }), [0, 1]);
 * ```
 */
export function chooseInt8Layers(
  candidates: readonly FallbackCandidate[],
  budget: { bytes: number; fixedBytes: number },
): number[] {
  let total = budget.fixedBytes + candidates.reduce((s, c) => s + c.shiftBytes, 0);
  if (total > budget.bytes) {
    throw new RangeError(
      `Cannot meet the DenseShift bit budget: ${total} bytes without any int8 fallback, budget ${budget.bytes}`,
    );
  }
  const order = candidates.map((c, i) => ({ i, extra: c.int8Bytes - c.shiftBytes, gain: c.gain }))
    .filter((c) => c.gain > 0)
    .map((c) => ({ ...c, rate: c.extra <= 0 ? Infinity : c.gain / c.extra }))
    .sort((a, b) => b.rate - a.rate || a.i - b.i);
  const chosen: number[] = [];
  for (const c of order) {
    if (total + c.extra <= budget.bytes) {
      total += c.extra;
      chosen.push(c.i);
    }
  }
  return chosen.sort((a, b) => a - b);
}
