/**
 * Regions of a graph for a partial integer-only conversion (passes/intvit/integer_only.ts, option `region`): the
 * integer part runs between QuantizeLinear at the region's entry values and DequantizeLinear at its exit
 * values, and the rest of the model stays float (or gets QDQ, passes/intvit/integer_only_mixed.ts).
 *
 * A region is given by value names, `{ from, to }`: its nodes are those that depend on a `from` value and
 * that a `to` value depends on. {@link findTransformerBlocks} finds the usual one automatically: the
 * pre-LN transformer blocks of a hybrid CNN + transformer (PP-OCRv4 rec's SVTR neck), from the input of the
 * first block's LayerNorm to the output of the last residual Add of the chain that starts there.
 * @module
 */
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { findLayerNorms } from "../../onnx/patterns.ts";

/** A region by value names: entry values (quantized) and exit values (dequantized). */
export interface IntegerRegion {
  /** Entry values: computed float values whose consumers inside the region read their integer twin. */
  from: string[];
  /** Exit values: consumers outside the region read a DequantizeLinear of their integer twin. */
  to: string[];
}

/** Region choice of the integer-only pass: an explicit region or "transformer-blocks" (automatic). */
export type RegionSpec = "transformer-blocks" | { from: string | string[]; to: string | string[] };

function valueOf(g: Graph, name: string, what: string): Value {
  const v = g.lookup(name);
  if (!v) throw new RangeError(`Region ${what} value "${name}" is not in the graph`);
  return v;
}

/**
 * The residual chain from `x`: while an Add reads the current value and a value computed from it, step to
 * that Add's output. Returns the Adds' outputs in order (empty when `x` starts no residual block).
 */
function residualChain(x: Value): Value[] {
  const chain: Value[] = [];
  let cur = x;
  for (;;) {
    const add = cur.consumers().find((n) => {
      if (!isOp(n, Op.Add) || n.inputs.length !== 2) return false;
      const o = n.inputs[0] === cur ? n.inputs[1] : n.inputs[0];
      return !!o && o !== cur && dependsOn(o, cur);
    });
    if (!add) return chain;
    cur = add.outputs[0]!;
    chain.push(cur);
  }
}

/** True when `v` is computed from `x` (walking producers). */
function dependsOn(v: Value, x: Value): boolean {
  const seen = new Set<Value>();
  const stack = [v];
  while (stack.length) {
    const w = stack.pop()!;
    if (w === x) return true;
    if (seen.has(w) || !w.producer) continue;
    seen.add(w);
    for (const i of w.producer.inputs) if (i) stack.push(i);
  }
  return false;
}

/**
 * The transformer blocks of a graph: the first LayerNorm (fused or decomposed) whose input starts a residual
 * chain of at least two Adds (attention + MLP) gives the entry; the chain's last Add gives the exit.
 *
 * @param graph the graph (weights as initializers or Constant nodes)
 * @returns the region, or undefined when no pre-LN residual block is found
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { findTransformerBlocks } from "./integer_only_region.ts";
 * const g = new Graph();
 * const x = g.value("x");
 * const ln = g.addNode("LayerNormalization", [x, g.value("s")], ["n"]);
 * const a = g.addNode("Add", [x, g.addNode("Relu", [ln.outputs[0]!], ["r"]).outputs[0]!], ["a"]);
 * const ln2 = g.addNode("LayerNormalization", [a.outputs[0]!, g.value("s2")], ["n2"]);
 * g.addNode("Add", [a.outputs[0]!, g.addNode("Relu", [ln2.outputs[0]!], ["r2"]).outputs[0]!], ["b"]);
 * assertEquals(findTransformerBlocks(g), { from: ["x"], to: ["b"] });
 * ```
 */
export function findTransformerBlocks(graph: Graph): IntegerRegion | undefined {
  for (const m of findLayerNorms(graph)) {
    if (m.kind === "rms") continue;
    const chain = residualChain(m.input);
    if (chain.length >= 2) return { from: [m.input.name], to: [chain[chain.length - 1]!.name] };
  }
  return undefined;
}

/**
 * Resolve a region choice against a graph.
 *
 * @param graph the graph
 * @param spec "transformer-blocks" or explicit value names
 * @returns the region with names as arrays
 * @throws {RangeError} when no transformer block is found or a named value does not exist
 */
export function resolveRegion(graph: Graph, spec: RegionSpec): IntegerRegion {
  if (spec === "transformer-blocks") {
    const r = findTransformerBlocks(graph);
    if (!r) throw new RangeError("No pre-LN transformer block (LayerNorm + 2 residual Adds) found");
    return r;
  }
  const list = (x: string | string[]) => (typeof x === "string" ? [x] : [...x]);
  const r = { from: list(spec.from), to: list(spec.to) };
  for (const n of r.from) valueOf(graph, n, "entry");
  for (const n of r.to) valueOf(graph, n, "exit");
  return r;
}

/**
 * The nodes of a region: every node that depends on an entry value and that an exit value depends on
 * (shape computations on region values included).
 *
 * @param graph the graph
 * @param region entry and exit value names
 * @returns the nodes, in graph order
 * @throws {RangeError} for unknown names or an empty region
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { regionNodes } from "./integer_only_region.ts";
 * const g = new Graph();
 * const a = g.addNode("Relu", [g.value("x")], ["a"]);
 * const b = g.addNode("Neg", [a.outputs[0]!], ["b"]);
 * g.addNode("Abs", [b.outputs[0]!], ["c"]);
 * assertEquals(regionNodes(g, { from: ["a"], to: ["b"] }).map((n) => n.name), [b.name]);
 * ```
 */
export function regionNodes(graph: Graph, region: IntegerRegion): Node[] {
  const from = new Set(region.from.map((n) => valueOf(graph, n, "entry")));
  const down = new Set<Node>();
  const stack = [...from];
  while (stack.length) {
    const v = stack.pop()!;
    for (const n of v.consumers()) {
      if (down.has(n)) continue;
      down.add(n);
      stack.push(...n.outputs);
    }
  }
  const up = new Set<Node>();
  const vs = region.to.map((n) => valueOf(graph, n, "exit"));
  while (vs.length) {
    const v = vs.pop()!;
    const p = v.producer;
    if (from.has(v) || !p || up.has(p)) continue;
    up.add(p);
    for (const i of p.inputs) if (i) vs.push(i);
  }
  const nodes = graph.nodes.filter((n) => down.has(n) && up.has(n));
  if (nodes.length === 0) {
    throw new RangeError(`Empty region from [${region.from.join(", ")}] to [${region.to.join(", ")}]`);
  }
  return nodes;
}
