import { assertThrows } from "@std/assert";
import { encodeModel } from "../onnx/codec.ts";
import { loadModel } from "../onnx/io.ts";
import { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { AttrType } from "../onnx/attributes.ts";
import { constantsToInitializers } from "../passes/normalize/mod.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { checkWrittenFinite, NonFiniteError, snapshotInitializers } from "./_finite.ts";

function model(w: Float32Array): Model {
  const m = new Model();
  m.opsets.set("", 17);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
  m.graph.inputs.push(x);
  const mm = m.graph.addNode("MatMul", [
    x,
    m.graph.addInitializer("W", makeTensor(DataType.FLOAT, [4, 4], w)),
  ], [
    "y",
  ], { name: "mm" });
  mm.outputs[0]!.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
  m.graph.outputs.push(mm.outputs[0]!);
  return m;
}

Deno.test("finite: a loaded weight of -Infinity is left alone; the same value written by a pass is stopped", async () => {
  const m = await loadModel(encodeModel(model(new Float32Array(16).fill(-Infinity))));
  const before = snapshotInitializers(m);
  checkWrittenFinite(m, before);
  const w = m.graph.initializers[0]!;
  w.const = makeTensor(DataType.FLOAT, [4, 4], new Float32Array(16).fill(1).fill(Infinity, 9)); // a pass's result
  assertThrows(
    () => checkWrittenFinite(m, before),
    NonFiniteError,
    `a pass wrote Infinity into initializer "W" (element 9, dims [4, 4]); nothing was written`,
  );
});

Deno.test("finite: input weights and Constant values (a -Infinity mask) are not judged, new tensors are", () => {
  const m = model(new Float32Array(16).fill(-Infinity)); // an input weight: left alone
  const mask = makeTensor(DataType.FLOAT, [2], Float32Array.of(0, -Infinity));
  m.graph.addNode("Constant", [], ["mask"], {
    name: "c",
    attrs: [{ name: "value", type: AttrType.TENSOR, value: mask }],
  });
  const before = snapshotInitializers(m);
  constantsToInitializers.run(m, { reporter: silentReporter });
  checkWrittenFinite(m, before); // the Constant became an initializer as it was: fine
  m.graph.addInitializer("scale", makeTensor(DataType.FLOAT, [1], Float32Array.of(NaN)));
  assertThrows(
    () => checkWrittenFinite(m, before),
    NonFiniteError,
    `a pass wrote NaN into initializer "scale"`,
  );
});
