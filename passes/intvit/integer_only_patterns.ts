/**
 * Subgraphs the integer-only conversion recognises in exported transformers: GELU as the opset-20 `Gelu` op,
 * written as `x * 0.5 * (1 + Erf(x / sqrt 2))` (PyTorch's exact GELU exported at opset < 20) or as the tanh
 * approximation, the L2 normalisation of
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

/** The tail of an Erf / Tanh GELU: `Add 1 -> Mul with x and Mul 0.5` (in either order), or undefined. */
function geluTail(x: Value, core: Node): { output: Value; nodes: Node[] } | undefined {
  const add = soleUse(core.outputs[0]!);
  if (!add || !isOp(add, Op.Add) || !near(scalarOf(other(add, core.outputs[0]!)), 1)) return undefined;
  const m1 = soleUse(add.outputs[0]!);
  if (!m1 || !isOp(m1, Op.Mul)) return undefined;
  const o1 = other(m1, add.outputs[0]!);
  if (o1 === x) {
    const m2 = soleUse(m1.outputs[0]!);
    if (!m2 || !isOp(m2, Op.Mul) || !near(scalarOf(other(m2, m1.outputs[0]!)), 0.5)) return undefined;
    return { output: m2.outputs[0]!, nodes: [add, m1, m2] };
  }
  const half = o1?.producer;
  if (!half || !isOp(half, Op.Mul) || !near(scalarOf(other(half, x)), 0.5) || !half.inputs.includes(x)) {
    return undefined;
  }
  return { output: m1.outputs[0]!, nodes: [add, half, m1] };
}

/** The x of `Div(x, sqrt2)` / `Mul(x, 1/sqrt2)` feeding an Erf, with the scaling node. */
function erfArgument(erf: Node): { x: Value; nodes: Node[] } | undefined {
  const scaled = erf.inputs[0];
  const d = scaled?.producer;
  if (!d || !scaled || soleUse(scaled) !== erf) return undefined;
  const x = d.inputs[0];
  const c = scalarOf(d.inputs[1]);
  if (!x || !((isOp(d, Op.Div) && near(c, Math.SQRT2)) || (isOp(d, Op.Mul) && near(c, Math.SQRT1_2)))) {
    return undefined;
  }
  return { x, nodes: [d] };
}

/** `x^3` as `Pow(x, 3)` or `Mul(Mul(x, x), x)` (either nesting); returns x and the nodes. */
function cubeOf(v: Value | null | undefined): { x: Value; nodes: Node[] } | undefined {
  const p = v?.producer;
  if (!p) return undefined;
  if (isOp(p, Op.Pow) && near(scalarOf(p.inputs[1]), 3) && p.inputs[0]) return { x: p.inputs[0], nodes: [p] };
  if (!isOp(p, Op.Mul)) return undefined;
  for (const [sq, x] of [[p.inputs[0], p.inputs[1]], [p.inputs[1], p.inputs[0]]] as const) {
    const q = sq?.producer;
    if (x && q && isOp(q, Op.Mul) && q.inputs[0] === x && q.inputs[1] === x) return { x, nodes: [q, p] };
  }
  return undefined;
}

/** The x of the tanh-GELU argument `sqrt(2/pi) * (x + 0.044715 * x^3)`, with its nodes. */
function tanhArgument(tanh: Node): { x: Value; nodes: Node[] } | undefined {
  const arg = tanh.inputs[0];
  const k = arg?.producer;
  if (!k || !arg || soleUse(arg) !== tanh || !isOp(k, Op.Mul)) return undefined;
  const kIdx = near(scalarOf(k.inputs[0]), Math.sqrt(2 / Math.PI)) ? 0 : 1;
  if (!near(scalarOf(k.inputs[kIdx]), Math.sqrt(2 / Math.PI))) return undefined;
  const sum = k.inputs[1 - kIdx]?.producer;
  if (!sum || !isOp(sum, Op.Add)) return undefined;
  for (const [x, t] of [[sum.inputs[0], sum.inputs[1]], [sum.inputs[1], sum.inputs[0]]] as const) {
    const m = t?.producer;
    if (!x || !m || !isOp(m, Op.Mul)) continue;
    const ci = near(scalarOf(m.inputs[0]), 0.044715) ? 0 : 1;
    if (!near(scalarOf(m.inputs[ci]), 0.044715)) continue;
    const cube = cubeOf(m.inputs[1 - ci]);
    if (cube && cube.x === x) return { x, nodes: [...cube.nodes, m, sum, k] };
  }
  return undefined;
}

/**
 * Find GELU subgraphs: the opset-20 `Gelu` op (`approximate` none or tanh); exact GELU as
 * Div(x, sqrt2) or Mul(x, 1/sqrt2) -> Erf -> Add 1 -> Mul with x and Mul 0.5 (in either order); and the tanh
 * approximation `0.5 x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)))` with the same tail. All become one integer
 * GELU (ShiftGelu / LambdaShiftGelu approximate either form).
 *
 * @param g the graph
 * @returns the matches
 */
export function findGelus(g: Graph): GeluMatch[] {
  const out: GeluMatch[] = [];
  for (const core of g.nodes) {
    if (isOp(core, Op.Gelu) && core.inputs[0]) {
      out.push({ input: core.inputs[0], output: core.outputs[0]!, nodes: [core] });
      continue;
    }
    const head = isOp(core, Op.Erf)
      ? erfArgument(core)
      : isOp(core, Op.Tanh)
      ? tanhArgument(core)
      : undefined;
    if (!head) continue;
    const tail = geluTail(head.x, core);
    if (!tail) continue;
    const nodes = [...head.nodes, core, ...tail.nodes];
    nodes.sort((a, b) => g.nodes.indexOf(a) - g.nodes.indexOf(b));
    out.push({ input: head.x, output: tail.output, nodes });
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
