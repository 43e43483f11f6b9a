/**
 * Decode-at-load of DenseShift files (api/decode.ts, passes/denseshift/decode.ts): ShiftMatMul / ShiftConv
 * decoded by shiftkit into float MatMul (+ Add) / Conv give onnxruntime (all optimizations, from the saved
 * files) the outputs onnxruntime computes from the packed file itself (its function bodies folded at session
 * creation); structure (no shiftkit op, function or opset import left) and validity (loads from its path,
 * external data beside it). A model with ShiftAdd and DenseShift layers decodes both.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import * as ort from "npm:onnxruntime-node@1.30.0";
import { decodeForLoad, NothingToDecodeError } from "../api/decode.ts";
import { intAttr, intsAttr, stringAttr } from "../onnx/attributes.ts";
import { loadModel, saveModel } from "../onnx/io.ts";
import { Model } from "../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../onnx/ops.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { verify } from "../onnx/verify.ts";
import { denseShiftPass } from "../passes/denseshift/dense_shift.ts";
import { runPipeline } from "../passes/pass.ts";
import { shiftAddPass } from "../passes/shiftadd/shift_add.ts";
import { mulberry32 } from "../quant/_rng.ts";
import { cliInProcess } from "./_cli.ts";
import { loadModelFile } from "./_models.ts";

function uniform(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * r() - 1));
}

/** DenseShift without calibration data (plain PoT alphas, nearest rounding): a second or less. */
const denseShift = () =>
  denseShiftPass({ bits: 4, alpha: "max", biasCorrection: false, rounding: "nearest" });

/** Every output of `path` in onnxruntime with all graph optimizations, on one fixed input. */
async function runFile(path: string, name: string, dims: number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(path, {
    logSeverityLevel: 3,
    graphOptimizationLevel: "all",
  });
  const x = new ort.Tensor("float32", uniform(dims.reduce((a, b) => a * b, 1), 7), dims);
  const r = await session.run({ [name]: x });
  const out = session.outputNames.map((o) => r[o]!.data as Float32Array);
  await session.release();
  return out;
}

/** Save `packed`, decode a fresh load of it, and check structure, validity and outputs against the packed file. */
async function decodeAndCompare(packed: Model, input: string, dims: number[], byOp: Record<string, number>) {
  const dir = await Deno.makeTempDir();
  await saveModel(packed, `${dir}/packed.onnx`);
  const r = await decodeForLoad(await loadModel(`${dir}/packed.onnx`), `${dir}/decoded.onnx`);
  assertEquals(r.byOp, byOp);
  assertEquals(r.layers, Object.values(byOp).reduce((a, b) => a + b, 0));
  assertEquals(r.skipped, []);
  assertEquals(r.written, [`${dir}/decoded.onnx.data`, `${dir}/decoded.onnx`]);
  const decoded = await loadModel(`${dir}/decoded.onnx`);
  assertEquals(verify(decoded), []);
  assertEquals([...decoded.allNodes()].filter((n) => n.domain === SHIFTKIT_DOMAIN).map((n) => n.opType), []);
  assertEquals([decoded.functions.length, decoded.opsets.has(SHIFTKIT_DOMAIN)], [0, false]);
  const want = await runFile(`${dir}/packed.onnx`, input, dims); // onnxruntime folds the decode functions
  const got = await runFile(`${dir}/decoded.onnx`, input, dims);
  assertEquals(got.length, want.length);
  let worst = 0, scale = 0;
  for (const [i, w] of want.entries()) {
    assertEquals(got[i]!.length, w.length);
    for (let j = 0; j < w.length; j++) {
      worst = Math.max(worst, Math.abs(got[i]![j]! - w[j]!));
      scale = Math.max(scale, Math.abs(w[j]!));
    }
  }
  // the same float32 weights (decodeShiftWeight is exact, as the function body): segmenter-tiny's outputs are
  // equal; ShiftMatMul with a bias (the body's Gemm vs MatMul + Add) differs by float round-off (1.3e-7
  // at 0.49 on convModel)
  assert(worst <= 1e-6 * scale, `outputs differ by ${worst} (scale ${scale})`);
  await Deno.remove(dir, { recursive: true });
  return decoded;
}

