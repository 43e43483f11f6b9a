/**
 * `eval --task compare` against an independent computation (issue 13 acceptance): both models run in
 * onnxruntime-node window by window, and the pooled SQNR (total signal energy / total error energy over all
 * logits), the cosine and the top-1 agreement are recomputed here with plain loops.
 */
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { evaluate } from "../api/evaluate.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { runPipeline } from "../passes/pass.ts";
import { weightOnlyPass } from "../passes/weightonly/mod.ts";
import { textSource } from "../runtime/data/mod.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { repoPath } from "./_models.ts";

Deno.test("eval --task compare: pooled SQNR, cosine and top-1 agree with a plain recomputation", async () => {
  const bytes = await Deno.readFile(repoPath("testdata/byte-lm-opt.onnx"));
  const cand = decodeModel(bytes);
  await runPipeline(cand, [weightOnlyPass({ bits: 2, symmetric: true })]);
  const samples = 8;
  const r = await evaluate(cand, {
    task: "compare",
    data: repoPath("testdata/lm-eval.txt"),
    reference: decodeModel(bytes),
    samples,
  });
  // Independent: the same windows (non-overlapping 128 bytes, the first 8), one by one.
  const text = await Deno.readFile(repoPath("testdata/lm-eval.txt"));
  const ref = await OrtRuntime.create(bytes, { intraOpNumThreads: 2 });
  const q = await OrtRuntime.create(encodeModel(cand), { intraOpNumThreads: 2 });
  let signal = 0, error = 0, agree = 0, rows = 0, cosSum = 0;
  const src = textSource(text, { context: 128, maxSamples: samples });
  for await (const b of src.batches(1)) {
    const a = (await ref.run(b)).logits!.data as Float32Array;
    const c = (await q.run(b)).logits!.data as Float32Array;
    let dot = 0, na = 0, nc = 0;
    for (let i = 0; i < a.length; i++) {
      signal += a[i]! * a[i]!;
      error += (a[i]! - c[i]!) ** 2;
      dot += a[i]! * c[i]!;
      na += a[i]! * a[i]!;
      nc += c[i]! * c[i]!;
    }
    cosSum += dot / Math.sqrt(na * nc);
    for (let base = 0; base < a.length; base += 256) {
      let ia = 0, ic = 0;
      for (let j = 1; j < 256; j++) {
        if (a[base + j]! > a[base + ia]!) ia = j;
        if (c[base + j]! > c[base + ic]!) ic = j;
      }
      rows++;
      if (ia === ic) agree++;
    }
  }
  await ref.release();
  await q.release();
  const pooled = 10 * Math.log10(signal / error);
  assertEquals(r.samples, samples);
  assert(
    Math.abs(r.metrics.sqnrDb! - pooled) < 0.1,
    `compare ${r.metrics.sqnrDb} dB vs independent ${pooled} dB`,
  );
  assert(pooled > 3 && pooled < 40, `a 2-bit model should be visibly off: ${pooled} dB`);
  assertAlmostEquals(r.metrics.cosine!, cosSum / samples, 1e-4);
  assertAlmostEquals(r.metrics.top1Agreement!, agree / rows, 1e-9);
  assert(r.metrics.minCosine! <= r.metrics.cosine!);
  const out = (r.outputs as Record<string, { sqnrDb: number; classLike: boolean }>).logits!;
  assert(out.classLike);
  assert(Math.abs(out.sqnrDb - pooled) < 0.1);
});
