/**
 * Graph patterns other passes query. The main one is the norm matcher, one for LayerNorm and RMSNorm in
 * every form they reach users as ONNX:
 * - fused nodes: `LayerNormalization` (opset 17), `RMSNormalization` (opset 23), and onnxruntime's
 *   `SimplifiedLayerNormalization`, `SkipLayerNormalization`, `SkipSimplifiedLayerNormalization`
 *   (`com.microsoft`, written by its transformer optimizer);
 * - the decomposed LayerNorm exporters emit for old opsets: ReduceMean -> Sub -> Mul(d, d) -> ReduceMean ->
 *   Add(eps) -> Sqrt -> Div(d, .) | Reciprocal -> Mul(d, .) -> [Mul(gamma)] -> [Add(beta)];
 * - RMSNorm (HF LlamaRMSNorm, T5LayerNorm): Mul(x, x) -> ReduceMean -> Add(eps) -> Sqrt -> Div(x, .) |
 *   Reciprocal -> Mul(x, .) -> [Mul(gamma)].
 * The decomposed forms are matched in their canonical spelling (passes/normalize/canonicalize.ts brings
 * `Div(1, .)`, `Pow(., 2)`, `Pow(., 0.5)` and no-op Casts to it); `Pow(., 2)` is still accepted for callers
 * that did not canonicalize. ReduceMean axes are read from the attribute (opset < 18) or the input (18+).
 * Following onnxscript's rewriter, a matcher returns a match or the reason it did not apply, never throws.
 * @module
 */
import type { Graph, Node, Value } from "./ir.ts";
import { isOp, Op } from "./ops.ts";
import { DataType, makeTensor, sizeOf, type Tensor, toNumbers } from "./tensor.ts";

/**
 * The tensor a `Constant` node produces, from whichever `value*` attribute it carries.
 *
 * @param node a Constant node
 * @returns the tensor, or undefined for a non-Constant node or an attribute kind not decoded (sparse_value)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { floatsAttr } from "./attributes.ts";
 * import { Node } from "./ir.ts";
 * import { constantNodeTensor } from "./patterns.ts";
 * const t = constantNodeTensor(new Node("Constant", "", "c", [floatsAttr("value_floats", [1, 2])]));
 * assertEquals(t?.dims, [2]);
 * ```
 */
export function constantNodeTensor(node: Node): Tensor | undefined {
  if (!isOp(node, Op.Constant)) return undefined;
  const a = node.a;
  const t = a.tensor("value");
  if (t) return t;
  if (a.has("value_float")) return makeTensor(DataType.FLOAT, [], Float32Array.of(a.float("value_float")));
  if (a.has("value_floats")) {
    const f = a.floats("value_floats");
    return makeTensor(DataType.FLOAT, [f.length], Float32Array.from(f));
  }
  if (a.has("value_int")) {
    return makeTensor(DataType.INT64, [], BigInt64Array.of(a.int64("value_int")));
  }
  if (a.has("value_ints")) {
    const raw = node.attrs.get("value_ints")!.value as (number | bigint)[];
    return makeTensor(DataType.INT64, [raw.length], BigInt64Array.from(raw.map((x) => BigInt(x))));
  }
  if (a.has("value_string")) return makeTensor(DataType.STRING, [], [a.string("value_string")]);
  if (a.has("value_strings")) {
    const s = a.strings("value_strings");
    return makeTensor(DataType.STRING, [s.length], s);
  }
  return undefined;
}

/**
 * The constant data of a value: an initializer's tensor, or the tensor of the Constant node producing it.
 *
 * @param v the value (null for an omitted input)
 * @returns the tensor, or undefined when the value is not a constant
 */
export function constValue(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  if (v.isConst && !v.isGraphInput) return v.const;
  return v.producer ? constantNodeTensor(v.producer) : undefined;
}

/** One recognised LayerNorm (or RMSNorm). */
export interface LayerNormMatch {
  /**
   * "fused": a LayerNormalization / SkipLayerNormalization node; "decomposed": the mean/variance form;
   * "rms": RMSNorm (no mean subtraction), decomposed or fused (see {@link LayerNormMatch.fused}).
   */
  kind: "fused" | "decomposed" | "rms";
  /**
   * The fused node and where its gamma / beta inputs sit, when the norm is one node (beta index null: the op
   * has no beta input). Undefined for a decomposed norm.
   */
  fused?: { node: Node; gammaIndex: number; betaIndex: number | null };
  /** The normalized tensor x. */
  input: Value;
  /** The value after the beta Add, or after the gamma Mul when there is no beta (or the normalized value). */
  output: Value;
  /** The constant scale, when present. */
  gamma: Value | null;
  /** The constant shift, when present. */
  beta: Value | null;
  epsilon: number;
  /** First normalized axis, negative (counted from the end): -1 = last axis only. */
  axis: number;
  /** Every node of the pattern, in graph order of the chain (the first reads `input`). */
  nodes: Node[];
}

