/**
 * Dead-code elimination: removes nodes none of whose outputs is read (by a node, a graph output, or a node
 * inside a subgraph) and initializers nobody reads. Subgraphs are cleaned first so that outer values read
 * only by dead inner nodes die too. Nodes without outputs are kept (nothing says they are pure).
 * @module
 */
import type { Graph, Model, Node, Value } from "../../onnx/ir.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/** Unlink every input of every node inside a node's subgraphs (before the node is dropped). */
function detachSubgraphs(n: Node): void {
  for (const sg of n.subgraphs()) {
    for (const inner of sg.nodes) {
      detachSubgraphs(inner);
      inner.truncateInputs(0);
    }
  }
}

function pinnedOutputs(model: Model): Set<Value> {
  const pinned = new Set<Value>();
  for (const g of model.allGraphs()) for (const v of g.outputs) pinned.add(v);
  return pinned;
}

function live(v: Value, pinned: Set<Value>): boolean {
  return v.uses.length > 0 || pinned.has(v);
}

/** Counts of what was removed. */
interface Removed {
  nodes: number;
  initializers: number;
}

function dceGraph(g: Graph, pinned: Set<Value>, removed: Removed): void {
  for (const n of g.nodes) for (const sg of n.subgraphs()) dceGraph(sg, pinned, removed);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.length === 0 || n.outputs.some((o) => live(o, pinned))) continue;
    detachSubgraphs(n);
    g.removeNode(n, true);
    removed.nodes++;
  }
  for (const v of [...g.initializers]) {
    if (live(v, pinned)) continue;
    g.removeInitializer(v);
    removed.initializers++;
  }
}

/**
 * Remove dead nodes and unused initializers from every graph of a model.
 *
 * @param model the model (changed in place)
 * @returns how many nodes and initializers were removed
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { eliminateDeadCode } from "./dce.ts";
 * const m = new Model();
 * const x = m.graph.value("x");
 * m.graph.inputs.push(x);
 * m.graph.addNode("Neg", [x], ["unused"]);
 * const r = m.graph.addNode("Relu", [x], ["y"]);
 * m.graph.outputs.push(r.outputs[0]!);
 * assertEquals(eliminateDeadCode(m), { nodes: 1, initializers: 0 });
 * assertEquals(m.graph.nodes.map((n) => n.opType), ["Relu"]);
 * ```
 */
export function eliminateDeadCode(model: Model): { nodes: number; initializers: number } {
  const removed = { nodes: 0, initializers: 0 };
  const pinned = pinnedOutputs(model);
  dceGraph(model.graph, pinned, removed);
  for (const f of model.functions) dceGraph(f.body, pinned, removed);
  return removed;
}

/** The dead-code elimination pass (see {@link eliminateDeadCode}). */
export const dce = {
  name: "dce",
  run(model: Model, _ctx?: PassContext): PassResult {
    const r = eliminateDeadCode(model);
    const modified = r.nodes + r.initializers > 0;
    return { modified, notes: modified ? [`removed ${r.nodes} nodes, ${r.initializers} initializers`] : [] };
  },
} satisfies Pass;
