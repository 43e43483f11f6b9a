import { assert, assertEquals } from "@std/assert";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import "../../onnx/evaluate/ops/integer.ts";
import type { Model } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { silentReporter } from "../../onnx/reporter.ts";
import { exposeValues, makePassRuntime } from "../../runtime/collect.ts";
import { openDataSource } from "../../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { loadModelFile } from "../../tests/_models.ts";
import { convertIntegerOnly, type IntegerOnlyOptions, type IntegerOnlyReport } from "./integer_only.ts";
import { integerOnlyViolations } from "./integer_only_check.ts";

async function convert(options: IntegerOnlyOptions): Promise<{ model: Model; report: IntegerOnlyReport }> {
  const model = await loadModelFile("segmenter-tiny");
  const calib = await openDataSource("testdata/segmenter-tiny-calib", { preset: "segmenter", maxSamples: 2 });
  const runtime = makePassRuntime(calib, ortRuntimeFactory());
  const report = await convertIntegerOnly(model, { reporter: silentReporter, runtime }, options);
  return { model, report };
}

const converted = await convert({});

Deno.test("integer-only segmenter: no float arithmetic between input Q and output DQ, bodies included", () => {
  const { model, report } = converted;
  assertEquals(report.floatNodes, []);
  assertEquals(integerOnlyViolations(model), []);
  const ops = [...model.graph.nodes].map((n) => n.opType);
  assertEquals(ops.filter((o) => o === Op.QuantizeLinear.type).length, 1);
  assertEquals(ops.filter((o) => o === Op.DequantizeLinear.type).length, 1);
  for (
    const o of [
      "ConvInteger",
      "MatMulInteger",
      "Requantize",
      "Shiftmax",
      "LambdaShiftGelu",
      "ILayerNorm",
      "IntAdd",
    ]
  ) {
    assert(ops.includes(o), `no ${o} in the converted graph`);
  }
  for (const o of ["Softmax", "LayerNormalization", "Erf", "ReduceL2", "MatMul", "Conv"]) {
    assert(!ops.includes(o), o);
  }
  const resize = model.graph.nodes.find((n) => isOp(n, Op.Resize))!;
  assertEquals(resize.a.string("mode"), "nearest");
  // 4 encoder + 2 decoder blocks: 6 Shiftmax, 6 GELU, 2 * 6 + 3 LayerNorms + 2 integer L2 normalisations,
  // 12 residual adds
  const count = (t: string) => report.ops.filter((r) => r.op === t).length;
  assertEquals([count("Shiftmax"), count("LambdaShiftGelu"), count("ILayerNorm"), count("IntAdd")], [
    6,
    6,
    17,
    12,
  ]);
  assert(report.notes.filter((n) => n.includes("in integers (ILayerNorm of [x, -x])")).length === 2);
  // Per-layer SQNR on calibration data: every twin layer measured, the logits' twin well above noise.
  assert(report.layers.length > 100, `${report.layers.length} layers`);
  const last = report.layers[report.layers.length - 1]!;
  assert(last.sqnrDb > 20, JSON.stringify(last));
  assert(report.notes.some((n) => n.startsWith("per-layer SQNR")));
  assert(report.ops.every((r) => r.scale > 0 && Number.isFinite(r.scale)));
});

Deno.test("integer-only segmenter: a deliberately float node is caught by the checker", () => {
  const m = decodeModel(encodeModel(converted.model));
  const ln = m.graph.nodes.find((n) => n.opType === "ILayerNorm")!;
  const x = ln.inputs[0]!;
  const cast = m.graph.addNode(Op.Cast.type, [x], ["as_float"], {
    attrs: [{ name: "to", type: 2, value: 1 }],
    before: ln,
  });
  ln.setInput(0, cast.outputs[0]!);
  assert(integerOnlyViolations(m).some((p) => p.includes("as_float")));
});

Deno.test("integer-only segmenter: onnxruntime (function bodies) and the CPU evaluator agree bit for bit", async () => {
  const { model } = converted;
  const dq = model.graph.outputs[0]!.producer!;
  assert(isOp(dq, Op.DequantizeLinear));
  const intName = dq.inputs[0]!.name;
  const exposed = exposeValues(model, [intName]);
  const rt = await ortRuntimeFactory()(encodeModel(exposed));
  const data = await openDataSource("testdata/segmenter-tiny-eval", { preset: "segmenter", maxSamples: 3 });
  let images = 0;
  for await (const batch of data.batches(1)) {
    const a = (await rt.run(batch))[intName]!;
    const b = evaluateModel(exposed, batch)[intName]!;
    assertEquals(a.dtype, b.dtype);
    assertEquals(a.dims, b.dims);
    assertEquals(a.data, b.data);
    images++;
  }
  await rt.release();
  assertEquals(images, 3);
});

Deno.test("integer-only options: plain ShiftGelu, L2 removal, and keepL2norm leaves exactly the L2 nodes in float", async () => {
  const shift = await convert({ gelu: "shift", nearestResize: true });
  assert(shift.report.ops.some((r) => r.op === "ShiftGelu"));
  assertEquals(integerOnlyViolations(shift.model), []);
  const removed = await convert({ l2Norm: "remove", sqnrBatches: 0 });
  assertEquals(removed.report.ops.filter((r) => r.op === "ILayerNorm").length, 15);
  assertEquals(removed.report.layers, []);
  assert(removed.report.notes.some((n) => n.includes("removed (I-Segmenter)")));
  const keep = await convert({ keepL2norm: true });
  assert(keep.report.floatNodes.length > 0);
  assert(
    keep.report.floatNodes.every((n) => /ReduceL2|Clip|Expand|Div|Shape/.test(n)),
    keep.report.floatNodes.join(),
  );
});
