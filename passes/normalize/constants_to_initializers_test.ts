import { assert, assertEquals } from "@std/assert";
import { AttrType, floatsAttr, intAttr, tensorAttr } from "../../onnx/attributes.ts";
import { Graph, Model } from "../../onnx/ir.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { loadModelFile, modelBytes, type ModelName, MODELS } from "../../tests/_models.ts";
import { compareOutputs, detPageFeed, MODEL_INPUTS, randomFeeds, runOrt } from "../../tests/_ort_compare.ts";
import { constantsToInitializers } from "./constants_to_initializers.ts";
import { dce } from "./dce.ts";
import { dedupe } from "./dedupe.ts";
import { foldBatchNormPass } from "./fold_batchnorm.ts";
import { runPipeline } from "../pass.ts";

/** x:[2] float, cond:bool; If(cond) then x + Constant(value_floats) else x * Constant(tensor); plus a top Constant. */
function ifModel(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x"), cond = g.value("cond");
  x.type = { elemType: DataType.FLOAT, shape: [2] };
  cond.type = { elemType: DataType.BOOL, shape: [] };
  g.inputs.push(x, cond);
  const branch = (name: string, op: string, attr: ReturnType<typeof floatsAttr>) => {
    const b = new Graph(name, g);
    const c = b.addNode("Constant", [], [`${name}_c`], { attrs: [attr] });
    const o = b.addNode(op, [x, c.outputs[0]!], [`${name}_out`]);
    o.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [2] };
    b.outputs.push(o.outputs[0]!);
    return b;
  };
  const thenG = branch("then", "Add", floatsAttr("value_floats", [10, 20]));
  const elseG = branch(
    "else",
    "Mul",
    tensorAttr("value", makeTensor(DataType.FLOAT, [2], Float32Array.of(3, 4))),
  );
  const iff = g.addNode("If", [cond], ["r"], {
    attrs: [
      { name: "then_branch", type: AttrType.GRAPH, value: thenG },
      { name: "else_branch", type: AttrType.GRAPH, value: elseG },
    ],
  });
  const k = g.addNode("Constant", [], ["k"], { attrs: [intAttr("value_int", 5)] });
  const kf = g.addNode("Cast", [k.outputs[0]!], ["kf"], { attrs: [intAttr("to", DataType.FLOAT)] });
  const y = g.addNode("Add", [iff.outputs[0]!, kf.outputs[0]!], ["y"]);
  y.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [2] };
  g.outputs.push(y.outputs[0]!);
  return m;
}

Deno.test("constants-to-initializers: Constant nodes in the graph and in If branches become initializers", async () => {
  const m = ifModel();
  const feeds = (c: boolean) => ({
    x: makeTensor(DataType.FLOAT, [2], Float32Array.of(1, 2)),
    cond: makeTensor(DataType.BOOL, [], Uint8Array.of(c ? 1 : 0)),
  });
  const before = [await runOrt(m, feeds(true)), await runOrt(m, feeds(false))];
  const r = await runPipeline(m, [constantsToInitializers], {}, { verifyEach: true });
  assertEquals(r.steps[0]!.notes, ["3 Constant nodes -> initializers"]);
  assertEquals(m.graph.nodes.map((n) => n.opType), ["If", "Cast", "Add"]);
  assertEquals(m.graph.initializers.map((v) => v.name), ["k"]);
  const [thenG, elseG] = m.graph.nodes[0]!.subgraphs();
  assertEquals(thenG!.nodes.map((n) => n.opType), ["Add"]);
  assertEquals(thenG!.initializers.map((v) => [v.name, Array.from(v.const!.data as Float32Array)]), [[
    "then_c",
    [10, 20],
  ]]);
  assertEquals(elseG!.initializers.map((v) => v.name), ["else_c"]);
  assertEquals(m.graph.initializers[0]!.const!.dtype, DataType.INT64);
  assertEquals(verify(m), []);
  const after = [await runOrt(m, feeds(true)), await runOrt(m, feeds(false))];
  assertEquals(Array.from(after[0]!.y!.data as Float32Array), [16, 27]);
  assertEquals(Array.from(after[1]!.y!.data as Float32Array), [8, 13]);
  assertEquals(after, before);
  // Idempotent: a second run finds nothing.
  assertEquals(
    constantsToInitializers.run(m, { reporter: { progress() {}, info() {}, warn() {} } }).modified,
    false,
  );
});

Deno.test("constants-to-initializers: a Constant that is a graph output stays, with a reason", () => {
  const m = new Model();
  m.opsets.set("", 13);
  const c = m.graph.addNode("Constant", [], ["c"], { attrs: [floatsAttr("value_floats", [1])] });
  m.graph.outputs.push(c.outputs[0]!);
  const r = constantsToInitializers.run(m, { reporter: { progress() {}, info() {}, warn() {} } });
  assertEquals(r, { modified: false, notes: ['kept Constant "Constant" output "c" is a graph output'] });
});

const names = Object.keys(MODELS) as ModelName[];
for (const name of names) {
  Deno.test(`normalization pipeline keeps onnxruntime outputs on ${name}`, async () => {
    const m = await loadModelFile(name);
    const feeds = name === "ppocr-det" ? await detPageFeed() : randomFeeds(m, MODEL_INPUTS[name]);
    const want = await runOrt(await modelBytes(name), feeds);
    const r = await runPipeline(m, [constantsToInitializers, foldBatchNormPass, dce, dedupe], {}, {
      verifyEach: true,
      untilFixedPoint: true,
    });
    assertEquals(verify(m), []);
    let constants = 0, bn = 0;
    for (const n of m.allNodes()) {
      if (n.opType === "Constant") constants++;
      if (n.opType === "BatchNormalization") bn++;
    }
    assertEquals(constants, 0);
    // ppocr-det keeps the one BN that follows an Add; the others fold.
    assertEquals(bn, name === "ppocr-det" ? 1 : 0);
    if (name.startsWith("ppocr")) assert(r.modified);
    const got = await runOrt(m, feeds);
    for (const [k, e] of Object.entries(compareOutputs(got, want))) {
      assert(e <= 1e-5, `${name} ${k}: rel L2 ${e}`);
    }
  });
}
