/**
 * `shiftkit eval MODEL --task lm|ocr|seg|det|cls|compare --data DATA [--reference FLOAT] [--min-* bounds]`.
 * @module
 */
import { evaluate, type Task } from "../api/evaluate.ts";
import { loadModel } from "../onnx/io.ts";
import type { OutputComparison } from "../runtime/metrics.ts";
import type { Preprocess } from "../runtime/images.ts";
import { positiveInt } from "./args.ts";
import { DATA_HELP } from "./data_help.ts";
import { type Command, UsageError } from "./command.ts";

const TASKS: Task[] = ["lm", "ocr", "seg", "det", "cls", "compare"];

/** Bounds a user can put on metrics (exit 1 when missed): flag -> [metric, direction]. */
const BOUNDS: Record<string, [string, "min" | "max"]> = {
  "max-bits-per-byte": ["bitsPerByte", "max"],
  "min-exact-match": ["exactMatch", "min"],
  "min-miou": ["meanIoU", "min"],
  "min-map-iou": ["mapIoU", "min"],
  "min-cosine": ["cosine", "min"],
  "min-accuracy": ["accuracy", "min"],
};

/** A short per-output table for `--task compare` (the first 8 outputs; all are in the JSON). */
function compareTable(outputs: Record<string, OutputComparison>): string[] {
  const f = (v: number, d: number) => Number.isFinite(v) ? v.toFixed(d) : String(v);
  const names = Object.keys(outputs);
  const rows = names.slice(0, 8).map((n) => {
    const o = outputs[n]!;
    return [
      n.length > 24 ? `${n.slice(0, 21)}...` : n,
      f(o.sqnrDb, 2),
      f(o.minSqnrDb, 2),
      f(o.cosine, 5),
      f(o.minCosine, 5),
      o.classLike ? `${(o.top1Agreement * 100).toFixed(2)}%` : "-",
      f(o.maxAbsError, 4),
    ];
  });
  const head = ["output", "SQNR dB", "min dB", "cos mean", "cos min", "top-1", "max abs"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    "  " + r.map((c, i) => i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)).join("  ");
  return [
    line(head),
    ...rows.map(line),
    ...(names.length > 8 ? [`  ... ${names.length - 8} more outputs in --json`] : []),
  ];
}

/** The eval command. */
export const evalCommand: Command = {
  name: "eval",
  summary:
    "Score a model on a task: bits/byte, OCR line match, segmentation mIoU, detection map IoU, compare",
  usage: "eval MODEL --task lm|ocr|seg|det|cls|compare --data DATA [--reference FLOAT_MODEL] [--json]",
  description: [
    "Metrics (MODELS.md): lm = bits per byte over non-overlapping 128-byte windows; ocr = exact-line match and",
    "character accuracy (greedy CTC, PP-OCR dictionary); seg = mean IoU over classes; det = IoU of the maps",
    "thresholded at 0.3 against --reference; cls = 0/180 direction accuracy (and agreement with --reference);",
    "compare = against --reference, per output and over all outputs: pooled SQNR (total signal / total error),",
    "mean and minimum per-sample cosine, top-1 agreement for class-score-like outputs, max abs error.",
    "Bounds (exit 1 when missed): " + Object.keys(BOUNDS).map((b) => `--${b}`).join(" "),
    DATA_HELP,
  ].join("\n"),
  positionals: { names: ["MODEL"], min: 1, max: 1, paths: true },
  flags: [
    { name: "task", type: "string", value: "T", help: `one of ${TASKS.join(", ")} (required)` },
    { name: "data", type: "string", value: "DATA", path: "data", help: "evaluation data (required)" },
    {
      name: "reference",
      type: "string",
      value: "FLOAT_MODEL",
      path: "file",
      help: "reference model (det, compare, cls agreement)",
    },
    {
      name: "keys",
      type: "string",
      value: "FILE",
      path: "file",
      help: "ocr: PP-OCR dictionary (default: ppocr_keys_v1.txt)",
    },
    {
      name: "preprocess",
      type: "string",
      value: "P",
      help: "image preprocessing: a preset or image:... (see DATA)",
    },
    { name: "samples", type: "number", value: "N", help: "use only the first N samples" },
    {
      name: "batch-size",
      type: "number",
      value: "N",
      help: "samples per model call where the model's batch axis is dynamic (default 8)",
    },
    ...Object.keys(BOUNDS).map((name) => ({
      name,
      type: "number" as const,
      value: "X",
      help: `fail (exit 1) if ${BOUNDS[name]![0]} is ${BOUNDS[name]![1] === "min" ? "below" : "above"} X`,
    })),
  ],
  async run(args, ctx) {
    const f = args.flags;
    const task = String(f.task ?? "");
    if (!TASKS.includes(task as Task)) throw new UsageError(`--task must be one of ${TASKS.join(", ")}`);
    if (f.data === undefined) throw new UsageError("missing --data DATA");
    const path = args.positionals[0]!;
    const model = await loadModel(path);
    const reference = f.reference !== undefined ? await loadModel(String(f.reference)) : undefined;
    const r = await evaluate(model, {
      task: task as Task,
      data: String(f.data),
      ...(reference ? { reference } : {}),
      ...(f.keys !== undefined ? { keys: String(f.keys) } : {}),
      ...(f.preprocess !== undefined ? { preprocess: String(f.preprocess) as Preprocess } : {}),
      ...(f.samples !== undefined ? { samples: Number(f.samples) } : {}),
      ...(f["batch-size"] !== undefined ? { batchSize: positiveInt(f["batch-size"], "batch-size") } : {}),
      reporter: ctx.reporter,
    });
    const failed: string[] = [];
    for (const [flag, [metric, dir]] of Object.entries(BOUNDS)) {
      if (f[flag] === undefined) continue;
      const v = r.metrics[metric], bound = Number(f[flag]);
      if (v === undefined) throw new UsageError(`--${flag} does not apply to task ${task}`);
      if (dir === "min" ? v < bound : v > bound) {
        failed.push(`${metric} ${v.toFixed(4)} ${dir === "min" ? "<" : ">"} ${bound}`);
      }
    }
    const text = [
      `${path}: task ${task}, ${r.samples} samples`,
      ...Object.entries(r.metrics).map(([k, v]) =>
        `  ${k.padEnd(16)} ${Number.isInteger(v) ? v : v.toFixed(4)}`
      ),
      ...(task === "compare" && r.outputs ? compareTable(r.outputs as Record<string, OutputComparison>) : []),
      ...failed.map((m) => `FAILED: ${m}`),
    ].join("\n");
    return { exitCode: failed.length ? 1 : 0, text, json: { model: path, ...r, failed } };
  },
};
