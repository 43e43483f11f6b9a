/**
 * Is OS+ really worse than QDQ on the plain byte LM at W6A6? Scores both (and float) on the calibration set
 * and on the eval set by bits/byte, by normalised MSE of the logits against float, and by the mean
 * KL(float || quantized) of the next-byte distributions. (Used to judge issue 7's "never worse" item: see
 * README, Known limits.)
 *
 * Run: `deno run -A bench/os_plus_noise.ts [BITS]` (default 6)
 * @module
 */
import type { Model } from "../onnx/ir.ts";
import { loadModel } from "../onnx/io.ts";
import { encodeModel } from "../onnx/codec.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { qdqPass } from "../passes/qdq/insert_qdq.ts";
import { osPlusPass } from "../passes/osplus/os_plus.ts";
import { runPipeline } from "../passes/pass.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { textSource } from "../runtime/data/mod.ts";
import { BitsPerByteMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";

const root = new URL("../", import.meta.url).pathname;
const bits = Number(Deno.args[0] ?? 6);
const ORT = { intraOpNumThreads: 2 };
const calib = await Deno.readFile(`${root}testdata/lm-calib.txt`);
const evalText = await Deno.readFile(`${root}testdata/lm-eval.txt`);
const lm = () => loadModel(`${root}testdata/byte-lm-opt.onnx`);
const ctx = () => ({
  runtime: makePassRuntime(textSource(calib, { maxSamples: 64 }), ortRuntimeFactory(ORT)),
});

async function logits(m: Model, text: Uint8Array, n?: number): Promise<{ logits: Tensor; ids: Tensor }[]> {
  const rt = await OrtRuntime.create(encodeModel(m), ORT);
  const out: { logits: Tensor; ids: Tensor }[] = [];
  for await (const feeds of textSource(text, n ? { maxSamples: n } : {}).batches(32)) {
    out.push({ logits: (await rt.run(feeds)).logits!, ids: feeds.input_ids! });
  }
  await rt.release();
  return out;
}

function score(ref: { logits: Tensor }[], r: { logits: Tensor; ids: Tensor }[]): string {
  const meter = new BitsPerByteMeter();
  let se = 0, ss = 0, kl = 0, rows = 0;
  r.forEach((b, i) => {
    meter.add(b.logits, b.ids);
    const A = ref[i]!.logits.data as Float32Array, B = b.logits.data as Float32Array;
    for (let k = 0; k < A.length; k++) {
      se += (A[k]! - B[k]!) ** 2;
      ss += A[k]! ** 2;
    }
    for (let p = 0; p < A.length; p += 256, rows++) {
      let ma = -Infinity, mb = -Infinity, za = 0, zb = 0, s = 0;
      for (let k = 0; k < 256; k++) ma = Math.max(ma, A[p + k]!), mb = Math.max(mb, B[p + k]!);
      for (let k = 0; k < 256; k++) za += Math.exp(A[p + k]! - ma), zb += Math.exp(B[p + k]! - mb);
      for (let k = 0; k < 256; k++) {
        const la = A[p + k]! - ma - Math.log(za), lb = B[p + k]! - mb - Math.log(zb);
        s += Math.exp(la) * (la - lb);
      }
      kl += s;
    }
  });
  return `${meter.value.toFixed(4)} | ${(se / ss).toExponential(3)} | ${(kl / rows).toExponential(3)}`;
}

const float = await lm(), qdq = await lm(), osp = await lm();
await runPipeline(qdq, [qdqPass({ weightBits: bits, activationBits: bits })], ctx());
await runPipeline(osp, [osPlusPass({ weightBits: bits, activationBits: bits, calibTokens: 128 })], ctx());
console.log(`W${bits}A${bits}, byte-lm-opt, 64 calibration windows, min-max ranges\n`);
console.log(
  "| data | float bits/byte | QDQ bits/byte | QDQ logits NMSE | QDQ KL | OS+ bits/byte | OS+ logits NMSE | OS+ KL |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (
  const [name, text, n] of [["calib, 64 windows", calib, 64], ["calib, all", calib, undefined], [
    "eval, all 512",
    evalText,
    undefined,
  ]] as const
) {
  const f = await logits(float, text, n);
  const fbpb = new BitsPerByteMeter();
  for (const b of f) fbpb.add(b.logits, b.ids);
  console.log(
    `| ${name} | ${fbpb.value.toFixed(4)} | ${score(f, await logits(qdq, text, n))} | ${
      score(f, await logits(osp, text, n))
    } |`,
  );
}
