/**
 * Convert the Segmenter to an integer-only model (I-ViT / I-Segmenter) and print mIoU and size before and
 * after. The output file runs in an unmodified onnxruntime: shiftkit ops ship as model-local functions.
 *
 *   deno run -A examples/integer_only.ts [OUT.onnx] [--samples N] [--gelu shift|lambda]
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { convertIntegerOnly } from "../passes/integer_only.ts";
import { integerOnlyViolations } from "../passes/integer_only_check.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { openDataSource } from "../runtime/data.ts";
import type { SegmentationSource } from "../runtime/evalsets.ts";
import { argmaxClasses, SegmentationMeter } from "../runtime/metrics.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile } from "../tests/_models.ts";

const args = [...Deno.args];
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const samples = flag("--samples");
const gelu = flag("--gelu") === "shift" ? "shift" : "lambda";
const out = args[0] ?? "segmenter-tiny.int.onnx";

const evalSet = await openDataSource("testdata/segmenter-tiny-eval", {
  preset: "segmenter",
}) as SegmentationSource;
async function mIoU(bytes: Uint8Array): Promise<number> {
  const rt = await ortRuntimeFactory()(bytes);
  const meter = new SegmentationMeter(4);
  let i = 0;
  for await (const batch of evalSet.batches(32)) {
    for (const p of argmaxClasses((await rt.run(batch)).logits!)) meter.add(p, evalSet.masks![i++]!);
  }
  await rt.release();
  return meter.meanIoU();
}

const model = await loadModelFile("segmenter-tiny");
const before = encodeModel(model);
const calib = await openDataSource("testdata/segmenter-tiny-calib", {
  preset: "segmenter",
  ...(samples ? { maxSamples: Number(samples) } : {}),
});
const report = await convertIntegerOnly(model, {
  reporter: silentReporter,
  runtime: makePassRuntime(calib, ortRuntimeFactory()),
}, { gelu });
const after = encodeModel(model);
await Deno.writeFile(out, after);

console.log(`float:        mIoU ${(await mIoU(before)).toFixed(4)}  ${(before.length / 1e6).toFixed(2)} MB`);
console.log(
  `integer-only: mIoU ${(await mIoU(after)).toFixed(4)}  ${(after.length / 1e6).toFixed(2)} MB -> ${out}`,
);
console.log(
  `integer ops: ${report.ops.length}; float nodes: ${
    report.floatNodes.length ? report.floatNodes.join(", ") : "none"
  }`,
);
console.log(`integer-only check: ${integerOnlyViolations(model).length === 0 ? "passed" : "FAILED"}`);
for (const n of report.notes) console.log(`  ${n}`);
