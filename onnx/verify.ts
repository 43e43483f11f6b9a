/**
 * IR invariants, checked after passes (always in tests) and before a model is written: use lists agree with
 * node inputs, nodes are in topological order, every read value is defined, names are unique, domains are
 * imported, calls to model-local functions match their signatures.
 * @module
 */
import type { FunctionDef, Graph, Model, Node, Value } from "./ir.ts";
import { opVersionAt, schemaOf } from "./ops.ts";

/**
 * Check the model's invariants.
 *
 * @param model the model
 * @returns a list of problems (empty when valid), each naming the graph and node
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "./ir.ts";
 * import { verify } from "./verify.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * const x = m.graph.value("x");
 * x.type = { elemType: 1, shape: [1] };
 * m.graph.inputs.push(x);
 * const r = m.graph.addNode("Relu", [x], ["y"]);
 * r.outputs[0]!.type = { elemType: 1, shape: [1] };
 * m.graph.outputs.push(r.outputs[0]!);
 * assertEquals(verify(m), []);
 * ```
 */
export function verify(model: Model): string[] {
  const problems: string[] = [];
  checkGraph(model, model.graph, model.opsets, new Set(), problems, true);
  for (const f of model.functions) {
    const where = `function ${f.domain}.${f.name}`;
    checkGraph(model, f.body, f.opsets, new Set(), problems, false, where);
  }
  return problems;
}

function checkGraph(
  model: Model,
  g: Graph,
  opsets: ReadonlyMap<string, number>,
  outer: Set<Value>,
  problems: string[],
  top: boolean,
  where = `graph "${g.name}"`,
): void {
  const defined = new Set<Value>(outer);
  const names = new Map<string, Value>();
  const define = (v: Value, what: string) => {
    if (v.name === "") return;
    const prev = names.get(v.name);
    if (prev && prev !== v) problems.push(`${where}: name "${v.name}" is defined twice (${what})`);
    names.set(v.name, v);
    defined.add(v);
  };
  for (const v of g.initializers) {
    if (!v.isConst) problems.push(`${where}: initializer "${v.name}" has no data`);
    define(v, "initializer");
  }
  for (const v of g.inputs) {
    if (!v.isConst) define(v, "graph input");
    if (top && !v.isConst && !v.type && !v.extra) problems.push(`${where}: input "${v.name}" has no type`);
  }
  for (const n of g.nodes) {
    const label = `${where}: node "${n.name}" (${n.opType})`;
    if (n.graph !== g) problems.push(`${label}: node.graph does not point at its graph`);
    n.inputs.forEach((v, i) => {
      if (!v) return;
      if (!defined.has(v)) {
        problems.push(
          v.producer
            ? `${label}: input ${i} "${v.name}" is used before it is produced`
            : `${label}: input ${i} "${v.name}" is not defined`,
        );
      }
      if (!v.uses.some((u) => u.node === n && u.index === i)) {
        problems.push(`${label}: input ${i} "${v.name}" misses its use entry`);
      }
    });
    checkDomain(model, n, opsets, label, problems);
    for (const sg of n.subgraphs()) {
      if (sg.parent !== g) problems.push(`${label}: subgraph "${sg.name}" has the wrong parent`);
      checkGraph(model, sg, opsets, defined, problems, false, `${where} > subgraph "${sg.name}"`);
    }
    n.outputs.forEach((o, i) => {
      if (o.producer !== n || o.producerIndex !== i) {
        problems.push(`${label}: output ${i} "${o.name}" has a wrong producer link`);
      }
      define(o, `output of ${n.name}`);
    });
  }
  for (const v of names.values()) {
    for (const u of v.uses) {
      if (u.node.inputs[u.index] !== v) {
        problems.push(`${where}: value "${v.name}" lists a stale use in node "${u.node.name}"`);
      }
    }
  }
  for (const v of g.outputs) {
    if (!defined.has(v)) problems.push(`${where}: output "${v.name}" is not defined`);
    if (top && !v.type && !v.extra) problems.push(`${where}: output "${v.name}" has no type`);
  }
}

function checkDomain(
  model: Model,
  n: Node,
  opsets: ReadonlyMap<string, number>,
  label: string,
  problems: string[],
): void {
  const d = n.domain === "ai.onnx" ? "" : n.domain;
  const fn: FunctionDef | undefined = model.findFunction(
    n.domain,
    n.opType,
    (n.extra?.overload as string | undefined) ?? "",
  );
  if (fn) {
    if (n.inputs.length > fn.body.inputs.length) {
      problems.push(`${label}: ${n.inputs.length} inputs, function takes ${fn.body.inputs.length}`);
    }
    if (n.outputs.length > fn.body.outputs.length) {
      problems.push(`${label}: ${n.outputs.length} outputs, function has ${fn.body.outputs.length}`);
    }
  }
  if (!opsets.has(d) && !(d === "" && opsets.has("ai.onnx"))) {
    problems.push(`${label}: domain "${d || "ai.onnx"}" is not imported`);
    return;
  }
  if (d === "") {
    const s = schemaOf(n);
    const v = opsets.get("") ?? opsets.get("ai.onnx") ?? 0;
    if (s && opVersionAt(s, v) === 0) problems.push(`${label}: ${n.opType} does not exist at opset ${v}`);
  }
}
