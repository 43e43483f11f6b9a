import { assert, assertEquals } from "@std/assert";
import { evaluate } from "../../api/evaluate.ts";
import { openData } from "../../api/data.ts";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import type { Model } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { silentReporter } from "../../onnx/reporter.ts";
import { verify } from "../../onnx/verify.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { loadModelFile } from "../../tests/_models.ts";
import { constantsToInitializers } from "../normalize/constants_to_initializers.ts";
import { dce } from "../normalize/dce.ts";
import { dedupe } from "../normalize/dedupe.ts";
import { foldBatchNormPass } from "../normalize/fold_batchnorm.ts";
import { integerRegionViolations } from "./integer_only_check.ts";
import { convertIntegerRegionQdq, type IntegerRegionQdqReport } from "./integer_only_mixed.ts";
import { findTransformerBlocks, regionNodes } from "./integer_only_region.ts";
import { upgradeOpset } from "../normalize/opset_upgrade.ts";
import { runPipeline } from "../pass.ts";

/** Float PP-OCRv4 rec: 63 of 66 lines exact on ocr-lines-sans (MODELS.md). */
const FLOAT_EXACT = 63 / 66;

async function normalizedRec(): Promise<Model> {
  const m = await loadModelFile("ppocr-rec");
  // api/quantize.ts NORMALIZE, then opset 13 for per-channel QDQ
  const normalize = [constantsToInitializers, foldBatchNormPass, dce, dedupe];
  await runPipeline(m, normalize, { reporter: silentReporter });
  upgradeOpset(m, 13);
  return m;
}

const model = await normalizedRec();
const blocks = findTransformerBlocks(model.graph)!;
const floatRegion = regionNodes(model.graph, blocks);
const calib = await openData("models/ocr-calib-sans", { preset: "ppocr-rec", inputName: "x" });
const report: IntegerRegionQdqReport = await convertIntegerRegionQdq(model, {
  reporter: silentReporter,
  runtime: makePassRuntime(calib, ortRuntimeFactory()),
});

Deno.test("integer-only rec blocks: the region is the 2 SVTR blocks (LayerNorm input -> last residual Add)", () => {
  assertEquals(blocks, { from: ["transpose_43.tmp_0"], to: ["p2o.Add.271"] });
  const count = (t: string) => floatRegion.filter((n) => n.opType === t).length;
  // per block: 2 decomposed LayerNorms (2 ReduceMean each), qkv/proj/fc1/fc2 + QK^T + AV, 1 Softmax, 1 Swish
  assertEquals([count("ReduceMean"), count("MatMul"), count("Softmax"), count("Sigmoid")], [8, 12, 2, 2]);
  assertEquals(report.integer.region!.floatNodes, floatRegion.length);
});

Deno.test("integer-only rec blocks: no float value between the entry QuantizeLinear and the exit DequantizeLinear", () => {
  assertEquals(report.integer.floatNodes, []);
  assertEquals(integerRegionViolations(model, report.integer.region!), []);
  const count = (t: string) => report.integer.ops.filter((r) => r.op === t).length;
  assertEquals(
    ["QuantizeLinear", "DequantizeLinear", "ILayerNorm", "Shiftmax", "ShiftSigmoid", "IntAdd"].map(count),
    [1, 1, 4, 2, 2, 4],
  );
  // The float ops of the blocks are gone; what is left is outside the region (backbone Swish, final
  // LayerNorm, CTC Softmax).
  const left = (t: string) => model.graph.nodes.filter((n) => n.opType === t).length;
  assertEquals([left("Softmax"), left("ReduceMean")], [1, 2]);
  assertEquals(model.graph.nodes.filter((n) => n.opType === "MatMulInteger").length, 14);
});

Deno.test("integer-only rec blocks: the checker catches a float node put inside the region", () => {
  const m = decodeModel(encodeModel(model));
  const ln = m.graph.nodes.find((n) => n.opType === "ILayerNorm")!;
  const cast = m.graph.addNode(Op.Cast.type, [ln.inputs[0]!], ["as_float"], {
    attrs: [{ name: "to", type: 2, value: 1 }],
    before: ln,
  });
  const back = m.graph.addNode(Op.Cast.type, [cast.outputs[0]!], ["as_int"], {
    attrs: [{ name: "to", type: 2, value: 5 }],
    before: ln,
  });
  ln.setInput(0, back.outputs[0]!);
  assert(integerRegionViolations(m, report.integer.region!).some((p) => p.includes("as_float")));
});

Deno.test("integer-only rec blocks: the rest is QDQ W8A8 and the model is valid for onnxruntime", async () => {
  assertEquals(verify(model), []);
  // every Conv / MatMul left reads a dequantized weight and a dequantized activation
  const float = model.graph.nodes.filter((n) => isOp(n, Op.Conv) || isOp(n, Op.MatMul));
  assert(float.length > 30, `${float.length}`);
  for (const n of float) {
    assert(n.inputs.slice(0, 2).every((v) => v?.producer && isOp(v.producer, Op.DequantizeLinear)), n.name);
  }
  const rt = await ortRuntimeFactory()(encodeModel(model));
  assertEquals(rt.inputNames, ["x"]);
  await rt.release();
});

Deno.test("integer-only rec blocks: exact-line match on ocr-lines-sans within 5 points of float", async () => {
  const r = await evaluate(model, { task: "ocr", data: "models/ocr-lines-sans" });
  assertEquals(r.samples, 66);
  // measured: 60 of 66 (float 63); char accuracy 0.991
  assert(r.metrics.exactMatch! >= FLOAT_EXACT - 0.05, `exact ${r.metrics.exactLines}/66`);
  assert(r.metrics.charAccuracy! >= 0.98, `char accuracy ${r.metrics.charAccuracy}`);
});
