/**
 * Runs a graph on the CPU reference kernels: nodes in order, a value -> tensor map, and each tensor dropped
 * as soon as its last consumer has run (graph outputs are kept), so peak memory is the live set, not the
 * whole activation history. Without observers (`onValue`, `onInput`), the float32 storage of dropped values
 * is recycled for later outputs (`_pool.ts`) and some node groups run as one kernel with the same bits
 * (`_fusion.ts`: MatMul + bias Add, the GELU chain).
 *
 * Numerics. Integer ops (QuantizeLinear, MatMulInteger, ConvInteger, every shiftkit op) are exact, on the
 * quant/ semantics. MatMul, Gemm, Conv and ConvTranspose accumulate in float32, like onnxruntime: every
 * product and every partial sum is rounded to float32, over k = 0..K-1 in order (`ops/_gemm.ts`, WebAssembly
 * SIMD), so a result is deterministic and independent of the blocking. onnxruntime's MLAS sums the same
 * terms in another order (with FMA), so the two differ by at most 2 gamma(K) sum_k |a_k b_k|, gamma(K) =
 * K 2^-24 / (1 - K 2^-24), and in practice by a few 2^-24 sqrt(K) relative. `shiftkit.ShiftConv` (the CPU
 * oracle of the WebGPU ShiftConv kernel) and `shiftkit.ShiftMatMul` keep summing in double, as they always
 * have (`ops/_gemm_f64.ts`, quant/dense_shift.ts). Depthwise convolution and every
 * element-wise op, normalisation and reduction compute in double and round once to float32; exp (Softmax,
 * Sigmoid) and erf are accurate to about 1 ulp of double, so they round to the float32 a correctly rounded
 * function gives except in rare ties.
 * @module
 */
import { type Graph, type Model, type Node, outerReads, type Value } from "../ir.ts";
import { controlFlow, driveSync, isControlFlow } from "./control_flow.ts";
import type { Tensor } from "../tensor.ts";
import { getOp, type OpKernel } from "./registry.ts";
import "./shiftkit.ts";
import type { PackCache } from "./ops/_gemm.ts";
import { FloatPool, PoolScope } from "./_pool.ts";
import { findFusions, type Fusion } from "./_fusion.ts";

/** Options of {@link evaluateGraph}. */
export interface EvaluateOptions {
  /**
   * Opset version per domain (`""` = ai.onnx), as the model imports them; kernels need it for attribute vs
   * input changes across opsets.
   * @default {new Map([["", 21]])}
   */
  opsets?: ReadonlyMap<string, number>;
  /**
   * Called with every node output as it is produced (calibration observers, debugging). The tensor must
   * not be modified.
   * @default {undefined}
   */
  onValue?: (value: Value, tensor: Tensor) => void;
  /**
   * Called with every subgraph input (a Loop/Scan body's per-iteration inputs) as a body starts; the main
   * graph's inputs are the caller's own feeds and are not reported.
   * @default {undefined}
   */
  onInput?: (value: Value, tensor: Tensor) => void;
  /**
   * Called after each node with the milliseconds it took (bookkeeping included), or after a fused group's
   * first node with the group's other nodes (`rest`) and the group's time. Unlike an observer of values it
   * changes nothing in how the graph runs (storage recycling and fused groups stay on): a profiler's hook.
   * @default {undefined}
   */
  onTime?: (node: Node, rest: readonly Node[], ms: number) => void;
  /**
   * Values of enclosing scopes, for a subgraph (If branch, Loop/Scan body) that reads them by reference.
   * @default {undefined}
   */
  outer?: (value: Value) => Tensor | undefined;
  /**
   * Keep work that depends only on constants (packed MatMul / Gemm weights) and on the graph's structure
   * (which values each node reads, the fused node groups) across evaluations of the same model: pass the
   * same {@linkcode EvaluationCache} to every call. Valid only while no initializer's data and no node's
   * inputs change; create a new cache after modifying weights or rewiring nodes (a changed node list or
   * output list is noticed). Without it every call packs its weights again.
   * @default {undefined}
   */
  cache?: EvaluationCache;
}

