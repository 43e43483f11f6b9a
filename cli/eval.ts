/**
 * `shiftkit eval MODEL --task lm|ocr|seg|det|cls|compare --data DATA [--reference FLOAT] [--min-* bounds]`.
 * @module
 */
import { evaluate, type Task } from "../api/evaluate.ts";
import { loadModel } from "../onnx/io.ts";
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
    "compare = per-output SQNR, cosine, top-1 agreement and max abs error against --reference.",
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
      ...failed.map((m) => `FAILED: ${m}`),
    ].join("\n");
    return { exitCode: failed.length ? 1 : 0, text, json: { model: path, ...r, failed } };
  },
};
