/**
 * DenseShift acceptance table (issue 5): PP-OCRv4 det (thresholded-map IoU at 0.3 vs float on
 * testdata/text-pages, calibrated on text-pages-calib), PP-OCR cls (agreement with float on ocr-lines-sans
 * upright + rotated 180, calibrated on ocr-calib-sans), openWakeWord embedding (cosine vs float on
 * speech-mel-eval.npz, calibrated on speech-mel-calib.npz). Rows: DenseShift at 3..6 bits with output-error
 * alpha + bias correction, plain PoT rounding (alpha = max, no correction), uniform symmetric per-channel RTN
 * at the same bits (weights fake-quantized in place), fallback settings (`--min-sqnr`, `--keep-first-last`)
 * and budget rows (`maxAverageBits`: int8 fallback chosen greedily under an average stored-bits budget).
 *
 * Run: `deno run -A bench/dense_shift.ts [--models det,cls,oww] [--bits 3,4,5,6] [--calib N]
 *   [--fallback BITS:MIN_SQNR[:kfl]]... [--budget BITS:MAX_AVG_BITS[:ROUNDS[:kfl]]]...`
 * (ROUNDS: sequential calibration rounds, default 1)
 *   [--learned ROUNDS]... (learned-rounding rows) [--score-on-calib] [--only-denseshift]
 *   [--budget-by estimate|output]... (how budget rows rank the int8 fallback)
 *   [--search-rank R] [--sketch-rows S] (the alpha search's low-rank approximation, DenseShift rows)
 *   [--steps N] [--octaves LO,HI] (the alpha grid; default: the pass's)
 * @module
 */
import process from "node:process";
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { silentReporter } from "../onnx/reporter.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { constantsToInitializers } from "../passes/normalize/constants_to_initializers.ts";
import { dce } from "../passes/normalize/dce.ts";
import {
  averageStoredBits,
  type DenseShiftOptions,
  denseShiftPass,
} from "../passes/denseshift/dense_shift.ts";
import { foldBatchNormPass } from "../passes/normalize/fold_batchnorm.ts";
import { learnedRoundingPass } from "../passes/qdq/learned_weights.ts";
import { runPipeline } from "../passes/pass.ts";
import { collectValues, makePassRuntime } from "../runtime/collect.ts";
import { type DataSource, openDataSource } from "../runtime/data/mod.ts";
import { CompareMeter, MapIoUMeter } from "../runtime/metrics.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { loadModelFile, type ModelName, repoPath } from "../tests/_models.ts";
import { rtnInPlace } from "./_rtn.ts";

interface Task {
  key: string;
  model: ModelName;
  metric: string;
  calib: () => Promise<DataSource>;
  eval: () => Promise<DataSource>;
  /** Score a candidate's outputs against the float model's. */
  score: (ref: Record<string, Tensor>[], cand: Record<string, Tensor>[]) => number;
  batch: number;
}

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const calibN = Number(opt("calib", "32"));
const models = opt("models", "det,cls,oww").split(",");
const bitsList = opt("bits", "3,4,5,6").split(",").map(Number) as DenseShiftOptions["bits"][];
/** The alpha grid: the pass default unless `--steps N` / `--octaves LO,HI` is given. */
const searchGrid = {
  ...(args.includes("--steps") ? { stepsPerOctave: Number(opt("steps", "16")) } : {}),
  ...(args.includes("--octaves")
    ? { octaves: opt("octaves", "-2,1").split(",").map(Number) as [number, number] }
    : {}),
};
const search = Object.keys(searchGrid).length ? { search: searchGrid } : {};
/** Nearest rounding's low-rank search: `--search-rank R`, `--sketch-rows S` (default: the pass's). */
const lowRank = {
  ...(args.includes("--search-rank") ? { searchRank: Number(opt("search-rank", "8")) } : {}),
  ...(args.includes("--sketch-rows") ? { sketchRows: Number(opt("sketch-rows", "32")) } : {}),
};
const fallbacks = args.flatMap((a, i) => (a === "--fallback" ? [args[i + 1]!] : []));
const budgets = args.flatMap((a, i) => (a === "--budget" ? [args[i + 1]!] : []));
/** Learned-rounding rows: `--learned ROUNDS` (sequential calibration rounds), repeatable. */
const learned = args.flatMap((a, i) => (a === "--learned" ? [Number(args[i + 1]!)] : []));
/** Score on the calibration set instead of the eval set (for choosing defaults without the eval data). */
const scoreOnCalib = args.includes("--score-on-calib");
/** Skip the plain-PoT and RTN rows. */
const onlyDenseShift = args.includes("--only-denseshift");
/** How budget rows rank the int8 fallback: `--budget-by estimate|output` (repeatable: one row each). */
const budgetBys = args.flatMap((
  a,
  i,
) => (a === "--budget-by" ? [args[i + 1]! as "estimate" | "output"] : []));

