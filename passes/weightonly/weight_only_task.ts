/**
 * One RTN / GPTQ layer as a {@link PoolTask}: what passes/weightonly/weight_only.ts runs per layer, in this
 * thread or on a worker (runtime/pool.ts), the same function on the same arguments either way.
 * @module
 */
import { type BlockQuantized, type BlockwiseOptions, quantizeBlockwise } from "../../quant/weight_only.ts";
import type { PoolTask } from "../pass.ts";

/** One layer's fit. */
export interface BlockwiseJob {
  /** The weight, `K x N` row-major (a copy the job owns). */
  weight: Float32Array;
  /** K. */
  k: number;
  /** N. */
  n: number;
  /** `H = XᵀX / rows` (GPTQ; its own copy where the job may consume it), or null (RTN). */
  hessian: Float64Array | null;
  /** quantizeBlockwise's options (no callbacks: they do not cross to a worker). */
  options: Omit<BlockwiseOptions, "onProgress">;
  /** Return `Ŵ` (per-layer calibration feeds it to the next segment); else an empty array. */
  dequantized: boolean;
}

/** One layer's codes, grid and statistics, and the seconds its fit took. */
export type BlockwiseFit = BlockQuantized & { seconds: number };

/**
 * Quantize one layer (quant/weight_only.ts `quantizeBlockwise`).
 *
 * @param job the layer
 * @returns codes, grid and statistics; `dequantized` empty unless asked for
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { blockwiseLayer } from "./weight_only_task.ts";
 * const q = blockwiseLayer({
 *   weight: new Float32Array([-1, 0, 1.4, 2]), k: 4, n: 1, hessian: null, options: { bits: 2, groupSize: 4 },
 *   dequantized: false,
 * });
 * assertEquals([Array.from(q.codes), q.dequantized.length], [[0, 1, 2, 3], 0]);
 * ```
 */
export function blockwiseLayer(job: BlockwiseJob): BlockwiseFit {
  const t0 = performance.now();
  const q = quantizeBlockwise({ data: job.weight, rows: job.k, cols: job.n }, job.hessian, job.options);
  const seconds = (performance.now() - t0) / 1000;
  return { ...q, ...(job.dequantized ? {} : { dequantized: new Float32Array(0) }), seconds };
}

/** {@linkcode blockwiseLayer} as a pool task; `minWeights` per method below. */
const task = (minWeights: number): PoolTask<BlockwiseJob, BlockwiseFit> => ({
  url: import.meta.url,
  name: "blockwiseLayer",
  fn: blockwiseLayer,
  minWeights,
});

/**
 * GPTQ layers: workers start for a map of at least 2^22 weights. On a quiet 2-core machine 2 threads gained
 * nothing on the 3 M-weight byte LMs (byte-lm-opt 3.4 vs 3.3 s, byte-lm-llama 1.9 vs 2.0 s: two workers'
 * start-up and JIT warm-up eat the halved fits) and lost on the segmenters; on a 2 x 1024 synthetic LM (25 M
 * weights) they took 42.4 s to 35.7 s even with another job on the cores (bench/README.md "Worker threads").
 */
export const GPTQ_TASK: PoolTask<BlockwiseJob, BlockwiseFit> = task(2 ** 22);

/**
 * RTN layers: about 55 ns per weight, so workers start for 2^22 weights (about 230 ms in one thread, 16 MB of
 * float weights; bench/pool.ts): every repository model stays serial.
 */
export const RTN_TASK: PoolTask<BlockwiseJob, BlockwiseFit> = task(2 ** 22);
