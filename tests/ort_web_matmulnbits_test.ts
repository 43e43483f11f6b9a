/**
 * A MatMulNBits file from the weight-only pass runs in onnxruntime-web (wasm backend, under Deno) with the
 * same outputs as in onnxruntime-node (issue 13 acceptance: cosine >= 0.9999), for 4-bit asymmetric and
 * 2-bit symmetric codes on the byte-level LM.
 */
import * as ortWeb from "onnxruntime-web";
import { assert, assertEquals } from "@std/assert";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { runPipeline } from "../passes/pass.ts";
import { weightOnlyPass } from "../passes/weightonly/mod.ts";
import { cosineSimilarity } from "../quant/error_metrics.ts";
import { textSource } from "../runtime/data/mod.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { opCounts } from "./_ort_compare.ts";
import { repoPath } from "./_models.ts";

Deno.test("onnxruntime-web (wasm) runs shiftkit's MatMulNBits byte-lm-opt like onnxruntime-node", async () => {
  ortWeb.env.wasm.numThreads = 1;
  const bytes = await Deno.readFile(repoPath("testdata/byte-lm-opt.onnx"));
  const data = textSource(await Deno.readFile(repoPath("testdata/lm-eval.txt")), {
    context: 128,
    maxSamples: 4,
  });
  let feeds: Record<string, Tensor> | undefined;
  for await (const b of data.batches(4)) feeds = b;
  const ids = feeds!.input_ids!;
  for (const o of [{ bits: 4 as const }, { bits: 2 as const, symmetric: true }]) {
    const m = decodeModel(bytes);
    await runPipeline(m, [weightOnlyPass(o)]);
    assertEquals(opCounts(m).MatMulNBits, 25);
    const file = encodeModel(m);
    const node = await OrtRuntime.create(file, { intraOpNumThreads: 2 });
    const want = (await node.run({ input_ids: ids })).logits!.data as Float32Array;
    await node.release();
    const web = await ortWeb.InferenceSession.create(file, { executionProviders: ["wasm"] });
    const out = await web.run({
      input_ids: new ortWeb.Tensor("int64", ids.data as BigInt64Array, [...ids.dims]),
    });
    const got = out.logits!.data as Float32Array;
    await web.release();
    assertEquals(got.length, want.length);
    const cos = cosineSimilarity(got, want);
    assert(cos >= 0.9999, `${o.bits}-bit: cosine ${cos}`);
  }
});
