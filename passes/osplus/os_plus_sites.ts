/**
 * Finding Outlier Suppression+ sites (arXiv 2304.09145, METHODS.md section 1): a norm (every form
 * onnx/patterns.ts matches) whose output feeds MatMul / Gemm nodes with constant weights (Q, K, V sharing an
 * input; FC1; GPT-2's Conv1D behind a channel-preserving Reshape), besides Shape readers and residual
 * branches (post-LN: compensated by the fold); and the gated MLP, whose down projection reads
 * act(gate) * up (scale only, folded into up's output channels). Norms that are not sites are returned with
 * the reason. ./os_plus_fold.ts folds a shift and scale into a site.
 * @module
 */
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { constValue, findLayerNorms, type LayerNormMatch } from "../../onnx/patterns.ts";
import { DataType, type Tensor } from "../../onnx/tensor.ts";

/** A linear consumer of a site. */
export interface OsPlusConsumer {
  node: Node;
  /** The constant weight value (MatMul B, or Gemm B). */
  weight: Value;
  /** True when the weight is [out, C] (Gemm transB = 1), false for [C, out]. */
  transposed: boolean;
  /** Number of outputs. */
  outputs: number;
  /** The channel-preserving Reshape between the site and this consumer (GPT-2's Conv1D view(-1, C)), if any. */
  via?: Node;
}

/** The up projection of a gated-MLP site: its output channels absorb 1 / s. */
export interface OsPlusUpProjection {
  node: Node;
  weight: Value;
  /** True when the weight is [F, in] (Gemm transB = 1). */
  transposed: boolean;
  /** The bias Add after a MatMul, with the index of its constant input, when there is one. */
  biasAdd?: { node: Node; index: number };
}

/** Kinds of site: the norm forms, and the gated MLP (down-projection input act(gate) * up). */
export type OsPlusSiteKind = "fused" | "decomposed" | "rms" | "gated-mlp";

/** A site the pass can migrate. */
export interface OsPlusSitePlan {
  /** Site name: the norm's first node name (or its output name); the gating Mul's name for a gated MLP. */
  name: string;
  kind: OsPlusSiteKind;
  /** The migrated activation: the norm output, or the gated product act(gate) * up. */
  output: Value;
  /** The norm (norm sites). */
  norm?: LayerNormMatch;
  /** The up projection (gated-MLP sites). */
  up?: OsPlusUpProjection;
  /** True when only a scale can be migrated (RMSNorm, gated MLP): no beta to absorb a shift. */
  scaleOnly: boolean;
  /** Channels C (the normalized last axis). */
  channels: number;
  consumers: OsPlusConsumer[];
  /**
   * Residual nodes that read the site's output (post-LN models such as BERT: an Add, or onnxruntime's
   * Skip(Simplified)LayerNormalization): they keep the original activation (a copy of the norm's affine tail,
   * or an inserted Mul(s) [+ Add(z)]).
   */
  residual: Node[];
}

/** A norm that is not migrated, and why. */
export interface OsPlusSkip {
  name: string;
  reason: string;
}

/** Options of {@link checkOsPlusSite} and {@link findOsPlusSites}. */
export interface SiteOptions {
  /**
   * Migrate a norm whose output also feeds a residual Add (post-LN, BERT) by restoring the original value
   * on that branch with an inserted per-channel Mul [+ Add]; false skips such norms. @default true
   */
  compensateResidual?: boolean;
}

/** The float constant behind a value, if any. */
export function floatInit(v: Value | null): Tensor | undefined {
  const t = constValue(v);
  return t && t.dtype === DataType.FLOAT ? t : undefined;
}

function siteName(m: LayerNormMatch): string {
  return m.nodes[0]?.name || m.output.name;
}

/** The channel count of a norm, from gamma / beta or the input's static last dimension. */
function normChannels(m: LayerNormMatch): number | undefined {
  for (const p of [m.gamma, m.beta]) {
    const t = floatInit(p);
    if (t && t.data.length > 1) return t.data.length;
  }
  const d = m.input.type?.shape?.at(-1);
  return typeof d === "number" ? d : undefined;
}