/** Why a candidate did not match. */
export interface NoMatch {
  /** The node where matching started. */
  node: Node;
  reason: string;
}

type R<T> = T | string;

function soleConsumer(v: Value, what: string): R<Node> {
  if (v.isGraphOutput) return `${what} "${v.name}" is a graph output`;
  const c = v.consumers();
  if (c.length !== 1) return `${what} "${v.name}" has ${c.length} consumers, expected 1`;
  return c[0]!;
}

function other(n: Node, v: Value): Value | null {
  return n.input(0) === v ? n.input(1) : n.input(0);
}

/** Reduced axes of a ReduceMean as negative numbers, or a reason. */
function reduceAxes(n: Node, rank: number | undefined): R<number[]> {
  let axes: number[] | undefined;
  if (n.attrs.has("axes")) axes = n.a.ints("axes");
  else if (n.input(1)) {
    const t = constValue(n.input(1));
    if (!t) return `ReduceMean "${n.name}" has non-constant axes`;
    axes = toNumbers(t);
  }
  if (!axes || axes.length === 0) return `ReduceMean "${n.name}" reduces over all axes`;
  if (n.a.int("keepdims", 1) !== 1) return `ReduceMean "${n.name}" has keepdims=0`;
  const neg = axes.map((a) => a < 0 ? a : rank !== undefined ? a - rank : NaN);
  if (neg.some(Number.isNaN)) {
    return `ReduceMean "${n.name}" axes [${axes}] need the input rank, which is unknown`;
  }
  neg.sort((a, b) => b - a);
  for (let i = 0; i < neg.length; i++) {
    if (neg[i] !== -1 - i) return `ReduceMean "${n.name}" axes [${axes}] are not the trailing axes`;
  }
  return neg;
}

function rankOf(v: Value): number | undefined {
  return v.type?.shape?.length;
}

function scalarConst(v: Value | null): number | undefined {
  const t = constValue(v);
  if (!t || sizeOf(t.dims) !== 1) return undefined;
  return toNumbers(t)[0];
}

/** A constant whose elements all lie on the trailing `n` axes (a per-channel vector). */
function isChannelConst(v: Value | null, naxes: number): boolean {
  const t = constValue(v);
  if (!t) return false;
  return t.dims.slice(0, Math.max(0, t.dims.length - naxes)).every((d) => d === 1);
}

/** Match `sq` = Pow(d, 2) or Mul(d, d); returns d. */
function squareOf(n: Node): Value | undefined {
  if (isOp(n, Op.Pow) && scalarConst(n.input(1)) === 2) return n.input(0) ?? undefined;
  if (isOp(n, Op.Mul) && n.input(0) && n.input(0) === n.input(1)) return n.input(0)!;
  return undefined;
}

/**
 * Match the variance tail shared by LayerNorm and RMSNorm, starting at the ReduceMean of the squares:
 * ReduceMean -> Add(eps) -> Sqrt -> Div(num, .) | Mul(num, Reciprocal(.)) -> [Mul(gamma)] -> [Add(beta)].
 */