const TASKS: Task[] = [
  {
    key: "det",
    model: "ppocr-det",
    metric: "map IoU@0.3",
    calib: () => openDataSource(repoPath("testdata/text-pages-calib"), { maxSamples: Math.min(calibN, 8) }),
    eval: () => openDataSource(repoPath("testdata/text-pages")),
    score: (ref, cand) => {
      const m = new MapIoUMeter({ threshold: 0.3 });
      ref.forEach((r, i) => m.add(Object.values(cand[i]!)[0]!, Object.values(r)[0]!));
      return m.value;
    },
    batch: 1,
  },
  {
    key: "cls",
    model: "ppocr-cls",
    metric: "top-1 agreement",
    calib: () =>
      openDataSource(repoPath("testdata/ocr-calib-sans"), {
        preset: "ppocr-cls",
        augment180: true,
        maxSamples: calibN,
      }),
    eval: () =>
      openDataSource(repoPath("testdata/ocr-lines-sans"), { preset: "ppocr-cls", augment180: true }),
    score: (ref, cand) => {
      const m = new CompareMeter();
      ref.forEach((r, i) => m.add(r, cand[i]!));
      return Object.values(m.report())[0]!.top1Agreement;
    },
    batch: 8,
  },
  {
    key: "oww",
    model: "oww-embedding",
    metric: "cosine",
    calib: () => openDataSource(repoPath("testdata/speech-mel-calib.npz"), { maxSamples: calibN }),
    eval: () => openDataSource(repoPath("testdata/speech-mel-eval.npz")),
    score: (ref, cand) => {
      const m = new CompareMeter();
      ref.forEach((r, i) => m.add(r, cand[i]!));
      return Object.values(m.report())[0]!.cosine;
    },
    batch: 64,
  },
];

async function normalized(name: ModelName): Promise<Model> {
  const m = await loadModelFile(name);
  await runPipeline(m, [constantsToInitializers, foldBatchNormPass, dce]);
  return m;
}

async function outputs(m: Model, data: DataSource, batch: number): Promise<Record<string, Tensor>[]> {
  const out: Record<string, Tensor>[] = [];
  await collectValues(m, m.graph.outputs.map((v) => v.name), data, ortRuntimeFactory(), (v) => {
    out.push(v);
  }, { batchSize: batch });
  return out;
}

