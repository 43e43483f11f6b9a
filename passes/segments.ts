/**
 * Consecutive segments of a graph for per-layer (sequential) calibration: the cut points are the gaps of the
 * topological order where the fewest activations are live (in a decoder LM: the residual stream between
 * blocks and between the attention and MLP halves of a block), found from live sets alone, never from node
 * names. A segment is run as a model of its own ({@linkcode segmentModel}) holding only its weights, fed with
 * the boundary activations the previous segment produced.
 *
 * Live set at the gap before node `p`: the non-constant values defined before `p` (graph inputs count as
 * defined before node 0) and read at or after `p` (graph outputs count as read after the last node).
 * Constants (initializers) are each segment's own and never cross a cut.
 * @module
 */
import type { Graph, Model, Node, TensorType } from "../onnx/ir.ts";
import { Model as IrModel } from "../onnx/ir.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { constByteLength } from "../onnx/codec.ts";

/**
 * Cuts are taken at the gaps with the fewest live values whose segments hold at most this many times the
 * weights of the largest segment cutting at every gap: in a decoder LM the residual stream between blocks
 * (and between attention and MLP) rather than one cut at the end, where a mask shared by all blocks dies.
 */
const MAX_SEGMENT_RATIO = 4;

/** One segment: what it reads from before, what later segments (or the graph outputs) read from it. */
export interface Segment {
  /** Names of the values it reads from earlier segments or the graph inputs (its sub-model's inputs). */
  inputs: string[];
  /** Names of the values read after it (the next segment's inputs; the graph outputs for the last). */
  outputs: string[];
  /** Its nodes as planned, in graph order. */
  nodes: Node[];
}

/** Options of {@linkcode planSegments}. */
export interface PlanSegmentsOptions {
  /**
   * Nodes every segment must contain at least one of (the layers to calibrate): a stretch between two cuts
   * without one is merged into the next (the last into the previous).
   * @default {undefined} (every cut kept)
   */
  anchors?: ReadonlySet<Node>;
}

/** The segments of a graph, or why it cannot be cut. */
export interface SegmentPlan {
  /** Consecutive segments covering every node (one segment = the whole graph). */
  segments: Segment[];
  /** Most live values at a cut (the smallest count whose segments stay small, see the module doc). */
  liveAtCuts: number;
  /** Why the graph is not cut, when it is not (control flow, no node). */
  why?: string;
}

/**
 * Live value names at each gap of `graph.nodes` (which must be in topological order): entry `p` is the gap
 * before node `p`, entry `nodes.length` the end (the graph outputs).
 *
 * @param graph the graph, topologically sorted
 * @returns live value names per gap
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../onnx/ir.ts";
 * import { liveSets } from "./segments.ts";
 * const g = new Graph("g");
 * const x = g.value("x");
 * g.inputs.push(x);
 * const a = g.addNode("Relu", [x], ["a"]).outputs[0]!;
 * const b = g.addNode("Neg", [a], ["b"]).outputs[0]!;
 * g.outputs.push(g.addNode("Add", [a, b], ["y"]).outputs[0]!);
 * assertEquals(liveSets(g).map((s) => [...s]), [["x"], ["a"], ["a", "b"], ["y"]]);
 * ```
 */
export function liveSets(graph: Graph): string[][] {
  const n = graph.nodes.length;
  // def: gap after which the value exists (-1 for graph inputs); last: the last node reading it.
  const def = new Map<string, number>(), last = new Map<string, number>();
  for (const v of graph.inputs) if (!v.isConst) def.set(v.name, -1);
  graph.nodes.forEach((node, i) => {
    for (const o of node.outputs) def.set(o.name, i);
    for (const v of node.inputs) {
      if (v && !v.isConst && def.has(v.name)) last.set(v.name, Math.max(last.get(v.name) ?? -1, i));
    }
  });
  for (const v of graph.outputs) if (def.has(v.name)) last.set(v.name, n);
  const live: string[][] = Array.from({ length: n + 1 }, () => []);
  for (const [name, d] of def) {
    const u = last.get(name);
    if (u === undefined) continue; // never read
    // defined by node d (or before node 0): live at gaps d+1 .. u
    for (let p = d + 1; p <= u; p++) live[p]!.push(name);
  }
  return live;
}

