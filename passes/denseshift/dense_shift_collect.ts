/**
 * Calibration runs of the DenseShift pass (passes/denseshift/dense_shift.ts): per-layer Gram matrices and mean inputs
 * on one model (the float model, or for sequential calibration the partly converted one).
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { GramAccumulator } from "../../quant/gram.ts";
import { accumulate, RowMean, type RowSink, type Target } from "./dense_shift_calib.ts";
import type { LayerStats } from "./dense_shift_layer.ts";
import type { PassRuntime } from "../pass.ts";

/** Run the calibration data through `model`, feeding each target's input rows to its sink. */
async function run(
  runtime: PassRuntime,
  model: Model,
  sinks: Map<Target, RowSink>,
  positions: number,
): Promise<void> {
  const byInput = new Map<string, Target[]>();
  for (const t of sinks.keys()) {
    const name = t.node.inputs[0]!.name;
    byInput.set(name, [...(byInput.get(name) ?? []), t]);
  }
  await runtime.collect(model, [...byInput.keys()], (values, b) => {
    for (const [name, ts] of byInput) {
      const x = values[name];
      if (x) { for (const t of ts) accumulate(t, x, positions, b, sinks.get(t)!); }
    }
  });
}

/**
 * Gram matrices and means (`gramFor`) or means only (`meanFor`) of the targets' inputs on `model`.
 * A target whose input never showed up is left out.
 */
export async function collectStats(
  runtime: PassRuntime,
  model: Model,
  targets: { gramFor: Target[]; meanFor: Target[] },
  positions: number,
): Promise<Map<Target, LayerStats>> {
  const stats = new Map<Target, LayerStats>();
  const grams = new Map(
    targets.gramFor.map((t) => [t, Array.from({ length: t.groups }, () => new GramAccumulator(t.fanIn))]),
  );
  const means = new Map(
    targets.meanFor.filter((t) => !grams.has(t)).map((
      t,
    ) => [t, Array.from({ length: t.groups }, () => new RowMean(t.fanIn))]),
  );
  if (grams.size + means.size === 0) return stats;
  const sinks = new Map<Target, RowSink>();
  for (const [t, acc] of [...grams, ...means]) {
    sinks.set(t, (gi, rows, n) => (acc[gi] as { add(r: Float32Array, n: number): void }).add(rows, n));
  }
  await run(runtime, model, sinks, positions);
  for (const [t, acc] of grams) {
    if (acc[0]!.count === 0) continue;
    stats.set(t, { gram: acc.map((a) => a.mean()), mean: acc.map((a) => a.featureMean()) });
  }
  for (const [t, acc] of means) {
    if (acc[0]!.count > 0) stats.set(t, { gram: [], mean: acc.map((a) => a.mean()) });
  }
  return stats;
}
