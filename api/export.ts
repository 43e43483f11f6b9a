/**
 * `exportForRuntime(model, options)`: the library entry point behind `shiftkit export MODEL --for
 * transformers.js`. From one float model it writes the file set transformers.js and onnxruntime-web pick by
 * `dtype`, each from a fresh copy of the float model:
 *
 * | variant | file                         | what it is                                                          |
 * | ------- | ---------------------------- | ------------------------------------------------------------------- |
 * | `fp32`  | `onnx/model.onnx`            | the float model (normalized)                                         |
 * | `fp16`  | `onnx/model_fp16.onnx`       | float16 weights and compute, float32 inputs/outputs                  |
 * | `q8`    | `onnx/model_quantized.onnx`  | DynamicQuantizeLinear + MatMulInteger, int8 weights per column       |
 * | `q4`    | `onnx/model_q4.onnx`         | com.microsoft MatMulNBits, 4-bit RTN, block 32                       |
 * | `q4f16` | `onnx/model_q4f16.onnx`      | q4, then float16 weights and compute, float32 inputs/outputs         |
 *
 * No calibration data: q8 quantizes activations at run time, q4 rounds weights to nearest (block scales and
 * zero points from each block's min and max). Nothing touches the file system here; the CLI writes.
 * @module
 */
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import { verify } from "../onnx/verify.ts";
import { dynamicInt8Pass, float16Pass } from "../passes/export/mod.ts";
import { type Pass, runPipeline } from "../passes/pass.ts";
import { weightOnlyPass } from "../passes/weightonly/mod.ts";
import { NORMALIZE, QuantizeInputError, whyNotQuantizable } from "./quantize.ts";

/** The runtimes `exportForRuntime` writes for. */
export type ExportTarget = "transformers.js";

/** One file of the set. */
export type ExportVariant = "fp32" | "fp16" | "q8" | "q4" | "q4f16";

/** File name of each variant, relative to the output folder (transformers.js `dtype` -> file). */
export const TRANSFORMERS_JS_FILES: Readonly<Record<ExportVariant, string>> = {
  fp32: "onnx/model.onnx",
  fp16: "onnx/model_fp16.onnx",
  q8: "onnx/model_quantized.onnx",
  q4: "onnx/model_q4.onnx",
  q4f16: "onnx/model_q4f16.onnx",
};

/** Every variant, in the order they are written. */
export const EXPORT_VARIANTS: readonly ExportVariant[] = ["fp32", "fp16", "q8", "q4", "q4f16"];

/** The variants written when none are asked for: the quantized ones. */
export const DEFAULT_EXPORT_VARIANTS: readonly ExportVariant[] = ["q8", "q4", "q4f16"];

/** Options of {@link exportForRuntime}. */
export interface ExportOptions {
  /** The runtime the files are for. @default "transformers.js" */
  target?: ExportTarget;
  /** Which files. @default DEFAULT_EXPORT_VARIANTS */
  variants?: readonly ExportVariant[];
  /** Node names left in float (quantized variants). @default [] */
  exclude?: readonly string[];
  /** Progress ("export" task) and notes. @default silent */
  reporter?: Reporter;
}

/** One written file. */
export interface ExportedFile {
  /** The variant. */
  variant: ExportVariant;
  /** Path relative to the output folder, e.g. `onnx/model_quantized.onnx`. */
  path: string;
  /** The encoded model. */
  bytes: Uint8Array;
  /** What each pass did (converted and skipped nodes, with reasons). */
  notes: string[];
}

function passesFor(variant: ExportVariant, exclude: readonly string[]): Pass[] {
  switch (variant) {
    case "fp32":
      return [];
    case "fp16":
      return [float16Pass()];
    case "q8":
      return [dynamicInt8Pass({ exclude })];
    case "q4":
      return [weightOnlyPass({ method: "rtn", bits: 4, groupSize: 32, exclude })];
    case "q4f16":
      return [weightOnlyPass({ method: "rtn", bits: 4, groupSize: 32, exclude }), float16Pass()];
  }
}

/**
 * Write the transformers.js / onnxruntime-web file set of a float model.
 *
 * @param model the float model, or its bytes (not changed: each variant starts from a fresh copy)
 * @param options variants, exclusions, reporter
 * @returns one entry per variant, in the order asked
 * @throws {QuantizeInputError} for a model that is already quantized, fp16, or has nothing to quantize
 * @throws {RangeError} for an unknown variant
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { exportForRuntime } from "./export.ts";
 * const bytes = await Deno.readFile(new URL("../testdata/segmenter-tiny.onnx", import.meta.url));
 * const [q8] = await exportForRuntime(bytes, { variants: ["q8"] });
 * assertEquals(q8!.path, "onnx/model_quantized.onnx");
 * ```
 */
export async function exportForRuntime(
  model: Model | Uint8Array,
  options: ExportOptions = {},
): Promise<ExportedFile[]> {
  const target = options.target ?? "transformers.js";
  if (target !== "transformers.js") throw new RangeError(`Unknown export target "${target}"`);
  const reporter = options.reporter ?? silentReporter;
  const variants = options.variants ?? DEFAULT_EXPORT_VARIANTS;
  for (const v of variants) {
    if (!EXPORT_VARIANTS.includes(v)) {
      throw new RangeError(`Unknown variant "${v}": expected one of ${EXPORT_VARIANTS.join(", ")}`);
    }
  }
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const why = whyNotQuantizable(decodeModel(bytes));
  if (why) throw new QuantizeInputError(`Cannot export: ${why}`);
  const out: ExportedFile[] = [];
  for (const [i, variant] of variants.entries()) {
    reporter.progress("export", i, variants.length);
    const m = decodeModel(bytes);
    const result = await runPipeline(m, [...NORMALIZE, ...passesFor(variant, options.exclude ?? [])], {
      reporter,
    });
    const problems = verify(m);
    if (problems.length) {
      throw new Error(
        `Internal error: the ${variant} model is invalid:\n  ${problems.slice(0, 5).join("\n  ")}`,
      );
    }
    const notes = result.steps.filter((s) => s.modified || s.notes.length).flatMap((s) =>
      s.notes.map((n) => `${s.pass}: ${n}`)
    );
    out.push({ variant, path: TRANSFORMERS_JS_FILES[variant], bytes: encodeModel(m), notes });
  }
  reporter.progress("export", variants.length, variants.length);
  return out;
}
