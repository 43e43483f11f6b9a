/**
 * A real model from the zoo (committed under bench/zoo/): the opset-9 PyTorch face detector whose box decoding
 * slices `boxes[..., 2:]` with `ends` = INT64_MAX. Before int64 stayed exact, the opset upgrade that QDQ needs
 * turned those ends into INT64_MIN and the boxes came out empty.
 */
import { assert, assertEquals } from "@std/assert";
import { quantize } from "../api/quantize.ts";
import { loadModel } from "../onnx/io.ts";
import { cosineSimilarity } from "../quant/error_metrics.ts";
import { ZOO } from "../bench/zoo/models.ts";
import { runOrt } from "./_ort_compare.ts";

Deno.test("zoo: ultraface (opset 9, INT64_MAX slices, fixed batch 1) quantizes with QDQ and keeps its boxes", async () => {
  const entry = ZOO.find((z) => z.name === "ultraface-rfb-320")!;
  const path = await entry.path();
  const { calib, eval: evals } = await entry.samples({ calib: 2, eval: 1 });
  const model = await loadModel(path);
  const want = await runOrt(await Deno.readFile(path), evals[0]!);
  const report = await quantize(model, {
    method: "qdq",
    batchSize: 1,
    calib: {
      kind: "tensors",
      count: calib.length,
      inputNames: ["input"],
      async *batches() {
        for (const f of calib) yield f;
      },
    },
  });
  // Its weights are also graph inputs (PyTorch 1.2's default): treated as constants, so every BatchNorm folds.
  assertEquals(model.graph.inputs.map((v) => v.name), ["input"]);
  assertEquals(model.graph.nodes.filter((n) => n.opType === "BatchNormalization").length, 0);
  const ends = model.graph.nodes.filter((n) => n.opType === "Slice").map((n) =>
    (n.input(2)!.const!.data as BigInt64Array)[0]!
  );
  assertEquals(ends.filter((e) => e === 2n ** 63n - 1n).length, 3);
  const notes = report.steps.flatMap((s) => s.notes);
  assert(notes.some((n) => n.includes("were also graph inputs")), notes.join("\n"));
  assert(notes.some((n) => /folded \d+ BatchNormalization/.test(n)), notes.join("\n"));
  const got = await runOrt(model, evals[0]!);
  for (const k of ["scores", "boxes"]) {
    assertEquals(got[k]!.dims, want[k]!.dims);
    const c = cosineSimilarity(got[k]!.data as Float32Array, want[k]!.data as Float32Array);
    assert(c > 0.999, `${k}: cosine ${c}`);
  }
});
