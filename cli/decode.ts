/**
 * `shiftkit decode MODEL -o OUT [--json]`: the decode-at-load path of a ShiftAdd file (api/decode.ts). Writes
 * a float model (OUT + OUT.data) whose MatMuls hold the weights shiftkit decoded from the packed planes and
 * alphas, for a runtime that cannot fold the decode functions at session creation (a ShiftAdd file of
 * hundreds of millions of weights in onnxruntime).
 * @module
 */
import { decodeForLoad, NothingToDecodeError } from "../api/decode.ts";
import { loadModel } from "../onnx/io.ts";
import { type Command, UsageError } from "./command.ts";

/** The decode command. */
export const decodeCommand: Command = {
  name: "decode",
  summary: "Decode a ShiftAdd file's packed weights into a float model for runtimes that cannot fold them",
  usage: "decode MODEL -o OUT [--json]",
  description: [
    "Writes OUT (+ OUT.data): MODEL with every shiftkit.ShiftAddMatMul replaced by a float MatMul on the",
    "weight shiftkit's decoder computes (the spec's dequantization), decoded layer by layer with one layer in",
    "memory. onnxruntime folds a ShiftAdd file's decode at session creation; above about a hundred million",
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
        `decoded ${r.layers} ShiftAddMatMul layers: ${(r.packedBytes / 1e6).toFixed(1)} MB packed -> ${
          (r.floatBytes / 1e6).toFixed(1)
        } MB float, in ${r.seconds.toFixed(1)} s`,
      ].join("\n"),
      json: { model: path, output: out, ...r },
    };
  },
};
