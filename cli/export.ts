/**
 * `shiftkit export MODEL -o DIR --for transformers.js [--variant V]... [--exclude NODE]... [--json]`: writes
 * the `onnx/model*.onnx` files transformers.js and onnxruntime-web load (api/export.ts builds them).
 * @module
 */
import {
  DEFAULT_EXPORT_VARIANTS,
  EXPORT_VARIANTS,
  exportForRuntime,
  type ExportVariant,
  TRANSFORMERS_JS_FILES,
} from "../api/export.ts";
import { loadModel } from "../onnx/io.ts";
import { type Command, UsageError } from "./command.ts";

async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

const list = (
  v: unknown,
): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** The export command. */
export const exportCommand: Command = {
  name: "export",
  summary: "Write the onnx/model*.onnx set transformers.js and onnxruntime-web load (q8, q4, q4f16, ...)",
  usage: "export MODEL -o DIR --for transformers.js [--variant V]... [--exclude NODE]... [--json]",
  description: [
    "Writes, under DIR, the files transformers.js picks by dtype, each built from MODEL:",
    ...EXPORT_VARIANTS.map((v) => `  ${v.padEnd(6)} ${TRANSFORMERS_JS_FILES[v]}`),
    `Default variants: ${DEFAULT_EXPORT_VARIANTS.join(", ")}. No calibration data is needed (q8 quantizes`,
    "activations at run time). config.json and the tokenizer files of a transformers.js model folder are not",
    "written: copy them from the original model.",
  ].join("\n"),
  positionals: { names: ["MODEL"], min: 1, max: 1 },
  flags: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "DIR",
      help: "output folder (onnx/ is created in it)",
    },
    { name: "for", type: "string", value: "RUNTIME", help: "target runtime: transformers.js" },
    {
      name: "variant",
      type: "string",
      value: "V",
      multiple: true,
      help: `one of ${EXPORT_VARIANTS.join(", ")} (repeat; default ${DEFAULT_EXPORT_VARIANTS.join(", ")})`,
    },
    { name: "exclude", type: "string", value: "NODE", multiple: true, help: "node left in float (repeat)" },
  ],
  async run(args, ctx) {
    const path = args.positionals[0]!;
    const dir = args.flags["output"];
    if (typeof dir !== "string") throw new UsageError("export needs -o DIR");
    const target = args.flags["for"];
    if (target !== "transformers.js") {
      throw new UsageError(
        `--for must be transformers.js, got ${target === undefined ? "nothing" : `"${target}"`}`,
      );
    }
    const variants = list(args.flags["variant"]);
    for (const v of variants) {
      if (!(EXPORT_VARIANTS as readonly string[]).includes(v)) {
        throw new UsageError(`--variant must be one of ${EXPORT_VARIANTS.join(", ")}, got "${v}"`);
      }
    }
    const model = await loadModel(path);
    const files = await exportForRuntime(model, {
      target,
      variants: variants.length ? variants as ExportVariant[] : DEFAULT_EXPORT_VARIANTS,
      exclude: list(args.flags["exclude"]),
      reporter: ctx.reporter,
    });
    const floatBytes = (await Deno.stat(path)).size;
    const rows: string[] = [];
    for (const f of files) {
      await writeAtomically(`${dir.replace(/\/$/, "")}/${f.path}`, f.bytes);
      rows.push(
        `  ${f.variant.padEnd(6)} ${f.path.padEnd(28)} ${
          (f.bytes.length / 1e6).toFixed(2).padStart(7)
        } MB  ` +
          `(${(100 * f.bytes.length / floatBytes).toFixed(0)}% of float)`,
      );
      for (const n of f.notes) rows.push(`           ${n}`);
    }
    return {
      text: `${path} -> ${dir}\n${rows.join("\n")}`,
      json: {
        model: path,
        output: dir,
        target,
        floatBytes,
        files: files.map((f) => ({
          variant: f.variant,
          path: f.path,
          bytes: f.bytes.length,
          notes: f.notes,
        })),
      },
    };
  },
};
