import { assert, assertEquals } from "@std/assert";
import { Model } from "../../onnx/ir.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { roundHalfEven } from "../../quant/round.ts";
import { mulberry32 } from "../../quant/_rng.ts";
import { MODEL_INPUTS, opCounts, randomFeeds, relL2, runOrt } from "../../tests/_ort_compare.ts";
import { loadModelFile } from "../../tests/_models.ts";
import { OrtWebRuntime } from "../../runtime/ort_web.ts";
import { encodeModel } from "../../onnx/codec.ts";
import { runPipeline } from "../pass.ts";
import { dynamicInt8Pass, newDynamicInt8Stats } from "./dynamic_int8.ts";

function oneMatMul(k: number, n: number, seed: number, rows = 3): { model: Model; w: Float32Array } {
  const r = mulberry32(seed);
  const m = new Model();
  m.opsets.set("", 17);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [rows, k] };
  m.graph.inputs.push(x);
  const w = new Float32Array(k * n).map(() => (r() * 2 - 1) * (1 + 3 * r()));
  const wv = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [k, n], w));
  const y = m.graph.addNode("MatMul", [x, wv], ["y"], { name: "mm" }).outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: [rows, n] };
  m.graph.outputs.push(y);
  return { model: m, w };
}

Deno.test("dynamicInt8Pass: structure, integer part exact and float result as the ONNX spec says (onnxruntime)", async () => {
  const k = 64, n = 24;
  const { model, w } = oneMatMul(k, n, 3);
  const stats = newDynamicInt8Stats();
  await runPipeline(model, [dynamicInt8Pass({}, stats)]);
  assertEquals(verify(model), []);
  assertEquals(stats.converted, ["mm"]);
  assertEquals(opCounts(model), { DynamicQuantizeLinear: 1, Mul: 2, MatMulInteger: 1, Cast: 1 });
  assertEquals(model.graph.outputs.map((v) => v.name), ["y"]);
  // Expose the int32 accumulator and the activation quantization to check them exactly.
  const g = model.graph;
  for (const name of ["mm_output_int32", "x_quantized_mm", "x_scale_mm", "x_zero_point_mm"]) {
    g.outputs.push(g.lookup(name)!);
  }
  const r = mulberry32(9);
  const x = new Float32Array(3 * k).map(() => r() * 6 - 2);
  const out = await runOrt(model, { x: makeTensor(DataType.FLOAT, [3, k], x) });
  // DynamicQuantizeLinear (ONNX spec): range includes 0, scale = (max - min) / 255, zp = round(-min / scale).
  let lo = 0, hi = 0;
  for (const v of x) lo = Math.min(lo, v), hi = Math.max(hi, v);
  const xs = Math.fround((hi - lo) / 255);
  const xz = Math.min(255, Math.max(0, roundHalfEven(Math.fround(-lo / xs))));
  assertEquals((out["x_scale_mm"]!.data as Float32Array)[0], xs);
  assertEquals((out["x_zero_point_mm"]!.data as Uint8Array)[0], xz);
  const xq = out["x_quantized_mm"]!.data as Uint8Array;
  for (let i = 0; i < x.length; i++) {
    assertEquals(xq[i], Math.min(255, Math.max(0, roundHalfEven(Math.fround(x[i]! / xs)) + xz)), `x_q[${i}]`);
  }
  // The int32 accumulator, exactly; the weights from the stored initializer.
  const wq = g.lookup("w_quantized")!.const!.data as Int8Array;
  const ws = g.lookup("w_scale")!.const!.data as Float32Array;
  const acc = out["mm_output_int32"]!.data as Int32Array;
  const y = out["y"]!.data as Float32Array;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += (xq[i * k + c]! - xz) * wq[c * n + j]!;
      assertEquals(acc[i * n + j], s, `acc[${i},${j}]`);
      assertEquals(y[i * n + j], Math.fround(s * Math.fround(xs * ws[j]!)), `y[${i},${j}]`);
    }
  }
  // And close to float: per-column int8 weights, per-tensor uint8 activations.
  let num = 0, den = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < n; j++) {
      let f = 0;
      for (let c = 0; c < k; c++) f += x[i * k + c]! * w[c * n + j]!;
      num += (f - y[i * n + j]!) ** 2;
      den += f * f;
    }
  }
  assert(Math.sqrt(num / den) < 0.02, `relative error ${Math.sqrt(num / den)}`);
});

Deno.test("dynamicInt8Pass: byte-lm-opt converts every constant-weight MatMul, says why the others stay float", async () => {
  const model = await loadModelFile("byte-lm-opt");
  const float = await loadModelFile("byte-lm-opt");
  const before = opCounts(model)["MatMul"]!;
  const stats = newDynamicInt8Stats();
  const res = await runPipeline(model, [dynamicInt8Pass({}, stats)]);
  assertEquals(verify(model), []);
  const c = opCounts(model);
  assertEquals(stats.converted.length, c["MatMulInteger"]);
  assertEquals(c["DynamicQuantizeLinear"], stats.converted.length);
  assertEquals(c["MatMul"], before - stats.converted.length);
  assertEquals(stats.skipped.length, c["MatMul"]);
  assert(stats.converted.length >= 25, `${stats.converted.length} converted`);
  assert(stats.skipped.every((s) => s.reason.startsWith("activation x activation")));
  assert(res.steps[0]!.notes.some((s) => s.includes("left in float: activation x activation")));
  assert(stats.quantWeightBytes < stats.floatWeightBytes * 0.26);
  const feeds = randomFeeds(float, MODEL_INPUTS["byte-lm-opt"], 5);
  const want = await runOrt(float, feeds);
  const got = await runOrt(model, feeds);
  const e = relL2(got["logits"]!, want["logits"]!);
  assert(e < 0.05, `logits relative L2 ${e}`);
});

Deno.test("dynamicInt8Pass: excluded nodes stay float and are reported", async () => {
  const { model } = oneMatMul(8, 4, 1);
  const stats = newDynamicInt8Stats();
  const res = await runPipeline(model, [dynamicInt8Pass({ exclude: ["mm"] }, stats)]);
  assertEquals(res.modified, false);
  assertEquals(stats.skipped, [{ node: "mm", reason: "excluded by the user" }]);
  assertEquals(opCounts(model), { MatMul: 1 });
});

Deno.test("dynamicInt8Pass: DynamicQuantizeLinear ties round half to even in onnxruntime-web (ONNX spec)", async () => {
  // x in [0, 255] gives scale 1 and zero point 0 exactly, so x = k + 0.5 is a tie.
  const { model } = oneMatMul(8, 2, 1, 1);
  await runPipeline(model, [dynamicInt8Pass()]);
  model.graph.outputs.push(model.graph.lookup("x_quantized_mm")!);
  const x = new Float32Array([0, 255, 52.5, 53.5, 0.5, 1.5, 254.5, 100]);
  const web = await OrtWebRuntime.create(encodeModel(model));
  const q = (await web.run({ x: makeTensor(DataType.FLOAT, [1, 8], x) }))["x_quantized_mm"]!
    .data as Uint8Array;
  await web.release();
  assertEquals(Array.from(q), [0, 255, 52, 54, 0, 2, 254, 100]);
  // onnxruntime-node 1.30 (x86 native) gives 53 for 52.5 here: see tests/export_test.ts.
  const node = await runOrt(model, { x: makeTensor(DataType.FLOAT, [1, 8], x) });
  const qn = Array.from(node["x_quantized_mm"]!.data as Uint8Array);
  assert(qn.every((v, i) => Math.abs(v - q[i]!) <= 1), `onnxruntime-node: ${qn}`);
});
