/**
 * One calibration run collecting `H = XᵀX / rows` per distinct layer input (all tokens / positions flattened
 * to `[-1, K]`): what GPTQ-style quantizers (passes/weightonly, passes/shiftadd) minimise the output error
 * with. Memory: one `K x K` float64 Gram per distinct input, streamed (quant/gram.ts).
 *
 * Folding a batch into the Grams ({@linkcode GRAM_FOLD_TASK}) runs on `ctx.pool`'s workers where they pay
 * (one job per layer input and batch, each accumulator's buffers moved to the worker and back), while this
 * thread has the runtime compute the next batch: the two overlap. The folds of one batch finish before the
 * next batch's are sent, each on the accumulator's own state, so the Hessians are those of the serial path bit
 * for bit.
 * @module
 */
import type { Model, Value } from "../onnx/ir.ts";
import { GramAccumulator, type GramState } from "../quant/gram.ts";
import { mapLayers } from "./layer_map.ts";
import type { PassContext, PoolJob, PoolTask } from "./pass.ts";

/** A layer input to collect: the activation value and its feature count K. */
export interface HessianSite {
  /** Activation input of the layer. */
  x: Value;
  /** K, features (the last axis). */
  k: number;
}

/** One batch of one layer input, folded into its Gram accumulator. */
export interface GramFoldJob {
  /** The accumulator, handed over (quant/gram.ts `toState`). */
  state: GramState;
  /** The batch's rows, `n x k` row-major. */
  rows: Float32Array;
  /** Rows in the batch. */
  n: number;
}

/**
 * Fold a batch into an accumulator's state.
 *
 * @param job the state and the rows
 * @returns the state after the rows
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GramAccumulator } from "../quant/gram.ts";
 * import { gramFold } from "./hessians.ts";
 * const state = gramFold({ state: new GramAccumulator(2).toState(), rows: new Float32Array([1, 2, 3, 4]), n: 2 });
 * assertEquals(GramAccumulator.fromState(state).mean(), new Float64Array([5, 7, 7, 10]));
 * ```
 */
export function gramFold(job: GramFoldJob): GramState {
  const acc = GramAccumulator.fromState(job.state);
  acc.add(job.rows, job.n);
  return acc.toState();
}

/**
 * {@linkcode gramFold} as a pool task. A job's `weights` are its multiply-adds (`n k² / 2`): workers start for a
 * batch of at least 2^30 (about 75 ms of folding here, against 25-60 ms to start a worker).
 */
export const GRAM_FOLD_TASK: PoolTask<GramFoldJob, GramState> = {
  url: import.meta.url,
  name: "gramFold",
  fn: gramFold,
  minWeights: 2 ** 30,
  unit: { weights: "multiply-adds", map: "batch" },
};

/**
 * Run the float model over the calibration data once and return `H` per distinct activation.
 *
 * @param model the float model
 * @param sites the layer inputs
 * @param ctx pass context with a runtime (and, where workers may fold the batches, a pool)
 * @returns `H` by activation value, and the number of rows (tokens) seen
 * @throws {TypeError} when the context has no runtime or calibration returns no float32 tensor
 * @throws {RangeError} when a tensor does not split into rows of K
 */
export async function collectHessians(
  model: Model,
  sites: readonly HessianSite[],
  ctx: PassContext,
): Promise<{ hessians: Map<Value, Float64Array>; rows: number }> {
  if (!ctx.runtime) throw new TypeError("Cannot collect Hessians: the pass context has no runtime");
  const accs = new Map<string, GramAccumulator>();
  for (const t of sites) if (!accs.has(t.x.name)) accs.set(t.x.name, new GramAccumulator(t.k));
  const names = [...accs.keys()];
  // The previous batch's folds: awaited before this batch's are dispatched (each accumulator is in one place).
  let folding: Promise<void> | undefined;
  await ctx.runtime.collect(model, names, async (batch) => {
    const jobs: PoolJob<GramFoldJob>[] = names.map((name) => {
      const v = batch[name];
      const k = accs.get(name)!.k;
      if (!v || !(v.data instanceof Float32Array)) {
        throw new TypeError(`Calibration returned no float32 tensor for "${name}"`);
      }
      if (v.data.length % k !== 0) {
        throw new RangeError(`Calibration tensor "${name}" [${v.dims}] does not split into rows of ${k}`);
      }
      const rows = v.data, n = rows.length / k;
      return {
        label: name,
        weights: (n * k * k) / 2,
        bytes: rows.byteLength,
        args: (onWorker) => {
          const state = accs.get(name)!.toState();
          if (!onWorker) return { args: { state, rows, n } };
          const copy = rows.slice(); // a runtime's output may be a view of a shared buffer: copied, then moved
          return {
            args: { state, rows: copy, n },
            transfer: [
              state.sum.buffer,
              state.colSum.buffer,
              state.block.buffer,
              copy.buffer,
            ] as ArrayBuffer[],
          };
        },
      };
    });
    await folding;
    folding = mapLayers(ctx, GRAM_FOLD_TASK, jobs, (state, i) => {
      accs.set(names[i]!, GramAccumulator.fromState(state));
    });
    // a failed fold surfaces when awaited (next batch or the end), not as an unhandled rejection meanwhile
    folding.catch(() => {});
  });
  await folding;
  const hessians = new Map<Value, Float64Array>();
  let rows = 0;
  for (const t of sites) {
    const acc = accs.get(t.x.name)!;
    rows = Math.max(rows, acc.count);
    if (!hessians.has(t.x)) hessians.set(t.x, acc.mean());
  }
  return { hessians, rows };
}
