/**
 * `shiftkit quantize MODEL -o OUT --method M [--bits B] --calib DATA ...`: thin wrapper over
 * api/quantize.ts. Parses flags, calls the library, writes the model (atomically) and the optional report.
 * @module
 */
import { loadedFiles, loadModel, saveModel } from "../onnx/io.ts";
import { dirname } from "../onnx/_fs.ts";
import { type Method, METHODS, quantize, type QuantizeReport, releaseSpilled } from "../api/quantize.ts";
import type { Preprocess } from "../runtime/images.ts";
import type { CalibratorKind } from "../quant/observers.ts";
import { positiveInt } from "./args.ts";
import { DATA_HELP } from "./data_help.ts";
import { type Command, UsageError } from "./command.ts";
import { evaluate, type Task } from "../api/evaluate.ts";
import { threadsLine, writeQuantizeReport } from "./report.ts";
import { cpuRuntimeFactory } from "../runtime/cpu.ts";
import { pathClash } from "./_paths.ts";

/** The metric a task is judged by. */
function headlineMetric(m: Record<string, number>): string | undefined {
  return ["bitsPerByte", "exactMatch", "meanIoU", "mapIoU", "agreement", "accuracy", "cosine"].find((k) =>
    k in m
  );
}

const CALIBRATORS = ["minmax", "percentile", "entropy", "mse"];

/** Which methods each method-specific flag applies to. */
const FLAG_METHODS: Record<string, Method[]> = {
  mode: ["shiftadd"],
  budget: ["shiftadd"],
  objective: ["shiftadd"],
  "group-size": ["shiftadd", "rtn", "gptq"],
  format: ["rtn", "gptq"],
  symmetric: ["rtn", "gptq"],
  "act-order": ["gptq"],
  calibrate: ["gptq", "shiftadd"],
  "layer-inputs": ["gptq", "shiftadd"],
  "min-sqnr": ["denseshift"],
  "keep-first-last": ["denseshift"],
  "max-bits": ["denseshift"],
  sequential: ["denseshift"],
  rounding: ["denseshift", "qdq"],
  "budget-by": ["denseshift"],
  blockwise: ["denseshift"],
  "keep-l2norm": ["intvit"],
  "l2-norm": ["intvit"],
  gelu: ["intvit"],
  region: ["intvit"],
};

/** Methods whose passes move emitted tensors to disk layer by layer (`--spill`). */
const SPILLING_METHODS: readonly string[] = ["rtn", "gptq", "shiftadd"];

/** Flags every method shares; the rest are method-specific. */
const COMMON_FLAGS = new Set([
  "threads",
  "output",
  "method",
  "bits",
  "calib",
  "preprocess",
  "samples",
  "calibrator",
  "exclude",
  "report",
  "task",
  "data",
  "runtime",
  "batch-size",
  "allow-no-sites",
  "force",
  "max-load-mb",
  "spill",
  "spill-dir",
]);

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function str(v: unknown): string | undefined {
  return v === undefined ? undefined : String(v);
}

/** The summary lines of what the method converted: a count, and the first three it left (all in --json). */
function sitesLines(s: QuantizeReport["sites"]): string[] {
  if (s.converted === 0) {
    return [`WARNING: converted nothing (--allow-no-sites): ${s.skipped.slice(0, 3).join("; ")}`];
  }
  if (!s.counted || s.skipped.length === 0) return [];
  const total = s.converted + s.skipped.length;
  const more = s.skipped.length > 3 ? `; and ${s.skipped.length - 3} more (see --json)` : "";
  return [`converted ${s.converted} of ${total} ${s.what}; left: ${s.skipped.slice(0, 3).join("; ")}${more}`];
}

