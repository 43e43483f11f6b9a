import { assert, assertEquals } from "@std/assert";
import { findLayerNorms } from "../../onnx/patterns.ts";
import { verify } from "../../onnx/verify.ts";
import { loadModelFile, modelBytes } from "../../tests/_models.ts";
import { compareOutputs, MODEL_INPUTS, randomFeeds, runOrt } from "../../tests/_ort_compare.ts";
import { constantsToInitializers } from "./constants_to_initializers.ts";
import { dce } from "./dce.ts";
import { fuseLayerNormPass } from "./fuse_layernorm.ts";
import { opsetUpgradePass } from "./opset_upgrade.ts";
import { runPipeline } from "../pass.ts";

Deno.test("fuse-layernorm: ppocr-rec at opset 17 gets 5 LayerNormalization nodes, same outputs", async () => {
  const m = await loadModelFile("ppocr-rec");
  const feeds = randomFeeds(m, MODEL_INPUTS["ppocr-rec"]);
  const want = await runOrt(await modelBytes("ppocr-rec"), feeds);
  const before = m.graph.nodes.length;
  const r = await runPipeline(
    m,
    [constantsToInitializers, opsetUpgradePass(17), fuseLayerNormPass, dce],
    {},
    {
      verifyEach: true,
    },
  );
  assertEquals(r.steps[2]!.notes, ["fused 5 decomposed LayerNorms"]);
  const count = (t: string) => m.graph.nodes.filter((n) => n.opType === t).length;
  assertEquals([count("LayerNormalization"), count("ReduceMean"), count("Pow"), count("Sqrt")], [5, 0, 0, 0]);
  assertEquals(m.graph.nodes.length, before - 325 - 5 * 8);
  assertEquals(findLayerNorms(m.graph).map((l) => l.kind), Array(5).fill("fused"));
  assertEquals(verify(m), []);
  const e = compareOutputs(await runOrt(m, feeds), want);
  for (const v of Object.values(e)) assert(v <= 1e-5, `rel L2 ${v}`);
});

Deno.test("fuse-layernorm: below opset 17 it does nothing and says why", async () => {
  const m = await loadModelFile("ppocr-rec");
  const r = fuseLayerNormPass.run(m);
  assertEquals(r, { modified: false, notes: ["opset 9 < 17: LayerNormalization is not available"] });
});
