/**
 * DenseShift on CNNs of the zoo (bench/zoo/models.ts: public models nobody here trained, real photos / speech /
 * rendered text, calibration and evaluation inputs never the same): nearest vs learned rounding, with and
 * without a stored-bits budget, against uniform per-channel RTN and learned uniform rounding at the same
 * bits per weight. Score: mean cosine of each evaluation sample's outputs (all float outputs concatenated)
 * against the float model; top-1 agreement where the output is class scores (ppocr-cls, mobilenetv2-12); mask
 * IoU against the float model's mask (output > 0.5) for the segmentation model.
 *
 * Run: deno run -A bench/dense_shift_zoo.ts [--models a,b] [--calib 8] [--eval 10] [--bits 4] [--budget 5]
 *      [--rows nearest,nearest-mse,learned,sequential,block,pointwise,block-budget,budget,rtn,rtn-learned]
 *      [--sequential 4]
 *      [--photos imagenet|objects (photo set of mobilenetv2-12)]
 *      [--ridge 1] [--score-on eval|calib (calibrate on the first half of the calibration set, score on the rest)]
 *      [--positions 256 (sampled output positions per sample of a Conv's statistics)]
 * @module
 */
import { loadModel } from "../onnx/io.ts";
import type { Model } from "../onnx/ir.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { DataType, type Tensor } from "../onnx/tensor.ts";
import { constantsToInitializers, dce, foldBatchNormPass } from "../passes/normalize/mod.ts";
import { averageStoredBits, type DenseShiftOptions, denseShiftPass } from "../passes/denseshift/mod.ts";
import { learnedRoundingPass } from "../passes/qdq/mod.ts";
import { runPipeline } from "../passes/pass.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import { type Feeds, feedsSource, type PhotoSet, ZOO } from "./zoo/models.ts";
import { rtnInPlace } from "./_rtn.ts";

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const names = opt("models", "ultraface-rfb-320,ultraface-slim-320,ppocr-cls,oww-embedding").split(",");
const photos = opt("photos", "imagenet") as PhotoSet;
if (photos !== "imagenet" && photos !== "objects") {
  console.error(`--photos must be imagenet or objects, got ${photos}`);
  Deno.exit(2);
}
const n = { calib: Number(opt("calib", "8")), eval: Number(opt("eval", "10")), photos };
const bitsList = opt("bits", "4").split(",").map(Number) as DenseShiftOptions["bits"][];
const budget = Number(opt("budget", "5"));
/**
 * Which rows to run: nearest, nearest-mse (alpha by weight MSE instead of the output-error search), learned,
 * sequential, block, block-budget, budget, rtn, rtn-learned.
 */
const rows = opt("rows", "nearest,learned,budget,rtn,rtn-learned").split(",");
const rounds = Number(opt("sequential", "4"));
const ridge = Number(opt("ridge", "1"));
/** Sampled output positions per calibration sample of a Conv's statistics (the pass's default: 256). */
const positions = Number(opt("positions", "256"));
/**
 * `--score-on calib` chooses defaults without the evaluation set: the first half of the calibration samples
 * calibrates, the second half scores (a method fitted to its calibration data must not be scored on it).
 */
const scoreOnCalib = opt("score-on", "eval") === "calib";

async function normalized(path: string): Promise<Model> {
  const m = await loadModel(path);
  await runPipeline(m, [constantsToInitializers, foldBatchNormPass, dce]);
  return m;
}

async function run(m: Model, feeds: Feeds[]): Promise<Record<string, Tensor>[]> {
  const { encodeModel } = await import("../onnx/codec.ts");
  const rt = await OrtRuntime.create(encodeModel(m));
  const out: Record<string, Tensor>[] = [];
  try {
    for (const f of feeds) out.push(await rt.run(f));
  } finally {
    await rt.release();
  }
  return out;
}

function flat(o: Record<string, Tensor>): Float32Array[] {
  return Object.keys(o).sort().map((k) => o[k]!).filter((t) => t.dtype === DataType.FLOAT).map((t) =>
    t.data as Float32Array
  );
}

/** Models scored by top-1 agreement / by mask IoU besides the cosine. */
const CLASSIFIERS = ["ppocr-cls", "mobilenetv2-12"], SEGMENTERS = ["selfie-segmentation"];

function score(ref: Record<string, Tensor>[], cand: Record<string, Tensor>[], classifier: boolean) {
  let cos = 0, worst = 1, top1 = 0, inter = 0, union = 0;
  for (let s = 0; s < ref.length; s++) {
    const a = flat(ref[s]!), b = flat(cand[s]!);
    let d = 0, na = 0, nb = 0;
    a.forEach((x, i) => x.forEach((v, j) => (d += v * b[i]![j]!, na += v * v, nb += b[i]![j]! ** 2)));
    const c = d / Math.sqrt(na * nb);
    cos += c, worst = Math.min(worst, c);
    if (classifier) {
      const arg = (x: Float32Array) => x.reduce((bi, v, i) => (v > x[bi]! ? i : bi), 0);
      if (arg(a[0]!) === arg(b[0]!)) top1++;
    }
    a[0]!.forEach((v, i) => {
      const p = v > 0.5, q = b[0]![i]! > 0.5;
      if (p && q) inter++;
      if (p || q) union++;
    });
  }
  return { cos: cos / ref.length, worst, top1: top1 / ref.length, iou: union ? inter / union : 1 };
}

