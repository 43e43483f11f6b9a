/**
 * Folding an Outlier Suppression+ migration into a site (arXiv 2304.09145, METHODS.md section 1; sites come
 * from ./os_plus_sites.ts). With the channel shift z and scale s, the site activation becomes
 * X~ = (X - z) / s and every consumer Y = X~ (diag(s) W) + (b + z W):
 * - norm sites: gamma' = gamma / s, beta' = (beta - z) / s (in the fused node's gamma / beta inputs, or the
 *   decomposed norm's gamma Mul / beta Add);
 * - gated-MLP sites (scale only): the up projection's output column j (and bias) divided by s_j;
 * - consumers: rows of W times s, bias += z W.
 * Nothing is added at inference except a bias Add (or a Gemm C / LayerNormalization B input) where a
 * consumer had no bias, and, for residual branches of post-LN norms, a copy of the norm's affine tail (the
 * fused node, or the gamma Mul / beta Add) with the original gamma / beta, so the residual is bit-identical.
 * Arithmetic in float64, stored as float32.
 * @module
 */
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import type { LayerNormMatch } from "../../onnx/patterns.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import {
  floatInit,
  type OsPlusConsumer,
  type OsPlusSitePlan,
  type OsPlusUpProjection,
} from "./os_plus_sites.ts";

export {
  checkGatedSite,
  checkOsPlusSite,
  findOsPlusSites,
  type OsPlusConsumer,
  type OsPlusSiteKind,
  type OsPlusSitePlan,
  type OsPlusSkip,
  type OsPlusUpProjection,
  type SiteOptions,
} from "./os_plus_sites.ts";

/** What folding one site changed. */
export interface FoldChanges {
  /** Initializers whose data changed (in place, or new ones replacing shared or Constant-node values). */
  changed: string[];
  /** Nodes created (bias Adds, or a gamma Mul / beta Add for a decomposed norm that had none). */
  createdNodes: string[];
  /** Initializers created. */
  createdInitializers: string[];
}

function freshName(g: Graph, base: string): string {
  let n = base, k = 0;
  while (g.lookup(n) !== undefined) n = `${base}_${++k}`;
  return n;
}

/** Set input `i` of `node` to a constant with data `t`: in place when only this input reads it. */
function setConst(node: Node, i: number, t: Tensor, base: string, ch: FoldChanges): void {
  const g = node.graph!;
  const v = node.input(i);
  if (v && v.isConst && !v.isGraphInput && v.uses.length === 1 && !v.isGraphOutput) {
    v.const = t;
    ch.changed.push(v.name);
    return;
  }
  const nv = g.addInitializer(freshName(g, v ? `${v.name}_osplus` : base), t);
  node.setInput(i, nv);
  (v ? ch.changed : ch.createdInitializers).push(nv.name);
  if (v && v.isConst && v.uses.length === 0 && !v.isGraphOutput && g.initializers.includes(v)) {
    g.removeInitializer(v);
  }
}

/** Per-channel values of a [C] / [1..., C] / scalar constant as float64, length C (null -> fill). */
function channelVector(v: Value | null, channels: number, fill: number): Float64Array {
  const t = floatInit(v);
  const out = new Float64Array(channels).fill(fill);
  if (!t) return out;
  const d = t.data as Float32Array;
  for (let j = 0; j < channels; j++) out[j] = d.length === 1 ? d[0]! : d[j]!;
  return out;
}

/** Shape for a rewritten per-channel constant: the old one when it had C elements, else [C]. */
function channelDims(v: Value | null, channels: number): number[] {
  const t = floatInit(v);
  return t && t.data.length === channels ? [...t.dims] : [channels];
}

/** Insert `op(value, constant)` after value's producer and point the given consumers at its output. */
function appendChannelOp(
  g: Graph,
  op: typeof Op.Add | typeof Op.Mul,
  value: Value,
  t: Tensor,
  consumers: readonly Node[],
  ch: FoldChanges,
): Value {
  const c = g.addInitializer(freshName(g, `${value.name}_osplus_${op.type.toLowerCase()}`), t);
  ch.createdInitializers.push(c.name);
  const node = g.addNode(
    op.type,
    [value, c],
    [`${value.name}_osplus`],
    value.producer ? { after: value.producer } : {},
  );
  ch.createdNodes.push(node.name);
  const y = node.outputs[0]!;
  if (value.type) y.type = { ...value.type };
  for (const n of consumers) {
    for (let i = 0; i < n.inputs.length; i++) if (n.inputs[i] === value) n.setInput(i, y);
  }
  return y;
}