function matchTail(
  r2: Node,
  num: Value,
  axes: number[],
  nodes: Node[],
): R<Omit<LayerNormMatch, "kind" | "input">> {
  const a2 = reduceAxes(r2, rankOf(r2.input(0)!));
  if (typeof a2 === "string") return a2;
  if (a2.join() !== axes.join()) return `the two ReduceMean nodes reduce different axes`;
  nodes.push(r2);
  const addN = soleConsumer(r2.outputs[0]!, "variance");
  if (typeof addN === "string") return addN;
  if (!isOp(addN, Op.Add)) return `variance feeds ${addN.opType} "${addN.name}", expected Add(eps)`;
  const epsilon = scalarConst(other(addN, r2.outputs[0]!));
  if (epsilon === undefined) return `Add "${addN.name}" does not add a constant scalar epsilon`;
  nodes.push(addN);
  const sqrtN = soleConsumer(addN.outputs[0]!, "variance + eps");
  if (typeof sqrtN === "string") return sqrtN;
  if (!isOp(sqrtN, Op.Sqrt)) return `variance + eps feeds ${sqrtN.opType} "${sqrtN.name}", expected Sqrt`;
  nodes.push(sqrtN);
  let normOut: Value;
  const sd = soleConsumer(sqrtN.outputs[0]!, "std");
  if (typeof sd === "string") return sd;
  if (isOp(sd, Op.Div)) {
    if (sd.input(0) !== num || sd.input(1) !== sqrtN.outputs[0]) {
      return `Div "${sd.name}" does not divide x by std` +
        (scalarConst(sd.input(0)) === 1 ? " (it is Div(1, std): canonicalize the graph first)" : "");
    }
    nodes.push(sd);
    normOut = sd.outputs[0]!;
  } else if (isOp(sd, Op.Reciprocal)) {
    nodes.push(sd);
    const mul = soleConsumer(sd.outputs[0]!, "1/std");
    if (typeof mul === "string") return mul;
    if (!isOp(mul, Op.Mul) || other(mul, sd.outputs[0]!) !== num) {
      return `1/std feeds ${mul.opType} "${mul.name}", expected Mul with x`;
    }
    nodes.push(mul);
    normOut = mul.outputs[0]!;
  } else {
    return `std feeds ${sd.opType} "${sd.name}", expected Div(x, std) or Reciprocal`;
  }

  let output = normOut, gamma: Value | null = null, beta: Value | null = null;
  const next = (v: Value) => {
    if (v.isGraphOutput) return undefined;
    const c = v.consumers();
    return c.length === 1 ? c[0] : undefined;
  };
  const g = next(output);
  if (g && isOp(g, Op.Mul) && isChannelConst(other(g, output), -axes[axes.length - 1]!)) {
    gamma = other(g, output);
    nodes.push(g);
    output = g.outputs[0]!;
  }
  const b = next(output);
  if (b && isOp(b, Op.Add) && isChannelConst(other(b, output), -axes[axes.length - 1]!)) {
    beta = other(b, output);
    nodes.push(b);
    output = b.outputs[0]!;
  }
  return { output, gamma, beta, epsilon, axis: axes[axes.length - 1]!, nodes };
}

/** Where a fused norm op keeps gamma and beta, whether it is RMS-style, and whether it has an axis attribute. */
interface FusedNormSpec {
  gamma: number;
  beta: number | null;
  rms: boolean;
  hasAxis: boolean;
}

/**
 * The fused-norm layout of a node, or undefined when it is not a fused norm.
 *
 * @param node any node
 * @returns gamma / beta input indices and the kind
 */
export function fusedNormSpec(node: Node): FusedNormSpec | undefined {
  if (isOp(node, Op.LayerNormalization)) return { gamma: 1, beta: 2, rms: false, hasAxis: true };
  if (
    isOp(node, Op.RMSNormalization) || isOp(node, Op.SimplifiedLayerNormalization) ||
    isOp(node, Op.MsSimplifiedLayerNormalization)
  ) return { gamma: 1, beta: null, rms: true, hasAxis: true };
  if (isOp(node, Op.SkipLayerNormalization)) return { gamma: 2, beta: 3, rms: false, hasAxis: false };
  if (isOp(node, Op.SkipSimplifiedLayerNormalization)) {
    return { gamma: 2, beta: null, rms: true, hasAxis: false };
  }
  return undefined;
}

/**
 * Try to match a LayerNorm starting at `node`: a fused norm node (see {@link fusedNormSpec}), the first
 * ReduceMean (of x) of a decomposed LayerNorm, or the ReduceMean (of x^2) of an RMSNorm.
 *
 * @param node the candidate start node
 * @returns the match, or a {@link NoMatch} saying why not
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "./ir.ts";
 * import { matchLayerNorm } from "./patterns.ts";
 * const g = new Graph();
 * const r = g.addNode("ReduceMean", [g.value("x")], ["m"]);
 * assertEquals("reason" in matchLayerNorm(r), true);
 * ```
 */
