/**
 * The canonical-form rules (run by ./canonicalize.ts). Each brings one family of equivalent spellings to the
 * form onnx/patterns.ts matches:
 *
 * - `Div(1, x)` -> `Reciprocal(x)` (torch.rsqrt exports as `Div(1, Sqrt(.))`; HF LlamaRMSNorm);
 * - `Pow(x, 0.5)` -> `Sqrt(x)`;
 * - `Pow(x, 2)` -> `Mul(x, x)` (the square has one spelling; exact in float);
 * - `Cast(x, to = T)` where x is already T -> x (HF norms cast to float32, a no-op in a float32 model);
 * - `Cast(Cast(x, to = wider), to = T(x))` -> x where the first Cast is exact (float16/bfloat16 -> float32
 *   -> back: the "cast to float32 and back" around HF norms).
 *
 * ReduceMean's axes (attribute before opset 18, input from 18) need no rewrite: the matcher reads both (a
 * rewrite could not pick one form valid at every opset).
 * @module
 */
import type { Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { constValue } from "../../onnx/patterns.ts";
import { DataType, sizeOf, toNumbers } from "../../onnx/tensor.ts";
import type { RewriteRule } from "./canonicalize.ts";

const FLOATS: readonly number[] = [DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE];

/** The single value of a size-1 float constant whose rank does not exceed `x`'s (so it cannot broadcast x up). */
function scalarFor(c: Value | null, x: Value | null, what: string): number | string {
  const t = constValue(c);
  if (!t) return `${what} is not a constant`;
  if (!FLOATS.includes(t.dtype)) return `${what} is not a float constant`;
  if (sizeOf(t.dims) !== 1) return `${what} has ${sizeOf(t.dims)} elements, not 1`;
  const rank = x?.type?.shape?.length;
  if (t.dims.length > 0 && (rank === undefined || t.dims.length > rank)) {
    return `${what} has rank ${t.dims.length} and the other input's rank is ${rank ?? "unknown"}: ` +
      `dropping it could change the output shape`;
  }
  return toNumbers(t)[0]!;
}

/** Turn `node` into `opType(inputs)` in place: same name, same output value, no attributes. */
function morph(node: Node, opType: string, inputs: readonly Value[]): void {
  node.truncateInputs(0);
  node.opType = opType;
  node.domain = "";
  node.attrs.clear();
  for (const v of inputs) node.addInput(v);
}

/** `Div(1, x)` -> `Reciprocal(x)`. */
export const divOneToReciprocal: RewriteRule<{ x: Value }> = {
  name: "div-one-to-reciprocal",
  description: "Div(1, x) -> Reciprocal(x)",
  root: Op.Div,
  check(node) {
    const x = node.input(1);
    if (!x) return "Div has no divisor";
    const c = scalarFor(node.input(0), x, "the dividend");
    if (typeof c === "string") return c;
    return c === 1 ? { x } : `the dividend is ${c}, not 1`;
  },
  rewrite(node, { x }) {
    morph(node, Op.Reciprocal.type, [x]);
  },
};

/** `Pow(x, 0.5)` -> `Sqrt(x)`. */
export const powHalfToSqrt: RewriteRule<{ x: Value }> = {
  name: "pow-half-to-sqrt",
  description: "Pow(x, 0.5) -> Sqrt(x)",
  root: Op.Pow,
  check(node) {
    const x = node.input(0);
    if (!x) return "Pow has no base";
    const e = scalarFor(node.input(1), x, "the exponent");
    if (typeof e === "string") return e;
    return e === 0.5 ? { x } : `the exponent is ${e}, not 0.5`;
  },
  rewrite(node, { x }) {
    morph(node, Op.Sqrt.type, [x]);
  },
};

/** `Pow(x, 2)` -> `Mul(x, x)`. */
export const powTwoToMul: RewriteRule<{ x: Value }> = {
  name: "pow-two-to-mul",
  description: "Pow(x, 2) -> Mul(x, x)",
  root: Op.Pow,
  check(node) {
    const x = node.input(0);
    if (!x) return "Pow has no base";
    const et = x.type?.elemType;
    if (et !== undefined && !FLOATS.includes(et)) return `the base "${x.name}" is not float`;
    const e = scalarFor(node.input(1), x, "the exponent");
    if (typeof e === "string") return e;
    return e === 2 ? { x } : `the exponent is ${e}, not 2`;
  },
  rewrite(node, { x }) {
    morph(node, Op.Mul.type, [x, x]);
  },
};

/** Element type a Cast converts to. */
function castTo(node: Node): number {
  return node.a.int("to", 0);
}

/** Replace every use of `node`'s output by `x` and drop the node; the output keeps its name when it is a graph output. */
function bypass(node: Node, x: Value): void {
  const y = node.outputs[0]!;
  const g = node.graph!;
  if (y.isGraphOutput) {
    // Keep the graph's output name: an Identity stands in for the Cast.
    morph(node, Op.Identity.type, [x]);
    return;
  }
  y.replaceAllUsesWith(x);
  g.removeNode(node);
}

/** `Cast(x, to = T)` with x of type T -> x. */
export const dropIdentityCast: RewriteRule<{ x: Value }> = {
  name: "drop-identity-cast",
  description: "Cast(x, to = type of x) -> x",
  root: Op.Cast,
  check(node) {
    const x = node.input(0);
    if (!x) return "Cast has no input";
    const et = x.type?.elemType;
    if (et === undefined) return `the type of "${x.name}" is unknown`;
    if (et !== castTo(node)) return `casts ${et} to ${castTo(node)}`;
    if (node.outputs[0]!.isGraphOutput) return "the Cast's output is a graph output";
    return { x };
  },
  rewrite(node, { x }) {
    bypass(node, x);
  },
};

/** Widening float casts that are exact (every value of the source type is representable in the target). */
const EXACT_WIDENING: Record<number, readonly number[]> = {
  [DataType.FLOAT16]: [DataType.FLOAT, DataType.DOUBLE],
  [DataType.BFLOAT16]: [DataType.FLOAT, DataType.DOUBLE],
  [DataType.FLOAT]: [DataType.DOUBLE],
};

/** `Cast(Cast(x, to = wider), to = type of x)` -> x. */
export const dropCastPair: RewriteRule<{ x: Value }> = {
  name: "drop-cast-pair",
  description: "Cast(Cast(x, to = wider float), to = type of x) -> x",
  root: Op.Cast,
  check(node) {
    const inner = node.input(0)?.producer;
    if (!inner || !isOp(inner, Op.Cast)) return "the input is not produced by a Cast";
    const x = inner.input(0);
    if (!x) return "the inner Cast has no input";
    const et = x.type?.elemType;
    if (et === undefined) return `the type of "${x.name}" is unknown`;
    if (castTo(node) !== et) return `does not cast back to the type of "${x.name}"`;
    if (!(EXACT_WIDENING[et] ?? []).includes(castTo(inner))) {
      return `the inner Cast (${et} -> ${castTo(inner)}) is not an exact widening`;
    }
    if (node.outputs[0]!.isGraphOutput) return "the Cast's output is a graph output";
    return { x };
  },
  rewrite(node, { x }) {
    const inner = node.input(0)!.producer!;
    bypass(node, x);
    if (inner.outputs[0]!.uses.length === 0 && !inner.outputs[0]!.isGraphOutput) {
      inner.graph!.removeNode(inner);
    }
  },
};

/** Every canonical-form rule, in the order they are tried at a node. */
export const CANONICAL_RULES: readonly RewriteRule[] = [
  divOneToReciprocal,
  powHalfToSqrt,
  powTwoToMul,
  dropCastPair,
  dropIdentityCast,
] as RewriteRule[];
