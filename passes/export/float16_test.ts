import { assert, assertEquals } from "@std/assert";
import { DataType } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { MODEL_INPUTS, opCounts, randomFeeds, relL2, runOrt } from "../../tests/_ort_compare.ts";
import { loadModelFile } from "../../tests/_models.ts";
import { constantsToInitializers } from "../normalize/mod.ts";
import { runPipeline } from "../pass.ts";
import { float16Pass, newFloat16Stats } from "./float16.ts";

for (const name of ["byte-lm-opt", "segmenter-tiny"] as const) {
  Deno.test(`float16Pass: ${name} stores float16, keeps float32 inputs/outputs, matches float (onnxruntime-node)`, async () => {
    const float = await loadModelFile(name);
    const model = await loadModelFile(name);
    const stats = newFloat16Stats();
    await runPipeline(model, [constantsToInitializers, float16Pass({}, stats)]);
    assertEquals(verify(model), []);
    const g = model.graph;
    assertEquals(g.initializers.filter((v) => v.const!.dtype === DataType.FLOAT).map((v) => v.name), []);
    assert(stats.initializers > 10);
    assertEquals(stats.floatBytesAfter * 2, stats.floatBytesBefore);
    assertEquals(
      g.inputs.map((v) => [v.name, v.type?.elemType]),
      float.graph.inputs.map((v) => [v.name, v.type?.elemType]),
    );
    assertEquals(
      g.outputs.map((v) => [v.name, v.type?.elemType]),
      float.graph.outputs.map((v) => [v.name, v.type?.elemType]),
    );
    // One Cast per float input and output at the boundary, nothing in between.
    const floatIO = [...float.graph.inputs, ...float.graph.outputs].filter((v) =>
      v.type?.elemType === DataType.FLOAT
    );
    assertEquals(stats.casts, floatIO.length);
    const feeds = randomFeeds(float, MODEL_INPUTS[name], 2);
    const want = await runOrt(float, feeds);
    const got = await runOrt(model, feeds);
    for (const k of Object.keys(want)) {
      assertEquals(got[k]!.dtype, DataType.FLOAT);
      const e = relL2(got[k]!, want[k]!);
      assert(e < 3e-3, `${k}: relative L2 ${e}`);
    }
  });
}

Deno.test("float16Pass: keepFloat32 runs those ops between Casts and converts each value once", async () => {
  const float = await loadModelFile("byte-lm-opt");
  const model = await loadModelFile("byte-lm-opt");
  const stats = newFloat16Stats();
  await runPipeline(model, [
    constantsToInitializers,
    float16Pass({ keepFloat32: ["Softmax", "LayerNormalization"] }, stats),
  ]);
  assertEquals(verify(model), []);
  assertEquals(stats.keptFloat32, { Softmax: 4, LayerNormalization: 9 });
  const g = model.graph;
  for (const n of g.nodes.filter((n) => n.opType === "Softmax" || n.opType === "LayerNormalization")) {
    for (const v of [...n.inputs, ...n.outputs]) {
      if (v && v.type?.elemType !== DataType.INT64) {
        assertEquals(v.type?.elemType, DataType.FLOAT, `${n.name}: ${v.name}`);
      }
    }
  }
  // No Cast of a Cast: each value is converted at most once per direction.
  for (const n of g.nodes.filter((n) => n.opType === "Cast")) {
    assert(n.inputs[0]!.producer?.opType !== "Cast", `${n.name} casts the output of another Cast`);
  }
  // LayerNorm scale/bias read only by kept ops stay float32.
  const ln = g.nodes.find((n) => n.opType === "LayerNormalization")!;
  assertEquals(ln.inputs[1]!.const?.dtype, DataType.FLOAT);
  assert(opCounts(model)["Cast"]! > 2 * 13);
  const feeds = randomFeeds(float, MODEL_INPUTS["byte-lm-opt"], 3);
  const e = relL2((await runOrt(model, feeds))["logits"]!, (await runOrt(float, feeds))["logits"]!);
  assert(e < 3e-3, `relative L2 ${e}`);
});
