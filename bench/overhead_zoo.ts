/**
 * Conversion cost on the zoo CNNs (issue 19's time criterion, issue 17's targets), measured as
 * bench/overhead.ts measures the repository models: `quantize()` (decode, normalization, calibration,
 * rewrite, load checks, encode) as a multiple of ONE float onnxruntime pass over the same calibration samples
 * (a fresh session on 2 intra-op threads, onnxruntime's defaults otherwise, every sample run once: the zoo's
 * samples come one per feed because several models fix a batch of 1). Float passes are taken right before and
 * right after each conversion (`--passes` each, the median of all), wall and process CPU time (user + system
 * of every thread) both, after one untimed float pass per model.
 *
 *   nice -n 10 deno run -A bench/overhead_zoo.ts [--models a,b] [--methods denseshift,qdq] [--calib 8[,12,...]]
 *     [--with-eval] [--rounding nearest] [--bits 4] [--passes 3] [--reps 1] [--save DIR] [--json]
 *
 * `--calib` takes one or more calibration sizes (at most what the model's calibration set holds: 8 face
 * photos, 12 ImageNet-class photos, 8 text pages, 35 text lines). `--with-eval` appends the model's evaluation
 * samples to its calibration samples up to the asked size: for TIMING ONLY (the ratio depends on the number
 * of samples: per-weight costs are fixed, per-image costs grow), never for accuracy. `--reps R` converts R
 * times in the same process and prints every ratio (the first conversion of a process pays V8's compiles).
 * `--save DIR` writes `DIR/<model>.<method>[-<rounding>].onnx` (compare files with `cmp` across code changes).
 * Default models: the zoo CNNs of issue 19 (ultraface-rfb-320, ultraface-slim-320, mobilenetv2-12,
 * selfie-segmentation, ppocr-det, ppocr-cls); default methods: DenseShift nearest rounding and QDQ W8A8.
 * @module
 */
import process from "node:process";
import { type Method, quantize } from "../api/quantize.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { constantsToInitializers } from "../passes/normalize/mod.ts";
import { runPipeline } from "../passes/pass.ts";
import { listArg, median, numArg } from "./_cases.ts";
import { type Feeds, feedsSource, ZOO } from "./zoo/models.ts";

/** CPU seconds used by this process so far (user + system, all threads). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const args = Deno.args;
const models = listArg(args, "--models") ??
  [
    "ultraface-rfb-320",
    "ultraface-slim-320",
    "mobilenetv2-12",
    "selfie-segmentation",
    "ppocr-det",
    "ppocr-cls",
  ];
const methods = (listArg(args, "--methods") ?? ["denseshift", "qdq"]) as Method[];
const calibSizes = (listArg(args, "--calib") ?? ["8"]).map(Number);
if (calibSizes.some((n) => !(Number.isInteger(n) && n > 0))) {
  console.error(`--calib takes positive integers, got ${calibSizes}`);
  Deno.exit(2);
}
const withEval = args.includes("--with-eval");
const rounding = listArg(args, "--rounding")?.[0] ?? "nearest";
const bitsIdx = args.indexOf("--bits");
const dsBits = bitsIdx >= 0 ? Number(args[bitsIdx + 1]) : 4;
const floatPasses = numArg(args, "--passes", 3);
const reps = numArg(args, "--reps", 1);
const saveIdx = args.indexOf("--save");
const saveDir = saveIdx >= 0 ? args[saveIdx + 1] : undefined;
if (saveDir) await Deno.mkdir(saveDir, { recursive: true });

/** One float pass: a fresh 2-thread session (onnxruntime's defaults otherwise) over every sample. */
async function floatPass(file: Uint8Array, feeds: Feeds[]): Promise<{ s: number; cpuS: number }> {
  const t0 = performance.now(), c0 = cpuSeconds();
  const rt = await OrtRuntime.create(file, { intraOpNumThreads: 2 });
  for (const f of feeds) await rt.run(f);
  const out = { s: (performance.now() - t0) / 1000, cpuS: cpuSeconds() - c0 };
  await rt.release();
  return out;
}

