/**
 * Outlier Suppression+ on the byte LM that carries LLM-like channel outliers: QDQ W8A8 alone loses
 * ~0.17 bits/byte there; OS+ migrates the outliers into LayerNorm and the next linears first.
 *
 * Run: `deno run -A examples/os_plus.ts [OUT.onnx] [--bits W8A8|W6A6|W4A4] [--samples N]`
 * @module
 */
import { evaluate, loadModel, quantize, saveModel } from "../mod.ts";

const root = new URL("../", import.meta.url).pathname;
const flag = (name: string, dflt: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1]! : dflt;
};
const out = Deno.args.find((a, i) => !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--"));
const bits = flag("bits", "W8A8"), samples = Number(flag("samples", "64"));
const modelPath = `${root}testdata/byte-lm-opt-outliers.onnx`;
const score = async (m: Parameters<typeof evaluate>[0]) =>
  (await evaluate(m, { task: "lm", data: `${root}testdata/lm-eval.txt` })).metrics.bitsPerByte!;

console.log(`float: ${(await score(await loadModel(modelPath))).toFixed(4)} bits/byte`);
for (const method of ["qdq", "osplus"] as const) {
  const model = await loadModel(modelPath);
  const r = await quantize(model, { method, bits, calib: `${root}testdata/lm-calib.txt`, samples });
  console.log(
    `${method} ${bits}: ${(r.sizeBefore / 1e6).toFixed(2)} MB -> ${(r.sizeAfter / 1e6).toFixed(2)} MB, ` +
      `${(await score(model)).toFixed(4)} bits/byte`,
  );
  if (method === "osplus" && out) console.log(`wrote ${(await saveModel(model, out)).join(", ")}`);
}
