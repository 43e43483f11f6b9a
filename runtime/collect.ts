/**
 * Calibration plumbing: runs a float model over a data source and hands the requested values (graph
 * outputs or intermediate tensors) to a callback, batch by batch. Intermediate tensors are exposed the way
 * calibrators do it: a copy of the model gets them as extra graph outputs. Statistics are the caller's
 * business (streamed observers in quant/), so memory does not grow with the number of samples.
 * @module
 */
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { type DataSource, samplesIn } from "./data/source.ts";
import type { PassRuntime, RuntimeFactory } from "./runtime.ts";

/** Options for {@link collectValues} and {@link makePassRuntime}. */
export interface CollectOptions {
  /** Samples per run. @default 8 */
  batchSize?: number;
  /** Progress reporting ("calibrate" task). @default silent */
  reporter?: Reporter;
  /** Progress task name. @default "calibrate" */
  task?: string;
}

/**
 * Return a copy of `model` whose graph outputs are exactly `values` (by name).
 *
 * @param model the model (not changed)
 * @param values names of values in the main graph
 * @returns the copy
 * @throws {RangeError} when a name is not a value of the main graph
 */
export function exposeValues(model: Model, values: readonly string[]): Model {
  const copy = decodeModel(encodeModel(model));
  const g = copy.graph;
  const outs = values.map((name) => {
    const v = g.local(name);
    if (!v) throw new RangeError(`Cannot expose "${name}": no such value in the main graph`);
    return v;
  });
  g.outputs.splice(0, g.outputs.length, ...outs);
  return copy;
}

/**
 * Run `model` over `data` and call `onBatch` with the requested values of each batch.
 *
 * @param model the float model
 * @param values names of graph values to collect
 * @param data inputs
 * @param factory float runtime (onnxruntime-node, or the CPU evaluator)
 * @param onBatch receives the values of one batch
 * @param options batch size and progress
 */
export async function collectValues(
  model: Model,
  values: readonly string[],
  data: DataSource,
  factory: RuntimeFactory,
  onBatch: (values: Record<string, Tensor>, batchIndex: number) => void | Promise<void>,
  options: CollectOptions = {},
): Promise<void> {
  const reporter = options.reporter ?? silentReporter;
  const task = options.task ?? "calibrate";
  const rt = await factory(encodeModel(exposeValues(model, values)));
  try {
    let done = 0, b = 0;
    reporter.progress(task, 0, data.count);
    for await (const batch of data.batches(options.batchSize ?? 8)) {
      const feeds: Record<string, Tensor> = {};
      for (const name of rt.inputNames) {
        const t = batch[name];
        if (!t) {
          throw new RangeError(
            `Calibration data has no input "${name}" (it has: ${Object.keys(batch).join(", ")})`,
          );
        }
        feeds[name] = t;
      }
      const out = await rt.run(feeds);
      await onBatch(out, b++);
      done += samplesIn(data, batch);
      reporter.progress(task, Math.min(done, data.count), data.count);
    }
  } finally {
    await rt.release();
  }
}

/**
 * A {@link PassRuntime} over a data source and a runtime factory: what passes receive in their context.
 *
 * @param data calibration inputs
 * @param factory float runtime
 * @param options batch size and progress
 * @returns the pass runtime
 */
export function makePassRuntime(
  data: DataSource,
  factory: RuntimeFactory,
  options: CollectOptions = {},
): PassRuntime {
  return {
    collect: (model, values, onBatch) => collectValues(model, values, data, factory, onBatch, options),
  };
}