Deno.test("decode: DenseShift segmenter-tiny (ShiftConv patch embedding, ShiftMatMul) runs as the packed file", async () => {
  const m = await loadModelFile("segmenter-tiny");
  await runPipeline(m, [denseShift()]);
  const decoded = await decodeAndCompare(m, "pixel_values", [1, 3, 64, 64], {
    ShiftConv: 1,
    ShiftMatMul: 27,
  });
  const conv = [...decoded.graph.nodes].find((n) => n.opType === "Conv")!;
  assertEquals([conv.a.ints("strides"), conv.a.ints("kernel_shape")], [[8, 8], [8, 8]]);
  assertEquals(conv.inputs[1]!.constInfo()!.dims, [96, 3, 8, 8]);
});

/**
 * x [1, 4, 9, 9] -> Conv 3x3 dilation 2 pad 2 -> Relu -> grouped Conv (group 2, stride 2, bias) -> depthwise
 * Conv 3x3 SAME_UPPER (bias) -> Flatten -> MatMul [200, 64] -> Gemm transB [16, 64] + C.
 */
function convModel(): Model {
  const m = new Model();
  m.opsets.set("", 18);
  const g = m.graph, x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [1, 4, 9, 9] };
  g.inputs.push(x);
  let seed = 1;
  const w = (name: string, dims: number[], scale = 0.3) =>
    g.addInitializer(
      name,
      makeTensor(DataType.FLOAT, dims, uniform(dims.reduce((a, b) => a * b, 1), seed++, scale)),
    );
  const c1 = g.addNode(Op.Conv.type, [x, w("w1", [8, 4, 3, 3])], ["c1"], {
    name: "conv_dilated",
    attrs: [intsAttr("pads", [2, 2, 2, 2]), intsAttr("dilations", [2, 2])],
  }).outputs[0]!;
  const r1 = g.addNode(Op.Relu.type, [c1], ["r1"]).outputs[0]!;
  const c2 = g.addNode(Op.Conv.type, [r1, w("w2", [8, 4, 3, 3]), w("b2", [8])], ["c2"], {
    name: "conv_grouped",
    attrs: [intAttr("group", 2), intsAttr("strides", [2, 2])],
  }).outputs[0]!;
  const c3 = g.addNode(Op.Conv.type, [c2, w("w3", [8, 1, 3, 3]), w("b3", [8])], ["c3"], {
    name: "conv_depthwise",
    attrs: [intAttr("group", 8), stringAttr("auto_pad", "SAME_UPPER")],
  }).outputs[0]!;
  const f = g.addNode(Op.Flatten.type, [c3], ["f"]).outputs[0]!;
  // c3 is [1, 8, 4, 4]: 128 features
  const mm = g.addNode(Op.MatMul.type, [f, w("wm", [128, 64], 0.1)], ["mm"], { name: "matmul" }).outputs[0]!;
  const y = g.addNode(Op.Gemm.type, [mm, w("wg", [16, 64]), w("cg", [16])], ["y"], {
    name: "gemm",
    attrs: [intAttr("transB", 1)],
  }).outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: [1, 16] };
  g.outputs.push(y);
  return m;
}

Deno.test("decode: a Conv model's ShiftConv (dilations, group, strides, auto_pad, bias) and ShiftMatMul with bias", async () => {
  const m = convModel();
  await runPipeline(m, [denseShift()]);
  const decoded = await decodeAndCompare(m, "x", [1, 4, 9, 9], { ShiftConv: 3, ShiftMatMul: 2 });
  assertEquals(decoded.graph.nodes.map((n) => n.opType), [
    "Conv",
    "Relu",
    "Conv",
    "Conv",
    "Flatten",
    "MatMul",
    "MatMul",
    "Add",
  ]);
  const convs = decoded.graph.nodes.filter((n) => n.opType === "Conv");
  assertEquals(convs.map((n) => n.inputs.length), [2, 3, 3]);
  assertEquals(convs[0]!.a.ints("dilations"), [2, 2]);
  assertEquals([convs[1]!.a.int("group"), convs[1]!.a.ints("strides")], [2, [2, 2]]);
  assertEquals(convs[2]!.a.string("auto_pad"), "SAME_UPPER");
});