/** `n` as a linear consumer of `act` (its activation input), or the reason it is not one. */
function linearConsumer(n: Node, act: Value): Omit<OsPlusConsumer, "via"> & { channels: number } | string {
  const w = n.input(1);
  const wt = floatInit(w);
  const onlyAsA = act.uses.every((u) => u.node !== n || u.index === 0);
  if (isOp(n, Op.MatMul) && onlyAsA && w?.isConst && wt && wt.dims.length === 2) {
    return { node: n, weight: w, transposed: false, outputs: wt.dims[1]!, channels: wt.dims[0]! };
  }
  if (
    isOp(n, Op.Gemm) && onlyAsA && w?.isConst && wt && n.a.int("transA", 0) === 0 &&
    (n.input(2) === null || floatInit(n.input(2)) !== undefined)
  ) {
    const transposed = n.a.int("transB", 0) === 1;
    const [c, o] = transposed ? [wt.dims[1]!, wt.dims[0]!] : [wt.dims[0]!, wt.dims[1]!];
    return { node: n, weight: w, transposed, outputs: o, channels: c };
  }
  return `${n.opType} "${n.name}" is not a MatMul/Gemm with a constant float weight`;
}

/**
 * The linear consumers of an activation with C channels on its last axis: MatMul / Gemm directly, or behind
 * a Reshape whose output keeps C as its last dimension (a row-major reshape [.., C] -> [M, C] keeps every
 * element's channel); Shape / Size readers are ignored; Add consumers are returned as residuals.
 */
function gatherConsumers(
  act: Value,
  channels: number | undefined,
): { consumers: OsPlusConsumer[]; residual: Node[]; channels: number } | string {
  const consumers: OsPlusConsumer[] = [], residual: Node[] = [];
  let C = channels ?? -1;
  const take = (c: Omit<OsPlusConsumer, "via"> & { channels: number }, via?: Node): string | undefined => {
    if (C >= 0 && c.channels !== C) {
      return `consumer "${c.node.name}" reads ${c.channels} channels, the site has ${C}`;
    }
    C = c.channels;
    const { channels: _c, ...rest } = c;
    consumers.push(via ? { ...rest, via } : rest);
    return undefined;
  };
  for (const n of act.consumers()) {
    // Shape / Size read only the shape, which the migration keeps (PP-OCRv4 rec reshapes Q, K, V this way).
    if (isOp(n, Op.Shape) || isOp(n, Op.Size)) continue;
    const direct = linearConsumer(n, act);
    if (typeof direct !== "string") {
      const r = take(direct);
      if (r) return r;
      continue;
    }
    if (isOp(n, Op.Reshape) && n.input(0) === act && n.input(1) !== act) {
      const y = n.outputs[0]!;
      if (y.isGraphOutput) return `Reshape "${n.name}" output is a graph output`;
      for (const m of y.consumers()) {
        if (isOp(m, Op.Shape) || isOp(m, Op.Size)) continue;
        const c = linearConsumer(m, y);
        if (typeof c === "string") return `Reshape "${n.name}" also feeds ${c}`;
        // The reshape keeps channels only if the consumer's input rows are the site's C channels.
        if (channels === undefined) {
          return `the channel count of "${act.name}" is unknown behind Reshape "${n.name}"`;
        }
        const r = take(c, n);
        if (r) return r;
      }
      continue;
    }
    // A residual: an Add, or onnxruntime's Skip(Simplified)LayerNormalization reading it as input or skip.
    const skipLn = isOp(n, Op.SkipLayerNormalization) || isOp(n, Op.SkipSimplifiedLayerNormalization);
    if (isOp(n, Op.Add) || (skipLn && act.uses.every((u) => u.node !== n || u.index <= 1))) {
      residual.push(n);
      continue;
    }
    return `output "${act.name}" also feeds ${direct}`;
  }
  if (consumers.length === 0) return `output "${act.name}" feeds no MatMul/Gemm`;
  return { consumers, residual, channels: C };
}

