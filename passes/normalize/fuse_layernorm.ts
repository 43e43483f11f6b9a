/**
 * Fuse decomposed LayerNorms (see {@link findLayerNorms}) into one `LayerNormalization` node (opset >= 17).
 * Gamma and beta are reshaped to the normalized shape `[C]`; a missing gamma becomes ones (C must then be
 * known from the input's static shape). RMSNorm is left alone (LayerNormalization subtracts the mean).
 * @module
 */
import { floatAttr, intAttr } from "../../onnx/attributes.ts";
import type { Graph, Model, Value } from "../../onnx/ir.ts";
import { Op } from "../../onnx/ops.ts";
import { constValue, findLayerNorms, type LayerNormMatch } from "../../onnx/patterns.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../onnx/tensor.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

function channels(m: LayerNormMatch): number | undefined {
  if (m.axis !== -1) return undefined;
  for (const v of [m.gamma, m.beta]) {
    const t = constValue(v);
    if (t) return t.dims.length ? t.dims[t.dims.length - 1] : undefined;
  }
  const d = m.input.type?.shape?.at(-1);
  return typeof d === "number" ? d : undefined;
}

function vectorOf(g: Graph, v: Value | null, c: number, fill: number, name: string): Value | string {
  const t: Tensor | undefined = v
    ? constValue(v)
    : makeTensor(DataType.FLOAT, [c], new Float32Array(c).fill(fill));
  if (!t) return `${name} is not constant`;
  if (t.dtype !== DataType.FLOAT) return `${name} is not float32`;
  if (sizeOf(t.dims) === c && t.dims.length === 1 && v?.isConst) return v;
  const data = sizeOf(t.dims) === c
    ? t.data
    : sizeOf(t.dims) === 1
    ? new Float32Array(c).fill(Number(t.data[0]))
    : null;
  if (!data) return `${name} has shape [${t.dims}], expected ${c} values`;
  return g.addInitializer(v ? `${v.name}_ln` : name, makeTensor(DataType.FLOAT, [c], data as Float32Array));
}

/**
 * Replace one decomposed LayerNorm match by a LayerNormalization node.
 *
 * @param g the graph holding the match
 * @param m a match of kind "decomposed"
 * @returns undefined when fused, else the reason it was not
 */
export function fuseLayerNorm(g: Graph, m: LayerNormMatch): string | undefined {
  if (m.kind !== "decomposed") return `a ${m.kind} LayerNorm is not fused`;
  if (m.axis !== -1) return `normalizes ${-m.axis} trailing axes; only the last axis is fused`;
  const c = channels(m);
  if (c === undefined) return `the channel count of "${m.input.name}" is unknown`;
  const gamma = vectorOf(g, m.gamma, c, 1, `${m.output.name}_ln_scale`);
  if (typeof gamma === "string") return gamma;
  const beta = m.beta ? vectorOf(g, m.beta, c, 0, `${m.output.name}_ln_bias`) : null;
  if (typeof beta === "string") return beta;
  const last = m.nodes[m.nodes.length - 1]!;
  const ln = g.addNode(Op.LayerNormalization.type, beta ? [m.input, gamma, beta] : [m.input, gamma], [
    `${m.output.name}_ln`,
  ], {
    name: g.uniqueNodeName(`${last.name || "LayerNorm"}_fused`),
    attrs: [intAttr("axis", -1), floatAttr("epsilon", m.epsilon)],
    after: last,
  });
  const out = ln.outputs[0]!;
  const oldName = m.output.name;
  if (m.output.type) out.type = m.output.type;
  m.output.replaceAllUsesWith(out);
  for (const n of [...m.nodes].reverse()) g.removeNode(n, true);
  if (out.isGraphOutput && g.local(oldName) === undefined) g.rename(out, oldName);
  return undefined;
}

/**
 * The fuse-layernorm pass: every decomposed LayerNorm of the main graph and its subgraphs becomes a
 * LayerNormalization node. Needs a default-domain opset >= 17 (run the opset upgrade first).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { fuseLayerNormPass } from "./fuse_layernorm.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * assertEquals(fuseLayerNormPass.run(m).notes, ["opset 13 < 17: LayerNormalization is not available"]);
 * ```
 */
export const fuseLayerNormPass = {
  name: "fuse-layernorm",
  run(model: Model, _ctx?: PassContext): PassResult {
    if (model.opset < 17) {
      return { modified: false, notes: [`opset ${model.opset} < 17: LayerNormalization is not available`] };
    }
    const notes: string[] = [];
    let n = 0;
    for (const g of [model.graph, ...model.graph.subgraphs()]) {
      for (const m of findLayerNorms(g)) {
        if (m.kind !== "decomposed") continue;
        const why = fuseLayerNorm(g, m);
        if (why) notes.push(`kept LayerNorm at "${m.output.name}": ${why}`);
        else n++;
      }
    }
    return { modified: n > 0, notes: n > 0 ? [`fused ${n} decomposed LayerNorms`, ...notes] : notes };
  },
} satisfies Pass;
