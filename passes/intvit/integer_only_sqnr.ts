/**
 * Per-layer error of an integer-only model against the float model it came from: each float activation that
 * got an integer twin is compared with `twin * scale` on calibration data (both models run through the pass
 * context's runtime), as the signal-to-quantization-noise ratio pooled over the samples
 * (10 log10(sum x^2 / sum (x - x_hat)^2)). This is how the loss of a conversion is located: the first layer
 * whose SQNR drops is where precision goes.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import type { PassContext } from "../pass.ts";

/** An integer twin of a float value. */
export interface Twin {
  /** The float value's name (in the float model). */
  float: string;
  /** The twin's name (in the integer model). */
  integer: string;
  /** Real value of one LSB of the twin. */
  scale: number;
  /** Op type producing the twin. */
  op: string;
}

/** SQNR of one layer. */
export interface LayerSqnr {
  /** Float value name. */
  value: string;
  /** Op producing the integer twin. */
  op: string;
  /** Pooled SQNR in dB. */
  sqnrDb: number;
}

/** Options of {@linkcode layerSqnr}. */
export interface LayerSqnrOptions {
  /** Calibration batches compared. @default 4 */
  batches?: number;
}

/**
 * Per-layer SQNR of the integer model's twins against the float model's values.
 *
 * @param floatModel the float model (unchanged)
 * @param intModel the converted model
 * @param twins the twins to compare
 * @param ctx pass context with a runtime
 * @param options number of calibration batches
 * @returns one entry per twin whose shapes matched, in the order given
 * @throws {TypeError} without a runtime
 */
export async function layerSqnr(
  floatModel: Model,
  intModel: Model,
  twins: readonly Twin[],
  ctx: PassContext,
  options: LayerSqnrOptions = {},
): Promise<LayerSqnr[]> {
  if (!ctx.runtime) throw new TypeError("Per-layer SQNR needs calibration data: the context has no runtime");
  const limit = options.batches ?? 4;
  // Twins that the final clean-up removed or renamed (dead values) are skipped.
  const produced = new Set<string>();
  for (const n of intModel.graph.nodes) for (const o of n.outputs) produced.add(o.name);
  const floatNames = new Set<string>();
  for (const n of floatModel.graph.nodes) for (const o of n.outputs) floatNames.add(o.name);
  twins = twins.filter((t) => produced.has(t.integer) && floatNames.has(t.float));
  const floats: Record<string, Tensor>[] = [];
  const names = [...new Set(twins.map((t) => t.float))];
  await ctx.runtime.collect(floatModel, names, (batch, i) => {
    if (i < limit) floats[i] = batch;
  });
  const acc = new Map<string, { signal: number; noise: number }>();
  const intNames = [...new Set(twins.map((t) => t.integer))];
  await ctx.runtime.collect(intModel, intNames, (batch, i) => {
    const ref = floats[i];
    if (!ref || i >= limit) return;
    for (const t of twins) {
      const x = ref[t.float], q = batch[t.integer];
      if (!x || !q || x.data.length !== q.data.length) continue;
      const a = acc.get(t.float) ?? { signal: 0, noise: 0 };
      const xd = x.data as Float32Array, qd = q.data as ArrayLike<number | bigint>;
      for (let k = 0; k < xd.length; k++) {
        const r = xd[k]!, d = r - Number(qd[k]!) * t.scale;
        a.signal += r * r;
        a.noise += d * d;
      }
      acc.set(t.float, a);
    }
  });
  const out: LayerSqnr[] = [];
  for (const t of twins) {
    const a = acc.get(t.float);
    if (!a || out.some((o) => o.value === t.float)) continue;
    out.push({
      value: t.float,
      op: t.op,
      sqnrDb: a.noise === 0 ? Infinity : 10 * Math.log10(a.signal / a.noise),
    });
  }
  return out;
}
