/**
 * DenseShift conversion of the openWakeWord embedding model (an all-conv speech CNN): calibrate on
 * testdata/speech-mel-calib.npz, convert to 4-bit zero-free shift weights with output-error alpha, bias
 * correction and an SQNR-driven int8 fallback, then print file size and embedding cosine to the float
 * model on testdata/speech-mel-eval.npz, before and after.
 *
 * Run: `deno run -A examples/dense_shift.ts [OUT.onnx]`
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { verify } from "../onnx/verify.ts";
import { denseShiftPass } from "../passes/dense_shift.ts";
import { collectValues, makePassRuntime } from "../runtime/collect.ts";
import { openDataSource } from "../runtime/data.ts";
import { CompareMeter } from "../runtime/metrics.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile, repoPath } from "../tests/_models.ts";

const float = await loadModelFile("oww-embedding");
const model = await loadModelFile("oww-embedding");
const calib = await openDataSource(repoPath("testdata/speech-mel-calib.npz"), { maxSamples: 64 });
const evalSet = await openDataSource(repoPath("testdata/speech-mel-eval.npz"));

const pass = denseShiftPass({
  bits: 4,
  alpha: "output",
  biasCorrection: true,
  minSqnr: 12,
});
const result = await pass.run(model, {
  reporter: { progress() {}, info: console.log, warn: console.warn },
  runtime: makePassRuntime(calib, ortRuntimeFactory(), { batchSize: 16 }),
});
for (const note of result.notes ?? []) console.log(`  ${note}`);
const problems = verify(model);
if (problems.length) throw new Error(`converted model is invalid: ${problems.join("; ")}`);

async function outputs(m: typeof model): Promise<Record<string, Tensor>[]> {
  const out: Record<string, Tensor>[] = [];
  await collectValues(m, m.graph.outputs.map((v) => v.name), evalSet, ortRuntimeFactory(), (v) => {
    out.push(v);
  }, { batchSize: 64 });
  return out;
}
const ref = await outputs(float);
const cand = await outputs(model);
const meter = new CompareMeter();
ref.forEach((r, i) => meter.add(r, cand[i]!));
const cmp = Object.values(meter.report())[0]!;
const bytes = encodeModel(model);
console.log(`float:      ${encodeModel(float).length} bytes, cosine 1`);
console.log(
  `DenseShift: ${bytes.length} bytes, cosine ${cmp.cosine.toFixed(4)} (min ${
    cmp.minCosine.toFixed(4)
  }) on ${cmp.samples} eval inputs`,
);
if (Deno.args[0]) {
  await Deno.writeFile(Deno.args[0], bytes);
  console.log(`wrote ${Deno.args[0]}`);
}
