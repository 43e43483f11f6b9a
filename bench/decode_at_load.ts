/**
 * Decode at load vs decode per call (issue 17, item 1): a ShiftAdd file too large for onnxruntime's constant
 * folding of its decode functions (the fold holds about 80 bytes per weight) loads only with graph
 * optimizations disabled, and then decodes every layer on every call. `shiftkit decode` decodes it once with
 * shiftkit's decoder, layer by layer, into a float model with external data (api/decode.ts), which
 * onnxruntime loads with every optimization on. This runs, each in its own child under `/usr/bin/time`
 * (peak RSS = its maximum resident set):
 * 1. onnxruntime on the packed file, `graphOptimizationLevel: "disabled"`: session creation, first run and
 *    the median of `--runs` runs of one `--bytes`-byte input (bench/_run_lm.ts);
 * 2. `shiftkit decode MODEL -o DIR/decoded.onnx`: wall time and peak RSS;
 * 3. onnxruntime on the decoded file, all optimizations: the same timings;
 * and checks that both give the same logits (max abs difference printed).
 *
 *   nice -n 10 deno run -A bench/decode_at_load.ts MODEL [--dir DIR] [--runs 5] [--bytes 32]
 *     [--packed-opt disabled|all] [--float FLOAT_MODEL] [--json]
 *
 * MODEL is a ShiftAdd or DenseShift file, e.g. the 24-layer output of
 * `bench/streaming.ts --dir D --method shiftadd --bits 3 --ort-opt disabled -- --calibrate per-layer`
 * (`D/quantized.onnx`). The decoded model goes to `--dir` (default: a temporary folder, removed afterwards).
 * `--packed-opt all` runs step 1 with every optimization instead (onnxruntime folds the decode at session
 * creation: a file small enough for the fold, e.g. a DenseShift file of a repository model); `--float` also
 * times the float model the file was made from (all optimizations). An image model (float32 input) gets one
 * fixed input of its shape (bench/_run_lm.ts).
 * @module
 */
import { listArg, numArg, repo } from "./_cases.ts";

const args = Deno.args;
const model = args[0];
if (!model || model.startsWith("--")) {
  throw new TypeError(
    "usage: decode_at_load.ts MODEL [--dir DIR] [--runs 5] [--packed-opt disabled|all] [--float F]",
  );
}
const packedOpt = listArg(args, "--packed-opt")?.[0] ?? "disabled";
if (packedOpt !== "disabled" && packedOpt !== "all") {
  throw new TypeError(`--packed-opt: disabled or all, got ${packedOpt}`);
}
const floatModel = listArg(args, "--float")?.[0];
const runs = numArg(args, "--runs", 5), bytes = numArg(args, "--bytes", 32);
const dirArg = listArg(args, "--dir")?.[0];
const dir = dirArg ?? await Deno.makeTempDir({ prefix: "shiftkit-decode-" });

interface Timed {
  code: number;
  rssMB: number;
  seconds: number;
  stderr: string;
}

async function timed(...denoArgs: string[]): Promise<Timed> {
  const r = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "BENCH_TIME %M %e", Deno.execPath(), "run", "-A", ...denoArgs],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(r.stderr);
  const t = /BENCH_TIME (\d+) ([\d.]+)/.exec(stderr);
  return { code: r.code, rssMB: t ? Number(t[1]) / 1024 : NaN, seconds: t ? Number(t[2]) : NaN, stderr };
}

async function runLm(path: string, opt: string, tag: string) {
  const out = `${dir}/logits-${tag}.f32`;
  const r = await timed(
    repo("bench/_run_lm.ts"),
    path,
    "--opt",
    opt,
    "--out",
    out,
    "--runs",
    String(runs),
    "--bytes",
    String(bytes),
  );
  const m = /RUN_LM ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  const logits = r.code === 0 ? new Float32Array((await Deno.readFile(out)).buffer) : undefined;
  return {
    exitCode: r.code,
    peakRssMB: r.rssMB,
    seconds: r.seconds,
    loadMs: m ? Number(m[1]) : NaN,
    firstRunMs: m ? Number(m[2]) : NaN,
    medianRunMs: m ? Number(m[3]) : NaN,
    logits,
    error: r.code === 0 ? undefined : r.stderr.split("\n").filter((l) => l).slice(-3).join(" | "),
  };
}

