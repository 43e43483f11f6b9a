/**
 * Integer-only conversion of the Segmenter-style ViT (I-ViT / I-Segmenter): everything between the input
 * QuantizeLinear and the output DequantizeLinear runs on integers (MatMulInteger, Requantize, Shiftmax,
 * ShiftGelu, I-LayerNorm, integer residual adds, nearest upsampling).
 *
 * Run: `deno run -A examples/integer_only.ts [OUT.onnx] [--samples N] [--gelu shift|lambda]`
 * @module
 */
import { evaluate, loadModel, quantize, saveModel } from "../mod.ts";

const root = new URL("../", import.meta.url).pathname;
const flag = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const out = Deno.args.find((a, i) => !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--"));
const score = async (m: Parameters<typeof evaluate>[0]) =>
  (await evaluate(m, { task: "seg", data: `${root}testdata/segmenter-tiny-eval` })).metrics.meanIoU!;

const model = await loadModel(`${root}testdata/segmenter-tiny.onnx`);
const before = await score(model);
const r = await quantize(model, {
  method: "intvit",
  calib: `${root}testdata/segmenter-tiny-calib`,
  samples: Number(flag("samples") ?? "32"),
  extra: { gelu: flag("gelu") ?? "lambda" },
});
console.log(
  `intvit: ${(r.sizeBefore / 1e6).toFixed(2)} MB -> ${(r.sizeAfter / 1e6).toFixed(2)} MB, ` +
    `mIoU ${before.toFixed(4)} -> ${(await score(model)).toFixed(4)}`,
);
if (out) console.log(`wrote ${(await saveModel(model, out)).join(", ")}`);
