/**
 * `shiftkit validate MODEL [--reference FLOAT_MODEL] [--data DATA] [--samples N] [--json]`: run MODEL on the
 * machine's WebGPU adapter (kernels for quantized ops, CPU evaluator for the rest) and compare every GPU op
 * with the CPU evaluator (bit for bit for integer ops), each layer with the float reference, and the
 * outputs. Exit 1 on any integer mismatch; 2 (with the reason) when no WebGPU adapter exists.
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
 *   outputs: [], integerMismatches: 0, ok: true });
 * assertStringIncludes(text, "adapter: llvmpipe");
 * ```
 */
export function formatValidate(model: string, r: ValidateReport): string {
  const lines = [
    `${model}: ${r.ok ? "OK" : `FAILED (${r.integerMismatches} integer mismatches)`}`,
    `adapter: ${r.adapter}; ${r.samples} sample(s), ${r.inputs} inputs`,
    "",
    "Per-op agreement (GPU kernel vs CPU evaluator, same inputs):",
    "| op | runs | on GPU | exact / compared | integer | max abs diff |",
    "|---|---|---|---|---|---|",
    ...r.ops.map((o) =>
      `| ${o.op} | ${o.runs} | ${o.gpu} | ${o.gpu ? `${o.exact} / ${o.compared}` : "-"} | ${
        o.integer ? "yes" : "no"
      } | ${o.gpu ? fmt(o.maxAbsDiff, 6) : "-"} |`
    ),
  ];
  const notes = r.ops.flatMap((o) => o.notes.map((n) => `  ${o.op}: ${n}`));
  if (notes.length) lines.push("", "Notes:", ...notes);
  if (r.layers.length) {
    lines.push(
      "",
      "Per-layer error vs the reference (values with the same name):",
      "| value | op | SQNR dB | cosine |",
      "|---|---|---|---|",
    );
    lines.push(...r.layers.map((l) => `| ${l.name} | ${l.op} | ${fmt(l.sqnrDb)} | ${fmt(l.cosine, 5)} |`));
  }
  if (r.outputs.length) {
    lines.push(
      "",
      "Outputs vs the reference:",
      "| output | SQNR dB | cosine | max abs diff | top-1 agreement |",
      "|---|---|---|---|---|",
    );
    lines.push(
      ...r.outputs.map((o) =>
        `| ${o.name} | ${fmt(o.sqnrDb)} | ${fmt(o.cosine, 5)} | ${fmt(o.maxAbsDiff, 6)} | ${
          o.top1Agreement === null ? "-" : fmt(o.top1Agreement * 100, 1) + "%"
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
  usage: "validate MODEL [--reference FLOAT_MODEL] [--data DATA] [--samples N] [--json]",
  description: [
    "Runs MODEL op by op: WebGPU kernels for QuantizeLinear, DequantizeLinear, MatMulInteger, ConvInteger",
    "and the shiftkit ops, the CPU evaluator for everything else; every GPU op is re-run on the CPU with",
    "the same inputs. Prints per-op agreement (exact for integer ops), per-layer SQNR / cosine against",
    "--reference where value names match, output agreement, and the adapter used.",
    "Inputs come from --data, or are random from the model's input types and shapes.",
    "Exit 1 on any integer mismatch, 2 when no WebGPU adapter exists.",
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
    const r = await validate(path, opts);
    return { exitCode: r.ok ? 0 : 1, text: formatValidate(path, r), json: { model: path, ...r } };
  },
};
