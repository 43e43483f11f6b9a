/**
 * Acceptance table of issue 6 for PP-OCRv4 rec: exact-line match and character accuracy on
 * models/ocr-lines-sans (66 lines) for the float model, QDQ W8A8 everywhere, the 2 SVTR transformer blocks
 * integer-only with the rest float (to isolate the integer blocks), and the transformer blocks integer-only
 * with the rest QDQ W8A8 (the acceptance item: within 5 points of float). Calibration on
 * models/ocr-calib-sans (35 lines); onnxruntime-node runs every model (shiftkit ops through their function
 * bodies).
 *
 *   deno run -A bench/integer_only_rec.ts [--json]
 * @module
 */
import { evaluate } from "../api/evaluate.ts";
import { openData } from "../api/data.ts";
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { constantsToInitializers } from "../passes/normalize/constants_to_initializers.ts";
import { dce } from "../passes/normalize/dce.ts";
import { dedupe } from "../passes/normalize/dedupe.ts";
import { foldBatchNormPass } from "../passes/normalize/fold_batchnorm.ts";
import { qdqPass } from "../passes/qdq/insert_qdq.ts";
import { convertIntegerOnly } from "../passes/intvit/integer_only.ts";
import { integerRegionViolations } from "../passes/intvit/integer_only_check.ts";
import { convertIntegerRegionQdq } from "../passes/intvit/integer_only_mixed.ts";
import { upgradeOpset } from "../passes/normalize/opset_upgrade.ts";
import { type PassContext, runPipeline } from "../passes/pass.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile } from "../tests/_models.ts";

async function normalized(): Promise<Model> {
  const m = await loadModelFile("ppocr-rec");
  await runPipeline(m, [constantsToInitializers, foldBatchNormPass, dce, dedupe], {
    reporter: silentReporter,
  });
  upgradeOpset(m, 13);
  return m;
}

async function ctx(): Promise<PassContext> {
  const calib = await openData("models/ocr-calib-sans", { preset: "ppocr-rec", inputName: "x" });
  return { reporter: silentReporter, runtime: makePassRuntime(calib, ortRuntimeFactory()) };
}

interface Row {
  config: string;
  exactLines: number;
  lines: number;
  exact: number;
  charAccuracy: number;
  integerRegion: string;
  bytes: number;
}

async function score(config: string, m: Model, integerRegion: string): Promise<Row> {
  const bytes = encodeModel(m);
  const r = await evaluate(bytes, { task: "ocr", data: "models/ocr-lines-sans" });
  return {
    config,
    exactLines: r.metrics.exactLines!,
    lines: r.metrics.lines!,
    exact: r.metrics.exactMatch!,
    charAccuracy: r.metrics.charAccuracy!,
    integerRegion,
    bytes: bytes.length,
  };
}

const rows: Row[] = [];
rows.push(await score("float (onnxruntime)", await loadModelFile("ppocr-rec"), "-"));

const qdq = await normalized();
await qdqPass().run(qdq, await ctx());
rows.push(await score("QDQ W8A8 everywhere", qdq, "-"));

const intFloat = await normalized();
const r1 = await convertIntegerOnly(intFloat, await ctx(), { region: "transformer-blocks" });
const ok1 = integerRegionViolations(intFloat, r1.region!).length === 0 && r1.floatNodes.length === 0;
rows.push(await score("integer-only blocks + float rest", intFloat, ok1 ? "yes" : "no"));

const mixed = await normalized();
const r2 = await convertIntegerRegionQdq(mixed, await ctx());
const ok2 = integerRegionViolations(mixed, r2.integer.region!).length === 0 &&
  r2.integer.floatNodes.length === 0;
rows.push(await score("integer-only blocks + QDQ W8A8 rest", mixed, ok2 ? "yes" : "no"));

const floatExact = rows[0]!.exact;
if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ region: r2.integer.region, rows }));
} else {
  const reg = r2.integer.region!;
  console.log(
    `PP-OCRv4 rec on ocr-lines-sans (66 lines), calibrated on ocr-calib-sans; integer region ` +
      `${reg.from.join(",")} -> ${reg.to.join(",")} (${reg.floatNodes} float nodes)\n`,
  );
  console.log(
    "| config | exact lines | exact % | gap (points) | char accuracy | blocks integer-only | bytes |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.config} | ${r.exactLines}/${r.lines} | ${(100 * r.exact).toFixed(2)} | ${
        (100 * (floatExact - r.exact)).toFixed(2)
      } | ${r.charAccuracy.toFixed(4)} | ${r.integerRegion} | ${r.bytes} |`,
    );
  }
}