/** What evaluating a graph needs to know of its structure (built once per graph with a cache). */
export interface GraphPlan {
  /** The node list it was built for (a changed list is a new plan). */
  nodes: readonly Node[];
  /** Values each node reads: its inputs and what its bodies read from outer scopes. */
  readsOf: Map<Node, (Value | null)[]>;
  /** Reads of each value by the graph's nodes. */
  reads: ReadonlyMap<Value, number>;
  /** The graph outputs (never freed). */
  keep: ReadonlySet<Value>;
  /** Each node's kernel, as looked up (the registry's key is a string built per lookup). */
  kernels: Map<Node, OpKernel>;
  /** Fused groups, found for the ai.onnx opset `fusedOpset`. */
  fused?: Map<Node, Fusion>;
  fusedOpset?: number;
}

function planOf(graph: Graph, cache: EvaluationCache | undefined): GraphPlan {
  const old = cache?.plans.get(graph);
  if (
    old && old.nodes.length === graph.nodes.length && old.nodes.every((n, i) => n === graph.nodes[i]) &&
    old.keep.size === graph.outputs.length && graph.outputs.every((v) => old.keep.has(v))
  ) return old;
  const reads = new Map<Value, number>(), readsOf = new Map<Node, (Value | null)[]>();
  for (const n of graph.nodes) {
    const vs: (Value | null)[] = [...n.inputs];
    for (const sg of n.subgraphs()) vs.push(...new Set(outerReads(sg)));
    readsOf.set(n, vs);
    for (const v of vs) if (v) reads.set(v, (reads.get(v) ?? 0) + 1);
  }
  const plan: GraphPlan = {
    nodes: [...graph.nodes],
    readsOf,
    reads,
    keep: new Set(graph.outputs),
    kernels: new Map(),
  };
  cache?.plans.set(graph, plan);
  return plan;
}

/** The kernel of a node (looked up once per plan). */
function kernelOf(plan: GraphPlan, node: Node): OpKernel {
  let k = plan.kernels.get(node);
  if (!k) plan.kernels.set(node, k = getOp(node.domain, node.opType));
  return k;
}

/** Constant-derived data reused across evaluations (see `EvaluateOptions.cache`). */
export interface EvaluationCache {
  /** Per graph: the reads of each value and the fused node groups (see `GraphPlan`). */
  readonly plans: WeakMap<Graph, GraphPlan>;
  /** Packed constant GEMM operands. */
  readonly packed: PackCache;
  /** Outputs of nodes that depend on initializers only (a Transpose of a weight, a Constant node...). */
  readonly folded: WeakMap<Node, Tensor[]>;
  /** Float32 activation storage recycled across evaluations (see `_pool.ts`). */
  readonly pool: FloatPool;
}

/**
 * ai.onnx kernels that write every element of the float32 outputs they allocate from the pool (no
 * zero-filling needed); each listed after checking every path of its kernel.
 */
const OVERWRITES = new Set(["MatMul", "Gemm", "Softmax", "LayerNormalization"]);

/** Ops whose outputs are not a function of their inputs, never folded. */
const NOT_FOLDABLE = new Set([
  "RandomNormal",
  "RandomNormalLike",
  "RandomUniform",
  "RandomUniformLike",
  "Multinomial",
  "Bernoulli",
  "Dropout",
  "If",
  "Loop",
  "Scan",
]);

/**
 * A new, empty {@linkcode EvaluationCache}.
 *
 * @returns the cache
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { createEvaluationCache } from "./evaluate.ts";
 * assert(createEvaluationCache().packed instanceof WeakMap);
 * ```
 */
export function createEvaluationCache(): EvaluationCache {
  return { packed: new WeakMap(), folded: new WeakMap(), pool: new FloatPool(), plans: new WeakMap() };
}

function opsetOf(opsets: ReadonlyMap<string, number>, domain: string): number {
  const d = domain === "ai.onnx" ? "" : domain;
  return opsets.get(d) ?? (d === "" ? opsets.get("ai.onnx") : undefined) ?? (d === "" ? 21 : 1);
}

