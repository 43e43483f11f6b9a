/**
 * Acceptance table of the integer-only conversion (issue 6, METHODS.md section 4): Segmenter mIoU on
 * testdata/segmenter-tiny-eval (256 images) for the float model and for integer-only models calibrated on
 * testdata/segmenter-tiny-calib (all 32 images, or 1), with each I-Segmenter change switched off in turn
 * (L2 removal, nearest upsampling, lambda-ShiftGelu) and with I-ViT's 8-bit Shiftmax. Scored with
 * onnxruntime-node running the emitted file (shiftkit ops through their function bodies).
 *
 *   deno run -A bench/integer_only.ts [--json]
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { convertIntegerOnly, type IntegerOnlyOptions } from "../passes/intvit/integer_only.ts";
import { integerOnlyViolations } from "../passes/intvit/integer_only_check.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import type { SegmentationSource } from "../runtime/data/mod.ts";
import { argmaxClasses, SegmentationMeter } from "../runtime/metrics.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile } from "../tests/_models.ts";

const FLOAT_REFERENCE = 0.4222;
const evalSet = await openDataSource("testdata/segmenter-tiny-eval", {
  preset: "segmenter",
}) as SegmentationSource;

async function mIoU(bytes: Uint8Array): Promise<number> {
  const rt = await ortRuntimeFactory()(bytes);
  const meter = new SegmentationMeter(evalSet.classes.length || 4);
  let i = 0;
  for await (const batch of evalSet.batches(32)) {
    for (const p of argmaxClasses((await rt.run(batch)).logits!)) meter.add(p, evalSet.masks![i++]!);
  }
  await rt.release();
  return meter.meanIoU();
}

const ROWS: [string, IntegerOnlyOptions][] = [
  ["integer-only (32 calib images)", {}],
  ["integer-only (1 calib image)", { samples: 1 }],
  ["  L2 removal off (L2 kept, float)", { keepL2norm: true }],
  ["  nearest upsampling off (bilinear, float)", { nearestResize: false }],
  ["  lambda-ShiftGelu off (plain ShiftGelu)", { gelu: "shift" }],
  ["  8-bit Shiftmax (I-ViT) instead of 16", { softmaxBits: 8 }],
  ["  percentile 99.99 calibration", { calibrator: "percentile" }],
];

const floatBytes = encodeModel(await loadModelFile("segmenter-tiny"));
const floatScore = await mIoU(floatBytes);
const rows = [{
  config: "float (onnxruntime)",
  mIoU: floatScore,
  gap: 0,
  floatNodes: "-",
  bytes: floatBytes.length,
  integerOnly: false,
}];
for (const [config, options] of ROWS) {
  const model = await loadModelFile("segmenter-tiny");
  const calib = await openDataSource("testdata/segmenter-tiny-calib", {
    preset: "segmenter",
    ...(options.samples ? { maxSamples: options.samples } : {}),
  });
  const report = await convertIntegerOnly(model, {
    reporter: silentReporter,
    runtime: makePassRuntime(calib, ortRuntimeFactory()),
  }, options);
  const bytes = encodeModel(model);
  const score = await mIoU(bytes);
  rows.push({
    config,
    mIoU: score,
    gap: floatScore - score,
    floatNodes: String(report.floatNodes.length),
    bytes: bytes.length,
    integerOnly: integerOnlyViolations(model).length === 0,
  });
}

if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ float: floatScore, floatReference: FLOAT_REFERENCE, rows }));
} else {
  console.log(
    `Segmenter-tiny, mIoU on segmenter-tiny-eval (256 images); float reference ${FLOAT_REFERENCE}\n`,
  );
  console.log("| config | mIoU | gap (points) | float nodes | integer-only | model bytes |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.config} | ${r.mIoU.toFixed(4)} | ${(100 * r.gap).toFixed(2)} | ${r.floatNodes} | ${
        r.integerOnly ? "yes" : "no"
      } | ${r.bytes} |`,
    );
  }
}