/** Norm side: y' = (y - z) / s folded into gamma / beta; returns the value now holding y'. */
function foldNorm(
  site: OsPlusSitePlan,
  shift: ArrayLike<number>,
  scale: ArrayLike<number>,
  hasShift: boolean,
  users: readonly Node[],
  ch: FoldChanges,
): Value {
  const m = site.norm!, C = site.channels;
  const g = m.output.graph;
  const vec = (x: ArrayLike<number>, dims: number[]) =>
    makeTensor(DataType.FLOAT, dims, Float32Array.from(x));
  const gamma = channelVector(m.gamma, C, 1), beta = channelVector(m.beta, C, 0);
  const g2 = gamma.map((v, j) => v / scale[j]!);
  const b2 = beta.map((v, j) => (v - shift[j]!) / scale[j]!);
  const useIn = (v: Value | null) => v ? v.uses.find((u) => m.nodes.includes(u.node)) : undefined;
  const gammaUse = useIn(m.gamma), betaUse = useIn(m.beta);
  if (m.fused) {
    const { node, gammaIndex, betaIndex } = m.fused;
    setConst(node, gammaIndex, vec(g2, channelDims(m.gamma, C)), `${site.name}_osplus_gamma`, ch);
    if (betaIndex !== null && (betaUse || hasShift)) {
      setConst(node, betaIndex, vec(b2, channelDims(m.beta, C)), `${site.name}_osplus_beta`, ch);
    }
    return m.output;
  }
  if (gammaUse) {
    setConst(gammaUse.node, gammaUse.index, vec(g2, channelDims(m.gamma, C)), "gamma", ch);
    if (betaUse) setConst(betaUse.node, betaUse.index, vec(b2, channelDims(m.beta, C)), "beta", ch);
    else if (hasShift) return appendChannelOp(g, Op.Add, m.output, vec(b2, [C]), users, ch);
    return m.output;
  }
  // No gamma Mul to fold into: beta' = beta - z, then an appended Mul(1 / s) divides both terms.
  if (betaUse) {
    const b1 = beta.map((v, j) => v - shift[j]!);
    setConst(betaUse.node, betaUse.index, vec(b1, channelDims(m.beta, C)), "beta", ch);
  }
  const y = appendChannelOp(g, Op.Mul, m.output, vec(g2, [C]), users, ch);
  if (!betaUse && hasShift) return appendChannelOp(g, Op.Add, y, vec(b2, [C]), users, ch);
  return y;
}

/**
 * Copy the nodes of a norm that apply gamma / beta (the fused node itself; or the gamma Mul and beta Add of a
 * decomposed norm), reading the same constants, and return the copy's output; undefined when the norm has no
 * such nodes. The copies share gamma / beta with the originals, so the fold then gives the originals new ones.
 */
function cloneAffineTail(m: LayerNormMatch, ch: FoldChanges): Value | undefined {
  const g = m.output.graph;
  let tail: Node[];
  if (m.fused) tail = [m.fused.node];
  else {
    tail = m.nodes.filter((n) =>
      (m.gamma && n.inputs.includes(m.gamma) && isOp(n, Op.Mul)) ||
      (m.beta && n.inputs.includes(m.beta) && isOp(n, Op.Add))
    );
  }
  if (tail.length === 0) return undefined;
  const map = new Map<Value, Value>();
  let last: Node = tail[tail.length - 1]!;
  for (const n of tail) {
    const copy = g.addNode(
      n.opType,
      n.inputs.map((v) => (v ? map.get(v) ?? v : null)),
      n.outputs.map((o) => freshName(g, `${o.name}_residual`)),
      { domain: n.domain, attrs: [...n.attrs.values()], after: last },
    );
    ch.createdNodes.push(copy.name);
    n.outputs.forEach((o, i) => {
      const c = copy.outputs[i]!;
      if (o.type) c.type = { ...o.type };
      map.set(o, c);
    });
    last = copy;
  }
  return map.get(m.output);
}

