/**
 * `shiftkit validate MODEL [--reference FLOAT_MODEL] [--data DATA] [--samples N] [--json]`: run MODEL on the
 * machine's WebGPU adapter (kernels for quantized ops, CPU evaluator for the rest) and compare every GPU op
 * with the CPU evaluator (bit for bit for integer ops), each layer with the float reference, and the
 * outputs. Exit 1 on any integer mismatch, float output beyond tolerance, CPU fallback (unless
 * `--allow-cpu-fallback`) or output below `--min-cosine`; 2 (with the reason) when no WebGPU adapter exists.
 * @module
 */
import { validate, type ValidateReport } from "../api/validate.ts";
import { GpuUnavailableError, gpuUnavailableReason } from "../kernels/gpu.ts";
import { type Command, UsageError } from "./command.ts";
import { DATA_HELP } from "./data_help.ts";

function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/**
 * Render a validation report as text tables.
 *
 * @param model the model path
 * @param r the report
 * @returns the text
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { formatValidate } from "./validate.ts";
 * const text = formatValidate("m.onnx", { adapter: "llvmpipe", samples: 1, inputs: "random", ops: [], layers: [],
 *   outputs: [], integerMismatches: 0, toleranceFailures: 0, cpuFallbacks: 0, allowCpuFallback: false,
 *   minCosine: 0.9, failures: [], ok: true });
 * assertStringIncludes(text, "adapter: llvmpipe");
 * ```
 */
export function formatValidate(model: string, r: ValidateReport): string {
  const kernelOps = r.ops.filter((o) => o.role === "kernel");
  const byDesign = r.ops.filter((o) => o.role !== "kernel");
  const lines = [
    `${model}: ${r.ok ? "OK" : `FAILED (${r.failures.join("; ")})`}`,
    `adapter: ${r.adapter}; ${r.samples} sample(s), ${r.inputs} inputs`,
    `GPU: ${kernelOps.reduce((a, o) => a + o.gpu, 0)} kernel-op executions; CPU fallbacks: ${r.cpuFallbacks}${
      r.allowCpuFallback ? " (allowed)" : ""
    }`,
    "",
    "Per-op agreement (GPU kernel vs CPU evaluator, same inputs):",
    "| op | runs | on GPU | CPU fallbacks | CPU by design | within tolerance / compared | exact | max abs diff | tolerance |",
    "|---|---|---|---|---|---|---|---|---|",
    ...kernelOps.map((o) =>
      `| ${o.op} | ${o.runs} | ${o.gpu} | ${o.fallbacks} | ${o.cpu - o.fallbacks} | ${
        o.gpu ? `${o.withinTolerance} / ${o.compared}` : "-"
      } | ${o.gpu ? o.exact : "-"} | ${o.gpu ? fmt(o.maxAbsDiff, 6) : "-"} | ${o.tolerance} |`
    ),
  ];
  if (byDesign.length) {
    lines.push(
      "",
      `Only on the CPU, by design: ${
        byDesign.map((o) =>
          `${o.op} x${o.runs} (${
            o.role === "shape" ? "shape arithmetic" : o.role === "control" ? "control flow" : "float op"
          })`
        )
          .join(
            ", ",
          )
      }`,
    );
  }
  const reasons = r.ops.flatMap((o) => o.fallbackReasons.map((n) => `  ${o.op}: ${n}`));
  if (reasons.length) lines.push("", "CPU fallbacks:", ...reasons);
  const notes = r.ops.flatMap((o) => o.notes.map((n) => `  ${o.op}: ${n}`));
  if (notes.length) lines.push("", "Notes:", ...notes);
  if (r.layers.length) {
    const worst = [...r.layers].sort((a, b) => a.sqnrDb - b.sqnrDb).slice(0, 3);
    lines.push(
      "",
      "Per-layer error vs the reference (values with the same name; pooled over samples):",
      "| value | op | SQNR dB | cosine |",
      "|---|---|---|---|",
    );
    lines.push(...r.layers.map((l) => `| ${l.name} | ${l.op} | ${fmt(l.sqnrDb)} | ${fmt(l.cosine, 5)} |`));
    lines.push(`worst layers: ${worst.map((l) => `${l.name} ${fmt(l.sqnrDb)} dB`).join(", ")}`);
  }
  if (r.outputs.length) {
    lines.push(
      "",
      `Outputs vs the reference (pooled; tolerance: cosine >= ${r.minCosine}, --min-cosine):`,
      "| output | SQNR dB | cosine | min cosine | max abs diff | top-1 agreement | within tolerance |",
      "|---|---|---|---|---|---|---|",
    );
    lines.push(
      ...r.outputs.map((o) =>
        `| ${o.name} | ${fmt(o.sqnrDb)} | ${fmt(o.cosine, 5)} | ${fmt(o.minCosine, 5)} | ${
          fmt(o.maxAbsDiff, 6)
        } | ${o.top1Agreement === null ? "-" : fmt(o.top1Agreement * 100, 1) + "%"} | ${
          o.ok ? "yes" : "NO"
        } |`
      ),
    );
  }
  return lines.join("\n");
}