/** CPU seconds used by this process (user + system). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const rows: string[] = [];
const log = (s: string) => {
  console.log(s);
  rows.push(s);
};
log(
  "| model | metric | setting | bits | score | avg stored bits/weight | file bytes | int8 layers | time s | CPU s |",
);
log("|---|---|---|---|---|---|---|---|---|---|");
for (const task of TASKS.filter((t) => models.includes(t.key))) {
  const float = await normalized(task.model);
  const evalData = scoreOnCalib ? await task.calib() : await task.eval();
  const ref = await outputs(float, evalData, task.batch);
  const floatBytes = encodeModel(float).length;
  log(`| ${task.key} | ${task.metric} | float | 32 | 1 | 32 | ${floatBytes} | - | - | - |`);
  const run = async (label: string, bits: number, o: DenseShiftOptions | "rtn" | "rtn-learned") => {
    const t0 = performance.now(), c0 = cpuSeconds();
    const m = await normalized(task.model);
    let avg: number, int8 = "-";
    if (o === "rtn") avg = rtnInPlace(m, bits);
    else if (o === "rtn-learned") {
      // Learned rounding on the same per-channel grid; rtn() then reproduces the learned codes.
      await learnedRoundingPass({ bits }).run(m, {
        reporter: silentReporter,
        runtime: makePassRuntime(await task.calib(), ortRuntimeFactory(), { batchSize: task.batch }),
      });
      avg = rtnInPlace(m, bits);
    } else {
      const pass = denseShiftPass(o);
      await pass.run(m, {
        reporter: silentReporter,
        runtime: makePassRuntime(await task.calib(), ortRuntimeFactory(), { batchSize: task.batch }),
      });
      avg = averageStoredBits(pass.layers!);
      int8 = String(pass.layers!.filter((l) => l.kind === "int8").length);
    }
    // Conversion time (wall and this process's CPU, which a busy machine inflates less), before scoring.
    const secs = ((performance.now() - t0) / 1000).toFixed(0), cpu = (cpuSeconds() - c0).toFixed(0);
    const score = task.score(ref, await outputs(m, evalData, task.batch));
    log(
      `| ${task.key} | ${task.metric} | ${label} | ${bits} | ${score.toFixed(4)} | ${avg.toFixed(2)} | ${
        encodeModel(m).length
      } | ${int8} | ${secs} | ${cpu} |`,
    );
  };
  for (const bits of bitsList) {
    await run("DenseShift nearest rounding (alpha=output + bias corr.)", bits, {
      bits,
      alpha: "output",
      biasCorrection: true,
      rounding: "nearest",
      ...search,
      ...lowRank,
    });
    for (const seq of learned) {
      await run(`DenseShift learned rounding${seq > 1 ? `, sequential ${seq}` : ""}`, bits, {
        bits,
        alpha: "output",
        biasCorrection: true,
        rounding: "learned",
        sequential: seq,
        ...search,
        ...lowRank,
      });
    }
    if (onlyDenseShift) continue;
    await run("plain PoT (alpha=max)", bits, {
      bits,
      alpha: "max",
      biasCorrection: false,
      rounding: "nearest",
    });
    await run("uniform RTN per-channel", bits, "rtn");
    if (learned.length > 0) await run("uniform per-channel, learned rounding", bits, "rtn-learned");
  }
  for (const f of fallbacks) {
    const [b, s, k] = f.split(":");
    const bits = Number(b) as DenseShiftOptions["bits"];
    await run(`DenseShift + fallback min-sqnr ${s}${k ? " keep-first-last" : ""}`, bits, {
      bits,
      alpha: "output",
      biasCorrection: true,
      minSqnr: Number(s),
      keepFirstLast: k !== undefined,
      ...search,
    });
  }
  for (const f of budgets) {
    const [b, avg, rounds, k] = f.split(":");
    const bits = Number(b) as DenseShiftOptions["bits"];
    const seq = Number(rounds ?? 1);
    for (const by of budgetBys.length ? budgetBys : ["estimate" as const]) {
      await run(
        `DenseShift + budget max-bits ${avg}${seq > 1 ? `, sequential ${seq}` : ""}${
          k ? ", keep-first-last" : ""
        }, ranked by ${by}`,
        bits,
        {
          bits,
          alpha: "output",
          biasCorrection: true,
          maxAverageBits: Number(avg),
          sequential: seq,
          keepFirstLast: k !== undefined,
          budgetBy: by,
          ...search,
        },
      );
    }
  }
}