/**
 * Evaluate a graph.
 *
 * @param graph the graph; nodes must be in topological order (see `Graph.sort`)
 * @param feeds a tensor for every graph input without an initializer, by input name
 * @param options opsets and an observer of intermediate values
 * @returns the graph outputs by name
 * @throws {TypeError} when a feed is missing or a node reads a value nothing produced
 * @throws {RangeError} when a node's op has no kernel (naming domain and op type)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../ir.ts";
 * import { DataType, makeTensor } from "../tensor.ts";
 * import { evaluateGraph } from "./evaluate.ts";
 * const g = new Graph("g");
 * const x = g.value("x");
 * g.inputs.push(x);
 * const one = g.addInitializer("one", makeTensor(DataType.FLOAT, [], new Float32Array([1])));
 * const [y] = g.addNode("Add", [x, one], ["y"]).outputs;
 * g.outputs.push(y!);
 * const out = evaluateGraph(g, { x: makeTensor(DataType.FLOAT, [2], new Float32Array([1, 2])) });
 * assertEquals(out.y!.data, new Float32Array([2, 3]));
 * ```
 */
export function evaluateGraph(
  graph: Graph,
  feeds: Readonly<Record<string, Tensor>>,
  options: EvaluateOptions = {},
): Record<string, Tensor> {
  const opsets = options.opsets ?? new Map([["", 21]]);
  const packCache = options.cache?.packed, folded = options.cache?.folded;
  // With a cache, values computed from initializers alone are constant across calls: their nodes run once.
  const constant = new Set<Value>();
  if (folded) {
    for (const v of graph.initializers) if (!(v.name in feeds)) constant.add(v);
  }
  const live = new Map<Value, Tensor>();
  for (const v of graph.inputs) {
    const t = feeds[v.name] ?? v.const;
    if (!t) throw new TypeError(`Cannot evaluate graph "${graph.name}": no feed for input "${v.name}"`);
    live.set(v, t);
  }
  // remaining reads of each value by this graph's nodes; graph outputs are never freed
  // (a node with subgraphs also reads what its bodies read from this or outer scopes)
  // (the plan of reads and fused groups depends on the graph's structure only: a cache keeps it)
  const plan = planOf(graph, options.cache);
  const reads = new Map(plan.reads), readsOf = plan.readsOf;
  const lookup = (v: Value): Tensor | undefined => live.get(v) ?? v.const ?? options.outer?.(v);
  const keep = plan.keep;
  // observers may keep the tensors they see: recycle storage only without them
  const pool = options.onValue || options.onInput
    ? undefined
    : new PoolScope(options.cache?.pool ?? new FloatPool());
  // node groups run as one kernel (same bits, fewer passes; `_fusion.ts`) where no observer expects the
  // values between them
  const opset = opsetOf(opsets, "");
  if (pool && opset >= 9 && plan.fusedOpset !== opset) {
    plan.fused = findFusions(graph, plan.reads, keep, opset);
    plan.fusedOpset = opset;
  }
  const fused = pool && opset >= 9 ? plan.fused : undefined;
  const fusedDone = new Set<Node>();
  const consumed = (node: Node) => {
    for (const v of readsOf.get(node)!) {
      if (!v || !reads.has(v)) continue;
      const left = reads.get(v)! - 1;
      reads.set(v, left);
      if (left === 0 && !keep.has(v)) {
        const t = live.get(v);
        live.delete(v);
        if (pool && t) pool.release(t);
      }
    }
  };
  const onTime = options.onTime;
  for (const node of graph.nodes) {
    if (fusedDone.has(node)) { // its work was done by its group's fused kernel
      consumed(node);
      continue;
    }
    const t0 = onTime ? performance.now() : 0;
    let group: readonly Node[] | undefined;
    const inputs = node.inputs.map((v) => {
      if (!v) return undefined;
      const t = lookup(v);
      if (!t) {
        throw new TypeError(
          `Cannot evaluate ${node.opType} node "${node.name}": input "${v.name}" has not been computed`,
        );
      }
      return t;
    });
    const foldable = folded !== undefined && node.domain === "" && !NOT_FOLDABLE.has(node.opType) &&
      node.inputs.every((v) => !v || constant.has(v));
    let outs = foldable ? folded.get(node) : undefined;
    if (!outs) {
      const ctx = {
        opset: opsetOf(opsets, node.domain),
        numOutputs: node.outputs.length,
        ...(packCache
          ? { packCache, constInputs: node.inputs.map((v) => v !== null && constant.has(v)) }
          : {}),
      };
      try {
        if (isControlFlow(node)) {
          // bodies see this graph's live values (and, through it, the enclosing scopes')
          // (a body's nodes are timed as part of this node, not reported again)
          const { onTime: _, ...rest } = options;
          const body = { ...rest, outer: lookup };
          outs = driveSync(controlFlow(node, inputs, ctx.opset), ({ graph: g, inputs: ins }) => {
            const feeds: Record<string, Tensor> = {};
            g.inputs.forEach((v, i) => {
              if (ins[i]) feeds[v.name] = ins[i]!;
            });
            g.inputs.forEach((v, i) => {
              if (ins[i]) options.onInput?.(v, ins[i]!);
            });
            const r = evaluateGraph(g, feeds, body);
            return g.outputs.map((v) => r[v.name]!);
          });
        } else if (pool) {
          const f = foldable ? undefined : fused?.get(node);
          const cache = ctx.constInputs?.[1] ? packCache : undefined;
          const y = f && pool.run(true, () => f.run(inputs, lookup, cache), f.overwrites === true);
          if (y) {
            if (reads.has(f!.out) || keep.has(f!.out)) {
              live.set(f!.out, y);
              pool.hold(y);
            } else pool.drop(y);
            for (const n of f!.rest) fusedDone.add(n);
            group = f!.rest;
            outs = [];
          } else {
            // folded outputs outlive this evaluation: their storage never comes from the pool
            const kernel = kernelOf(plan, node);
            outs = pool.run(!foldable, () => kernel(inputs, node.a, ctx), OVERWRITES.has(node.opType));
          }
        } else outs = kernelOf(plan, node)(inputs, node.a, ctx);
      } catch (e) {
        throw new (e instanceof RangeError ? RangeError : TypeError)(
          `Cannot evaluate ${node.opType} node "${node.name}": ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (foldable) folded.set(node, outs);
    }
    if (foldable) { for (const v of node.outputs) constant.add(v); }
    node.outputs.forEach((v, i) => {
      const t = outs[i];
      if (!t || v.name === "") return;
      if (reads.has(v) || keep.has(v)) {
        live.set(v, t);
        pool?.hold(t);
      }
      options.onValue?.(v, t);
    });
    consumed(node);
    if (pool) { for (const t of outs) if (t) pool.drop(t); }
    onTime?.(node, group ?? [], performance.now() - t0);
  }
  const result: Record<string, Tensor> = {};
  for (const v of graph.outputs) {
    const t = lookup(v);
    if (!t) throw new TypeError(`Cannot evaluate graph "${graph.name}": output "${v.name}" was not produced`);
    result[v.name] = t;
  }
  return result;
}

/**
 * Evaluate a model's main graph with the model's own opset imports.
 *
 * @param model the model
 * @param feeds a tensor for every graph input without an initializer, by input name
 * @param options an observer of intermediate values (opsets come from the model)
 * @returns the graph outputs by name
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../ir.ts";
 * import { DataType, makeTensor } from "../tensor.ts";
 * import { evaluateModel } from "./evaluate.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const x = m.graph.value("x");
 * m.graph.inputs.push(x);
 * m.graph.outputs.push(m.graph.addNode("Relu", [x], ["y"]).outputs[0]!);
 * const y = evaluateModel(m, { x: makeTensor(DataType.FLOAT, [2], new Float32Array([-1, 2])) }).y!;
 * assertEquals(y.data, new Float32Array([0, 2]));
 * ```
 */
export function evaluateModel(
  model: Model,
  feeds: Readonly<Record<string, Tensor>>,
  options: Omit<EvaluateOptions, "opsets"> = {},
): Record<string, Tensor> {
  return evaluateGraph(model.graph, feeds, { ...options, opsets: model.opsets });
}
