/**
 * Subgraphs the integer-only conversion recognises in exported transformers: GELU written as
 * `x * 0.5 * (1 + Erf(x / sqrt 2))` (PyTorch's exact GELU exported at opset < 20), the L2 normalisation of
 * the Segmenter mask decoder (`x / Expand(Clip(ReduceL2(x)))`), and the bias Add after a MatMul.
 * @module
 */
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, type Tensor, toNumbers } from "../../onnx/tensor.ts";

/**
 * The constant tensor behind a value: an initializer or a Constant node's `value`.
 *
 * @param v a value (or null)
 * @returns the tensor, or undefined when the value is computed
 */
export function constOf(v: Value | null | undefined): Tensor | undefined {
  if (!v) return undefined;
  if (v.isConst) return v.const;
  const p = v.producer;
  if (p && isOp(p, Op.Constant) && p.attrs.has("value")) return p.a.tensor("value");
  return undefined;
}

/** The number behind a one-element float constant, or undefined. */
export function scalarOf(v: Value | null | undefined): number | undefined {
  const t = constOf(v);
  if (!t || t.data.length !== 1 || t.dtype !== DataType.FLOAT) return undefined;
  return toNumbers(t)[0];
}

function near(a: number | undefined, b: number, tol = 1e-3): boolean {
  return a !== undefined && Math.abs(a - b) <= tol * Math.abs(b);
}

/** The only consumer of a value, when it has exactly one use and is not a graph output. */
function soleUse(v: Value): Node | undefined {
  return v.uses.length === 1 && !v.isGraphOutput ? v.uses[0]!.node : undefined;
}

/** The other input of a binary node. */
function other(n: Node, v: Value): Value | null {
  return n.inputs[0] === v ? n.inputs[1] ?? null : n.inputs[0] ?? null;
}

/** A recognised GELU: `output = GELU(input)`; `nodes` in graph order, the last one produces `output`. */
export interface GeluMatch {
  input: Value;
  output: Value;
  nodes: Node[];
}

/**
 * Find exact-GELU subgraphs: Div(x, sqrt2) or Mul(x, 1/sqrt2) -> Erf -> Add 1 -> Mul with x and Mul 0.5
 * (in either order).
 *
 * @param g the graph
 * @returns the matches
 */
export function findGelus(g: Graph): GeluMatch[] {
  const out: GeluMatch[] = [];
  for (const erf of g.nodes) {
    if (!isOp(erf, Op.Erf)) continue;
    const scaled = erf.inputs[0];
    const d = scaled?.producer;
    if (!d || !scaled || soleUse(scaled) !== erf) continue;
    const x = d.inputs[0];
    if (!x) continue;
    const c = scalarOf(d.inputs[1]);
    if (!((isOp(d, Op.Div) && near(c, Math.SQRT2)) || (isOp(d, Op.Mul) && near(c, Math.SQRT1_2)))) continue;
    const add = soleUse(erf.outputs[0]!);
    if (!add || !isOp(add, Op.Add) || !near(scalarOf(other(add, erf.outputs[0]!)), 1)) continue;
    const m1 = soleUse(add.outputs[0]!);
    if (!m1 || !isOp(m1, Op.Mul)) continue;
    const o1 = other(m1, add.outputs[0]!);
    const nodes = [d, erf, add];
    let output: Value;
    if (o1 === x) {
      const m2 = soleUse(m1.outputs[0]!);
      if (!m2 || !isOp(m2, Op.Mul) || !near(scalarOf(other(m2, m1.outputs[0]!)), 0.5)) continue;
      nodes.push(m1, m2);
      output = m2.outputs[0]!;
    } else {
      const half = o1?.producer;
      if (!half || !isOp(half, Op.Mul) || !near(scalarOf(other(half, x)), 0.5) || !half.inputs.includes(x)) {
        continue;
      }
      nodes.push(half, m1);
      output = m1.outputs[0]!;
    }
    nodes.sort((a, b) => g.nodes.indexOf(a) - g.nodes.indexOf(b));
    out.push({ input: x, output, nodes });
  }
  return out;
}

