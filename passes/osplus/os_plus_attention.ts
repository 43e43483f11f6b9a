/**
 * The attention-output loss of OS+ for the q/k/v site (arXiv 2304.09145; the released code scores the QKV
 * migration on the whole attention output, not on the projections). {@link recognizeAttention} finds the
 * multi-head attention fed by a site's three consumers in its exported form:
 *
 *   q/k/v = MatMul (+ bias Add) -> Reshape [.., H, d] -> Transpose (k to [B, H, d, T], or [B, H, T, d] and a
 *   second Transpose) [-> Mul/Div by a scalar], scores = MatMul(q, k) [-> Mul/Div by a scalar]
 *   [-> Add(mask)] -> Softmax(-1) -> MatMul(., v)
 *
 * and {@link attentionLoss} computes softmax(c Q_h K_h^T + mask) V_h per head with fake-quantized activations
 * and weights against float. Forms with anything else on the path (RoPE, grouped-query repeats, fused QKV)
 * are not recognised; the pass then keeps the consumers' loss and reports why.
 * @module
 */
import type { Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { constValue } from "../../onnx/patterns.ts";
import { DataType, type Tensor, toNumbers } from "../../onnx/tensor.ts";
import { computeQParams } from "../../quant/qparams.ts";
import { roundHalfEven } from "../../quant/round.ts";
import { affineRows } from "../../quant/sym_product.ts";
import type { OsPlusSitePlan } from "./os_plus_fold.ts";
import { migrationScales } from "./os_plus_search.ts";

/** A recognised attention block over a site's consumers. */
export interface AttentionMatch {
  /** Indices of the q, k, v projections in `site.consumers`. */
  q: number;
  k: number;
  v: number;
  heads: number;
  headDim: number;
  /** Product of the scalar factors on the q and k paths and on the scores. */
  scale: number;
  /** The additive mask: a constant, or a value to collect with the calibration pass. */
  mask?: { value: Value; tensor?: Tensor };
  /** The attention output (MatMul(probs, v)). */
  output: Value;
}

function scalar(v: Value | null): number | undefined {
  const t = constValue(v);
  return t && t.data.length === 1 ? toNumbers(t)[0] : undefined;
}

/** The single non-Shape consumer of `v`, or undefined. */
function next(v: Value): Node | undefined {
  if (v.isGraphOutput) return undefined;
  const c = v.consumers().filter((n) => !isOp(n, Op.Shape));
  return c.length === 1 ? c[0] : undefined;
}

interface Path {
  /** The MatMul the path ends at, and which input it arrives on. */
  end: Node;
  input: number;
  factor: number;
  heads?: number;
  perms: number[][];
}

/** Walk from a projection output through bias Add, Reshape, Transpose and scalar Mul/Div to a MatMul. */
function walk(y: Value): Path | string {
  let v = y, factor = 1, heads: number | undefined;
  const perms: number[][] = [];
  for (let steps = 0; steps < 8; steps++) {
    const n = next(v);
    if (!n) return `"${v.name}" does not feed exactly one node`;
    if (isOp(n, Op.MatMul)) {
      return { end: n, input: n.inputs.indexOf(v), factor, ...(heads ? { heads } : {}), perms };
    }
    if (isOp(n, Op.Add) && constValue(n.input(n.input(0) === v ? 1 : 0))) {
      // a bias Add: the bias is folded into the consumer bias handled by the caller
    } else if (isOp(n, Op.Reshape)) {
      const shape = constValue(n.input(1));
      let dims: number[] | undefined = shape ? toNumbers(shape) : undefined;
      const p = n.input(1)?.producer;
      if (!dims && p && isOp(p, Op.Concat)) {
        const tail = p.inputs.slice(-2).map((x) => constValue(x));
        if (tail.every((t) => t && t.data.length === 1)) dims = [0, 0, ...tail.map((t) => toNumbers(t!)[0]!)];
      }
      if (!dims || dims.length !== 4) {
        return `Reshape "${n.name}" does not split heads into a constant [.., H, d]`;
      }
      heads = dims[2]!;
    } else if (isOp(n, Op.Transpose)) {
      perms.push(n.a.ints("perm"));
    } else if ((isOp(n, Op.Mul) || isOp(n, Op.Div)) && scalar(n.input(1)) !== undefined) {
      const c = scalar(n.input(1))!;
      factor *= isOp(n, Op.Mul) ? c : 1 / c;
    } else if (isOp(n, Op.Mul) && scalar(n.input(0)) !== undefined) {
      factor *= scalar(n.input(0))!;
    } else return `${n.opType} "${n.name}" on the path from "${y.name}" is not part of a plain attention`;
    v = n.outputs[0]!;
  }
  return `no MatMul within 8 nodes of "${y.name}"`;
}

/** Output of a consumer after its bias Add (if any). */
function projOut(n: Node): Value {
  return n.outputs[0]!;
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Recognise the attention fed by a site's three consumers (see the module doc).
 *
 * @param site an OS+ site
 * @returns the match, or the reason it is not recognised
 */
export function recognizeAttention(site: OsPlusSitePlan): AttentionMatch | string {
  if (site.consumers.length !== 3) return `the site has ${site.consumers.length} consumers, not q, k, v`;
  if (site.consumers.some((c) => c.via)) return "a consumer reads the site through a Reshape";
  const paths = site.consumers.map((c) => walk(projOut(c.node)));
  const bad = paths.find((p) => typeof p === "string");
  if (bad) return bad as string;
  const ps = paths as Path[];
  const iq = ps.findIndex((p) =>
    p.input === 0 && ps.some((o) => o !== p && o.end === p.end && o.input === 1)
  );
  if (iq < 0) return "no two consumers meet at a scores MatMul(q, k)";
  const ik = ps.findIndex((p) => p.end === ps[iq]!.end && p.input === 1);
  const iv = [0, 1, 2].find((i) => i !== iq && i !== ik)!;
  const [pq, pk, pv] = [ps[iq]!, ps[ik]!, ps[iv]!];
  if (pv.input !== 1) return "the third consumer does not reach the value MatMul as its second input";
  if (!pq.heads || pq.heads !== pk.heads || pq.heads !== pv.heads) {
    return "q, k, v split into different head counts";
  }
  // Layouts: q, v as [B, H, T, d]; k as [B, H, d, T] (one Transpose, or [B, H, T, d] then swap of the last two).
  const kPerm = pk.perms.length === 1
    ? pk.perms[0]!
    : pk.perms.length === 2 && same(pk.perms[1]!, [0, 1, 3, 2])
    ? pk.perms[0]!.length === 4 && same(pk.perms[0]!, [0, 2, 1, 3]) ? [0, 2, 3, 1] : []
    : [];
  if (
    pq.perms.length !== 1 || !same(pq.perms[0]!, [0, 2, 1, 3]) || pv.perms.length !== 1 ||
    !same(pv.perms[0]!, [0, 2, 1, 3]) || !same(kPerm, [0, 2, 3, 1])
  ) return "q / k / v transposes are not the [B, H, T, d] x [B, H, d, T] layout";
  // Scores -> [scale] -> [mask] -> Softmax(-1) -> MatMul(probs, v).
  let v = pq.end.outputs[0]!, factor = pq.factor * pk.factor;
  let mask: AttentionMatch["mask"];
  for (let steps = 0; steps < 4; steps++) {
    const n = next(v);
    if (!n) return `scores "${v.name}" do not feed exactly one node`;
    if (isOp(n, Op.Softmax)) {
      if (n.a.int("axis", -1) !== -1 && n.a.int("axis", -1) !== 3) {
        return `Softmax "${n.name}" is not over the last axis`;
      }
      const o = next(n.outputs[0]!);
      if (!o || o !== pv.end || o.input(0) !== n.outputs[0]) return "the probabilities do not multiply v";
      const C = site.consumers[iq]!.outputs;
      if (C % pq.heads !== 0) return `${C} q columns do not split into ${pq.heads} heads`;
      if (site.consumers[iv]!.outputs !== C || site.consumers[ik]!.outputs !== C) {
        return "q, k, v have different widths (grouped-query attention is not recognised)";
      }
      return {
        q: iq,
        k: ik,
        v: iv,
        heads: pq.heads,
        headDim: C / pq.heads,
        scale: factor,
        ...(mask ? { mask } : {}),
        output: o.outputs[0]!,
      };
    }
    const other = n.input(n.input(0) === v ? 1 : 0);
    if ((isOp(n, Op.Mul) || isOp(n, Op.Div)) && scalar(other) !== undefined && n.input(0) === v) {
      factor *= isOp(n, Op.Mul) ? scalar(other)! : 1 / scalar(other)!;
    } else if (isOp(n, Op.Add) && other && !mask) {
      const t = constValue(other);
      mask = t ? { value: other, tensor: t } : { value: other };
    } else return `${n.opType} "${n.name}" between the scores and Softmax is not a scale or a mask`;
    v = n.outputs[0]!;
  }
  return "no Softmax within 4 nodes of the scores";
}

/** Inputs of {@link attentionLoss}. */
export interface AttentionLossInput {
  /** Shifted activation X - z of whole sequences, [S * T, C]. */
  x: Float32Array;
  seqs: number;
  tokens: number;
  channels: number;
  /** q, k, v weights in MatMul layout [C, O] and their biases (b + z W: the biases after the shift). */
  weights: [Float32Array, Float32Array, Float32Array];
  biases: [Float64Array, Float64Array, Float64Array];
  heads: number;
  headDim: number;
  scale: number;
  /** Mask element for (sequence, head, query, key), 0 when absent. */
  mask?: (s: number, h: number, i: number, j: number) => number;
}

/**
 * y = b + x W for x [n, c] and W [c, o], in float64: each output starts at its bias and adds a_j w_jk for
 * j = 0..c-1 in order (quant/sym_product.ts `affineRows`: the WebAssembly kernel where available, bit-identical
 * to that loop, as every product of two float32 values is exact in double).
 */
export function project(
  x: Float32Array,
  n: number,
  c: number,
  w: Float32Array,
  o: number,
  b: Float64Array,
): Float64Array {
  if (w.length !== c * o) throw new RangeError(`Cannot project: W has ${w.length} values, not ${c} x ${o}`);
  return affineRows(x.subarray(0, n * c), w, o, b);
}

/** softmax(scale Q_h K_h^T + mask) V_h for every sequence and head: [S * T, H * d]. */
function attend(q: Float64Array, k: Float64Array, v: Float64Array, inp: AttentionLossInput): Float64Array {
  const { seqs: S, tokens: T, heads: H, headDim: d, scale } = inp;
  const W = H * d;
  const out = new Float64Array(S * T * W), p = new Float64Array(T);
  for (let s = 0; s < S; s++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qi = (s * T + i) * W + h * d;
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          const kj = (s * T + j) * W + h * d;
          let dot = 0;
          for (let e = 0; e < d; e++) dot += q[qi + e]! * k[kj + e]!;
          p[j] = dot * scale + (inp.mask ? inp.mask(s, h, i, j) : 0);
          if (p[j]! > mx) mx = p[j]!;
        }
        let sum = 0;
        for (let j = 0; j < T; j++) sum += p[j] = Math.exp(p[j]! - mx);
        for (let j = 0; j < T; j++) {
          const pj = p[j]! / sum;
          if (pj === 0) continue;
          const vj = (s * T + j) * W + h * d;
          for (let e = 0; e < d; e++) out[qi + e] = out[qi + e]! + pj * v[vj + e]!;
        }
      }
    }
  }
  return out;
}

