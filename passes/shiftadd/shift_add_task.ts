/**
 * ShiftAdd layers as a {@link PoolTask}: the layers reading one Hessian (q, k, v on one input) fitted in
 * order in one job, with one factor cache, exactly as passes/shiftadd/shift_add.ts fits them serially; the
 * pass runs the jobs in this thread or on workers (runtime/pool.ts), the same function either way.
 * @module
 */
import {
  type HessianCache,
  quantizeShiftAdd,
  type ShiftAddGptqOptions,
  type ShiftAddQuantized,
} from "../../quant/shiftadd_gptq.ts";
import type { PoolTask } from "../pass.ts";

/** One layer of a {@link ShiftAddGroupJob}. */
export interface ShiftAddLayerJob {
  /** The weight, `K x N` row-major. */
  weight: Float32Array;
  /** K. */
  k: number;
  /** N. */
  n: number;
  /** quantizeShiftAdd's options, less what the job decides (cache, consumeHessian) and callbacks. */
  options: Omit<ShiftAddGptqOptions, "cache" | "consumeHessian" | "onProgress">;
  /**
   * Factor the Hessian through the job's cache (a later layer of the job reads it: the serial path's
   * choice); else the layer may consume the Hessian.
   */
  cached: boolean;
}

/** Layers sharing one Hessian (or one layer without). */
export interface ShiftAddGroupJob {
  /** `H = XᵀX / rows` of the layers' input, or null (weight objective). */
  hessian: Float64Array | null;
  /** The layers, in graph order. */
  layers: ShiftAddLayerJob[];
  /** Return each `Ŵ` (per-layer calibration feeds it to the next segment); else empty arrays. */
  dequantized: boolean;
}

/** One layer's fit and the seconds it took. */
export type ShiftAddFit = ShiftAddQuantized & { seconds: number };

/**
 * Fit a group's layers in order (quant/shiftadd_gptq.ts `quantizeShiftAdd`).
 *
 * @param job the Hessian and its layers
 * @returns one fit per layer
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddGroup } from "./shift_add_task.ts";
 * const weight = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
 * const [q] = shiftAddGroup({
 *   hessian: null,
 *   layers: [{ weight, k: 16, n: 4, options: { bits: 2, objective: "weight" }, cached: false }],
 *   dequantized: true,
 * });
 * assertEquals(q!.dequantized.length, 64);
 * ```
 */
export function shiftAddGroup(job: ShiftAddGroupJob): ShiftAddFit[] {
  const cache: HessianCache = new WeakMap();
  return job.layers.map((l) => {
    const t0 = performance.now();
    const q = quantizeShiftAdd({ data: l.weight, rows: l.k, cols: l.n }, job.hessian, {
      ...l.options,
      ...(l.cached ? { cache } : { consumeHessian: true }),
    });
    const seconds = (performance.now() - t0) / 1000;
    return { ...q, ...(job.dequantized ? {} : { dequantized: new Float32Array(0) }), seconds };
  });
}

/**
 * {@linkcode shiftAddGroup} as a pool task: workers start for a map of at least 2^21 weights. On a quiet
 * 2-core machine 2 threads took byte-lm-opt from 4.3 to 4.0 s and byte-lm-llama from 2.7 to 2.5 s (3 M
 * weights), and lost on segmenter-tiny (0.6 to 0.7 s) (bench/README.md "Worker threads").
 */
export const SHIFT_ADD_TASK: PoolTask<ShiftAddGroupJob, ShiftAddFit[]> = {
  url: import.meta.url,
  name: "shiftAddGroup",
  fn: shiftAddGroup,
  minWeights: 2 ** 21,
};
