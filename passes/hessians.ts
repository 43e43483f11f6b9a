/**
 * One calibration run collecting `H = XᵀX / rows` per distinct layer input (all tokens / positions flattened
 * to `[-1, K]`): what GPTQ-style quantizers (passes/weightonly, passes/shiftadd) minimise the output error
 * with. Memory: one `K x K` float64 Gram per distinct input, streamed (quant/gram.ts).
 * @module
 */
import type { Model, Value } from "../onnx/ir.ts";
import { GramAccumulator } from "../quant/gram.ts";
import type { PassContext } from "./pass.ts";

/** A layer input to collect: the activation value and its feature count K. */
export interface HessianSite {
  /** Activation input of the layer. */
  x: Value;
  /** K, features (the last axis). */
  k: number;
}

/**
 * Run the float model over the calibration data once and return `H` per distinct activation.
 *
 * @param model the float model
 * @param sites the layer inputs
 * @param ctx pass context with a runtime
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
  await ctx.runtime.collect(model, [...accs.keys()], (batch) => {
    for (const [name, acc] of accs) {
      const v = batch[name];
      if (!v || !(v.data instanceof Float32Array)) {
        throw new TypeError(`Calibration returned no float32 tensor for "${name}"`);
      }
      if (v.data.length % acc.k !== 0) {
        throw new RangeError(`Calibration tensor "${name}" [${v.dims}] does not split into rows of ${acc.k}`);
      }
      acc.add(v.data, v.data.length / acc.k);
    }
  });
  const hessians = new Map<Value, Float64Array>();
  let rows = 0;
  for (const t of sites) {
    const acc = accs.get(t.x.name)!;
    rows = Math.max(rows, acc.count);
    if (!hessians.has(t.x)) hessians.set(t.x, acc.mean());
  }
  return { hessians, rows };
}
