/**
 * Checks that a converted model is integer-only between its input quantization and its output
 * dequantization, function bodies included: element types are tracked through every node (initializers,
 * Constant values, Cast targets, op output rules), and every float value must be a graph input read only by
 * QuantizeLinear, a scale constant read only by QuantizeLinear / DequantizeLinear, or a graph output made by
 * DequantizeLinear. Function bodies are walked with integer formal inputs.
 * @module
 */
import type { Graph, Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, isFloatType } from "../../onnx/tensor.ts";

const BOOL_OPS = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or"]);
const INT64_OPS = new Set(["Shape", "Size", "ArgMax", "ArgMin"]);

/** Element types of a graph's values, inferred from constants and op rules (undefined = unknown). */
function trackTypes(g: Graph, inputs: Map<Value, number>): Map<Value, number> {
  const t = new Map<Value, number>(inputs);
  for (const v of g.initializers) t.set(v, v.const!.dtype);
  for (const v of g.inputs) if (!t.has(v) && v.type) t.set(v, v.type.elemType);
  for (const n of g.nodes) {
    const ins = n.inputs.map((v) => (v ? t.get(v) ?? v.type?.elemType : undefined));
    let out: number | undefined;
    if (n.domain === SHIFTKIT_DOMAIN) out = n.outputs[0]?.type?.elemType;
    else if (isOp(n, Op.Constant)) {
      out = n.a.tensor("value")?.dtype ?? (n.attrs.has("value_float") ? DataType.FLOAT : DataType.INT64);
    } else if (isOp(n, Op.ConstantOfShape)) out = n.a.tensor("value")?.dtype ?? DataType.FLOAT;
    else if (isOp(n, Op.Cast)) out = n.a.int("to");
    else if (isOp(n, Op.QuantizeLinear)) out = ins[2] ?? DataType.UINT8;
    else if (isOp(n, Op.DequantizeLinear)) out = DataType.FLOAT;
    else if (isOp(n, Op.MatMulInteger) || isOp(n, Op.ConvInteger)) out = DataType.INT32;
    else if (BOOL_OPS.has(n.opType)) out = DataType.BOOL;
    else if (INT64_OPS.has(n.opType)) out = DataType.INT64;
    else if (isOp(n, Op.Where)) out = ins[1];
    else out = ins.find((x) => x !== undefined);
    for (const o of n.outputs) if (out !== undefined) t.set(o, out);
  }
  return t;
}

/**
 * List everything that is not integer between the input quantization and the output dequantization.
 *
 * @param model the converted model
 * @returns problems (empty for an integer-only model)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType } from "../../onnx/tensor.ts";
 * import { integerOnlyViolations } from "./integer_only_check.ts";
 * const m = new Model();
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [2] };
 * m.graph.inputs.push(x);
 * m.graph.outputs.push(m.graph.addNode("Relu", [x], ["y"]).outputs[0]!);
 * assertEquals(integerOnlyViolations(m).length > 0, true);
 * ```
 */
export function integerOnlyViolations(model: Model): string[] {
  const problems: string[] = [];
  const g = model.graph;
  const types = trackTypes(g, new Map());
  const qdqScale = (v: Value) =>
    v.isConst &&
    v.uses.every((u) =>
      (isOp(u.node, Op.QuantizeLinear) || isOp(u.node, Op.DequantizeLinear)) && u.index === 1
    );
  for (const [v, dt] of types) {
    if (!isFloatType(dt)) continue;
    if (v.isGraphInput && !v.isConst) {
      if (!v.uses.every((u) => isOp(u.node, Op.QuantizeLinear))) {
        problems.push(`float input "${v.name}" is read by more than QuantizeLinear`);
      }
      continue;
    }
    if (qdqScale(v)) continue;
    if (v.isGraphOutput && v.producer && isOp(v.producer, Op.DequantizeLinear)) continue;
    problems.push(
      `main graph: float value "${v.name}"${
        v.producer ? ` made by ${v.producer.opType} "${v.producer.name}"` : ""
      }`,
    );
  }
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (o.name && !types.has(o)) problems.push(`main graph: no element type for "${o.name}"`);
    }
    if (isOp(n, Op.QuantizeLinear) && !(n.inputs[0]?.isGraphInput)) {
      problems.push(`QuantizeLinear "${n.name}" inside the graph`);
    }
    if (isOp(n, Op.DequantizeLinear) && !n.outputs[0]!.isGraphOutput) {
      problems.push(`DequantizeLinear "${n.name}" inside the graph`);
    }
  }
  problems.push(...functionViolations(model, () => true));
  return problems;
}