/** The validate command. */
export const validateCommand: Command = {
  name: "validate",
  summary: "Run a quantized model on WebGPU and check every integer op bit for bit against the CPU reference",
  usage:
    "validate MODEL [--reference FLOAT_MODEL] [--data DATA] [--samples N] [--allow-cpu-fallback] [--min-cosine C] [--json]",
  description: [
    "Runs MODEL op by op: WebGPU kernels for QuantizeLinear, DequantizeLinear, MatMulInteger (any rank),",
    "ConvInteger, every shiftkit op, integer Add/Sub/Mul/Div/Mod/Cast and data movement; the CPU evaluator",
    "for shape arithmetic and float ops. Every GPU op is re-run on the CPU with the same inputs. Prints, per",
    "op type, executions on the GPU and CPU fallbacks (with the reason), agreement (integers exact, float",
    "outputs within the tolerance their spec gives, printed), per-layer SQNR / cosine against --reference",
    "where value names match, output agreement, and the adapter used.",
    "Inputs come from --data, or are random from the model's input types and shapes.",
    "Exit 1 on any integer mismatch, float output beyond tolerance, CPU fallback (unless",
    "--allow-cpu-fallback), or output with pooled cosine < --min-cosine (default 0.9) against --reference;",
    "exit 2 when no WebGPU adapter exists.",
    DATA_HELP,
  ].join("\n"),
  positionals: { names: ["MODEL"], min: 1, max: 1, paths: true },
  flags: [
    {
      name: "reference",
      type: "string",
      value: "FLOAT_MODEL",
      path: "file",
      help: "the float model, for per-layer and output error",
    },
    {
      name: "data",
      type: "string",
      value: "DATA",
      path: "data",
      help: "inputs (.npz/.npy, npz folder, text, image folder, models/<set>)",
    },
    { name: "samples", type: "number", value: "N", help: "samples to run (default 2)" },
    {
      name: "allow-cpu-fallback",
      type: "boolean",
      help: "accept kernel ops that ran on the CPU (still reported)",
    },
    {
      name: "min-cosine",
      type: "number",
      value: "C",
      help: "smallest pooled cosine of each output to --reference (default 0.9)",
    },
  ],
  async run(args) {
    const path = args.positionals[0]!;
    const samples = args.flags.samples;
    if (samples !== undefined && (typeof samples !== "number" || !Number.isInteger(samples) || samples < 1)) {
      throw new UsageError(`--samples must be a positive integer, got ${samples}`);
    }
    const noGpu = await gpuUnavailableReason();
    if (noGpu) throw new GpuUnavailableError(`Cannot validate: no WebGPU adapter. ${noGpu}`);
    const opts: Parameters<typeof validate>[1] = {};
    if (typeof args.flags.reference === "string") opts.reference = args.flags.reference;
    if (typeof args.flags.data === "string") opts.data = args.flags.data;
    if (typeof samples === "number") opts.samples = samples;
    if (args.flags["allow-cpu-fallback"] === true) opts.allowCpuFallback = true;
    const minCos = args.flags["min-cosine"];
    if (minCos !== undefined) {
      if (typeof minCos !== "number" || !(minCos >= -1 && minCos <= 1)) {
        throw new UsageError(`--min-cosine must be a number in [-1, 1], got ${minCos}`);
      }
      opts.minCosine = minCos;
    }
    const r = await validate(path, opts);
    return { exitCode: r.ok ? 0 : 1, text: formatValidate(path, r), json: { model: path, ...r } };
  },
};