/**
 * The float attention output of {@link attentionLoss}'s reference: softmax(c Q_h K_h^T + mask) V_h with
 * Q = X W_q + b_q (and so on), [S * T, H * d].
 *
 * @param inp sequences, weights, heads and mask
 * @returns the attention output
 */
export function attentionReference(inp: AttentionLossInput): Float64Array {
  const N = inp.seqs * inp.tokens, O = inp.heads * inp.headDim, C = inp.channels;
  return attend(
    project(inp.x, N, C, inp.weights[0], O, inp.biases[0]),
    project(inp.x, N, C, inp.weights[1], O, inp.biases[1]),
    project(inp.x, N, C, inp.weights[2], O, inp.biases[2]),
    inp,
  );
}

/**
 * A loss function over channel scales: the mean squared error of the attention output with the activation
 * (X - z) / s fake-quantized per tensor (range: the calibration set's transformed min / max) and each weight
 * diag(s) W per output column, against float.
 *
 * @param inp sequences, weights, heads and mask
 * @param quant bit widths, activation symmetry, and the per-channel ranges of X - z
 * @returns loss(s)
 */
export function attentionLoss(
  inp: AttentionLossInput,
  quant: {
    weightBits: number;
    activationBits: number;
    symmetric: boolean;
    cmin: Float32Array;
    cmax: Float32Array;
  },
): (s: Float32Array) => number {
  const { x, channels: C, weights, biases } = inp;
  const N = inp.seqs * inp.tokens, O = inp.heads * inp.headDim;
  const ref = attentionReference(inp);
  const xq = new Float32Array(x.length), wq = new Float32Array(C * O);
  const qmaxW = 2 ** (quant.weightBits - 1) - 1;
  return (s) => {
    let lo = 0, hi = 0;
    for (let j = 0; j < C; j++) {
      lo = Math.min(lo, quant.cmin[j]! / s[j]!);
      hi = Math.max(hi, quant.cmax[j]! / s[j]!);
    }
    const p = computeQParams(lo, hi, {
      bits: quant.activationBits,
      signed: quant.symmetric,
      symmetric: quant.symmetric,
    });
    for (let i = 0; i < x.length; i++) {
      let q = roundHalfEven(Math.fround(x[i]! / s[i % C]!) / p.scale) + p.zeroPoint;
      q = q < p.qmin ? p.qmin : q > p.qmax ? p.qmax : q;
      xq[i] = (q - p.zeroPoint) * p.scale;
    }
    const proj = weights.map((w, wi) => {
      for (let k = 0; k < O; k++) {
        let mx = 0;
        for (let j = 0; j < C; j++) mx = Math.max(mx, Math.abs(w[j * O + k]! * s[j]!));
        const sc = mx > 0 ? Math.fround(mx / qmaxW) : 1;
        for (let j = 0; j < C; j++) {
          let q = roundHalfEven(Math.fround(w[j * O + k]! * s[j]!) / sc);
          q = q > qmaxW ? qmaxW : q < -qmaxW ? -qmaxW : q;
          wq[j * O + k] = q * sc;
        }
      }
      return project(xq, N, C, wq, O, biases[wi]!);
    });
    const got = attend(proj[0]!, proj[1]!, proj[2]!, inp);
    let e = 0;
    for (let i = 0; i < got.length; i++) e += (got[i]! - ref[i]!) ** 2;
    return e / got.length;
  };
}

