/**
 * Fold a BatchNormalization that follows a Conv into the Conv's weights and bias (inference form):
 * with s = scale / sqrt(var + epsilon), W'[m] = W[m] * s[m] and b'[m] = (b[m] - mean[m]) * s[m] + B[m]
 * (ONNX BatchNormalization, test mode). Applies only when the weights and all BN parameters are constant
 * initializers and the Conv output feeds nothing but the BN. Arithmetic is done in float64, stored as float32.
 * @module
 */
import type { Graph, Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

function floatConst(v: Value | null): Tensor | undefined {
  if (!v || !v.isConst || v.isGraphInput) return undefined;
  const t = v.const;
  return t && t.dtype === DataType.FLOAT ? t : undefined;
}

/**
 * Check whether a BatchNormalization can fold into the Conv before it.
 *
 * @param bn a BatchNormalization node
 * @returns the Conv node, or a reason why the fold does not apply
 */
export function checkFoldBatchNorm(bn: Node): Node | string {
  if (!isOp(bn, Op.BatchNormalization)) return `${bn.opType} "${bn.name}" is not BatchNormalization`;
  if (bn.a.int("spatial", 1) !== 1) return `BatchNormalization "${bn.name}" has spatial=0`;
  if (bn.a.int("training_mode", 0) !== 0) return `BatchNormalization "${bn.name}" is in training mode`;
  if (bn.outputs.slice(1).some((o) => o.uses.length > 0 || o.isGraphOutput)) {
    return `BatchNormalization "${bn.name}" has its running statistics read`;
  }
  const x = bn.input(0);
  const conv = x?.producer;
  if (!x || !conv || !isOp(conv, Op.Conv)) return `BatchNormalization "${bn.name}" does not follow a Conv`;
  if (x.isGraphOutput || x.consumers().length !== 1) return `Conv output "${x.name}" has other readers`;
  const w = floatConst(conv.input(1));
  if (!w) return `Conv "${conv.name}" weights are not a float initializer`;
  if (conv.input(2) && !floatConst(conv.input(2))) {
    return `Conv "${conv.name}" bias is not a float initializer`;
  }
  const m = w.dims[0]!;
  for (let i = 1; i <= 4; i++) {
    const t = floatConst(bn.input(i));
    if (!t) return `BatchNormalization "${bn.name}" input ${i} is not a float initializer`;
    if (t.data.length !== m) {
      return `BatchNormalization "${bn.name}" input ${i} has ${t.data.length} values, Conv has ${m} channels`;
    }
  }
  return conv;
}

/**
 * Fold one BatchNormalization into its Conv (see {@link checkFoldBatchNorm}); the BN's output value becomes
 * the Conv's output, so names of graph outputs are kept.
 *
 * @param bn the BatchNormalization node
 * @returns undefined when folded, else the reason it was not
 */
export function foldBatchNorm(bn: Node): string | undefined {
  const conv = checkFoldBatchNorm(bn);
  if (typeof conv === "string") return conv;
  const g = bn.graph as Graph;
  const w = floatConst(conv.input(1))!;
  const [scale, beta, mean, vari] = [1, 2, 3, 4].map((i) => floatConst(bn.input(i))!.data as Float32Array);
  const eps = bn.a.float("epsilon", 1e-5);
  const m = w.dims[0]!;
  const per = w.data.length / m;
  const oldB = conv.input(2) ? floatConst(conv.input(2))!.data as Float32Array : new Float32Array(m);
  const nw = new Float32Array(w.data.length);
  const nb = new Float32Array(m);
  const wd = w.data as Float32Array;
  for (let c = 0; c < m; c++) {
    const s = scale![c]! / Math.sqrt(vari![c]! + eps);
    for (let k = c * per; k < (c + 1) * per; k++) nw[k] = wd[k]! * s;
    nb[c] = (oldB[c]! - mean![c]!) * s + beta![c]!;
  }
  const wv = g.addInitializer(`${conv.input(1)!.name}_bnfold`, makeTensor(DataType.FLOAT, w.dims, nw));
  const bv = g.addInitializer(
    `${conv.name || conv.outputs[0]!.name}_bias_bnfold`,
    makeTensor(DataType.FLOAT, [m], nb),
  );
  conv.setInput(1, wv);
  conv.setInput(2, bv);
  const convOut = conv.outputs[0]!;
  const y = bn.outputs[0]!;
  const yType = y.type;
  const yName = y.name;
  y.replaceAllUsesWith(convOut);
  g.removeNode(bn, true);
  if (yType) convOut.type = yType;
  if (convOut.isGraphOutput && g.local(yName) === undefined) g.rename(convOut, yName);
  return undefined;
}

function foldGraph(g: Graph, notes: string[]): number {
  let n = 0;
  for (const node of [...g.nodes]) {
    for (const sg of node.subgraphs()) n += foldGraph(sg, notes);
    if (!isOp(node, Op.BatchNormalization)) continue;
    const why = foldBatchNorm(node);
    if (why) notes.push(`kept: ${why}`);
    else n++;
  }
  return n;
}

/**
 * The BatchNorm-folding pass. Run constants-to-initializers first (weights held in Constant nodes are not
 * folded), and dce afterwards (the original weights and BN parameters become unused).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { foldBatchNormPass } from "./fold_batchnorm.ts";
 * import { silentReporter } from "../../onnx/reporter.ts";
 * const m = new Model();
 * const g = m.graph;
 * const x = g.value("x");
 * g.inputs.push(x);
 * const one = (n: string, v: number) => g.addInitializer(n, makeTensor(DataType.FLOAT, [1], Float32Array.of(v)));
 * const c = g.addNode("Conv", [x, g.addInitializer("w", makeTensor(DataType.FLOAT, [1, 1, 1, 1], Float32Array.of(2)))], ["c"]);
 * const bn = g.addNode("BatchNormalization", [c.outputs[0]!, one("s", 3), one("b", 1), one("m", 0), one("v", 1)], ["y"]);
 * g.outputs.push(bn.outputs[0]!);
 * assertEquals(foldBatchNormPass.run(m, { reporter: silentReporter }).modified, true);
 * assertEquals(g.nodes.map((n) => n.opType), ["Conv"]);
 * assertEquals(g.outputs[0]!.name, "y");
 * ```
 */
export const foldBatchNormPass = {
  name: "fold-batchnorm",
  run(model: Model, _ctx?: PassContext): PassResult {
    const notes: string[] = [];
    const n = foldGraph(model.graph, notes);
    return {
      modified: n > 0,
      notes: n > 0 ? [`folded ${n} BatchNormalization nodes into Conv`, ...notes] : notes,
    };
  },
} satisfies Pass;
