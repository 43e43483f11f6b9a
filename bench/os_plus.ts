/**
 * OS+ acceptance table (issues 7, 14): bits/byte of float, QDQ and OS+ at W8A8, W6A6 and W4A4 on the OPT-style
 * and LLaMA-style byte LMs, plain and with injected outliers (calibrated on testdata/lm-calib.txt, scored on
 * every non-overlapping 128-byte window of testdata/lm-eval.txt), the per-site outlier ratio before/after
 * migration, the OS+ conversion overhead (time / one float pass over the calibration set in onnxruntime,
 * wall clock and process CPU time: the machine may be shared) and the peak RSS.
 *
 *   deno run -A bench/os_plus.ts [--calib 64] [--tokens 128] [--bits 8,6,4] [--steps N] [--coarse 10]
 *     [--loss moments|samples] [--models byte-lm-opt,...] [--report out.html]
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { qdqPass } from "../passes/qdq/insert_qdq.ts";
import { osPlusPass, type OsPlusResult } from "../passes/osplus/os_plus.ts";
import { runPipeline } from "../passes/pass.ts";
import { renderReport, type ReportSection } from "../passes/report/report.ts";
import { isOp, Op } from "../onnx/ops.ts";
import { sqnrDb } from "../quant/error_metrics.ts";
import { collectValues, makePassRuntime } from "../runtime/collect.ts";
import { textSource } from "../runtime/data/mod.ts";
import { BitsPerByteMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile, type ModelName, repoPath } from "../tests/_models.ts";

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] !== undefined ? Deno.args[i + 1]! : dflt;
}

const CALIB = Number(arg("calib", "64"));
const TOKENS = Number(arg("tokens", "128"));
const BITS = arg("bits", "8,6,4").split(",").map(Number);
const MODELS = arg("models", "byte-lm-opt,byte-lm-opt-outliers,byte-lm-llama,byte-lm-llama-outliers")
  .split(",") as ModelName[];
const COARSE = Number(arg("coarse", "10"));
const LOSS = arg("loss", "moments") as "moments" | "samples";
const REPORT = arg("report", "");
const STEPS = arg("steps", "");
const ORT = { intraOpNumThreads: 2 };

const calibBytes = await Deno.readFile(repoPath("testdata/lm-calib.txt"));
const evalBytes = await Deno.readFile(repoPath("testdata/lm-eval.txt"));
let peakRss = Deno.memoryUsage().rss;
/** CPU seconds of this process (all threads, onnxruntime's included): utime + stime from /proc/self/stat. */
function cpuSeconds(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}
const sampleRss = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));

async function bitsPerByte(model: Model): Promise<number> {
  const rt = await OrtRuntime.create(encodeModel(model), ORT);
  try {
    const meter = new BitsPerByteMeter();
    for await (const feeds of textSource(evalBytes).batches(32)) {
      meter.add((await rt.run(feeds)).logits!, feeds.input_ids!);
    }
    return meter.value;
  } finally {
    await rt.release();
  }
}

function ctx() {
  return {
    reporter: silentReporter,
    runtime: makePassRuntime(textSource(calibBytes, { maxSamples: CALIB }), ortRuntimeFactory(ORT)),
  };
}

const fmt = (x: number, d = 3) => x.toFixed(d);

/** [layer, value]: the output of each constant-weight MatMul (after its bias Add when it has one). */
function layerOutputs(m: Model): [string, string][] {
  const out: [string, string][] = [];
  for (const n of m.graph.nodes) {
    if (!isOp(n, Op.MatMul) || !n.input(1)?.isConst) continue;
    const y = n.outputs[0]!, users = y.consumers();
    const add = users.length === 1 && isOp(users[0]!, Op.Add) && users[0]!.inputs.some((v) => v?.isConst);
    out.push([n.name, add ? users[0]!.outputs[0]!.name : y.name]);
  }
  return out;
}

/** Values by name over the first 8 eval windows, concatenated. */
async function values(m: Model, names: string[]): Promise<Map<string, number[]>> {
  const acc = new Map(names.map((n) => [n, [] as number[]]));
  await collectValues(m, names, textSource(evalBytes, { maxSamples: 8 }), ortRuntimeFactory(ORT), (b) => {
    for (const n of names) for (const v of b[n]!.data as Float32Array) acc.get(n)!.push(v);
  });
  return acc;
}