Deno.test("decode: a model with ShiftAdd and DenseShift layers decodes both", async () => {
  const m = convModel();
  // ShiftAdd (weight objective: no calibration data) on the MatMul, DenseShift on the convolutions and the Gemm
  await runPipeline(m, [shiftAddPass({ objective: "weight", exclude: ["gemm"] }), denseShift()]);
  const ops = m.graph.nodes.filter((n) => n.domain === SHIFTKIT_DOMAIN).map((n) => n.opType);
  assertEquals(ops, ["ShiftConv", "ShiftConv", "ShiftConv", "ShiftAddMatMul", "ShiftMatMul"]);
  assertEquals(m.functions.length, 3);
  await decodeAndCompare(m, "x", [1, 4, 9, 9], { ShiftAddMatMul: 1, ShiftConv: 3, ShiftMatMul: 1 });
});

Deno.test("decode CLI: a DenseShift file exits 0 with per-op counts; a float model exits 2 and says why", async () => {
  const dir = await Deno.makeTempDir();
  const m = convModel();
  await saveModel(m, `${dir}/float.onnx`);
  await runPipeline(m, [denseShift()]);
  await saveModel(m, `${dir}/packed.onnx`);
  const ok = await cliInProcess(["decode", `${dir}/packed.onnx`, "-o", `${dir}/out.onnx`, "--json"]);
  assertEquals(ok.code, 0, ok.stderr);
  assertEquals([ok.json.layers, ok.json.byOp], [5, { ShiftConv: 3, ShiftMatMul: 2 }]);
  const text = await cliInProcess(["decode", `${dir}/packed.onnx`, "-o", `${dir}/out2.onnx`]);
  assert(text.stdout.includes("decoded 5 layers (3 ShiftConv, 2 ShiftMatMul)"), text.stdout);
  const bad = await cliInProcess(["decode", `${dir}/float.onnx`, "-o", `${dir}/none.onnx`]);
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes("no packed op with constant weights"), bad.stderr);
  assert(!(await Deno.stat(`${dir}/none.onnx`).then(() => true, () => false)), "nothing written");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decode: a ShiftMatMul whose codes are not constants is left packed and said; alone, refused", async () => {
  const m = convModel();
  await runPipeline(m, [denseShift()]);
  const dir = await Deno.makeTempDir();
  // the Gemm's codes become a graph input: that node cannot be decoded, the others still are
  const gemm = m.graph.nodes.find((n) => n.opType === "ShiftMatMul" && n.inputs[3])!;
  const codes = gemm.inputs[1]!;
  const feed = m.graph.value("gemm_codes_input");
  feed.type = { elemType: DataType.UINT8, shape: [...codes.constInfo()!.dims] };
  m.graph.inputs.push(feed);
  gemm.setInput(1, feed);
  m.graph.removeInitializer(codes);
  const r = await decodeForLoad(m, `${dir}/partial.onnx`);
  assertEquals(r.byOp, { ShiftConv: 3, ShiftMatMul: 1 });
  assertEquals(r.skipped, [`${gemm.name}: its codes or alphas are not constants`]);
  const left = await loadModel(`${dir}/partial.onnx`);
  assertEquals(left.functions.map((f) => f.name), ["ShiftMatMul"]); // still needed, kept
  assert(left.opsets.has(SHIFTKIT_DOMAIN));
  await assertRejects(
    () => decodeForLoad(left, `${dir}/none.onnx`),
    NothingToDecodeError,
    `left packed: ${gemm.name}: its codes or alphas are not constants`,
  );
  await Deno.remove(dir, { recursive: true });
});
