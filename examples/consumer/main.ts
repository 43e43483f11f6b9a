/**
 * A separate Deno project that uses shiftkit as a library, the way another repository would: it has its own
 * deno.json (no import map), imports shiftkit by relative path, quantizes the segmenter with QDQ W8A8 and
 * prints one JSON line with the sizes and the output agreement against the float model.
 *
 * Run from this folder: `deno run -A main.ts [MODEL] [CALIB] [EVAL]` (defaults: the repository's
 * testdata/segmenter-tiny.onnx, its calibration set and its eval set; calibrate and measure on different data).
 * @module
 */
import { evaluate, loadModel, quantize, saveModel } from "../../mod.ts";

const root = new URL("../../", import.meta.url).pathname;
const modelPath = Deno.args[0] ?? `${root}testdata/segmenter-tiny.onnx`;
const calib = Deno.args[1] ?? `${root}testdata/segmenter-tiny-calib`;
const evalData = Deno.args[2] ?? `${root}testdata/segmenter-tiny-eval`;
const out = await Deno.makeTempFile({ suffix: ".onnx" });

const float = await Deno.readFile(modelPath);
const model = await loadModel(float);
const report = await quantize(model, {
  method: "qdq",
  bits: "W8A8",
  calib,
  samples: 8,
});
await saveModel(model, out);
const agreement = await evaluate(await Deno.readFile(out), {
  task: "compare",
  reference: float,
  data: evalData,
  samples: 8,
});
console.log(JSON.stringify({
  method: report.method,
  bits: report.bits,
  sizeBefore: report.sizeBefore,
  sizeAfter: report.sizeAfter,
  metrics: agreement.metrics,
}));
await Deno.remove(out);
