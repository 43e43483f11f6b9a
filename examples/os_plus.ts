/**
 * Outlier Suppression+ on byte-lm-opt-outliers at W8A8: migrate the norm outliers into the next linear
 * layers, quantize with QDQ, and compare size and bits/byte with the float model (and plain QDQ).
 *
 *   deno run -A examples/os_plus.ts [--calib 64]
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { qdqPass } from "../passes/insert_qdq.ts";
import { osPlusPass } from "../passes/os_plus.ts";
import { runPipeline } from "../passes/pass.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { textSource } from "../runtime/data.ts";
import { BitsPerByteMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile, repoPath } from "../tests/_models.ts";

const i = Deno.args.indexOf("--calib");
const windows = i >= 0 ? Number(Deno.args[i + 1]) : 64;
const calib = textSource(await Deno.readFile(repoPath("testdata/lm-calib.txt")), { maxSamples: windows });
const evalText = await Deno.readFile(repoPath("testdata/lm-eval.txt"));
const ctx = { reporter: silentReporter, runtime: makePassRuntime(calib, ortRuntimeFactory()) };

async function bitsPerByte(model: Model): Promise<number> {
  const rt = await OrtRuntime.create(encodeModel(model));
  try {
    const meter = new BitsPerByteMeter();
    for await (const feeds of textSource(evalText).batches(32)) {
      meter.add((await rt.run(feeds)).logits!, feeds.input_ids!);
    }
    return meter.value;
  } finally {
    await rt.release();
  }
}

const float = await loadModelFile("byte-lm-opt-outliers");
const row = (name: string, m: Model, bpb: number) =>
  console.log(
    `${name.padEnd(10)} ${(encodeModel(m).length / 1e6).toFixed(2).padStart(6)} MB  ${
      bpb.toFixed(4)
    } bits/byte`,
  );
row("float", float, await bitsPerByte(float));

const qdq = await loadModelFile("byte-lm-opt-outliers");
await runPipeline(qdq, [qdqPass({ weightBits: 8, activationBits: 8 })], ctx);
row("QDQ W8A8", qdq, await bitsPerByte(qdq));

const osp = await loadModelFile("byte-lm-opt-outliers");
const pass = osPlusPass({ weightBits: 8, activationBits: 8 });
const t0 = performance.now();
const res = await runPipeline(osp, [pass], ctx);
const seconds = (performance.now() - t0) / 1000;
row("OS+ W8A8", osp, await bitsPerByte(osp));
console.log(`\nOS+ conversion: ${seconds.toFixed(1)} s on ${windows} calibration windows`);
for (const note of res.steps[0]!.notes) console.log(`  ${note}`);
