/**
 * `shiftkit inspect MODEL [--json]`: what is in a model (see onnx/inspect.ts).
 * @module
 */
import { loadedFiles, loadModel } from "../onnx/io.ts";
import { formatInspect, inspectModel } from "../onnx/inspect.ts";
import type { Command } from "./command.ts";

/** The inspect command. */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "Show a model's ops, parameters, where its weights live, and whether it is quantized or fp16",
  usage: "inspect MODEL [--json]",
  description: [
    "Reads MODEL (.onnx, .onnx with external data next to it, or a .zip bundle) and reports:",
    "producer, IR version and opsets; an op histogram over the main graph, subgraphs (If/Loop/Scan) and",
    "model-local functions, keyed domain.op; parameter count and bytes by element type; where the weights",
    "live (initializers, Constant nodes, subgraphs, functions, external data); signs that the model is",
    "already quantized (QDQ nodes, integer ops, 8-/4-bit weights) or in fp16; inputs and outputs.",
  ].join("\n"),
  positionals: { names: ["MODEL"], min: 1, max: 1, paths: true },
  flags: [],
  async run(args) {
    const path = args.positionals[0]!;
    const model = await loadModel(path);
    // The model file plus its external data files: what the model takes on disk.
    const files = loadedFiles(model);
    const size = files && files.modelBytes + [...files.external.values()].reduce((a, b) => a + b, 0);
    const report = inspectModel(model, size === undefined ? {} : { bytes: size });
    return { text: `${path}\n\n${formatInspect(report)}`, json: { model: path, ...report } };
  },
};