export function matchLayerNorm(node: Node): LayerNormMatch | NoMatch {
  const fail = (reason: string): NoMatch => ({ node, reason });
  const spec = fusedNormSpec(node);
  if (spec) {
    const x = node.input(0);
    if (!x) return fail(`${node.opType} "${node.name}" has no input`);
    const rank = rankOf(x);
    let axis = spec.hasAxis ? node.a.int("axis", -1) : -1;
    if (axis >= 0) {
      if (rank === undefined) return fail(`${node.opType} "${node.name}" axis ${axis} needs the input rank`);
      axis -= rank;
    }
    return {
      kind: spec.rms ? "rms" : "fused",
      fused: { node, gammaIndex: spec.gamma, betaIndex: spec.beta },
      input: x,
      output: node.outputs[0]!,
      gamma: node.input(spec.gamma),
      beta: spec.beta === null ? null : node.input(spec.beta),
      epsilon: node.a.float("epsilon", 1e-5),
      axis,
      nodes: [node],
    };
  }
  if (!isOp(node, Op.ReduceMean)) {
    return fail(`${node.opType} "${node.name}" is neither ReduceMean nor a fused norm`);
  }
  const x = node.input(0);
  if (!x) return fail(`ReduceMean "${node.name}" has no input`);
  const axes = reduceAxes(node, rankOf(x));
  if (typeof axes === "string") return fail(axes);
  const mean = node.outputs[0]!;

  // RMSNorm: the ReduceMean reads x^2.
  if (x.producer && squareOf(x.producer)) {
    const base = squareOf(x.producer)!;
    const sq = x.producer;
    const bp = base.producer;
    if (bp && isOp(bp, Op.Sub) && bp.input(1)?.producer && isOp(bp.input(1)!.producer!, Op.ReduceMean)) {
      return fail(`ReduceMean "${node.name}" is the variance of a decomposed LayerNorm that did not match`);
    }
    if (soleConsumer(x, "x^2") !== node) return fail(`x^2 "${x.name}" has other consumers`);
    const tail = matchTail(node, base, axes, [sq]);
    if (typeof tail === "string") return fail(tail);
    return { kind: "rms", input: base, ...tail };
  }

  // Decomposed LayerNorm: mean -> Sub(x, mean).
  const sub = soleConsumer(mean, "mean");
  if (typeof sub === "string") return fail(sub);
  if (!isOp(sub, Op.Sub) || sub.input(0) !== x || sub.input(1) !== mean) {
    return fail(`mean feeds ${sub.opType} "${sub.name}", expected Sub(x, mean)`);
  }
  const d = sub.outputs[0]!;
  if (d.isGraphOutput) return fail(`x - mean "${d.name}" is a graph output`);
  const cs = d.consumers();
  const sqN = cs.find((c) => squareOf(c) === d);
  if (!sqN) return fail(`x - mean "${d.name}" is not squared by Pow(., 2) or Mul(., .)`);
  if (cs.length !== 2) {
    return fail(`x - mean "${d.name}" has ${cs.length} consumers, expected 2 (square, divide)`);
  }
  const r2 = soleConsumer(sqN.outputs[0]!, "(x - mean)^2");
  if (typeof r2 === "string") return fail(r2);
  if (!isOp(r2, Op.ReduceMean)) {
    return fail(`(x - mean)^2 feeds ${r2.opType} "${r2.name}", expected ReduceMean`);
  }
  const tail = matchTail(r2, d, axes, [node, sub, sqN]);
  if (typeof tail === "string") return fail(tail);
  return { kind: "decomposed", input: x, ...tail };
}

/** Options of {@link findLayerNorms}. */
export interface FindLayerNormsOptions {
  /** Receives each candidate (ReduceMean or LayerNormalization) that did not match, with the reason. @default undefined */
  onMiss?: (miss: NoMatch) => void;
}

/**
 * Every LayerNorm of a graph (not its subgraphs): fused, decomposed and RMSNorm.
 *
 * @param graph the graph
 * @param options see {@link FindLayerNormsOptions}
 * @returns the matches in graph order; no node belongs to two matches
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "./ir.ts";
 * import { findLayerNorms } from "./patterns.ts";
 * const g = new Graph();
 * g.addNode("LayerNormalization", [g.value("x"), g.value("s")], ["y"]);
 * assertEquals(findLayerNorms(g).map((m) => m.kind), ["fused"]);
 * ```
 */
export function findLayerNorms(graph: Graph, options: FindLayerNormsOptions = {}): LayerNormMatch[] {
  const out: LayerNormMatch[] = [];
  const claimed = new Set<Node>();
  for (const n of graph.nodes) {
    if (claimed.has(n) || !(isOp(n, Op.ReduceMean) || fusedNormSpec(n))) continue;
    const m = matchLayerNorm(n);
    if ("reason" in m) {
      options.onMiss?.(m);
      continue;
    }
    if (m.nodes.some((x) => claimed.has(x))) continue;
    for (const x of m.nodes) claimed.add(x);
    out.push(m);
  }
  return out;
}
