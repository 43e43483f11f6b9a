/**
 * Decode-at-load (api/decode.ts, passes/shiftadd/decode.ts): a ShiftAdd model decoded by shiftkit into float
 * MatMuls gives onnxruntime (all optimizations) the logits that onnxruntime computes from the packed file
 * itself; structure (no shiftkit op, function or opset left) and validity (it loads from its path, external
 * data next to it).
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import * as ort from "npm:onnxruntime-node@1.30.0";
import { decodeForLoad, NothingToDecodeError } from "../api/decode.ts";
import { quantize } from "../api/quantize.ts";
import { writeSyntheticLm } from "../bench/_synthetic_lm.ts";
import { loadModel, saveModel } from "../onnx/io.ts";
import { repoPath } from "./_models.ts";

async function logits(path: string, opt: "all" | "disabled"): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, {
    logSeverityLevel: 3,
    graphOptimizationLevel: opt,
  });
  const text = (await Deno.readFile(repoPath("testdata/lm-eval.txt"))).subarray(0, 32);
  const ids = new ort.Tensor("int64", BigInt64Array.from(text, (b) => BigInt(b)), [1, 32]);
  const r = await session.run({ [session.inputNames[0]!]: ids });
  const out = r[session.outputNames[0]!]!.data as Float32Array;
  await session.release();
  return out;
}

Deno.test("decode: a ShiftAdd LM decoded to float MatMuls runs in onnxruntime as the packed file does", async () => {
  const dir = await Deno.makeTempDir();
  const lm = await writeSyntheticLm(dir, { layers: 2, width: 128, heads: 4 });
  const model = await loadModel(lm.model);
  await quantize(model, {
    method: "shiftadd",
    calib: repoPath("testdata/lm-calib.txt"),
    samples: 4,
    extra: { calibrate: "per-layer" },
  });
  await saveModel(model, `${dir}/packed.onnx`);
  const packed = await loadModel(`${dir}/packed.onnx`);
  await Deno.mkdir(`${dir}/float`);
  const r = await decodeForLoad(packed, `${dir}/float/q.onnx`);
  assertEquals(r.layers, 13);
  assertEquals(r.written, [`${dir}/float/q.onnx.data`, `${dir}/float/q.onnx`]);
  assertEquals(r.floatBytes, 4 * lm.matmulWeights);
  assertEquals([...Deno.readDirSync(`${dir}/float`)].length, 2, "no scratch file left");
  const decoded = await loadModel(`${dir}/float/q.onnx`);
  const ops = new Set([...decoded.allNodes()].map((n) => `${n.domain}.${n.opType}`));
  assert(!ops.has("shiftkit.ShiftAddMatMul"), [...ops].join());
  assertEquals([decoded.functions.length, decoded.opsets.has("shiftkit")], [0, false]);
  const want = await logits(`${dir}/packed.onnx`, "all"); // onnxruntime folds the decode function
  const got = await logits(`${dir}/float/q.onnx`, "all");
  assertEquals(got.length, want.length);
  let worst = 0, scale = 0;
  for (let i = 0; i < got.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  // the same float32 weights (the spec's decode) and the same float MatMuls: equal here, bound kept loose for
  // GEMM kernels that differ between the two sessions' graphs
  assert(worst <= 1e-5 * scale, `logits differ by ${worst} (scale ${scale})`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decode: a model without a packed op is refused and nothing is written", async () => {
  const dir = await Deno.makeTempDir();
  const model = await loadModel(repoPath("testdata/byte-lm-opt.onnx"));
  await assertRejects(
    () => decodeForLoad(model, `${dir}/q.onnx`),
    NothingToDecodeError,
    "no packed op with constant weights (shiftkit.ShiftAddMatMul, shiftkit.ShiftMatMul, shiftkit.ShiftConv)",
  );
  assertEquals([...Deno.readDirSync(dir)], []);
  await Deno.remove(dir);
});
