/**
 * Write the transformers.js file set of a byte-level LM and score each file in onnxruntime-web, as a browser
 * would run it: `onnx/model_quantized.onnx` (q8), `onnx/model_q4.onnx`, `onnx/model_q4f16.onnx`.
 *
 * Run: `deno run -A examples/transformers_js.ts [MODEL] [OUT_DIR]` (defaults: testdata/byte-lm-opt.onnx, a
 * temporary folder). Scores 64 windows of testdata/lm-eval.txt; bench/transformers_js.ts scores all 512.
 * @module
 */
import {
  DEFAULT_EXPORT_VARIANTS,
  evaluate,
  exportForRuntime,
  ortWebRuntimeFactory,
  textSource,
} from "../mod.ts";

const root = new URL("../", import.meta.url).pathname;
const modelPath = Deno.args[0] ?? `${root}testdata/byte-lm-opt.onnx`;
const out = Deno.args[1] ?? await Deno.makeTempDir({ prefix: "shiftkit-transformers-js-" });
const evalText = await Deno.readFile(`${root}testdata/lm-eval.txt`);

const float = await Deno.readFile(modelPath);
const score = async (bytes: Uint8Array) =>
  (await evaluate(bytes, {
    task: "lm",
    data: textSource(evalText, { maxSamples: 64 }),
    runtime: ortWebRuntimeFactory(),
  })).metrics.bitsPerByte!;

console.log(
  `float                          ${(float.length / 1e6).toFixed(2)} MB  ${
    (await score(float)).toFixed(4)
  } bits/byte`,
);
for (const f of await exportForRuntime(float, { variants: DEFAULT_EXPORT_VARIANTS })) {
  const path = `${out}/${f.path}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, f.bytes);
  console.log(
    `${f.path.padEnd(30)} ${(f.bytes.length / 1e6).toFixed(2)} MB  ${
      (await score(f.bytes)).toFixed(4)
    } bits/byte`,
  );
}
console.log(`written under ${out}`);
