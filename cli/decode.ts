/**
 * `shiftkit decode MODEL -o OUT [--json]`: the decode-at-load path of a ShiftAdd or DenseShift file
 * (api/decode.ts, one decoder per pass family). Writes a float model (OUT + OUT.data) whose MatMul / Conv
 * nodes hold the weights shiftkit decoded from the packed tensors, for a runtime that cannot fold the decode
 * functions at session creation (a ShiftAdd file of hundreds of millions of weights in onnxruntime).
 * @module
 */
import { decodeForLoad, NothingToDecodeError } from "../api/decode.ts";
import { loadModel } from "../onnx/io.ts";
import { type Command, UsageError } from "./command.ts";

/** The decode command. */
export const decodeCommand: Command = {
  name: "decode",
  summary: "Decode a ShiftAdd / DenseShift file's packed weights into a float model (decode at load)",
  usage: "decode MODEL -o OUT [--json]",
  description: [
    "Writes OUT (+ OUT.data): MODEL with every packed op replaced by its float op on the weight shiftkit's",
    "decoder computes (the spec's dequantization): shiftkit.ShiftAddMatMul and ShiftMatMul by MatMul (+ Add",
    "for a bias), ShiftConv by Conv with the same attributes; decoded layer by layer with one layer in",
    "memory. onnxruntime folds these files' decode at session creation; above about a hundred million",
    "weights that fold does not fit in memory (about 80 bytes per weight), and with graph optimizations",
    "disabled the file decodes on every call: load OUT instead (decode at load, run at float speed).",
  ].join("\n"),
  positionals: { names: ["MODEL"], min: 1, max: 1, paths: true },
  flags: [
    {
      name: "output",
      short: "o",
      type: "string",
      value: "OUT",
      path: "file",
      help: "the float model to write (required; its weights go to OUT.data)",
    },
  ],
  async run(args, ctx) {
    const path = args.positionals[0]!;
    const out = args.flags["output"];
    if (typeof out !== "string") throw new UsageError("decode needs -o OUT");
    const model = await loadModel(path);
    let r;
    try {
      r = await decodeForLoad(model, out, { reporter: ctx.reporter });
    } catch (e) {
      if (e instanceof NothingToDecodeError) throw new UsageError(e.message);
      throw e;
    }
    return {
      text: [
        `${path} -> ${out}`,
        `decoded ${r.layers} layers (${Object.entries(r.byOp).map(([op, n]) => `${n} ${op}`).join(", ")}): ${
          (r.packedBytes / 1e6).toFixed(1)
        } MB packed -> ${(r.floatBytes / 1e6).toFixed(1)} MB float, in ${r.seconds.toFixed(1)} s`,
        ...r.skipped.map((s) => `left packed: ${s}`),
      ].join("\n"),
      json: { model: path, output: out, ...r },
    };
  },
};