/** Gated-MLP side: the up projection's output channel j (weight column, bias) divided by s_j. */
function foldUpProjection(up: OsPlusUpProjection, scale: ArrayLike<number>, ch: FoldChanges): void {
  const F = scale.length;
  const w = floatInit(up.weight)!;
  const wd = w.data as Float32Array;
  const nw = new Float32Array(wd.length);
  const rows = wd.length / F;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < F; j++) {
      const at = up.transposed ? j * rows + i : i * F + j;
      nw[at] = wd[at]! / scale[j]!;
    }
  }
  setConst(up.node, 1, makeTensor(DataType.FLOAT, w.dims, nw), `${up.weight.name}_osplus`, ch);
  const divBias = (node: Node, i: number) => {
    const b = channelVector(node.input(i), F, 0);
    setConst(
      node,
      i,
      makeTensor(
        DataType.FLOAT,
        channelDims(node.input(i), F),
        Float32Array.from(b, (v, j) => v / scale[j]!),
      ),
      `${node.name || "up"}_osplus_bias`,
      ch,
    );
  };
  if (isOp(up.node, Op.Gemm) && up.node.input(2)) divBias(up.node, 2);
  if (up.biasAdd) divBias(up.biasAdd.node, up.biasAdd.index);
}

/**
 * Fold a shift and scale into one site (see the module doc); the float function is unchanged.
 *
 * @param site the site (from {@link findOsPlusSites})
 * @param shift z, length C (zeros for scale-only migration)
 * @param scale s, length C (each > 0)
 * @returns what changed
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { findOsPlusSites, foldOsPlusSite } from "./os_plus_fold.ts";
 * const g = new Graph();
 * const f = (n: string, d: number[], v: number[]) => g.addInitializer(n, makeTensor(DataType.FLOAT, d, Float32Array.from(v)));
 * const ln = g.addNode("LayerNormalization", [g.value("x"), f("g", [2], [1, 4]), f("b", [2], [0, 6])], ["y"]);
 * g.addNode("MatMul", [ln.outputs[0]!, f("w", [2, 1], [1, 1])], ["z"]);
 * foldOsPlusSite(findOsPlusSites(g).sites[0]!, [0, 6], [1, 4]);
 * assertEquals([g.lookup("g")!.const!.data, g.lookup("b")!.const!.data], [Float32Array.of(1, 1), Float32Array.of(0, 0)]);
 * assertEquals(g.lookup("w")!.const!.data, Float32Array.of(1, 4)); // row 1 times s_1 = 4
 * assertEquals(g.nodes.map((n) => n.opType), ["LayerNormalization", "MatMul", "Add"]); // bias z W = 6 created
 * ```
 */
export function foldOsPlusSite(
  site: OsPlusSitePlan,
  shift: ArrayLike<number>,
  scale: ArrayLike<number>,
): FoldChanges {
  const C = site.channels;
  if (shift.length !== C || scale.length !== C) {
    throw new RangeError(
      `OS+ fold of "${site.name}": ${shift.length} shifts / ${scale.length} scales for ${C} channels`,
    );
  }
  const ch: FoldChanges = { changed: [], createdNodes: [], createdInitializers: [] };
  const g = site.output.graph;
  const hasShift = Array.from(shift).some((z) => z !== 0);
  if (hasShift && site.scaleOnly) {
    throw new RangeError(`OS+ fold of "${site.name}": a ${site.kind} site takes a scale only, got a shift`);
  }
  // Every node that reads the migrated activation (directly or through a Reshape), residuals included.
  const users = [...new Set([...site.consumers.map((c) => c.via ?? c.node), ...site.residual])];
  const vec = (x: ArrayLike<number>, dims: number[]) =>
    makeTensor(DataType.FLOAT, dims, Float32Array.from(x));

  // Residual branches (post-LN) keep X: a copy of the norm's affine tail (the fused node, or the gamma Mul /
  // beta Add) with the original gamma / beta feeds them, bit-identical to before; otherwise X~ * s + z.
  const restored = site.residual.length > 0 && site.norm ? cloneAffineTail(site.norm, ch) : undefined;
  if (restored) {
    for (const n of site.residual) {
      for (let i = 0; i < n.inputs.length; i++) if (n.inputs[i] === site.output) n.setInput(i, restored);
    }
  }
  let migrated = site.output;
  if (site.up) foldUpProjection(site.up, scale, ch);
  else {migrated = foldNorm(
      site,
      shift,
      scale,
      hasShift,
      users.filter((n) => !site.residual.includes(n) || !restored),
      ch,
    );}
  if (site.residual.length > 0 && !restored) {
    let y = appendChannelOp(g, Op.Mul, migrated, vec(scale, [C]), site.residual, ch);
    if (hasShift) y = appendChannelOp(g, Op.Add, y, vec(shift, [C]), site.residual, ch);
  }

  // Consumer side: rows of W times s, bias += z W.
  const doneWeights = new Map<Value, Value>();
  for (const c of site.consumers) {
    const w = floatInit(c.weight)!;
    const wd = w.data as Float32Array, O = c.outputs;
    const at = (j: number, k: number) => c.transposed ? k * C + j : j * O + k;
    const zw = new Float64Array(O);
    if (hasShift) {
      for (let j = 0; j < C; j++) {
        const z = shift[j]!;
        if (z !== 0) { for (let k = 0; k < O; k++) zw[k] = zw[k]! + z * wd[at(j, k)]!; }
      }
    }
    const scaled = doneWeights.get(c.weight);
    if (scaled) c.node.setInput(1, scaled);
    else {
      const nw = new Float32Array(wd.length);
      for (let j = 0; j < C; j++) for (let k = 0; k < O; k++) nw[at(j, k)] = wd[at(j, k)]! * scale[j]!;
      setConst(c.node, 1, makeTensor(DataType.FLOAT, w.dims, nw), `${c.weight.name}_osplus`, ch);
      doneWeights.set(c.weight, c.node.input(1)!);
    }
    if (hasShift) addBias(c, zw, ch);
  }
  return ch;
}

