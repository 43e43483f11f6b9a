import { assert, assertEquals, assertLess, assertRejects, assertStringIncludes } from "@std/assert";
import { floatAttr, intAttr } from "../../onnx/attributes.ts";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import { Model, type Value } from "../../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { RecordingReporter } from "../../onnx/reporter.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import { registerOp } from "../../onnx/evaluate/registry.ts";
import { shiftAddOps, shiftAddPackedFrom } from "../../onnx/evaluate/ops/shift_add.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { tensorSource, textSource } from "../../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { loadModelFile, repoPath } from "../../tests/_models.ts";
import { shiftAddTolerance } from "../../quant/shiftadd_matmul.ts";
import { opCounts, relL2, runOrt } from "../../tests/_ort_compare.ts";
import { type PassContext, runPipeline } from "../pass.ts";
import { SHIFT_ADD_OPSET, shiftAddPass, type ShiftAddPassOptions } from "./shift_add.ts";
import { storageAccount } from "../storage.ts";
import { mulberry32 } from "../../quant/_rng.ts";

// Until onnx/evaluate/registry.ts registers the shiftkit tables itself (registering twice is harmless).
for (const [type, kernel] of Object.entries(shiftAddOps)) registerOp(SHIFTKIT_DOMAIN, type, kernel);

const SEQ = 6;

/** Correlated activations with uneven feature scales (so the output objective has something to use). */
function activations(seed: number, batch: number, k: number): Tensor {
  const r = mulberry32(seed);
  const mix = Float32Array.from({ length: k * k }, () => r() * 2 - 1);
  const data = new Float32Array(batch * SEQ * k);
  for (let row = 0; row < batch * SEQ; row++) {
    const z = Float32Array.from({ length: k }, () => r() * 2 - 1);
    for (let j = 0; j < k; j++) {
      let s = z[j]! * 2;
      for (let i = 0; i < 4; i++) s += z[(j + i * 7) % k]! * mix[i * k + j]!;
      data[row * k + j] = s * (1 + (j % 5));
    }
  }
  return makeTensor(DataType.FLOAT, [batch, SEQ, k], data);
}

function randomWeight(r: () => number, rows: number, cols: number): Tensor {
  return makeTensor(
    DataType.FLOAT,
    [rows, cols],
    Float32Array.from({ length: rows * cols }, () => (r() * 2 - 1) / 4),
  );
}

/**
 * x [b, s, 32] -> q = x @ Wq, v = x @ Wv (one shared input) -> Add -> Relu -> MatMul W2 [24, 40] + bias
 * -> head MatMul W3 [40, 16] = "logits" (a graph output); opset 17.
 */
function tinyLm(seed = 3): Model {
  const r = mulberry32(seed);
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", SEQ, 32] };
  g.inputs.push(x);
  const mm = (a: Value, w: string, k: number, n: number, out: string) =>
    g.addNode(Op.MatMul.type, [a, g.addInitializer(w, randomWeight(r, k, n))], [out], {
      name: `${out}/MatMul`,
    })
      .outputs[0]!;
  const q = mm(x, "wq", 32, 24, "q"), v = mm(x, "wv", 32, 24, "v");
  const h = g.addNode(Op.Relu.type, [g.addNode(Op.Add.type, [q, v], ["qv"]).outputs[0]!], ["h"]).outputs[0]!;
  const bias = g.addInitializer("b2", randomWeight(r, 1, 40));
  const f = g.addNode(Op.Add.type, [mm(h, "w2", 24, 40, "f"), bias], ["fb"]).outputs[0]!;
  const y = mm(f, "w3", 40, 16, "logits");
  y.type = { elemType: DataType.FLOAT, shape: ["batch", SEQ, 16] };
  g.outputs.push(y);
  return m;
}

function ctxFor(x: Tensor, reporter = new RecordingReporter()): PassContext {
  return {
    reporter,
    runtime: makePassRuntime(tensorSource(new Map([["x", x]])), ortRuntimeFactory(), { batchSize: 4 }),
  };
}