console.log(
  `DenseShift on zoo CNNs: ${n.calib} calibration / ${n.eval} evaluation samples (at most; mobilenetv2-12 on ` +
    `the ${photos} photos), cosine to float`,
);
console.log(
  "| model | setting | bits/weight | mean cosine | worst cosine | top-1 agreement / mask IoU | int8 layers | time s |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const z of ZOO.filter((z) => names.includes(z.name))) {
  const path = await z.path();
  const samples = await z.samples(n);
  const half = Math.floor(samples.calib.length / 2);
  const calib = scoreOnCalib ? samples.calib.slice(0, half) : samples.calib;
  const evals = scoreOnCalib ? samples.calib.slice(half) : samples.eval;
  const ref = await run(await normalized(path), evals);
  const classifier = CLASSIFIERS.includes(z.name), segmenter = SEGMENTERS.includes(z.name);
  const row = async (label: string, f: (m: Model) => Promise<{ bits: number; int8: string }>) => {
    const t0 = performance.now();
    const m = await normalized(path);
    const { bits, int8 } = await f(m);
    const s = score(ref, await run(m, evals), classifier);
    console.log(
      `| ${z.name} | ${label} | ${bits.toFixed(2)} | ${s.cos.toFixed(4)} | ${s.worst.toFixed(4)} | ${
        classifier ? s.top1.toFixed(3) : segmenter ? `IoU ${s.iou.toFixed(4)}` : "-"
      } | ${int8} | ${((performance.now() - t0) / 1000).toFixed(0)} |`,
    );
  };
  const ctx = () => ({
    reporter: silentReporter,
    runtime: makePassRuntime(feedsSource(calib), ortRuntimeFactory()),
  });
  const ds = (o: DenseShiftOptions) => async (m: Model) => {
    const pass = denseShiftPass({ positions, ...o });
    await pass.run(m, ctx());
    return {
      bits: averageStoredBits(pass.layers!),
      int8: String(pass.layers!.filter((l) => l.kind === "int8").length),
    };
  };
  for (const bits of bitsList) {
    if (rows.includes("nearest")) {
      await row(`DenseShift ${bits}-bit nearest`, ds({ bits, rounding: "nearest" }));
    }
    if (rows.includes("nearest-mse")) {
      // the weight-domain alpha (no output-error search): what a conversion without the search would give
      await row(`DenseShift ${bits}-bit nearest, alpha=mse`, ds({ bits, rounding: "nearest", alpha: "mse" }));
    }
    if (rows.includes("learned")) {
      await row(`DenseShift ${bits}-bit learned`, ds({ bits, rounding: "learned" }));
    }
    if (rows.includes("sequential")) {
      await row(
        `DenseShift ${bits}-bit learned, sequential ${rounds}`,
        ds({ bits, rounding: "learned", sequential: rounds }),
      );
    }
    if (rows.includes("block")) {
      await row(
        `DenseShift ${bits}-bit learned, block-output reconstruction`,
        ds({ bits, rounding: "learned", blockwise: true, blockRidge: ridge }),
      );
    }
    if (rows.includes("pointwise")) {
      await row(
        `DenseShift ${bits}-bit learned, block + every 1x1 rebuilt on its float output`,
        ds({ bits, rounding: "learned", blockwise: true, pointwiseReconstruction: true, blockRidge: ridge }),
      );
    }
    if (rows.includes("block-budget")) {
      await row(
        `DenseShift ${bits}-bit learned + block, budget ${budget} (output-ranked)`,
        ds({
          bits,
          rounding: "learned",
          blockwise: true,
          blockRidge: ridge,
          maxAverageBits: budget,
          budgetBy: "output",
        }),
      );
    }
    if (rows.includes("budget")) {
      await row(
        `DenseShift ${bits}-bit learned, budget ${budget} (output-ranked)`,
        ds({ bits, rounding: "learned", maxAverageBits: budget, budgetBy: "output" }),
      );
    }
    if (rows.includes("rtn")) {
      await row(
        `uniform RTN ${bits}-bit per-channel`,
        (m) => Promise.resolve({ bits: rtnInPlace(m, bits), int8: "-" }),
      );
    }
    if (rows.includes("rtn-learned")) {
      await row(`uniform ${bits}-bit, learned rounding`, async (m) => {
        await learnedRoundingPass({ bits }).run(m, ctx());
        return { bits: rtnInPlace(m, bits), int8: "-" };
      });
    }
  }
}