/** A recognised L2 normalisation over the last axis: `output = input / max(||input||, eps)`. */
export interface L2NormMatch {
  input: Value;
  output: Value;
  /** Every node of the pattern (ReduceL2, Clip, Shape, Expand, Div). */
  nodes: Node[];
}

/**
 * Find `Div(x, [Expand(] [Clip(] ReduceL2(x, axes=[-1], keepdims=1) [)] [, Shape(x))])`.
 *
 * @param g the graph
 * @returns the matches
 */
export function findL2Norms(g: Graph): L2NormMatch[] {
  const out: L2NormMatch[] = [];
  for (const div of g.nodes) {
    if (!isOp(div, Op.Div)) continue;
    const x = div.inputs[0];
    let den = div.inputs[1]?.producer;
    if (!x || !den) continue;
    const nodes: Node[] = [div];
    if (isOp(den, Op.Expand)) {
      nodes.push(den);
      const sh = den.inputs[1]?.producer;
      if (sh && isOp(sh, Op.Shape) && sh.inputs[0] === x && sh.outputs[0]!.uses.length === 1) nodes.push(sh);
      den = den.inputs[0]?.producer;
    }
    if (den && isOp(den, Op.Clip)) {
      nodes.push(den);
      den = den.inputs[0]?.producer;
    }
    if (!den || !isOp(den, Op.ReduceL2) || den.inputs[0] !== x) continue;
    nodes.push(den);
    nodes.sort((a, b) => g.nodes.indexOf(a) - g.nodes.indexOf(b));
    out.push({ input: x, output: div.outputs[0]!, nodes });
  }
  return out;
}

/**
 * The bias Add right after a MatMul/Conv output: its only consumer, adding a 1-D float constant.
 *
 * @param y the MatMul output
 * @returns the Add node and the bias, or undefined
 */
export function biasAddAfter(y: Value): { add: Node; bias: Float32Array } | undefined {
  const add = soleUse(y);
  if (!add || !isOp(add, Op.Add)) return undefined;
  const b = constOf(other(add, y));
  if (!b || b.dtype !== DataType.FLOAT || b.dims.length !== 1) return undefined;
  return { add, bias: b.data as Float32Array };
}

/** A recognised Swish: `output = input * Sigmoid(gain * input)`. */
export interface SwishMatch {
  input: Value;
  output: Value;
  /** The positive factor inside the sigmoid (1 for plain Swish / SiLU). */
  gain: number;
  /** [Mul(gain)], Sigmoid, Mul, in graph order. */
  nodes: Node[];
}

/**
 * Find Swish subgraphs `Mul(x, Sigmoid([Mul(x, gain)]))` (PaddleOCR exports `swish` with an explicit
 * `Mul(x, 1.0)` before the Sigmoid).
 *
 * @param g the graph
 * @returns the matches
 */
export function findSwishes(g: Graph): SwishMatch[] {
  const out: SwishMatch[] = [];
  for (const sig of g.nodes) {
    if (!isOp(sig, Op.Sigmoid)) continue;
    const si = sig.inputs[0];
    if (!si) continue;
    let x: Value = si, gain = 1;
    const nodes: Node[] = [sig];
    const gm = si.producer;
    if (gm && isOp(gm, Op.Mul) && soleUse(si) === sig) {
      const [a, b] = gm.inputs;
      const c = scalarOf(b) ?? scalarOf(a);
      const base = scalarOf(b) !== undefined ? a : b;
      if (c !== undefined && c > 0 && base) {
        x = base;
        gain = c;
        nodes.unshift(gm);
      }
    }
    const s = sig.outputs[0]!;
    const mul = soleUse(s);
    if (!mul || !isOp(mul, Op.Mul) || other(mul, s) !== x) continue;
    nodes.push(mul);
    out.push({ input: x, output: mul.outputs[0]!, gain, nodes });
  }
  return out;
}