async function convert(
  model: Model,
  options: ShiftAddPassOptions,
  ctx: PassContext = ctxFor(activations(1, 16, 32)),
) {
  const pass = shiftAddPass(options);
  const r = await runPipeline(model, [pass], ctx, { verifyEach: true });
  return { notes: r.steps[0]!.notes, stats: pass.stats!, sections: r.steps[0]!.sections };
}

Deno.test("shift-add: structure — every constant-weight MatMul becomes ShiftAddMatMul, function at opset 18", async () => {
  const m = tinyLm();
  const { notes, stats, sections } = await convert(m, { bits: 3, groupSize: 16 });
  assertEquals(opCounts(m), { ShiftAddMatMul: 4, Add: 2, Relu: 1 });
  assert(
    m.graph.nodes.filter((n) => n.opType === "ShiftAddMatMul").every((n) => n.domain === SHIFTKIT_DOMAIN),
  );
  assertEquals(m.opset, SHIFT_ADD_OPSET);
  assertEquals(m.opsets.get(SHIFTKIT_DOMAIN), 1);
  const f = m.findFunction(SHIFTKIT_DOMAIN, "ShiftAddMatMul")!;
  assertEquals(f.opsets.get(""), SHIFT_ADD_OPSET);
  // No float weights left: only the bias stays a float initializer.
  assertEquals(m.graph.initializers.filter((v) => v.const!.dtype === DataType.FLOAT).map((v) => v.name), [
    "b2",
  ]);
  assertEquals(m.graph.initializers.map((v) => v.const!.dtype).filter((d) => d === DataType.UINT8).length, 8);
  // Graph output keeps its name; node names are kept.
  assertEquals(m.graph.outputs.map((v) => v.name), ["logits"]);
  assertEquals(m.graph.outputs[0]!.producer!.name, "logits/MatMul");
  // One calibration run over both inputs of q and v (shared), notes per layer and the size.
  assertEquals(stats.calibrationRows, 16 * SEQ);
  assertEquals(stats.layers.map((l) => [l.k, l.n, l.bits]), [[32, 24, 3], [32, 24, 3], [24, 40, 3], [
    40,
    16,
    3,
  ]]);
  assertStringIncludes(notes.join("\n"), "raised the default opset from 17 to 18");
  // Every layer in the report's table; the terminal note names the worst three only.
  const table = sections.find((x) => x.title === "ShiftAdd layers")!.tables![0]!;
  assertEquals(table.rows.map((r) => [r[0], r[1], r[2]]), [
    ["q/MatMul", "32x24", 3],
    ["v/MatMul", "32x24", 3],
    ["f/MatMul", "24x40", 3],
    ["logits/MatMul", "40x16", 3],
  ]);
  const worst = notes.find((n) => n.startsWith("largest relative"))!;
  assertEquals(worst.split(" at 3 bits").length - 1, 3);
  assertEquals(verify(m), []);
});

Deno.test("shift-add: numbers — onnxruntime (function body) agrees with the CPU evaluator; close to float", async () => {
  const float = tinyLm();
  const feeds = { x: activations(9, 2, 32) };
  const want = (await runOrt(float, feeds)).logits!;
  const m = tinyLm();
  await convert(m, { bits: 4, groupSize: 16 });
  const bytes = encodeModel(m);
  const ort = (await runOrt(bytes, feeds)).logits!;
  const cpu = evaluateModel(decodeModel(bytes), feeds).logits!;
  assertEquals(ort.dims, [2, SEQ, 16]);
  // Four chained layers: each op within the spec tolerance, so the whole model within a tight relative bound.
  assertLess(relL2(ort, cpu), 1e-5);
  assertLess(relL2(cpu, want), 0.12);
});

