/**
 * Constants-to-initializers: every `Constant` node (value / value_float(s) / value_int(s) / value_string(s))
 * becomes an initializer of the graph it lives in, subgraphs included (If/Loop/Scan bodies get their own
 * initializers, which ONNX allows since IR 4). Weights then sit where quantization passes look for them
 * (PaddleOCR exports hold every weight in a Constant node).
 * @module
 */
import type { Graph, Model, Node } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { constantNodeTensor } from "../../onnx/patterns.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/**
 * Turn one Constant node into an initializer holding the same tensor under the same name.
 *
 * @param node a Constant node in a graph
 * @returns a reason when it cannot be converted (sparse value, graph output), else undefined
 */
export function constantToInitializer(node: Node): string | undefined {
  const g = node.graph;
  if (!g) return `Constant "${node.name}" is not in a graph`;
  const t = constantNodeTensor(node);
  if (!t) return `Constant "${node.name}" holds a value kind that is not decoded (sparse_value)`;
  const v = node.outputs[0];
  if (!v) return `Constant "${node.name}" has no output`;
  // A graph output that is an initializer is legal ONNX but some runtimes reject it: keep the node.
  if (v.isGraphOutput) return `Constant "${node.name}" output "${v.name}" is a graph output`;
  g.removeNode(node, true);
  if (g.local(v.name) !== v) g.adopt(v);
  v.producer = null;
  v.producerIndex = -1;
  v.const = t;
  g.initializers.push(v);
  return undefined;
}

function convertGraph(g: Graph, notes: string[]): number {
  let n = 0;
  for (const node of [...g.nodes]) {
    for (const sg of node.subgraphs()) n += convertGraph(sg, notes);
    if (!isOp(node, Op.Constant)) continue;
    const why = constantToInitializer(node);
    if (why) notes.push(`kept ${why}`);
    else n++;
  }
  return n;
}

/**
 * The constants-to-initializers pass (main graph and its subgraphs; function bodies keep their Constants).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { floatAttr } from "../../onnx/attributes.ts";
 * import { Model } from "../../onnx/ir.ts";
 * import { constantsToInitializers } from "./constants_to_initializers.ts";
 * import { silentReporter } from "../../onnx/reporter.ts";
 * const m = new Model();
 * const c = m.graph.addNode("Constant", [], ["c"], { attrs: [floatAttr("value_float", 2)] });
 * m.graph.addNode("Neg", [c.outputs[0]!], ["y"]);
 * assertEquals(constantsToInitializers.run(m, { reporter: silentReporter }), { modified: true, notes: ["1 Constant nodes -> initializers"] });
 * assertEquals(m.graph.initializers.map((v) => v.name), ["c"]);
 * ```
 */
export const constantsToInitializers = {
  name: "constants-to-initializers",
  run(model: Model, _ctx?: PassContext): PassResult {
    const notes: string[] = [];
    // Function bodies are left alone: FunctionProto has no initializers.
    const n = convertGraph(model.graph, notes);
    return { modified: n > 0, notes: n > 0 ? [`${n} Constant nodes -> initializers`, ...notes] : notes };
  },
} satisfies Pass;
