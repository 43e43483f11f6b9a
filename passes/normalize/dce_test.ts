import { assertEquals } from "@std/assert";
import { AttrType } from "../../onnx/attributes.ts";
import { Graph, Model } from "../../onnx/ir.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { dce, eliminateDeadCode } from "./dce.ts";

const f32 = (...v: number[]) => makeTensor(DataType.FLOAT, [v.length], Float32Array.from(v));

Deno.test("dce: removes dead chains and unused initializers, keeps outputs and graph inputs", async () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [2] };
  g.inputs.push(x);
  const w = g.addInitializer("w", f32(1, 2));
  g.addInitializer("unused", f32(3));
  const dead1 = g.addNode("Mul", [x, w], ["d1"]);
  g.addNode("Neg", [dead1.outputs[0]!], ["d2"]);
  const y = g.addNode("Add", [x, w], ["y"]);
  y.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [2] };
  g.outputs.push(y.outputs[0]!);
  assertEquals(eliminateDeadCode(m), { nodes: 2, initializers: 1 });
  assertEquals(g.nodes.map((n) => n.opType), ["Add"]);
  assertEquals(g.initializers.map((v) => v.name), ["w"]);
  assertEquals(w.uses.length, 1);
  assertEquals(verify(m), []);
  const out = await runOrt(m, { x: f32(1, 1) });
  assertEquals(Array.from(out.y!.data as Float32Array), [2, 3]);
  assertEquals(dce.run(m, { reporter: { progress() {}, info() {}, warn() {} } }), {
    modified: false,
    notes: [],
  });
});

Deno.test("dce: a node feeding only an If branch is alive; dead nodes inside branches go, then their outer inputs", () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x"), cond = g.value("cond");
  g.inputs.push(x, cond);
  const feedsBranch = g.addNode("Neg", [x], ["nx"]);
  const feedsDeadInner = g.addNode("Abs", [x], ["ax"]);
  const thenG = new Graph("then", g);
  thenG.addNode("Relu", [feedsDeadInner.outputs[0]!], ["dead_inner"]);
  const t = thenG.addNode("Identity", [feedsBranch.outputs[0]!], ["t"]);
  thenG.outputs.push(t.outputs[0]!);
  const elseG = new Graph("else", g);
  elseG.outputs.push(x); // an outer value as a branch output directly
  const iff = g.addNode("If", [cond], ["r"], {
    attrs: [
      { name: "then_branch", type: AttrType.GRAPH, value: thenG },
      { name: "else_branch", type: AttrType.GRAPH, value: elseG },
    ],
  });
  g.outputs.push(iff.outputs[0]!);
  const r = eliminateDeadCode(m);
  assertEquals(r, { nodes: 2, initializers: 0 });
  assertEquals(g.nodes.map((n) => n.opType), ["Neg", "If"]);
  assertEquals(thenG.nodes.map((n) => n.opType), ["Identity"]);
  assertEquals(x.uses.map((u) => u.node.opType), ["Neg"]);
});

Deno.test("dce: a dead If node releases the outer values its branches read", () => {
  const m = new Model();
  const g = m.graph;
  const x = g.value("x"), cond = g.value("cond");
  g.inputs.push(x, cond);
  const pre = g.addNode("Neg", [x], ["nx"]);
  const b = new Graph("b", g);
  const o = b.addNode("Identity", [pre.outputs[0]!], ["o"]);
  b.outputs.push(o.outputs[0]!);
  g.addNode("If", [cond], ["r"], {
    attrs: [{ name: "then_branch", type: AttrType.GRAPH, value: b }, {
      name: "else_branch",
      type: AttrType.GRAPH,
      value: b,
    }],
  });
  const keep = g.addNode("Relu", [x], ["y"]);
  g.outputs.push(keep.outputs[0]!);
  assertEquals(eliminateDeadCode(m), { nodes: 2, initializers: 0 });
  assertEquals(g.nodes.map((n) => n.opType), ["Relu"]);
  assertEquals(x.uses.length, 1);
});