interface Row {
  model: string;
  method: string;
  samples: number;
  rep: number;
  weights: number;
  floatPassS: number;
  floatPassCpuS: number;
  convertS: number;
  convertCpuS: number;
  ratio: number;
  cpuRatio: number;
  passes: Record<string, number>;
  error?: string;
}
const rows: Row[] = [];
const load = async () => (await Deno.loadavg())[0]!.toFixed(1);
console.error(`start ${new Date().toISOString()} load ${await load()}`);
for (const name of models) {
  const z = ZOO.find((m) => m.name === name);
  if (!z) {
    console.error(`unknown zoo model ${name}`);
    Deno.exit(2);
  }
  const bytes = await Deno.readFile(await z.path());
  // weights of rank >= 2 once Constant nodes are initializers (ppocr-det keeps its weights in Constants)
  const normalized = decodeModel(bytes);
  await runPipeline(normalized, [constantsToInitializers]);
  const weights = normalized.graph.initializers.reduce(
    (s, v) => s + (v.const && v.const.dims.length >= 2 ? v.const.data.length : 0),
    0,
  );
  const most = Math.max(...calibSizes);
  const all = await z.samples({ calib: most, eval: withEval ? most : 1 });
  const pool = withEval ? [...all.calib, ...all.eval] : all.calib;
  const sizes = [...new Set(calibSizes.map((n) => Math.min(n, pool.length)))];
  await floatPass(bytes, pool.slice(0, 1)); // untimed: the process's first session and first runs
  for (const n of sizes) {
    const feeds = pool.slice(0, n);
    for (const method of methods) {
      const label = method === "denseshift" ? `${method}-${rounding}` : method;
      for (let rep = 0; rep < reps; rep++) {
        const fp: { s: number; cpuS: number }[] = [];
        for (let i = 0; i < floatPasses; i++) fp.push(await floatPass(bytes, feeds));
        const t0 = performance.now(), c0 = cpuSeconds();
        let out: Uint8Array | undefined, error: string | undefined;
        const passes: Record<string, number> = {};
        try {
          const model = decodeModel(bytes);
          const report = await quantize(model, {
            method,
            calib: feedsSource(feeds),
            ...(method === "denseshift" ? { bits: dsBits, extra: { rounding } } : {}),
          });
          out = encodeModel(model);
          for (const s of report.steps) passes[s.pass] = (passes[s.pass] ?? 0) + s.ms / 1000;
        } catch (e) {
          error = (e as Error).message.split("\n")[0]!;
        }
        const convertS = (performance.now() - t0) / 1000, convertCpuS = cpuSeconds() - c0;
        for (let i = 0; i < floatPasses; i++) fp.push(await floatPass(bytes, feeds));
        if (saveDir && out && rep === 0) await Deno.writeFile(`${saveDir}/${name}.${label}.n${n}.onnx`, out);
        const floatPassS = median(fp.map((f) => f.s)), floatPassCpuS = median(fp.map((f) => f.cpuS));
        const r: Row = {
          model: name,
          method: label,
          samples: n,
          rep,
          weights,
          floatPassS,
          floatPassCpuS,
          convertS: error ? NaN : convertS,
          convertCpuS: error ? NaN : convertCpuS,
          ratio: error ? NaN : convertS / floatPassS,
          cpuRatio: error ? NaN : convertCpuS / floatPassCpuS,
          passes,
          ...(error ? { error } : {}),
        };
        rows.push(r);
        console.error(
          `${name} ${label} n=${n} rep ${rep}: ${
            error ??
              `${convertS.toFixed(2)} s = ${r.ratio.toFixed(1)}x float pass (CPU ${
                convertCpuS.toFixed(2)
              } s = ${r.cpuRatio.toFixed(1)}x), load ${await load()}`
          }`,
        );
      }
    }
  }
}
console.error(`end ${new Date().toISOString()} load ${await load()}`);

if (args.includes("--json")) {
  console.log(JSON.stringify({ rows }));
} else {
  console.log(
    "| model | weights | method | calib samples | float pass (s): wall / CPU | conversion (s): wall / CPU | overhead: wall / CPU | slowest passes (s) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const top = Object.entries(r.passes).sort((a, b) => b[1] - a[1]).slice(0, 2)
      .map(([p, s]) => `${p} ${s.toFixed(2)}`).join(", ");
    console.log(
      `| ${r.model} | ${(r.weights / 1e6).toFixed(2)} M | ${r.method}${
        reps > 1 ? ` #${r.rep + 1}` : ""
      } | ${r.samples} | ${r.floatPassS.toFixed(3)} / ${r.floatPassCpuS.toFixed(3)} | ${
        r.error ? "error" : `${r.convertS.toFixed(2)} / ${r.convertCpuS.toFixed(2)}`
      } | ${r.error ?? `${r.ratio.toFixed(1)}x / ${r.cpuRatio.toFixed(1)}x`} | ${top} |`,
    );
  }
}