/**
 * Check one norm: its output must feed only MatMul / Gemm nodes (as the activation input, directly or
 * behind a channel-preserving Reshape) whose weights are float constants over the same C channels, besides
 * residual Adds (compensated, see {@link SiteOptions}) and Shape readers.
 *
 * @param m a LayerNorm match from {@link findLayerNorms}
 * @param options residual handling
 * @returns the site, or the reason it is skipped
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { matchLayerNorm, type LayerNormMatch } from "../../onnx/patterns.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { checkOsPlusSite } from "./os_plus_fold.ts";
 * const g = new Graph();
 * const gamma = g.addInitializer("s", makeTensor(DataType.FLOAT, [2], Float32Array.of(1, 1)));
 * const ln = g.addNode("LayerNormalization", [g.value("x"), gamma], ["y"]);
 * g.addNode("Relu", [ln.outputs[0]!], ["r"]);
 * const r = checkOsPlusSite(matchLayerNorm(ln) as LayerNormMatch);
 * assertEquals("reason" in r && r.reason.includes("Relu"), true);
 * ```
 */
export function checkOsPlusSite(m: LayerNormMatch, options: SiteOptions = {}): OsPlusSitePlan | OsPlusSkip {
  const name = siteName(m);
  const skip = (reason: string): OsPlusSkip => ({ name, reason });
  if (m.axis !== -1) {
    return skip(`normalizes over the last ${-m.axis} axes; OS+ needs the channel axis alone`);
  }
  const et = m.input.type?.elemType ?? DataType.FLOAT;
  if (et !== DataType.FLOAT) return skip(`input "${m.input.name}" is not float32`);
  const out = m.output;
  if (out.isGraphOutput) return skip(`output "${out.name}" is a graph output`);
  if (m.gamma && !floatInit(m.gamma)) return skip(`gamma "${m.gamma.name}" is not a float constant`);
  if (m.beta && !floatInit(m.beta)) return skip(`beta "${m.beta.name}" is not a float constant`);
  const found = gatherConsumers(out, normChannels(m));
  if (typeof found === "string") return skip(found);
  const { consumers, residual, channels } = found;
  if (residual.length > 0 && !(options.compensateResidual ?? true)) {
    return skip(
      `output "${out.name}" also feeds Add "${
        residual[0]!.name
      }" (a residual branch, as in post-LN models) ` +
        `and residual compensation is off`,
    );
  }
  for (const p of [m.gamma, m.beta]) {
    const t = floatInit(p);
    if (t && t.data.length !== channels && t.data.length !== 1) {
      return skip(`"${p!.name}" has ${t.data.length} values for ${channels} channels`);
    }
  }
  return {
    name,
    kind: m.kind,
    output: out,
    norm: m,
    scaleOnly: m.kind === "rms",
    channels,
    consumers,
    residual,
  };
}

/** `v` as the output of a MatMul / Gemm with a constant weight (through its bias Add), or undefined. */
function upProjection(v: Value): { up: OsPlusUpProjection; channels: number } | undefined {
  let p = v.producer;
  let biasAdd: OsPlusUpProjection["biasAdd"];
  if (p && isOp(p, Op.Add)) {
    const bi = p.inputs.findIndex((x) => x?.isConst || (x?.producer && isOp(x.producer, Op.Constant)));
    const y = p.input(1 - bi);
    if (bi < 0 || !y || !floatInit(p.input(bi)) || y.isGraphOutput || y.consumers().length !== 1) {
      return undefined;
    }
    biasAdd = { node: p, index: bi };
    p = y.producer;
  }
  if (!p) return undefined;
  const a = p.input(0);
  if (!a) return undefined;
  const c = linearConsumer(p, a);
  if (typeof c === "string") return undefined;
  const bias = biasAdd ? floatInit(biasAdd.node.input(biasAdd.index)) : undefined;
  if (bias && bias.data.length !== c.outputs) return undefined;
  if (isOp(p, Op.Gemm)) {
    const cT = floatInit(p.input(2));
    if (cT && cT.data.length !== c.outputs && cT.data.length !== 1) return undefined;
  }
  return {
    up: { node: p, weight: c.weight, transposed: c.transposed, ...(biasAdd ? { biasAdd } : {}) },
    channels: c.outputs,
  };
}