/** What {@link rerankByAttention} needs about one site. */
export interface AttentionSiteData {
  site: OsPlusSitePlan;
  att: AttentionMatch;
  /** The first calibration sequence of the site activation, [tokens, C]. */
  sequence: { data: Float32Array; tokens: number };
  /** The additive mask of that batch (or the constant one). */
  mask?: Tensor;
  /** The channel shift z. */
  shift: Float32Array;
  /** Consumer weights in MatMul layout [C, outputs], in `site.consumers` order. */
  weights: { data: Float32Array; cols: number }[];
  /** Per-channel ranges of X - z. */
  cmin: Float32Array;
  cmax: Float32Array;
}

/**
 * Re-rank the best grid points of a q/k/v site by the attention-output loss ({@link attentionLoss}, on the
 * first calibration sequence); the shift-only point t0 always competes.
 *
 * @param d the site, its attention, sequence, mask, shift, weights and ranges
 * @param points the grid points the consumers' loss evaluated
 * @param candidates how many of the best points to re-score
 * @param q bit widths and activation symmetry
 * @returns the winner and the attention loss at t0
 */
export function rerankByAttention(
  d: AttentionSiteData,
  points: readonly { t: number; loss: number }[],
  candidates: number,
  q: { weightBits: number; activationBits: number; activationSymmetric: boolean },
): { t: number; scale: Float32Array; loss: number; lossShiftOnly: number } {
  const { site, att, shift, weights, cmin, cmax } = d;
  const C = site.channels, seq = d.sequence;
  const x = seq.data.slice();
  for (let i = 0; i < x.length; i++) x[i] = x[i]! - shift[i % C]!;
  const order = [att.q, att.k, att.v] as const;
  const biases = order.map((i) => {
    const c = site.consumers[i]!, w = weights[i]!;
    const b = new Float64Array(c.outputs);
    const bt = consumerBias(c.node);
    if (bt) { for (let k = 0; k < b.length; k++) b[k] = bt.length === 1 ? bt[0]! : bt[k]!; }
    for (let j = 0; j < C; j++) {
      if (shift[j] !== 0) {
        for (let k = 0; k < b.length; k++) b[k] = b[k]! + shift[j]! * w.data[j * w.cols + k]!;
      }
    }
    return b;
  }) as [Float64Array, Float64Array, Float64Array];
  // The mask broadcast to [S, H, T, T] (size-1 axes repeat; [T, T], [1, 1, T, T], [B, 1, T, T] ...).
  const mask = d.mask;
  const md = [1, 1, 1, 1, ...(mask?.dims ?? [])].slice(-4);
  const strides = md.map((_, k) => md.slice(k + 1).reduce((a, b) => a * b, 1));
  const at = mask
    ? (s: number, h: number, i: number, j: number) =>
      Number(mask.data[[s, h, i, j].reduce((a, v, k) => a + (md[k] === 1 ? 0 : v) * strides[k]!, 0)])
    : undefined;
  const loss = attentionLoss({
    x,
    seqs: 1,
    tokens: seq.tokens,
    channels: C,
    weights: order.map((i) => weights[i]!.data) as [Float32Array, Float32Array, Float32Array],
    biases,
    heads: att.heads,
    headDim: att.headDim,
    scale: att.scale,
    ...(at ? { mask: at } : {}),
  }, { ...q, symmetric: q.activationSymmetric, cmin, cmax });
  const best = [...points].sort((a, b) => a.loss - b.loss).slice(0, candidates);
  const t0 = Math.max(...points.map((p) => p.t));
  let pick = { t: t0, scale: migrationScales(cmin, cmax, t0), loss: Infinity };
  const lossShiftOnly = loss(pick.scale);
  pick.loss = lossShiftOnly;
  for (const p of best) {
    const s = migrationScales(cmin, cmax, p.t), l = loss(s);
    if (l < pick.loss) pick = { t: p.t, scale: s, loss: l };
  }
  return { ...pick, lossShiftOnly };
}

/** The bias of a linear consumer: Gemm C (times beta / alpha), or the constant of the Add after a MatMul. */
export function consumerBias(n: Node): Float32Array | undefined {
  if (isOp(n, Op.Gemm)) {
    const c = n.input(2)?.const;
    if (!c) return undefined;
    const k = n.a.float("beta", 1) / n.a.float("alpha", 1);
    return Float32Array.from(c.data as Float32Array, (v) => v * k);
  }
  const y = n.outputs[0]!;
  const users = y.isGraphOutput ? [] : y.consumers();
  if (users.length !== 1 || !isOp(users[0]!, Op.Add)) return undefined;
  const add = users[0]!;
  const b = constValue(add.input(add.input(0) === y ? 1 : 0));
  return b && b.dtype === DataType.FLOAT ? b.data as Float32Array : undefined;
}