/** Float values (or untyped values) in the bodies of the model-local functions `keep` selects. */
function functionViolations(model: Model, keep: (domain: string, name: string) => boolean): string[] {
  const problems: string[] = [];
  for (const f of model.functions) {
    if (!keep(f.domain, f.name)) continue;
    const ins = new Map(f.body.inputs.map((v) => [v, DataType.INT32] as [Value, number]));
    const ft = trackTypes(f.body, ins);
    for (const n of f.body.nodes) {
      for (const o of n.outputs) {
        if (!ft.has(o)) problems.push(`function ${f.name}/${f.overload ?? ""}: no type for "${o.name}"`);
      }
    }
    for (const [v, dt] of ft) {
      if (isFloatType(dt)) problems.push(`function ${f.name}/${f.overload ?? ""}: float value "${v.name}"`);
    }
  }
  return problems;
}

/**
 * List everything that is not integer inside a converted region (passes/intvit/integer_only.ts with `region`):
 * each entry value must be read only by QuantizeLinear; from there every node reached, up to the
 * DequantizeLinear nodes that end the region, must produce integer (or bool) values, and the bodies of the
 * shiftkit functions it calls must be integer too.
 *
 * @param model the converted model (the rest of it may be float or QDQ)
 * @param region entry value names and the number of exits expected
 * @returns problems (empty for an integer-only region)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { integerRegionViolations } from "./integer_only_check.ts";
 * const m = new Model();
 * const x = m.graph.value("x");
 * m.graph.addNode("Relu", [x], ["y"]);
 * // x is read by a float Relu instead of QuantizeLinear, and no DequantizeLinear ends the region
 * assertEquals(integerRegionViolations(m, { from: ["x"], to: ["y"] }).length, 2);
 * ```
 */
export function integerRegionViolations(model: Model, region: { from: string[]; to: string[] }): string[] {
  const problems: string[] = [];
  const g = model.graph;
  const types = trackTypes(g, new Map());
  const stack: Value[] = [];
  for (const name of region.from) {
    const v = g.lookup(name);
    if (!v) {
      problems.push(`entry "${name}" is not in the graph`);
      continue;
    }
    for (const n of v.consumers()) {
      if (isOp(n, Op.QuantizeLinear)) stack.push(...n.outputs);
      else problems.push(`entry "${name}" is read by ${n.opType} "${n.name}", expected QuantizeLinear`);
    }
  }
  const seen = new Set<Node>();
  const domains = new Set<string>();
  let exits = 0;
  while (stack.length) {
    for (const n of stack.pop()!.consumers()) {
      if (seen.has(n)) continue;
      seen.add(n);
      if (isOp(n, Op.DequantizeLinear)) {
        exits++;
        continue;
      }
      if (n.domain === SHIFTKIT_DOMAIN) domains.add(n.opType);
      for (const o of n.outputs) {
        const dt = types.get(o);
        if (dt === undefined) {
          problems.push(`region: no element type for "${o.name}" (${n.opType} "${n.name}")`);
        } else if (isFloatType(dt)) {
          problems.push(`region: float value "${o.name}" made by ${n.opType} "${n.name}"`);
        } else stack.push(o);
      }
    }
  }
  if (exits < region.to.length) {
    problems.push(`region: ${exits} DequantizeLinear exits reached, expected ${region.to.length}`);
  }
  problems.push(...functionViolations(model, (d, name) => d === SHIFTKIT_DOMAIN && domains.has(name)));
  return problems;
}