/**
 * Check a gated-MLP site at a Mul node: `h = act(gate) * up` where `up` is a linear projection read only by
 * this Mul (so act(gate) cannot depend on it) and `h` feeds only the down projection(s). `h` is linear in
 * `up`, so a channel scale folds into up's output channels and the down projection's rows (scale only).
 *
 * @param mul a Mul node
 * @returns the site, or the reason it is not one
 */
export function checkGatedSite(mul: Node): OsPlusSitePlan | OsPlusSkip {
  const name = mul.name || mul.outputs[0]!.name;
  const skip = (reason: string): OsPlusSkip => ({ name, reason });
  if (!isOp(mul, Op.Mul)) return skip(`${mul.opType} "${mul.name}" is not a Mul`);
  const h = mul.outputs[0]!;
  if (h.isGraphOutput) return skip(`output "${h.name}" is a graph output`);
  for (let i = 0; i < 2; i++) {
    const u = mul.input(i), a = mul.input(1 - i);
    if (!u || !a || u === a || u.isGraphOutput || u.consumers().length !== 1) continue;
    const up = upProjection(u);
    if (!up) continue;
    if (up.up.node.outputs[0]!.consumers().length !== 1) continue;
    const found = gatherConsumers(h, up.channels);
    if (typeof found === "string") return skip(found);
    if (found.residual.length > 0) {
      return skip(`output "${h.name}" also feeds Add "${found.residual[0]!.name}"`);
    }
    return {
      name,
      kind: "gated-mlp",
      output: h,
      up: up.up,
      scaleOnly: true,
      channels: found.channels,
      consumers: found.consumers,
      residual: [],
    };
  }
  return skip(`neither input of Mul "${mul.name}" is a linear projection read only by it`);
}

/**
 * Every OS+ site of a graph (norm -> linear, and gated MLPs whose down projection reads act(gate) * up), and
 * the norms skipped with their reasons. Muls that are not gated MLPs are not reported.
 *
 * @param graph the main graph (canonicalized: passes/normalize/canonicalize.ts)
 * @param options residual handling
 * @returns sites in graph order, and skips
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { findOsPlusSites } from "./os_plus_fold.ts";
 * const g = new Graph();
 * const gamma = g.addInitializer("g", makeTensor(DataType.FLOAT, [2], new Float32Array([1, 1])));
 * const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [2, 3]));
 * const ln = g.addNode("LayerNormalization", [g.value("x"), gamma], ["y"]);
 * g.addNode("MatMul", [ln.outputs[0]!, w], ["z"]);
 * assertEquals(findOsPlusSites(g).sites.map((s) => s.channels), [2]);
 * ```
 */
export function findOsPlusSites(
  graph: Graph,
  options: SiteOptions = {},
): { sites: OsPlusSitePlan[]; skipped: OsPlusSkip[] } {
  const sites: OsPlusSitePlan[] = [], skipped: OsPlusSkip[] = [];
  for (const m of findLayerNorms(graph)) {
    const r = checkOsPlusSite(m, options);
    if ("reason" in r) skipped.push(r);
    else sites.push(r);
  }
  for (const n of graph.nodes) {
    if (!isOp(n, Op.Mul)) continue;
    const r = checkGatedSite(n);
    if (!("reason" in r)) sites.push(r);
  }
  const order = new Map(graph.nodes.map((n, i) => [n, i]));
  const pos = (s: OsPlusSitePlan) => order.get(s.output.producer!) ?? -1;
  sites.sort((a, b) => pos(a) - pos(b));
  return { sites, skipped };
}