/**
 * Cut `graph` into consecutive segments at the interior gaps with the fewest live values.
 *
 * @param graph the main graph (sorted topologically here when it is not)
 * @param options anchors (nodes each segment must contain one of)
 * @returns the segments; one segment over all nodes (with `why`) when the graph cannot be cut
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../onnx/ir.ts";
 * import { planSegments } from "./segments.ts";
 * const g = new Graph("g");
 * let x = g.value("x");
 * g.inputs.push(x);
 * for (let i = 0; i < 3; i++) {
 *   const h = g.addNode("Relu", [x], [`h${i}`]).outputs[0]!;
 *   x = g.addNode("Add", [x, h], [`x${i}`]).outputs[0]!; // a residual block
 * }
 * g.outputs.push(x);
 * const plan = planSegments(g);
 * assertEquals(plan.segments.map((s) => [s.inputs, s.outputs]), [[["x"], ["x0"]], [["x0"], ["x1"]], [["x1"], ["x2"]]]);
 * ```
 */
export function planSegments(graph: Graph, options: PlanSegmentsOptions = {}): SegmentPlan {
  const n = graph.nodes.length;
  if (n === 0) return { segments: [], liveAtCuts: 0, why: "the graph has no node" };
  const flow = graph.nodes.find((node) => node.subgraphs().length > 0);
  if (flow) {
    return {
      segments: [whole(graph)],
      liveAtCuts: 0,
      why:
        `node "${flow.name}" (${flow.opType}) holds a subgraph: segments would have to carry its outer-scope reads`,
    };
  }
  graph.sort();
  const live = liveSets(graph);
  const anchors = options.anchors;
  const weights = graph.nodes.map((node) =>
    node.inputs.reduce((a, v) => a + (v?.isConst ? constByteLength(v) ?? 0 : 0), 0)
  );
  // Boundaries of the segments cutting at the interior gaps with at most `t` live values.
  const cutAt = (t: number): number[] => {
    const cuts = [0];
    for (let p = 1; p < n; p++) if (live[p]!.length <= t) cuts.push(p);
    cuts.push(n);
    return mergeWithoutAnchor(graph.nodes, cuts, anchors);
  };
  const largest = (kept: number[]) => {
    let max = 0;
    for (let i = 0; i + 1 < kept.length; i++) {
      let w = 0;
      for (let p = kept[i]!; p < kept[i + 1]!; p++) w += weights[p]!;
      max = Math.max(max, w);
    }
    return max;
  };
  const levels = [...new Set(live.slice(1, n).map((l) => l.length))].sort((a, b) => a - b);
  const finest = largest(cutAt(Infinity));
  let t = levels[levels.length - 1] ?? 0;
  for (const level of levels) {
    if (largest(cutAt(level)) <= MAX_SEGMENT_RATIO * finest) {
      t = level;
      break;
    }
  }
  const kept = cutAt(t);
  const segments: Segment[] = [];
  for (let i = 0; i + 1 < kept.length; i++) {
    const a = kept[i]!, b = kept[i + 1]!;
    segments.push({ inputs: live[a]!, outputs: live[b]!, nodes: graph.nodes.slice(a, b) });
  }
  return { segments, liveAtCuts: t };
}

/** Segment boundaries where every stretch holds an anchor: one without is merged into the next (the last into the previous). */
function mergeWithoutAnchor(nodes: readonly Node[], cuts: number[], anchors?: ReadonlySet<Node>): number[] {
  if (!anchors) return cuts;
  const n = nodes.length;
  const has = (a: number, b: number) => {
    for (let p = a; p < b; p++) if (anchors.has(nodes[p]!)) return true;
    return false;
  };
  const kept: number[] = [0];
  for (let i = 1; i < cuts.length; i++) {
    const to = cuts[i]!;
    if (to === n || has(kept[kept.length - 1]!, to)) kept.push(to);
  }
  if (kept.length > 2 && !has(kept[kept.length - 2]!, n)) kept.splice(kept.length - 2, 1);
  return kept;
}

function whole(graph: Graph): Segment {
  return {
    inputs: graph.inputs.filter((v) => !v.isConst).map((v) => v.name),
    outputs: graph.outputs.map((v) => v.name),
    nodes: [...graph.nodes],
  };
}

