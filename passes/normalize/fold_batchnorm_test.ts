import { assert, assertEquals } from "@std/assert";
import { floatAttr, intAttr, intsAttr } from "../../onnx/attributes.ts";
import { Model } from "../../onnx/ir.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { loadModelFile } from "../../tests/_models.ts";
import { compareOutputs, MODEL_INPUTS, randomFeeds, runOrt } from "../../tests/_ort_compare.ts";
import { constantsToInitializers } from "./constants_to_initializers.ts";
import { checkFoldBatchNorm, foldBatchNormPass } from "./fold_batchnorm.ts";
import { runPipeline } from "../pass.ts";
import { mulberry32 } from "../../quant/_rng.ts";

const r = mulberry32(7);
const rand = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());

/** x[1,4,5,5] -> Conv(group g, bias?) -> BN(eps) -> y. */
function convBn(group: number, bias: boolean, eps: number): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [1, 4, 5, 5] };
  g.inputs.push(x);
  const M = 6;
  const w = g.addInitializer(
    "w",
    makeTensor(DataType.FLOAT, [M, 4 / group, 3, 3], rand(M * (4 / group) * 9)),
  );
  const ins = [x, w];
  if (bias) ins.push(g.addInitializer("b", makeTensor(DataType.FLOAT, [M], rand(M))));
  const conv = g.addNode("Conv", ins, ["c"], {
    attrs: [intAttr("group", group), intsAttr("pads", [1, 1, 1, 1])],
  });
  const p = (n: string, lo: number, hi: number) =>
    g.addInitializer(n, makeTensor(DataType.FLOAT, [M], rand(M, lo, hi)));
  const bn = g.addNode("BatchNormalization", [
    conv.outputs[0]!,
    p("s", 0.5, 2),
    p("be", -1, 1),
    p("mu", -1, 1),
    p("var", 0.01, 2),
  ], [
    "y",
  ], { attrs: [floatAttr("epsilon", eps)] });
  bn.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [1, M, 5, 5] };
  g.outputs.push(bn.outputs[0]!);
  return m;
}

for (const [group, bias, eps] of [[1, true, 1e-5], [2, false, 1e-3], [1, false, 0.5]] as const) {
  Deno.test(`fold-batchnorm: Conv(group=${group}, bias=${bias}) + BN(eps=${eps}) -> one Conv, same outputs`, async () => {
    const m = convBn(group, bias, eps);
    const feeds = { x: makeTensor(DataType.FLOAT, [1, 4, 5, 5], rand(100)) };
    const want = await runOrt(m, feeds);
    const res = await runPipeline(m, [foldBatchNormPass], {}, { verifyEach: true });
    assert(res.modified);
    assertEquals(m.graph.nodes.map((n) => n.opType), ["Conv"]);
    const conv = m.graph.nodes[0]!;
    assertEquals(conv.inputs.length, 3);
    assertEquals(conv.input(2)!.const!.dims, [6]);
    assertEquals(m.graph.outputs[0]!.name, "y");
    assertEquals(verify(m), []);
    const e = compareOutputs(await runOrt(m, feeds), want).y!;
    assert(e <= 1e-6, `rel L2 ${e}`);
  });
}

Deno.test("fold-batchnorm: does not fold when the Conv output has another reader, or weights are not constant", () => {
  const m = convBn(1, true, 1e-5);
  const g = m.graph;
  const c = g.nodes[0]!.outputs[0]!;
  const other = g.addNode("Relu", [c], ["r"]);
  g.outputs.push(other.outputs[0]!);
  const bn = g.nodes.find((n) => n.opType === "BatchNormalization")!;
  assertEquals(checkFoldBatchNorm(bn), 'Conv output "c" has other readers');
  const res = foldBatchNormPass.run(m, { reporter: { progress() {}, info() {}, warn() {} } });
  assertEquals(res, { modified: false, notes: ['kept: Conv output "c" has other readers'] });

  const m2 = convBn(1, false, 1e-5);
  const wIn = m2.graph.value("w_dyn");
  m2.graph.inputs.push(wIn);
  m2.graph.nodes[0]!.setInput(1, wIn);
  assertEquals(checkFoldBatchNorm(m2.graph.nodes[1]!), 'Conv "Conv" weights are not a float initializer');
});

Deno.test("fold-batchnorm: ppocr-cls folds all 35 BNs (structure + onnxruntime)", async () => {
  const m = await loadModelFile("ppocr-cls");
  const feeds = randomFeeds(m, MODEL_INPUTS["ppocr-cls"]);
  const want = await runOrt(m, feeds);
  const convs = m.graph.nodes.filter((n) => n.opType === "Conv").length;
  const res = await runPipeline(m, [constantsToInitializers, foldBatchNormPass], {}, { verifyEach: true });
  assertEquals(res.steps[1]!.notes[0], "folded 35 BatchNormalization nodes into Conv");
  assertEquals(m.graph.nodes.filter((n) => n.opType === "BatchNormalization").length, 0);
  assertEquals(m.graph.nodes.filter((n) => n.opType === "Conv").length, convs);
  const e = compareOutputs(await runOrt(m, feeds), want);
  for (const v of Object.values(e)) assert(v <= 1e-5, `rel L2 ${v}`);
});
