import { assert, assertEquals } from "@std/assert";
import { quantize } from "../../api/quantize.ts";
import type { Model } from "../../onnx/ir.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { tensorSource } from "../../runtime/data/mod.ts";
import { cfInput, ifModel, loopModel, scanModel } from "../../tests/_control_flow_models.ts";
import { runOrt } from "../../tests/_ort_compare.ts";

function cosine(a: Tensor, b: Tensor): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = Number(a.data[i]), y = Number(b.data[i]);
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Op types per graph: the main graph's and each subgraph's, by graph name. */
function qdqCounts(m: Model): Record<string, number> {
  const c: Record<string, number> = {};
  for (const g of [m.graph, ...m.graph.subgraphs()]) {
    c[g.name] = g.nodes.filter((n) => n.opType === "DequantizeLinear").length;
  }
  return c;
}

async function quantizeAndCompare(
  m: Model,
  calib: Tensor,
  evals: Tensor[],
): Promise<Record<string, number>> {
  const want = await Promise.all(evals.map((x) => runOrt(m, { x })));
  const r = await quantize(m, { method: "qdq", calib: tensorSource(new Map([["x", calib]])), batchSize: 2 });
  assertEquals(verify(m), []);
  const qdq = r.steps.find((s) => s.pass === "insert-qdq")!;
  assert(qdq.modified, qdq.notes.join());
  for (const [i, x] of evals.entries()) {
    const got = await runOrt(m, { x });
    for (const [k, w] of Object.entries(want[i]!)) {
      const c = cosine(got[k]!, w);
      assert(c > 0.995, `eval ${i} ${k}: cosine ${c}`);
    }
  }
  return qdqCounts(m);
}

Deno.test("qdq: weights and activations inside both If branches are quantized (onnxruntime)", async () => {
  // 8 calibration batches of 2 rows, of alternating sign, so both branches are observed
  const calib = cfInput([16, 8], 5);
  for (let s = 0; s < 8; s++) {
    for (let j = 0; j < 16; j++) (calib.data as Float32Array)[s * 16 + j]! += s % 2 ? 0.3 : -0.3;
  }
  const counts = await quantizeAndCompare(ifModel(), calib, [
    cfInput([8, 8], 9, 0.3),
    cfInput([8, 8], 10, -0.3),
  ]);
  // then: weight DQ (x's QDQ sits in the main graph); else: weight + Relu output
  assertEquals(counts, { main: 1, then: 1, else: 2 });
});

Deno.test("qdq: the Loop body's MatMul is quantized, its activation observed on every iteration", async () => {
  const counts = await quantizeAndCompare(loopModel(), cfInput([16, 8], 6), [cfInput([2, 8], 11)]);
  assertEquals(counts, { main: 0, body: 2 });
});

Deno.test("qdq: a Scan cell's two MatMuls are quantized (state and per-step input)", async () => {
  const counts = await quantizeAndCompare(scanModel(), cfInput([16, 5, 8], 7), [cfInput([2, 5, 8], 12)]);
  assertEquals(counts, { main: 0, cell: 4 });
});

Deno.test("qdq: a branch no calibration sample takes stays float, and the notes say which nodes", async () => {
  const m = ifModel();
  const calib = cfInput([16, 8], 5, 0.5); // every batch takes the then branch
  const r = await quantize(m, { method: "qdq", calib: tensorSource(new Map([["x", calib]])), batchSize: 2 });
  const notes = r.steps.find((s) => s.pass === "insert-qdq")!.notes;
  assert(
    notes.some((n) => /kept in float: inside a branch no calibration sample reached/.test(n)),
    notes.join(),
  );
  assertEquals(qdqCounts(m), { main: 1, then: 1, else: 0 });
  const x = cfInput([8, 8], 10, -0.5); // the float else branch still runs correctly
  const want = await runOrt(ifModel(), { x });
  const got = await runOrt(m, { x });
  assertEquals([...got.y!.data], [...want.y!.data]);
});

Deno.test("osplus: its QDQ step also keeps an untaken branch float instead of failing", async () => {
  const m = ifModel();
  const calib = cfInput([16, 8], 5, 0.5);
  const r = await quantize(m, {
    method: "osplus",
    calib: tensorSource(new Map([["x", calib]])),
    batchSize: 2,
    allowNoSites: true, // no norm -> linear site here: OS+ migrates nothing, its QDQ step still runs
  });
  const notes = r.steps.flatMap((s) => s.notes);
  assert(
    notes.some((n) => /kept in float: inside a branch no calibration sample reached/.test(n)),
    notes.join(),
  );
  assertEquals(qdqCounts(m), { main: 1, then: 1, else: 0 });
  assertEquals(verify(m), []);
  const x = cfInput([8, 8], 9, 0.5);
  const c = cosine((await runOrt(m, { x })).y!, (await runOrt(ifModel(), { x })).y!);
  assert(c > 0.995, `cosine ${c}`);
});