/** Per-layer output SQNR (dB) of each quantized model against float. */
async function layerSqnr(float: Model, quantized: Model[]): Promise<(string | number)[][]> {
  const layers = layerOutputs(float), names = layers.map(([, v]) => v);
  const ref = await values(float, names);
  const qs = await Promise.all(quantized.map((q) => values(q, names)));
  return layers.map(([layer, v]) => [layer, ...qs.map((q) => sqnrDb(ref.get(v)!, q.get(v)!))]);
}
const rows: string[] = [];
const sections: ReportSection[] = [];
console.log(
  `calibration: ${CALIB} windows of lm-calib.txt; search tokens ${TOKENS}; eval: all 128-byte windows of lm-eval.txt`,
);

for (const name of MODELS) {
  const float = await loadModelFile(name);
  const floatBpb = await bitsPerByte(float);
  // One float pass over the calibration set (the overhead ratio's denominator), best of 3.
  let floatPass = Infinity, floatCpu = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now(), c = cpuSeconds();
    await ctx().runtime.collect(float, ["logits"], () => {});
    floatPass = Math.min(floatPass, performance.now() - t);
    floatCpu = Math.min(floatCpu, cpuSeconds() - c);
  }
  const floatBytes = encodeModel(float).length;
  console.log(
    `\n## ${name}: float ${fmt(floatBpb, 4)} bits/byte, one float calibration pass ${fmt(floatPass, 0)} ms ` +
      `(${fmt(floatCpu, 2)} CPU s)`,
  );
  for (const bits of BITS) {
    const opts = { weightBits: bits, activationBits: bits, calibrator: "minmax" as const };
    const q = await loadModelFile(name);
    const tq = performance.now();
    await runPipeline(q, [qdqPass(opts)], ctx());
    const qdqMs = performance.now() - tq;
    sampleRss();
    const qdqBpb = await bitsPerByte(q);
    const o = await loadModelFile(name);
    const pass = osPlusPass({
      ...opts,
      calibTokens: TOKENS,
      gridCoarse: COARSE,
      searchLoss: LOSS,
      ...(STEPS ? { gridSteps: Number(STEPS) } : {}),
    });
    const rssBefore = Deno.memoryUsage().rss;
    const to = performance.now(), co = cpuSeconds();
    await runPipeline(o, [pass], ctx());
    const osMs = performance.now() - to, osCpu = cpuSeconds() - co;
    const rssAfter = sampleRss();
    const osBpb = await bitsPerByte(o);
    const res = pass.result as OsPlusResult;
    const row = `| ${name} | W${bits}A${bits} | ${fmt(floatBpb, 4)} | ${fmt(qdqBpb, 4)} | ${
      fmt(osBpb, 4)
    } | ${fmt(qdqBpb - osBpb, 4)} | ${fmt(osMs / 1000, 1)} s | ${fmt(osMs / floatPass, 1)}x | ${
      fmt(osCpu / floatCpu, 1)
    }x | ${fmt(qdqMs / floatPass, 1)}x | ${(Math.max(rssBefore, rssAfter) / 2 ** 20).toFixed(0)} MiB |`;
    rows.push(row);
    console.log(row);
    console.log(
      `  sites (t, outlier ratio before -> after): ` +
        res.sites.map((s) =>
          `${s.name.replace(/\/(LayerNormalization|Pow)$/, "")} t=${fmt(s.t, 2)} ${
            fmt(s.outlierRatioBefore, 1)
          }->${fmt(s.outlierRatioAfter, 1)}`
        )
          .join("; "),
    );
    if (res.skipped.length) {
      console.log(`  skipped: ${res.skipped.map((s) => `${s.name}: ${s.reason}`).join("; ")}`);
    }
    if (REPORT) {
      sections.push({
        title: `${name} W${bits}A${bits}`,
        summary: [
          ["float bits/byte", fmt(floatBpb, 4)],
          ["QDQ bits/byte", fmt(qdqBpb)],
          ["OS+ bits/byte", fmt(osBpb)],
          ["size before", `${floatBytes} B`],
          ["size after (OS+)", `${encodeModel(o).length} B`],
        ],
        tables: [{
          caption: "Per-layer output SQNR against float (dB), 8 eval windows",
          columns: ["layer", "QDQ", "OS+"],
          rows: await layerSqnr(float, [q, o]),
        }],
        osPlus: res,
      });
    }
  }
}

console.log(
  "\n| model | bits | float | QDQ | OS+ | QDQ - OS+ | OS+ time | OS+ overhead (wall) | (CPU) | QDQ overhead | peak RSS |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log(`peak RSS over the run: ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
if (REPORT) {
  await Deno.writeTextFile(REPORT, renderReport({ title: "OS+ acceptance", sections }));
  console.log(`report: ${REPORT}`);
}
