/**
 * ViT classifiers built with the IR (tests/_vit.ts: class token, DeiT-style head on it) convert with zero float
 * ops inside and run bit-identically in onnxruntime (function bodies), the CPU evaluator and the WebGPU
 * executor (every kernel op on the GPU); variants cover patch sizes, head counts, the opset-20 `Gelu` op (exact
 * and tanh), Erf and tanh GELU exports, and fused / decomposed LayerNorm.
 */
import { assert, assertEquals } from "@std/assert";
import { encodeModel } from "../../onnx/codec.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import "../../onnx/evaluate/ops/integer.ts";
import { silentReporter } from "../../onnx/reporter.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { tensorSource } from "../../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { executeModel } from "../../kernels/executor.ts";
import { noGpuNotice } from "../../kernels/_test_util.ts";
import { mulberry32 } from "../../quant/_rng.ts";
import { buildVit, type VitSpec } from "../../tests/_vit.ts";
import { convertIntegerOnly, integerOnlyPass } from "./integer_only.ts";
import { integerOnlyViolations } from "./integer_only_check.ts";

const noGpu = await noGpuNotice("integer_only_vit_test.ts");

function images(n: number, size: number, seed: number): Tensor {
  const r = mulberry32(seed);
  return makeTensor(
    DataType.FLOAT,
    [n, 3, size, size],
    Float32Array.from({ length: n * 3 * size * size }, () => 2 * r() - 1),
  );
}

function bits(t: Tensor): Uint32Array {
  const d = t.data as Float32Array;
  return new Uint32Array(d.buffer, d.byteOffset, d.length);
}

async function convertAndCheck(spec: VitSpec): Promise<void> {
  const size = spec.image ?? 16;
  const model = buildVit(spec);
  const floatBytes = encodeModel(model);
  const calib = tensorSource(new Map([["image", images(8, size, 7)]]));
  const report = await convertIntegerOnly(model, {
    reporter: silentReporter,
    runtime: makePassRuntime(calib, ortRuntimeFactory(), { batchSize: 1 }),
  }, { sqnrBatches: 2 });
  // Structure: integer ops only between the input Q and the output DQ, function bodies included.
  assertEquals(report.floatNodes, []);
  assertEquals(integerOnlyViolations(model), []);
  const ops = model.graph.nodes.map((n) => n.opType);
  for (const o of ["ConvInteger", "MatMulInteger", "Shiftmax", "LambdaShiftGelu", "ILayerNorm", "IntAdd"]) {
    assert(ops.includes(o), `${o} missing`);
  }
  for (const o of ["Gelu", "Erf", "Tanh", "Softmax", "LayerNormalization", "ReduceMean", "MatMul", "Conv"]) {
    assert(!ops.includes(o), `${o} left`);
  }
  assertEquals(report.ops.filter((r) => r.op === "LambdaShiftGelu").length, spec.depth ?? 2);
  // Numbers: onnxruntime (function bodies), the CPU evaluator and WebGPU agree bit for bit on fresh images,
  // and the integer model is close to float.
  const rt = await ortRuntimeFactory()(encodeModel(model));
  const ref = await ortRuntimeFactory()(floatBytes);
  for (let i = 0; i < 2; i++) {
    const feeds = { image: images(1, size, 100 + i) };
    const cpu = evaluateModel(model, feeds).logits!;
    const ort = (await rt.run(feeds)).logits!;
    assertEquals(bits(ort), bits(cpu), "onnxruntime vs CPU evaluator");
    const want = (await ref.run(feeds)).logits!.data as Float32Array;
    const got = cpu.data as Float32Array;
    let dot = 0, aa = 0, bb = 0;
    for (let j = 0; j < want.length; j++) {
      (dot += want[j]! * got[j]!, aa += want[j]! ** 2, bb += got[j]! ** 2);
    }
    assert(dot / Math.sqrt(aa * bb) > 0.95, `cosine to float ${dot / Math.sqrt(aa * bb)}`);
    if (noGpu === null) {
      const gpu = await executeModel(model, feeds);
      assertEquals(bits(gpu.outputs.logits!), bits(cpu), "WebGPU vs CPU evaluator");
      const kernel = gpu.records.filter((r) => r.role === "kernel");
      assertEquals(kernel.filter((r) => r.device !== "gpu").map((r) => `${r.op}: ${r.fallback}`), []);
      assert(kernel.every((r) => r.withinTolerance && (!r.integer || r.exact)));
    }
  }
  await rt.release();
  await ref.release();
  assert(report.layers.length > 10 && report.layers.every((l) => Number.isFinite(l.sqnrDb)));
}

Deno.test("integer-only ViT: DeiT-style classifier, opset-20 Gelu op, fused LayerNormalization", async () => {
  await convertAndCheck({});
});

Deno.test("integer-only ViT: patch 8, 2 heads, tanh-GELU export, decomposed LayerNorm", async () => {
  await convertAndCheck({ patch: 8, heads: 2, gelu: "tanh", layerNorm: "decomposed", seed: 2 });
});

Deno.test("integer-only ViT: 8 heads, Erf GELU, Gelu(approximate=tanh), depth 1 and 3", async () => {
  await convertAndCheck({ heads: 8, gelu: "erf", depth: 1, seed: 3 });
  await convertAndCheck({ heads: 1, dim: 24, gelu: "op-tanh", depth: 3, patch: 2, image: 8, seed: 4 });
});

Deno.test("integer-only pass: the HTML report section plots per-layer SQNR and lists the worst layers", async () => {
  const model = buildVit({ depth: 1, seed: 5 });
  const calib = tensorSource(new Map([["image", images(4, 16, 9)]]));
  const pass = integerOnlyPass({ sqnrBatches: 2 });
  const r = await pass.run(model, {
    reporter: silentReporter,
    runtime: makePassRuntime(calib, ortRuntimeFactory(), { batchSize: 1 }),
  });
  const layers = pass.report!.layers;
  const section = r.sections![0]!;
  assertEquals(section.bars![0]!.labels, layers.map((l) => l.value));
  assertEquals(section.tables![0]!.rows.length, Math.min(10, layers.length));
  const worst = Math.min(...layers.map((l) => l.sqnrDb));
  assertEquals(section.tables![0]!.rows[0]![2], worst.toFixed(1));
});