Deno.test("shift-add: one layer — onnxruntime vs evaluator element-wise within the spec tolerance", async () => {
  const r = mulberry32(5);
  const m = new Model();
  m.opsets.set("", 18);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", SEQ, 32] };
  m.graph.inputs.push(x);
  const y = m.graph.addNode(Op.MatMul.type, [x, m.graph.addInitializer("w", randomWeight(r, 32, 20))], ["y"])
    .outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: ["batch", SEQ, 20] };
  m.graph.outputs.push(y);
  await convert(m, { bits: 3, groupSize: 8, mode: "lat" });
  const node = m.graph.nodes[0]!;
  const feeds = { x: activations(11, 3, 32) };
  const ort = (await runOrt(m, feeds)).y!.data as Float32Array;
  const cpu = evaluateModel(m, feeds).y!.data as Float32Array;
  const tol = shiftAddTolerance(
    { data: feeds.x.data as Float32Array, dims: feeds.x.dims },
    shiftAddPackedFrom([feeds.x, ...node.inputs.slice(1).map((v) => v!.const!)], node.a),
  );
  for (let i = 0; i < cpu.length; i++) assert(Math.abs(ort[i]! - cpu[i]!) <= tol[i]!, `element ${i}`);
});

Deno.test("shift-add: the output objective beats the weight objective on held-out activations", async () => {
  const feeds = { x: activations(21, 4, 32) };
  const want = (await runOrt(tinyLm(), feeds)).logits!;
  const err: number[] = [];
  for (const objective of ["weight", "output"] as const) {
    const m = tinyLm();
    await convert(m, { bits: 2, groupSize: 0, objective });
    err.push(relL2((await runOrt(m, feeds)).logits!, want));
  }
  assertLess(err[1]!, err[0]!);
});

Deno.test("shift-add: validity — emitted size is about bits/32 of the float weights plus alphas", async () => {
  const float = tinyLm();
  const floatSize = encodeModel(float).length;
  const m = tinyLm();
  const { stats } = await convert(m, { bits: 2, groupSize: 0 });
  const size = encodeModel(m).length;
  // planes: q·N·ceil(K/8) bytes; alphas: q·N·G·2 bytes (16 bits at T = 3), G = 1 here.
  const expect = stats.layers.reduce((a, l) => a + 2 * l.n * (Math.ceil(l.k / 8) + 2), 0);
  assertEquals(stats.packedBytes, expect);
  assertEquals(stats.floatBytes, 4 * (32 * 24 * 2 + 24 * 40 + 40 * 16));
  // Besides the packed tensors the file gains the function body (~4.5 kB) and 12 initializer headers.
  const overhead = size - (floatSize - stats.floatBytes + stats.packedBytes);
  assert(overhead > 0 && overhead < 6144, `overhead ${overhead} bytes`);
  // 2/32 of the float bytes, plus 2 alpha bytes per plane and output (K is only 24..40 here).
  assertLess(stats.packedBytes / stats.floatBytes, 2 / 32 + 0.035);
  await runOrt(m, { x: activations(2, 1, 32) });
});

Deno.test("shift-add: Gemm with transB, alpha, beta and C folds into Mul + Add", async () => {
  const r = mulberry32(7);
  const m = new Model();
  m.opsets.set("", 18);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["m", 32] };
  g.inputs.push(x);
  const w = g.addInitializer("w", randomWeight(r, 16, 32)); // N x K (transB)
  const c = g.addInitializer("c", randomWeight(r, 1, 16));
  const gemm = g.addNode(Op.Gemm.type, [x, w, c], ["y"], {
    attrs: [intAttr("transB", 1), floatAttr("alpha", 0.5), floatAttr("beta", 2)],
  });
  const y = gemm.outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: ["m", 16] };
  g.outputs.push(y);
  const feeds = { x: makeTensor(DataType.FLOAT, [SEQ * 4, 32], activations(4, 4, 32).data) };
  const want = (await runOrt(m, feeds)).y!;
  const calib = makeTensor(DataType.FLOAT, [16 * SEQ, 32], activations(1, 16, 32).data);
  await convert(m, { bits: 4, groupSize: 0 }, ctxFor(calib));
  assertEquals(m.graph.nodes.map((n) => n.opType), ["ShiftAddMatMul", "Mul", "Add"]);
  assertEquals(m.graph.initializers.map((v) => v.name).filter((n) => n === "w" || n === "c"), []);
  assertLess(relL2((await runOrt(m, feeds)).y!, want), 0.1);
});

