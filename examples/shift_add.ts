/**
 * ShiftAddLLM on the byte LM: every linear layer becomes binary-coded weights with power-of-two scales
 * (shiftkit.ShiftAddMatMul plus a standard-ONNX function body, so onnxruntime runs the file).
 *
 * Run: `deno run -A examples/shift_add.ts [OUT.onnx] [--bits 2|3|4] [--budget AVG] [--samples N]`
 * @module
 */
import { evaluate, loadModel, quantize, saveModel } from "../mod.ts";

const root = new URL("../", import.meta.url).pathname;
const flag = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const out = Deno.args.find((a, i) => !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--"));
const modelPath = `${root}testdata/byte-lm-opt.onnx`;
const score = async (m: Parameters<typeof evaluate>[0]) =>
  (await evaluate(m, { task: "lm", data: `${root}testdata/lm-eval.txt` })).metrics.bitsPerByte!;

const model = await loadModel(modelPath);
const before = await score(model);
const budget = flag("budget");
const r = await quantize(model, {
  method: "shiftadd",
  bits: flag("bits") ?? "3",
  calib: `${root}testdata/lm-calib.txt`,
  samples: Number(flag("samples") ?? "64"),
  ...(budget ? { extra: { budget: Number(budget) } } : {}),
});
console.log(
  `shiftadd ${budget ? `budget ${budget}` : `${r.bits}-bit`}: ${(r.sizeBefore / 1e6).toFixed(2)} MB -> ` +
    `${(r.sizeAfter / 1e6).toFixed(2)} MB, ${before.toFixed(4)} -> ${
      (await score(model)).toFixed(4)
    } bits/byte`,
);
if (out) console.log(`wrote ${(await saveModel(model, out)).join(", ")}`);
