/**
 * DenseShift nearest rounding on the repository models: how the alpha search's covariance approximation
 * (`searchRank`, `sketchRows`; docs/denseshift.md) trades output fidelity against conversion time. Scores
 * the converted model against the float model on the CALIBRATION set (pooled output SQNR, cosine, top-1
 * agreement for the LMs), the data the defaults may be chosen on.
 *
 *   nice -n 10 deno run -A bench/dense_shift_search.ts [--models byte-lm-llama,segmenter-tiny] [--bits 4]
 *     [--samples 64] [--variants RANK:ROWS,...]
 *
 * A variant `RANK:ROWS` sets `searchRank` and `sketchRows`; `0:32` searches on the diagonal only,
 * `100000:100000` on the exact covariance of every row (the search before the approximation); `default`
 * uses the pass's defaults.
 * @module
 */
import { NORMALIZE } from "../api/quantize.ts";
import { decodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { silentReporter } from "../onnx/reporter.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { type DenseShiftOptions, denseShiftPass } from "../passes/denseshift/dense_shift.ts";
import { runPipeline } from "../passes/pass.ts";
import { collectValues, makePassRuntime } from "../runtime/collect.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import { CompareMeter } from "../runtime/metrics.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { floatBytes, listArg, MODELS, numArg, repo } from "./_cases.ts";

const args = Deno.args;
const models = listArg(args, "--models") ?? ["segmenter-tiny", "byte-lm-llama"];
const bits = numArg(args, "--bits", 4) as DenseShiftOptions["bits"];
const samples = numArg(args, "--samples", 32);
const variants = listArg(args, "--variants") ?? ["default", "0:32", "8:32", "32:32"];

console.log("| model | variant (rank:rows) | SQNR dB | cosine | top-1 agreement | pass s |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const bm of MODELS.filter((m) => models.includes(m.name))) {
  const bytes = await floatBytes(bm);
  const load = async (): Promise<Model> => {
    const m = decodeModel(bytes);
    await runPipeline(m, NORMALIZE, { reporter: silentReporter });
    return m;
  };
  const inputName = decodeModel(bytes).graph.inputs.find((v) => !v.isConst)!.name;
  const data = () => openDataSource(repo(bm.calib), { maxSamples: samples, inputName });
  const outputs = async (m: Model) => {
    const out: Record<string, Tensor>[] = [];
    await collectValues(m, m.graph.outputs.map((v) => v.name), await data(), ortRuntimeFactory(), (v) => {
      out.push(v);
    }, { batchSize: 8 });
    return out;
  };
  const ref = await outputs(await load());
  for (const v of variants) {
    const [rank, rows] = v === "default" ? [] : v.split(":").map(Number);
    const m = await load();
    const t0 = performance.now();
    await denseShiftPass({
      bits,
      rounding: "nearest",
      ...(rank !== undefined ? { searchRank: rank } : {}),
      ...(rows !== undefined ? { sketchRows: rows } : {}),
    }).run(m, {
      reporter: silentReporter,
      runtime: makePassRuntime(await data(), ortRuntimeFactory(), { batchSize: 8 }),
    });
    const secs = (performance.now() - t0) / 1000;
    const meter = new CompareMeter();
    const cand = await outputs(m);
    ref.forEach((r, i) => meter.add(r, cand[i]!));
    const rep = Object.values(meter.report())[0]!;
    console.log(
      `| ${bm.name} | ${v} | ${rep.sqnrDb.toFixed(2)} | ${rep.cosine.toFixed(5)} | ${
        Number.isNaN(rep.top1Agreement) ? "-" : rep.top1Agreement.toFixed(4)
      } | ${secs.toFixed(1)} |`,
    );
  }
}