/** The quantize command. */
export const quantizeCommand: Command = {
  name: "quantize",
  summary:
    "Quantize a float model with QDQ, OS+, ShiftAddLLM, DenseShift, integer-only ViT, or weight-only RTN / GPTQ",
  usage:
    "quantize MODEL -o OUT --method qdq|osplus|shiftadd|denseshift|intvit|rtn|gptq [--bits B] --calib DATA [options]",
  description: [
    "Quantizes MODEL and writes OUT (written to a temporary file, then renamed: nothing half-written).",
    "--bits: qdq, osplus: W8A8 | W6A6 | W4A4; shiftadd: 2 | 3 | 4 (or --budget AVG); denseshift: 3..6; intvit: 8;",
    "        rtn, gptq (weight-only, group scales): 2 | 3 | 4 | 8.",
    "A method that converts nothing exits 2 with the reason per candidate node (--allow-no-sites writes the",
    "copy anyway); a partial conversion is listed in the summary and --json (sites).",
    "--calib DATA is calibration data, never the evaluation set.",
    DATA_HELP,
  ].join("\n"),
  positionals: { names: ["MODEL"], min: 1, max: 1, paths: true },
  flags: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "OUT",
      path: "file",
      help: "where to write the quantized model (required)",
    },
    { name: "method", type: "string", value: "M", help: `one of ${METHODS.join(", ")} (required)` },
    { name: "bits", type: "string", value: "B", help: "bit setting (see above)" },
    { name: "calib", type: "string", value: "DATA", path: "data", help: "calibration data (required)" },
    {
      name: "preprocess",
      type: "string",
      value: "P",
      help: "image preprocessing: a preset or image:key=value,... (see DATA above)",
    },
    {
      name: "samples",
      type: "number",
      value: "N",
      help: "calibration samples to use (default: all; intvit 32)",
    },
    {
      name: "calibrator",
      type: "string",
      value: "C",
      help: "activation ranges: minmax (default), percentile, entropy, mse",
    },
    {
      name: "exclude",
      type: "string",
      value: "NODE",
      multiple: true,
      help: "node or output name to keep in float (repeatable)",
    },
    {
      name: "report",
      type: "string",
      value: "FILE.html",
      path: "file",
      help: "write a self-contained HTML report",
    },
    {
      name: "force",
      type: "boolean",
      help: "let -o overwrite the input model or its external data (refused otherwise)",
    },
    {
      name: "runtime",
      type: "string",
      value: "ort|cpu",
      help: "float runtime for calibration: ort (onnxruntime-node, default) or cpu (shiftkit's evaluator: " +
        "deterministic, writes the same bytes as the web page)",
    },
    {
      name: "task",
      type: "string",
      value: "T",
      help: "also score before/after: lm, ocr, seg, det, cls or compare (see eval)",
    },
    {
      name: "data",
      type: "string",
      value: "DATA",
      path: "data",
      help: "evaluation data for --task (never the calibration data)",
    },
    {
      name: "batch-size",
      type: "number",
      value: "N",
      help: "samples per calibration call where the model's batch axis is dynamic (default 8)",
    },
    {
      name: "threads",
      type: "number",
      value: "N",
      help: "worker threads for the per-layer fits of gptq, rtn, shiftadd, denseshift; " +
        "1 = all in one thread; same output bytes either way (default: the CPU count, at most 8; 1 for a model " +
        "above --max-load-mb, converted one layer at a time to bound memory)",
    },
    {
      name: "allow-no-sites",
      type: "boolean",
      help: "write the output even when the method converted nothing (default: exit 2)",
    },
    { name: "mode", type: "string", value: "acc|lat", help: "shiftadd: accuracy or latency alpha sharing" },
    {
      name: "budget",
      type: "number",
      value: "AVG",
      help: "shiftadd: average bits with automatic 2/3/4-bit allocation",
    },
    {
      name: "objective",
      type: "string",
      value: "weight|output",
      help: "shiftadd: fit objective (default output)",
    },
    {
      name: "group-size",
      type: "number",
      value: "G",
      help: "shiftadd: input features per alpha group (default 64); rtn, gptq: per scale group (default 32)",
    },
    {
      name: "format",
      type: "string",
      value: "nbits|qdq",
      help: "rtn, gptq: com.microsoft MatMulNBits (default) or blocked DequantizeLinear (opset 21)",
    },
    { name: "symmetric", type: "boolean", help: "rtn, gptq: symmetric grid, no zero points stored" },
    { name: "act-order", type: "boolean", help: "gptq: quantize features by decreasing Hessian diagonal" },
    {
      name: "max-load-mb",
      type: "number",
      value: "MB",
      help:
        "largest model (float size) loaded whole into the runtime to check that the input and the output load (default 1000); larger ones are said in the summary",
    },
    {
      name: "spill",
      type: "string",
      value: "auto|on|off",
      help:
        "rtn, gptq, shiftadd: move each layer's emitted tensors to a scratch file (unlinked at once) when the layer is done, copied into OUT's external data by range (auto: above --max-load-mb)",
    },
    {
      name: "spill-dir",
      type: "string",
      value: "DIR",
      path: "file",
      help: "folder of the --spill scratch file (default: OUT's folder)",
    },
    {
      name: "calibrate",
      type: "string",
      value: "auto|whole|per-layer",
      help:
        "gptq, shiftadd: Hessians from one whole-model run, or segment by segment with one segment's weights in memory (auto: per layer above 1 GiB of weights + Hessians)",
    },
    {
      name: "layer-inputs",
      type: "string",
      value: "quantized|float",
      help:
        "gptq, shiftadd per layer: feed each segment the outputs of the quantized (default) or float earlier ones",
    },
    {
      name: "min-sqnr",
      type: "number",
      value: "DB",
      help: "denseshift: layers below this output SQNR keep int8 weights",
    },
    {
      name: "keep-first-last",
      type: "boolean",
      help: "denseshift: keep the first and last weighted layers int8",
    },
    {
      name: "max-bits",
      type: "number",
      value: "AVG",
      help:
        "denseshift: move layers to int8, best estimated gain first, up to this average stored bits/weight",
    },
    {
      name: "sequential",
      type: "number",
      value: "N",
      help: "denseshift: calibrate in N rounds, each on the outputs of already converted layers (default 1)",
    },
    {
      name: "budget-by",
      type: "string",
      value: "estimate|output",
      help:
        "denseshift --max-bits: rank layers by their estimated noise, or by measured output error (one calibration run per layer)",
    },
    {
      name: "blockwise",
      type: "boolean",
      help:
        "denseshift: round the last 1x1 layer of each residual unit to minimise the block's output error (one calibration run per block)",
    },
    {
      name: "rounding",
      type: "string",
      value: "nearest|learned",
      help:
        "denseshift, qdq: weights to the nearest level, or learned between the two neighbouring levels by the layer's output error (denseshift default: learned)",
    },
    {
      name: "keep-l2norm",
      type: "boolean",
      help: "intvit: keep the mask decoder's L2 normalisation in float",
    },
    {
      name: "l2-norm",
      type: "string",
      value: "integer|remove",
      help: "intvit: L2 normalisation in integers (default) or removed (I-Segmenter)",
    },
    { name: "gelu", type: "string", value: "shift|lambda", help: "intvit: GELU approximation" },
    {
      name: "region",
      type: "string",
      value: "transformer-blocks",
      help: "intvit: convert only the transformer blocks to integer-only, the rest to QDQ W8A8",
    },
  ],
  async run(args, ctx) {
    const f = args.flags;
    const out = str(f.output), method = str(f.method), calib = str(f.calib);
    if (!out) throw new UsageError("missing -o OUT");
    if (!method || !METHODS.includes(method as Method)) {
      throw new UsageError(`--method must be one of ${METHODS.join(", ")}`);
    }
    if (!calib) throw new UsageError("missing --calib DATA (calibration data)");
    if (f.runtime !== undefined && f.runtime !== "ort" && f.runtime !== "cpu") {
      throw new UsageError(`--runtime must be ort or cpu, got "${f.runtime}"`);
    }
    if (f.calibrator !== undefined && !CALIBRATORS.includes(String(f.calibrator))) {
      throw new UsageError(`--calibrator must be one of ${CALIBRATORS.join(", ")}`);
    }
    const extra: Record<string, unknown> = {};
    // Method-specific flags go to the method as camelCase options (see api/methods.ts).
    for (const spec of quantizeCommand.flags) {
      if (COMMON_FLAGS.has(spec.name) || f[spec.name] === undefined) continue;
      const owners = FLAG_METHODS[spec.name] ?? [];
      if (!owners.includes(method as Method)) {
        throw new UsageError(`--${spec.name} applies to --method ${owners.join("|")}, not ${method}`);
      }
      extra[spec.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = f[spec.name];
    }
    if ((f.task === undefined) !== (f.data === undefined)) {
      throw new UsageError("--task and --data go together");
    }
    if (f.data !== undefined && String(f.data) === calib) {
      throw new UsageError(
        "--data must not be the calibration data: calibrate and evaluate on different sets",
      );
    }
    const maxLoadMb = f["max-load-mb"] === undefined ? undefined : Number(f["max-load-mb"]);
    if (maxLoadMb !== undefined && !(maxLoadMb >= 0)) {
      throw new UsageError(`--max-load-mb must be a number >= 0, got "${f["max-load-mb"]}"`);
    }
    const spill = f.spill === undefined ? "auto" : String(f.spill);
    if (spill !== "auto" && spill !== "on" && spill !== "off") {
      throw new UsageError(`--spill must be auto, on or off, got "${spill}"`);
    }
    if (spill === "on" && !SPILLING_METHODS.includes(method)) {
      throw new UsageError(`--spill on applies to --method ${SPILLING_METHODS.join("|")}, not ${method}`);
    }
    const spillDir = f["spill-dir"] === undefined ? dirname(out) || "." : String(f["spill-dir"]);
    if (f["spill-dir"] !== undefined && !isDirectory(spillDir)) {
      throw new UsageError(`--spill-dir "${spillDir}" is not a folder`);
    }
    const modelPath = args.positionals[0]!;
    const model = await loadModel(modelPath);
    const inputs: [string, string][] = [["the input model", modelPath]];
    const dir = modelPath.includes("/") ? modelPath.slice(0, modelPath.lastIndexOf("/") + 1) : "";
    for (const loc of loadedFiles(model)?.external.keys() ?? []) {
      inputs.push(["its external data", dir + loc]);
    }
    const outputs: [string, string][] = [["-o", out], ["-o's external data", `${out}.data`]];
    if (f.report !== undefined) outputs.push(["--report", String(f.report)]);
    const clash = pathClash(outputs, f.force ? [] : inputs);
    if (clash) throw new UsageError(`${clash}${f.force ? "" : " (pass --force to allow it)"}`);
    const task = f.task === undefined ? undefined : String(f.task) as Task;
    const reference = task ? await loadModel(modelPath) : undefined;
    const batchSize = f["batch-size"] === undefined ? undefined : positiveInt(f["batch-size"], "batch-size");
    const score = async (m: typeof model) =>
      (await evaluate(m, {
        ...(batchSize !== undefined ? { batchSize } : {}),
        task: task!,
        data: String(f.data),
        ...(reference && (task === "det" || task === "compare" || task === "cls") ? { reference } : {}),
        reporter: ctx.reporter,
      })).metrics;
    const before = task ? await score(model) : undefined;
    const threads = f.threads === undefined ? undefined : positiveInt(f.threads, "threads");
    const report = await quantize(model, {
      method: method as Method,
      ...(f.bits !== undefined ? { bits: String(f.bits) } : {}),
      calib,
      ...(f.preprocess !== undefined ? { preprocess: String(f.preprocess) as Preprocess } : {}),
      ...(f.samples !== undefined ? { samples: Number(f.samples) } : {}),
      ...(f.calibrator !== undefined ? { calibrator: String(f.calibrator) as CalibratorKind } : {}),
      exclude: ((f.exclude as string[] | undefined) ?? []).map(String),
      ...(f.runtime === "cpu" ? { runtime: cpuRuntimeFactory() } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(f["allow-no-sites"] ? { allowNoSites: true } : {}),
      ...(maxLoadMb !== undefined ? { maxWholeLoadBytes: maxLoadMb * 1e6 } : {}),
      reporter: ctx.reporter,
      extra,
      spill: spill === "auto" ? "auto" : spill === "on",
      spillDir,
    });
    let written: string[], after;
    try {
      written = await saveModel(model, out);
      after = task ? await score(model) : undefined;
    } finally {
      releaseSpilled(model);
    }
    const metricName = before ? headlineMetric(before) : undefined;
    const metric = task && before && after && metricName
      ? { task, name: metricName, before: before[metricName]!, after: after[metricName]! }
      : undefined;
    if (f.report !== undefined) {
      await writeQuantizeReport(String(f.report), {
        model: modelPath,
        output: out,
        report,
        ...(metric ? { metric } : {}),
      });
    }
    const advice = allocatorAdvice(report, ctx.env);
    const lines = [
      `${modelPath} -> ${out}  (${report.method}, bits ${report.bits})`,
      `size: ${(report.sizeBefore / 1e6).toFixed(2)} MB -> ${(report.sizeAfter / 1e6).toFixed(2)} MB` +
      `  (${(report.sizeBefore / report.sizeAfter).toFixed(2)}x smaller)`,
      `calibration samples: ${report.calibrationSamples}; time ${(report.elapsedMs / 1000).toFixed(1)} s`,
      report.storage
        ? `storage: ${
          report.storage.bitsPerWeight.toFixed(3)
        } bits per weight over ${report.storage.layers} converted layers ` +
          `(${report.storage.weights} weights; codes, scales, zero points, alphas all counted)`
        : "storage: bits per weight not declared by this method's passes",
      ...sitesLines(report.sites),
      threadsLine(report.threads),
      ...(report.spilled
        ? [
          `spilled: ${report.spilled.tensors} emitted tensors (${
            (report.spilled.bytes / 1e6).toFixed(1)
          } MB) held on disk as their layers were done (a scratch file in ${spillDir}, removed), copied into ${
            written.find((w) => w.endsWith(".data")) ?? out
          }`,
        ]
        : []),
      ...(report.skippedChecks ?? []).map((c) => `check not run: ${c}`),
      ...(advice ? [`note: ${advice}`] : []),
      ...report.steps.filter((s) => s.notes.length).map((s) => `  ${s.pass}: ${s.notes.join("; ")}`),
      ...(metric
        ? [`${metric.task} ${metric.name}: ${metric.before.toFixed(4)} -> ${metric.after.toFixed(4)}`]
        : []),
    ];
    const { steps, ...rest } = report;
    // OS+: every site and every skipped norm as data (the notes carry the same as text).
    const osPlus = steps.flatMap((st) => st.sections).find((sec) => sec.osPlus)?.osPlus;
    const osplus = osPlus && {
      sites: osPlus.sites.map((x) => ({
        name: x.name,
        kind: x.kind,
        output: x.output,
        consumers: x.consumers,
        residual: x.residual,
        t: x.t,
        loss: x.lossKind,
        outlierRatio: [x.outlierRatioBefore, x.outlierRatioAfter],
      })),
      skipped: osPlus.skipped,
    };
    return {
      text: lines.join("\n"),
      json: {
        model: modelPath,
        output: out,
        files: written,
        ...rest,
        bitsPerWeight: report.storage?.bitsPerWeight ?? null,
        steps: steps.map(({ sections: _s, ...st }) => st),
        ...(osplus ? { osplus } : {}),
        ...(metric ? { metric } : {}),
        ...(advice ? { advice: [advice] } : {}),
      },
    };
  },
};

/**
 * Advice after per-layer calibration on Linux without `MALLOC_MMAP_THRESHOLD_`: glibc's default allocator
 * keeps freed buffers of tens of MB resident in its heap, so on large models the peak grows past the bound of
 * one layer's working set (1749 MB instead of 1500 MB on the 2.72 GB model of bench/README.md).
 *
 * @param report the conversion's report (its steps say how calibration ran)
 * @param env reads one environment variable
 * @param os the operating system, as `Deno.build.os`
 * @returns the advice, or undefined where none applies
 */
export function allocatorAdvice(
  report: Pick<QuantizeReport, "steps">,
  env: (name: string) => string | undefined,
  os: string = Deno.build.os,
): string | undefined {
  if (os !== "linux" || env("MALLOC_MMAP_THRESHOLD_") !== undefined) return undefined;
  if (!report.steps.some((st) => st.calibration?.mode === "per-layer")) return undefined;
  return "per-layer calibration ran under glibc's default allocator, which keeps freed large buffers " +
    "resident; for models larger than memory run with MALLOC_MMAP_THRESHOLD_=131072 to keep the peak near " +
    "one layer's working set (bench/README.md, Models larger than memory)";
}
