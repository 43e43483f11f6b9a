/**
 * Issue 6 acceptance: the integer-only segmenter run three independent ways on every eval image —
 * onnxruntime executing the emitted file (model-local function bodies in standard ONNX ops), the CPU
 * evaluator (quant/ references), and the WebGPU executor (kernels) — must give bit-identical outputs.
 *
 * Run: `deno run -A bench/integer_only_agreement.ts [--samples N] [--batch B] [--json]`
 * @module
 */
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import { loadModel } from "../onnx/io.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { quantize } from "../api/quantize.ts";
import { openData } from "../api/data.ts";
import { executeModel } from "../kernels/executor.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { encodeModel } from "../onnx/codec.ts";

const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const json = Deno.args.includes("--json");
const samples = arg("samples", 256), batch = arg("batch", 16);
const root = new URL("../", import.meta.url).pathname;

const model = await loadModel(`${root}testdata/segmenter-tiny.onnx`);
await quantize(model, { method: "intvit", calib: `${root}testdata/segmenter-tiny-calib` });
const data = await openData(`${root}testdata/segmenter-tiny-eval`, {
  maxSamples: samples,
  inputName: model.graph.inputs[0]!.name,
});
const ort = await OrtRuntime.create(encodeModel(model));

function sameBits(a: Tensor, b: Tensor): number {
  const x = new Uint32Array(
    (a.data as Float32Array).buffer,
    (a.data as Float32Array).byteOffset,
    a.data.length,
  );
  const y = new Uint32Array(
    (b.data as Float32Array).buffer,
    (b.data as Float32Array).byteOffset,
    b.data.length,
  );
  let diff = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) diff++;
  return diff;
}

let images = 0, ortVsCpu = 0, gpuVsCpu = 0, gpuOps = 0, gpuOpMismatch = 0;
const t0 = performance.now();
for await (const feeds of data.batches(batch)) {
  const out = model.graph.outputs[0]!.name;
  const cpu = evaluateModel(model, feeds)[out]!;
  const o = (await ort.run(feeds))[out]!;
  const g = await executeModel(model, feeds);
  ortVsCpu += sameBits(o, cpu);
  gpuVsCpu += sameBits(g.outputs[out]!, cpu);
  for (const r of g.records) {
    if (r.device === "gpu" && r.integer) {
      gpuOps++;
      if (!r.exact) gpuOpMismatch++;
    }
  }
  images += feeds[Object.keys(feeds)[0]!]!.dims[0]!;
  if (!json) console.error(`  ${images}/${data.count} images`);
}
await ort.release();
const result = {
  images,
  outputElementsDifferent: { onnxruntimeVsCpu: ortVsCpu, webgpuVsCpu: gpuVsCpu },
  gpuIntegerOps: gpuOps,
  gpuIntegerOpMismatches: gpuOpMismatch,
  seconds: (performance.now() - t0) / 1000,
};
if (json) console.log(JSON.stringify(result));
else {
  console.log(
    `| images | output elements differing ORT vs CPU | WebGPU vs CPU | GPU integer ops run | mismatching |`,
  );
  console.log(`|---|---|---|---|---|`);
  console.log(`| ${images} | ${ortVsCpu} | ${gpuVsCpu} | ${gpuOps} | ${gpuOpMismatch} |`);
  console.log(`(${result.seconds.toFixed(0)} s)`);
}
Deno.exit(ortVsCpu + gpuVsCpu + gpuOpMismatch === 0 ? 0 : 1);
