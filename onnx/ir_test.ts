import { assert, assertEquals, assertThrows } from "@std/assert";
import { decodeModel, encodeModel } from "./codec.ts";
import { Model } from "./ir.ts";
import { isOp, Op } from "./ops.ts";
import { DataType, makeTensor } from "./tensor.ts";
import { verify } from "./verify.ts";

function tiny(): Model {
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
  g.inputs.push(x);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [4, 2], new Float32Array(8).fill(0.5)));
  const mm = g.addNode(Op.MatMul.type, [x, w], ["y"]);
  const relu = g.addNode(Op.Relu.type, [mm.outputs[0]!], ["z"]);
  const z = relu.outputs[0]!;
  z.type = { elemType: DataType.FLOAT, shape: ["batch", 2] };
  g.outputs.push(z);
  return m;
}

Deno.test("IR: producers and uses are maintained by the mutators", () => {
  const m = tiny();
  const g = m.graph;
  const [mm, relu] = g.nodes as [typeof g.nodes[0] & object, typeof g.nodes[0] & object];
  const y = mm.outputs[0]!;
  assertEquals(y.producer, mm);
  assertEquals(y.uses.map((u) => [u.node.name, u.index]), [[relu.name, 0]]);
  // Insert an Identity between MatMul and Relu via replaceAllUsesWith.
  const id = g.addNode(Op.Identity.type, [y], ["y_id"], { after: mm });
  y.replaceAllUsesWith(id.outputs[0]!);
  id.setInput(0, y); // replaceAllUsesWith also moved the Identity's own input; restore it
  assertEquals(relu.inputs[0], id.outputs[0]);
  assertEquals(y.uses.length, 1);
  assertEquals(verify(m), []);
  assertThrows(() => g.removeNode(mm), Error, "still used");
});

Deno.test("IR: sort restores topological order; verify reports use-before-def", () => {
  const m = tiny();
  const g = m.graph;
  g.nodes.reverse();
  assert(verify(m).some((p) => p.includes("used before it is produced")));
  g.sort();
  assertEquals(verify(m), []);
  assert(isOp(g.nodes[0]!, Op.MatMul));
});

Deno.test("IR: a built model encodes, decodes and verifies", () => {
  const m = tiny();
  const bytes = encodeModel(m);
  const back = decodeModel(bytes);
  assertEquals(back.graph.nodes.map((n) => n.opType), ["MatMul", "Relu"]);
  assertEquals(back.graph.initializers[0]!.const!.data, new Float32Array(8).fill(0.5));
  assertEquals(back.graph.inputs[0]!.type, { elemType: DataType.FLOAT, shape: ["batch", 4] });
  assertEquals(verify(back), []);
  assertEquals(encodeModel(back), bytes);
});

Deno.test("IR: unique names and value creation", () => {
  const m = tiny();
  const v = m.graph.value("y");
  assertEquals(v.name, "y_1");
  assert(m.graph.lookup("y_1") === v);
});

Deno.test("verify: undefined inputs, missing domains and stale uses are reported", () => {
  const m = tiny();
  const g = m.graph;
  g.addNode("ShiftAddMatMul", [g.inputs[0]!], ["q"], { domain: "shiftkit" });
  assert(verify(m).some((p) => p.includes(`domain "shiftkit" is not imported`)));
  m.opsets.set("shiftkit", 1);
  assertEquals(verify(m), []);
  m.opsets.set("", 9);
  assertEquals(verify(m).filter((p) => p.includes("does not exist")).length, 0);
  m.opsets.set("", 16);
  const ln = g.addNode(Op.LayerNormalization.type, [g.inputs[0]!], ["ln"]);
  assert(verify(m).some((p) => p.includes(`${ln.name}`) && p.includes("does not exist at opset 16")));
});
