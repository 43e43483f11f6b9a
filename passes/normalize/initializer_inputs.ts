/**
 * Initializers that are also listed as graph inputs. Older exporters wrote every weight that way (PyTorch before
 * 1.3 by default, `keep_initializers_as_inputs`; IR version 3 required it): the initializer is then only a
 * default a caller may override. Quantizing a weight fixes its value anyway, so the normalizer treats such
 * weights as constants and removes them from the graph inputs, as onnxruntime's
 * `remove_initializer_from_input` tool does, and says how many it removed. Only the main graph has inputs of this
 * kind; subgraph inputs are loop-carried or scan values.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/**
 * The pass (see the module doc).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { silentReporter } from "../../onnx/reporter.ts";
 * import { initializerInputs } from "./initializer_inputs.ts";
 * const m = new Model();
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [2] };
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [2], new Float32Array([1, 2])));
 * m.graph.inputs.push(x, w);
 * assertEquals(initializerInputs.run(m, { reporter: silentReporter }).modified, true);
 * assertEquals(m.graph.inputs.map((v) => v.name), ["x"]);
 * ```
 */
export const initializerInputs = {
  name: "initializer-inputs",
  run(model: Model, _ctx?: PassContext): PassResult {
    const g = model.graph;
    const kept = g.inputs.filter((v) => !v.isConst);
    const removed = g.inputs.length - kept.length;
    if (removed === 0) return { modified: false };
    g.inputs.splice(0, g.inputs.length, ...kept);
    return {
      modified: true,
      notes: [
        `${removed} initializers were also graph inputs (an older exporter's default): treated as constants and ` +
        `removed from the inputs`,
      ],
    };
  },
} satisfies Pass;
