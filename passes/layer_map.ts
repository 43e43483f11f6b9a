/**
 * Runs a pass's independent per-layer work through `ctx.pool` (runtime/pool.ts: worker threads) or, without
 * one, serially in this thread: the same {@link PoolTask} function on the same arguments either way, results
 * handed back in job order so the graph is rewritten in the serial order.
 * @module
 */
import type { PassContext, PoolJob, PoolTask } from "./pass.ts";

/**
 * Run `task` on every job (see the module doc).
 *
 * @param ctx the pass context; `ctx.pool` where workers may run the jobs
 * @param task the per-layer function
 * @param jobs one per layer or group of layers
 * @param onResult receives each result in job order
 * @throws the first failing job's error, its message prefixed with the job's label
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { silentReporter } from "../onnx/reporter.ts";
 * import { mapLayers } from "./layer_map.ts";
 * const task = { url: import.meta.url, name: "none", fn: (x: number) => x + 1, minWeights: 0 };
 * const out: number[] = [];
 * await mapLayers({ reporter: silentReporter }, task, [{ label: "a", weights: 1, bytes: 8, args: () => ({ args: 1 }) }], (r) => {
 *   out.push(r);
 * });
 * assertEquals(out, [2]);
 * ```
 */
export async function mapLayers<A, R>(
  ctx: PassContext,
  task: PoolTask<A, R>,
  jobs: readonly PoolJob<A>[],
  onResult: (result: R, index: number) => void,
): Promise<void> {
  if (ctx.pool) return await ctx.pool.map(task, jobs, onResult);
  jobs.forEach((job, i) => {
    const { args } = job.args(false);
    let r: R;
    try {
      r = task.fn(args);
    } catch (e) {
      if (e instanceof Error) e.message = `${job.label}: ${e.message}`;
      throw e;
    }
    onResult(r, i);
  });
}
