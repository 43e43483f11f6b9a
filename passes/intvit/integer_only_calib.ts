/**
 * Calibration for the integer-only conversion (passes/intvit/integer_only.ts): one float run over the calibration
 * data exposes every node output of the main graph, records each value's element type and per-sample shape
 * (so the pass knows which values are float activations and the row lengths of softmax / LayerNorm) and the
 * range of every float value (min-max, a percentile of a histogram, or the histogram's MSE-optimal clipping at
 * 8 bits), plus its min-max range for twins wider than 8 bits. `samples` limits the images seen:
 * I-Segmenter (arXiv 2509.10334) reports that one calibration image can be enough.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { DataType } from "../../onnx/tensor.ts";
import { HistogramObserver, MinMaxObserver, rangeFromObserver } from "../../quant/observers.ts";
import type { PassContext } from "../pass.ts";

/** What calibration learnt about one value. */
export interface ValueStats {
  /** Element type seen at run time. */
  dtype: number;
  /** Shape of the first batch (axis 0 is the batch where the model has one). */
  dims: number[];
  /** Clipping range of a float value (the calibrator's, for 8-bit twins). */
  range?: [number, number];
  /** Min-max range of a float value (for 16/32-bit twins). */
  minmax?: [number, number];
}

/** Options of {@link calibrateValues}. */
export interface CalibrateValuesOptions {
  /** Range estimator. @default "minmax" */
  calibrator?: "minmax" | "percentile" | "mse";
  /** Percentile of the percentile calibrator. @default 99.99 */
  percentile?: number;
  /**
   * Stop observing once this many samples were seen, counted in whole batches (the batch axis of an
   * intermediate tensor is not known): exact with single-image batches or a source limited to N samples.
   * @default all
   */
  samples?: number;
  /** Observe only these values (a region's inputs and outputs). @default every main-graph value */
  values?: readonly string[];
}

/**
 * Run the float model once over the context's calibration data and describe every main-graph value.
 *
 * @param model the float model (not changed)
 * @param ctx pass context with a runtime
 * @param options calibrator, percentile, sample limit
 * @returns value name -> stats (graph inputs and node outputs)
 * @throws {TypeError} when the context has no runtime
 */
export async function calibrateValues(
  model: Model,
  ctx: PassContext,
  options: CalibrateValuesOptions = {},
): Promise<Map<string, ValueStats>> {
  if (!ctx.runtime) {
    throw new TypeError("The integer-only pass needs calibration data: the context has no runtime");
  }
  const g = model.graph;
  let names: string[] = g.inputs.filter((v) => !v.isConst).map((v) => v.name);
  for (const n of g.nodes) for (const o of n.outputs) if (o.name) names.push(o.name);
  if (options.values) {
    const keep = new Set(options.values);
    names = names.filter((n) => keep.has(n));
  }
  const kind = options.calibrator ?? "minmax";
  const limit = options.samples ?? Infinity;
  const stats = new Map<string, ValueStats>();
  const observers = new Map<string, MinMaxObserver | HistogramObserver>();
  const inputName = g.inputs.find((v) => !v.isConst)?.name;
  let seen = 0;
  await ctx.runtime.collect(model, names, (batch) => {
    if (seen >= limit) return;
    for (const [name, t] of Object.entries(batch)) {
      if (!stats.has(name)) stats.set(name, { dtype: t.dtype, dims: [...t.dims] });
      if (t.dtype !== DataType.FLOAT) continue;
      let obs = observers.get(name);
      if (!obs) {
        obs = kind === "minmax" ? new MinMaxObserver() : new HistogramObserver({ mode: "signed" });
        observers.set(name, obs);
      }
      obs.observe(t.data as Float32Array);
    }
    seen += (inputName ? batch[inputName]?.dims[0] : undefined) ?? 1;
  });
  for (const [name, obs] of observers) {
    const st = stats.get(name)!;
    try {
      st.range = rangeFromObserver(obs, kind, { percentile: options.percentile ?? 99.99, bits: 8 });
      st.minmax = rangeFromObserver(obs, "minmax");
    } catch (e) {
      throw new RangeError(`Cannot calibrate "${name}": ${(e as Error).message}`, { cause: e });
    }
  }
  return stats;
}
