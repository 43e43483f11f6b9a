/**
 * Issue 6 acceptance: the integer-only segmenter run three independent ways on every eval image —
 * onnxruntime executing the emitted file (model-local function bodies in standard ONNX ops), the CPU
 * evaluator (quant/ references), and the WebGPU executor (kernels) — must give bit-identical outputs, with
 * every integer op on the GPU (issue 15: any CPU fallback of a kernel op fails the run, as does any integer
 * op whose GPU result differs from the CPU evaluator's, or a float output beyond its spec's tolerance).
 *
 * Run: `deno run -A bench/integer_only_agreement.ts [--models segmenter-tiny,segmenter-base] [--samples N]
 * [--batch B] [--outputs-only] [--json]`
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
// --outputs-only: skip the per-node re-run of every GPU op on the CPU evaluator (the three final outputs are
// still compared bit for bit and every fallback still counts); about half the time on the larger model.
const perOp = !Deno.args.includes("--outputs-only");
const samples = arg("samples", 256), batch = arg("batch", 16);
const root = new URL("../", import.meta.url).pathname;

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

const modelsArg = Deno.args.indexOf("--models");
const names = modelsArg >= 0 ? Deno.args[modelsArg + 1]!.split(",") : ["segmenter-tiny", "segmenter-base"];
const results = [];
for (const name of names) {
  const model = await loadModel(`${root}testdata/${name}.onnx`);
  await quantize(model, { method: "intvit", calib: `${root}testdata/${name}-calib` });
  const data = await openData(`${root}testdata/${name}-eval`, {
    maxSamples: samples,
    inputName: model.graph.inputs[0]!.name,
  });
  const ort = await OrtRuntime.create(encodeModel(model));
  let images = 0, ortVsCpu = 0, gpuVsCpu = 0, gpuOps = 0, gpuOpMismatch = 0, fallbacks = 0, beyondTol = 0;
  const fallbackOps = new Set<string>();
  const t0 = performance.now();
  for await (const feeds of data.batches(batch)) {
    const out = model.graph.outputs[0]!.name;
    const cpu = evaluateModel(model, feeds)[out]!;
    const o = (await ort.run(feeds))[out]!;
    const g = await executeModel(model, feeds, { compare: perOp });
    ortVsCpu += sameBits(o, cpu);
    gpuVsCpu += sameBits(g.outputs[out]!, cpu);
    for (const r of g.records) {
      if (r.fallback !== undefined) {
        fallbacks++;
        fallbackOps.add(`${r.op}: ${r.fallback}`);
      }
      if (r.device !== "gpu") continue;
      gpuOps++;
      if (!r.withinTolerance) r.integer ? gpuOpMismatch++ : beyondTol++;
    }
    images += feeds[Object.keys(feeds)[0]!]!.dims[0]!;
    if (!json) {
      console.error(
        `  ${name}: ${images}/${data.count} images; differing output elements ORT/CPU ${ortVsCpu}, ` +
          `WebGPU/CPU ${gpuVsCpu}; GPU kernel ops ${gpuOps}, CPU fallbacks ${fallbacks}, mismatches ${
            gpuOpMismatch + beyondTol
          }`,
      );
    }
  }
  await ort.release();
  results.push({
    model: name,
    images,
    outputElementsDifferent: { onnxruntimeVsCpu: ortVsCpu, webgpuVsCpu: gpuVsCpu },
    gpuKernelOps: gpuOps,
    perOpCompared: perOp,
    cpuFallbacks: fallbacks,
    fallbackOps: [...fallbackOps],
    gpuIntegerOpMismatches: gpuOpMismatch,
    gpuFloatOpsBeyondTolerance: beyondTol,
    seconds: (performance.now() - t0) / 1000,
  });
}
const bad = results.some((r) =>
  r.outputElementsDifferent.onnxruntimeVsCpu + r.outputElementsDifferent.webgpuVsCpu + r.cpuFallbacks +
      r.gpuIntegerOpMismatches + r.gpuFloatOpsBeyondTolerance > 0
);
if (json) console.log(JSON.stringify(results));
else {
  console.log(
    "| model | images | output elements differing ORT vs CPU | WebGPU vs CPU | GPU kernel-op executions | CPU fallbacks | mismatching | s |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(
      `| ${r.model} | ${r.images} | ${r.outputElementsDifferent.onnxruntimeVsCpu} | ${r.outputElementsDifferent.webgpuVsCpu} | ${r.gpuKernelOps} | ${r.cpuFallbacks} | ${
        r.gpuIntegerOpMismatches + r.gpuFloatOpsBeyondTolerance
      } | ${r.seconds.toFixed(0)} |`,
    );
    for (const f of r.fallbackOps) console.log(`  fallback: ${f}`);
  }
}
Deno.exit(bad ? 1 : 0);