/** bias += zW: into the Gemm C, the bias Add after a MatMul (PyTorch export), or a new Add. */
function addBias(c: OsPlusConsumer, zw: Float64Array, ch: FoldChanges): void {
  const n = c.node, g = n.graph!, O = c.outputs;
  if (isOp(n, Op.Gemm)) {
    const alpha = n.a.float("alpha", 1), beta = n.a.float("beta", 1);
    const old = channelVector(n.input(2), O, 0);
    const cur = floatInit(n.input(2));
    if (cur && cur.data.length !== O && cur.data.length !== 1) {
      throw new RangeError(`Gemm "${n.name}" C has ${cur.data.length} values; OS+ needs a per-output bias`);
    }
    const nb = Float32Array.from(old, (b, k) => b + alpha * zw[k]! / beta);
    setConst(
      n,
      2,
      makeTensor(DataType.FLOAT, channelDims(n.input(2), O), nb),
      `${n.name || "gemm"}_osplus_bias`,
      ch,
    );
    return;
  }
  const y = n.outputs[0]!;
  const users = y.isGraphOutput ? [] : y.consumers();
  const add = users.length === 1 && isOp(users[0]!, Op.Add) ? users[0]! : undefined;
  if (add) {
    const bi = add.input(0) === y ? 1 : 0;
    const b = floatInit(add.input(bi));
    const bDims = b ? channelDims(add.input(bi), O) : [];
    if (
      b && add.input(bi) !== y && bDims.length >= 1 && bDims[bDims.length - 1] === O && b.data.length === O
    ) {
      const bd = b.data as Float32Array;
      setConst(
        add,
        bi,
        makeTensor(DataType.FLOAT, bDims, Float32Array.from(bd, (v, k) => v + zw[k]!)),
        "bias",
        ch,
      );
      return;
    }
  }
  // No bias: MatMul -> Add(new bias). The MatMul output is renamed so downstream names (graph outputs) stay.
  const orig = y.name;
  g.rename(y, freshName(g, `${orig}_osplus_nobias`));
  const bv = g.addInitializer(
    freshName(g, `${n.name || orig}_osplus_bias`),
    makeTensor(DataType.FLOAT, [O], Float32Array.from(zw)),
  );
  ch.createdInitializers.push(bv.name);
  const addNode = g.addNode(Op.Add.type, [y, bv], [orig], { after: n });
  ch.createdNodes.push(addNode.name);
  const out = addNode.outputs[0]!;
  if (y.type) out.type = { ...y.type };
  for (const u of [...y.uses]) if (u.node !== addNode) u.node.setInput(u.index, out);
  const outs = g.outputs;
  for (let i = 0; i < outs.length; i++) if (outs[i] === y) outs[i] = out;
}