const float = floatModel ? await runLm(floatModel, "all", "float") : undefined;
const perCall = await runLm(model, packedOpt, "packed");
const decodedPath = `${dir}/decoded.onnx`;
const dec = await timed(
  "--v8-flags=--expose-gc",
  repo("cli.ts"),
  "decode",
  model,
  "-o",
  decodedPath,
  "--json",
);
const atLoad = dec.code === 0 ? await runLm(decodedPath, "all", "decoded") : undefined;
let maxDiff = NaN;
if (perCall.logits && atLoad?.logits && perCall.logits.length === atLoad.logits.length) {
  maxDiff = 0;
  for (let i = 0; i < perCall.logits.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(perCall.logits[i]! - atLoad.logits[i]!));
  }
}
let decodedMB = NaN;
try {
  decodedMB = ((await Deno.stat(decodedPath)).size + (await Deno.stat(`${decodedPath}.data`)).size) / 1e6;
} catch { /* not written */ }
const strip = (r: typeof perCall | undefined) => r && { ...r, logits: undefined };
const row = {
  model,
  runs,
  bytes,
  packedOpt,
  float: strip(float),
  perCall: strip(perCall),
  decode: {
    exitCode: dec.code,
    peakRssMB: dec.rssMB,
    seconds: dec.seconds,
    outputMB: decodedMB,
    ...(dec.code === 0 ? {} : { error: dec.stderr.split("\n").filter((l) => l).slice(-3).join(" | ") }),
  },
  atLoad: strip(atLoad),
  maxAbsLogitDiff: maxDiff,
};
if (!dirArg) await Deno.remove(dir, { recursive: true });
if (args.includes("--json")) console.log(JSON.stringify(row));
else {
  const f = (x: number, d = 0) => Number.isNaN(x) ? "-" : x.toFixed(d);
  console.log("| path | peak RSS | session creation | first run | median run | wall |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  if (float) {
    console.log(
      `| float model, all optimizations | ${f(float.peakRssMB)} MB | ${f(float.loadMs)} ms | ${
        f(float.firstRunMs, 1)
      } ms | ${f(float.medianRunMs, 1)} ms | ${f(float.seconds, 1)} s |`,
    );
  }
  const packedLabel = packedOpt === "all"
    ? "packed, all optimizations (decode folded at session creation)"
    : "packed, graph optimizations disabled (decode per call)";
  console.log(
    `| ${packedLabel} | ${f(perCall.peakRssMB)} MB | ${f(perCall.loadMs)} ms | ${
      f(perCall.firstRunMs, 1)
    } ms | ${f(perCall.medianRunMs, 1)} ms | ${f(perCall.seconds, 1)} s |`,
  );
  console.log(
    `| shiftkit decode (once) | ${f(dec.rssMB)} MB | - | - | - | ${f(dec.seconds, 1)} s (${
      f(decodedMB)
    } MB out) |`,
  );
  if (atLoad) {
    console.log(
      `| decoded float, all optimizations | ${f(atLoad.peakRssMB)} MB | ${f(atLoad.loadMs)} ms | ${
        f(atLoad.firstRunMs, 1)
      } ms | ${f(atLoad.medianRunMs, 1)} ms | ${f(atLoad.seconds, 1)} s |`,
    );
  }
  console.log(`\nlogits max abs difference: ${maxDiff}`);
}
Deno.exit(
  (float?.exitCode ?? 0) === 0 && perCall.exitCode === 0 && dec.code === 0 && atLoad?.exitCode === 0 ? 0 : 1,
);