Deno.test("shift-add: bit allocation keeps the parameter-weighted average within the budget", async () => {
  const m = tinyLm();
  const reporter = new RecordingReporter();
  // The budget counts stored bits (planes + alphas): group 16 with 16-bit alphas costs 2 bits per weight
  // per plane, so a budget of 5 sits between uniform 2 planes (4+) and uniform 3 planes (6+).
  const pass = shiftAddPass({ budget: 5, groupSize: 16 });
  const r = await runPipeline(m, [pass], ctxFor(activations(1, 16, 32), reporter), { verifyEach: true });
  const stats = pass.stats!, notes = r.steps[0]!.notes;
  const bits = stats.layers.map((l) => l.bits);
  assert(bits.every((b) => b >= 2 && b <= 4) && new Set(bits).size > 1, `bits ${bits}`);
  assert(stats.averageBits < 3 && stats.averageBits > 2, `average ${stats.averageBits}`);
  const stored = storageAccount(m, r.steps[0]!.storage!);
  assert(stored.bitsPerWeight <= 5 && stored.bitsPerWeight > 4, `stored ${stored.bitsPerWeight}`);
  assertStringIncludes(notes.join("\n"), "budget of 5 stored bits per weight");
  // Progress per layer.
  assertEquals(reporter.progressEvents.filter(([t]) => t === "shift-add").map(([, d, n]) => [d, n]), [
    [0, 4],
    [1, 4],
    [2, 4],
    [3, 4],
    [4, 4],
  ]);
});

Deno.test("shift-add: refuses what it cannot do, with the reason", async () => {
  const noRuntime = { reporter: new RecordingReporter() };
  await assertRejects(async () => await shiftAddPass().run(tinyLm(), noRuntime), TypeError, "no runtime");
  // ReduceMean moves its axes to an input at opset 18: raising the opset would break it.
  const m = tinyLm();
  const rm = m.graph.addNode(Op.ReduceMean.type, [m.graph.inputs[0]!], ["mean"], { attrs: [] });
  rm.outputs[0]!.type = { elemType: DataType.FLOAT };
  m.graph.outputs.push(rm.outputs[0]!);
  await assertRejects(
    async () => await shiftAddPass({ objective: "weight" }).run(m, noRuntime),
    RangeError,
    "ReduceMean",
  );
  assertEquals(m.opset, 17);
  // Excluded and activation x activation nodes are not touched.
  const e = tinyLm();
  const r = await shiftAddPass({ objective: "weight", exclude: ["logits"] }).run(e, noRuntime);
  assertEquals(opCounts(e).MatMul, 1);
  assertStringIncludes(r.notes!.join("\n"), "logits/MatMul: excluded");
});

Deno.test("shift-add: byte-lm-opt — linear layers converted, attention MatMuls kept, onnxruntime runs it", async () => {
  const m = await loadModelFile("byte-lm-opt");
  const keep = m.graph.nodes.filter((n) => n.opType === "MatMul" && !/head|blocks\.0\/q/.test(n.name));
  const calib = textSource(await Deno.readFile(repoPath("testdata/lm-calib.txt")), { maxSamples: 2 });
  const pass = shiftAddPass({ bits: 3, exclude: keep.map((n) => n.name) });
  await runPipeline(m, [pass], { runtime: makePassRuntime(calib, ortRuntimeFactory()) }, {
    verifyEach: true,
  });
  assertEquals(opCounts(m).ShiftAddMatMul, 2);
  assertEquals(opCounts(m).MatMul, 33 - 2);
  assertEquals(m.opset, 18);
  const ids = makeTensor(
    DataType.INT64,
    [1, 16],
    BigInt64Array.from({ length: 16 }, (_, i) => BigInt(97 + i)),
  );
  const out = (await runOrt(m, { input_ids: ids })).logits!;
  assertEquals(out.dims, [1, 16, 256]);
  assert((out.data as Float32Array).every(Number.isFinite));
});