/**
 * The nodes computing `outputs` from `inputs` (and constants) in the graph as it is now: what a segment
 * holds after its layers were rewritten (rewrites keep the names of the values they replace).
 *
 * @param graph the main graph
 * @param inputs names the segment reads from before
 * @param outputs names it must compute (names also in `inputs` pass through and need no node)
 * @returns the nodes, in graph order
 * @throws {RangeError} when an output needs a value that is neither computed here, a constant, nor an input
 */
export function segmentNodes(graph: Graph, inputs: readonly string[], outputs: readonly string[]): Node[] {
  const given = new Set(inputs), seen = new Set<Node>();
  const stack = outputs.filter((o) => !given.has(o)).map((name) => {
    const v = graph.local(name);
    if (!v) throw new RangeError(`Cannot extract a segment: no value "${name}" in graph "${graph.name}"`);
    return v;
  });
  while (stack.length) {
    const v = stack.pop()!;
    if (v.isConst || given.has(v.name)) continue;
    const p = v.producer;
    if (!p) {
      throw new RangeError(
        `Cannot extract a segment: "${v.name}" is read but is neither computed between its cuts nor one of its inputs (${
          inputs.join(", ")
        })`,
      );
    }
    if (seen.has(p)) continue;
    seen.add(p);
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return graph.nodes.filter((node) => seen.has(node));
}

/** Options of {@linkcode segmentModel}. */
export interface SegmentModelOptions {
  /** One batch of the inputs, for the element types of inputs without a known type. @default {{}} */
  feeds?: Record<string, Tensor>;
  /** Filled with each original node -> its copy in the segment model. @default {undefined} */
  copies?: Map<Node, Node>;
}

/**
 * A model of one segment: its nodes with only the constants they read (each read with `peekConst`, so a
 * lazily loaded weight is read from disk for this model and not kept on the original value), its inputs as
 * graph inputs (typed from the original values, else from `feeds`), its outputs as graph outputs. Opsets
 * and model-local functions are those of `model`.
 *
 * @param model the model the nodes belong to (not changed)
 * @param segment the nodes (in graph order), and the names of the graph inputs and outputs
 * @param options feeds, copies
 * @returns the model
 * @throws {RangeError} when a node reads a value that is none of these
 */
export function segmentModel(
  model: Model,
  segment: Segment,
  options: SegmentModelOptions = {},
): Model {
  const { nodes, inputs, outputs } = segment, feeds = options.feeds ?? {};
  const sub = new IrModel();
  sub.irVersion = model.irVersion;
  for (const [d, v] of model.opsets) sub.opsets.set(d, v);
  sub.functions.push(...model.functions);
  const g = sub.graph, src = model.graph;
  const typeOf = (name: string): TensorType | undefined => {
    const t = src.local(name)?.type;
    if (t) return { ...t, ...(t.shape ? { shape: [...t.shape] } : {}) };
    const f = feeds[name];
    return f ? { elemType: f.dtype } : undefined;
  };
  for (const name of inputs) {
    const v = g.value(name);
    const t = typeOf(name);
    if (t) v.type = t;
    g.inputs.push(v);
  }
  for (const node of nodes) {
    const ins = node.inputs.map((i) => {
      if (!i) return null;
      const have = g.local(i.name);
      if (have) return have;
      if (i.isConst) return g.addInitializer(i.name, i.peekConst()!);
      throw new RangeError(
        `Cannot build the segment model: node "${node.name}" reads "${i.name}", not given`,
      );
    });
    const copy = g.addNode(node.opType, ins, node.outputs.map((o) => o.name), {
      domain: node.domain,
      name: node.name,
      attrs: node.attrs.values(),
    });
    options.copies?.set(node, copy);
    node.outputs.forEach((o, i) => {
      if (o.type) {
        copy.outputs[i]!.type = { ...o.type, ...(o.type.shape ? { shape: [...o.type.shape] } : {}) };
      }
    });
  }
  for (const name of outputs) {
    const v = g.local(name);
    if (!v) throw new RangeError(`Cannot build the segment model: output "${name}" is not computed`);
    g.outputs.push(v);
  }
  return sub;
}
