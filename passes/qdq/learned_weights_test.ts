import { assert, assertEquals } from "@std/assert";
import type { Model } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { silentReporter } from "../../onnx/reporter.ts";
import { dequantizeLinear } from "../../quant/quantize.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { textSource } from "../../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { loadModelFile, repoPath } from "../../tests/_models.ts";
import { runPipeline } from "../pass.ts";
import { qdqPass } from "./insert_qdq.ts";
import { learnedRoundingPass } from "./learned_weights.ts";

const calib = async () =>
  textSource(await Deno.readFile(repoPath("testdata/lm-calib.txt")), { context: 128, maxSamples: 4 });

/** Held-out input: a window of the eval text (never calibrated on). */
async function heldOut(): Promise<Tensor> {
  const text = (await Deno.readFile(repoPath("testdata/lm-eval.txt"))).subarray(0, 128);
  return makeTensor(DataType.INT64, [1, 128], BigInt64Array.from(text, (b) => BigInt(b)));
}

function nmse(a: Tensor, b: Tensor): number {
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let e = 0, s = 0;
  for (let i = 0; i < x.length; i++) e += (x[i]! - y[i]!) ** 2, s += y[i]! ** 2;
  return e / s;
}

async function quantized(
  learned: boolean,
): Promise<{ model: Model; layers: number; rounded: Map<string, Float32Array> }> {
  const model = await loadModelFile("byte-lm-opt");
  const ctx = { runtime: makePassRuntime(await calib(), ortRuntimeFactory()) };
  const lr = learnedRoundingPass({ bits: 4 });
  const rounded = new Map<string, Float32Array>();
  if (learned) {
    await runPipeline(model, [lr], ctx, { verifyEach: true });
    for (const l of lr.layers!) assert(l.learned <= l.nearest, `${l.node}: ${l.learned} > ${l.nearest}`);
    for (const v of model.graph.initializers) {
      if (v.const!.dims.length === 2) rounded.set(v.name, Float32Array.from(v.const!.data as Float32Array));
    }
  }
  await runPipeline(model, [qdqPass({ weightBits: 4, activationBits: 8 })], ctx, { verifyEach: true });
  return { model, layers: lr.layers?.length ?? 0, rounded };
}

Deno.test("learned rounding + QDQ W4A8 on the byte LM: codes reproduced by QDQ, closer to float on held-out text", async () => {
  const float = await loadModelFile("byte-lm-opt");
  const feeds = { input_ids: await heldOut() };
  const ref = Object.values(await runOrt(float, feeds))[0]!;
  const nearest = await quantized(false);
  const learned = await quantized(true);
  assertEquals(verify(learned.model), []);
  // Structure: every MatMul weight went through the learned rounding and is a DequantizeLinear of int8.
  const weightDq = learned.model.graph.nodes.filter((n) =>
    isOp(n, Op.DequantizeLinear) && n.inputs[0]!.isConst && n.inputs[0]!.const!.dtype === DataType.INT8 &&
    n.inputs[0]!.const!.dims.length === 2
  );
  assertEquals(weightDq.length, learned.layers);
  assert(learned.layers >= 20, `${learned.layers} layers`);
  // Codes stay in the 4-bit range.
  for (const dq of weightDq) {
    const q = dq.inputs[0]!.const!.data as Int8Array;
    assert(q.every((v) => v >= -7 && v <= 7));
    const s = dq.inputs[1]!.const!.data as Float32Array;
    const deq = dequantizeLinear(q, dq.inputs[0]!.const!.dims, s, null, { axis: 1 });
    // The QDQ pass's own rounding reproduces the learned levels: same codes (a different code would be a
    // whole grid step, max|w| / 7, away); the recomputed scale may differ from the learned pass's by an ulp.
    const name = dq.inputs[0]!.name.replace(/_quantized$/, "");
    const want = learned.rounded.get(name)!;
    const step = Math.min(...s);
    for (let i = 0; i < want.length; i++) {
      assert(Math.abs(deq[i]! - want[i]!) < 1e-3 * step, `${name}[${i}]: ${deq[i]} vs ${want[i]}`);
    }
  }
  const eNear = nmse(Object.values(await runOrt(nearest.model, feeds))[0]!, ref);
  const eLearn = nmse(Object.values(await runOrt(learned.model, feeds))[0]!, ref);
  assert(eLearn < eNear, `learned ${eLearn} vs nearest ${eNear}`);
});

Deno.test("learned rounding: refuses without calibration data and bad bits", async () => {
  const m = await loadModelFile("byte-lm-opt");
  let threw = false;
  try {
    await learnedRoundingPass({ bits: 4 }).run(m, { reporter: silentReporter });
  } catch (e) {
    threw = e instanceof TypeError && String(e).includes("calibration data");
  }
  assert(threw);
  let bad = false;
  try {
    learnedRoundingPass({ bits: 9 });
  } catch (e) {
    bad = e instanceof RangeError;
  }
  assert(bad);
});
