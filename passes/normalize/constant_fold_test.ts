import { assert, assertEquals } from "@std/assert";
import { inferShapes } from "../../onnx/infer.ts";
import { verify } from "../../onnx/verify.ts";
import { loadModelFile, modelBytes } from "../../tests/_models.ts";
import { compareOutputs, MODEL_INPUTS, opCounts, randomFeeds, runOrt } from "../../tests/_ort_compare.ts";
import { constantFold, foldConstants } from "./constant_fold.ts";
import { eliminateDeadCode } from "./dce.ts";

Deno.test("constant-fold: byte-lm-opt with fixed [1, 16] input loses every Shape chain, same logits", async () => {
  const m = await loadModelFile("byte-lm-opt");
  const feeds = randomFeeds(m, MODEL_INPUTS["byte-lm-opt"]);
  const want = await runOrt(await modelBytes("byte-lm-opt"), feeds);
  inferShapes(m, { inputShapes: { input_ids: [1, 16] } });
  assertEquals(foldConstants(m), 75);
  eliminateDeadCode(m);
  const c = opCounts(m);
  for (const op of ["Shape", "Concat", "Unsqueeze", "Range", "ConstantOfShape", "Trilu", "Cast"]) {
    assertEquals(c[op], undefined, op);
  }
  assertEquals(c.Reshape, 16);
  assertEquals(c.Gather, 1); // the embedding lookup reads the real input
  assertEquals(verify(m), []);
  const e = compareOutputs(await runOrt(m, feeds), want);
  for (const v of Object.values(e)) assert(v <= 1e-5, `rel L2 ${v}`);
});

Deno.test("constant-fold: symbolic shapes are left alone (nothing to fold without static dims)", async () => {
  const m = await loadModelFile("byte-lm-opt");
  const shapesBefore = opCounts(m).Shape;
  constantFold.run(m);
  assertEquals(opCounts(m).Shape, shapesBefore);
});
