import { assert, assertEquals, assertLess, assertRejects } from "@std/assert";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Model, Value } from "../onnx/ir.ts";
import { RecordingReporter } from "../onnx/reporter.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { cpuRuntimeFactory } from "../runtime/cpu.ts";
import { textSource } from "../runtime/data/mod.ts";
import { BitsPerByteMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import type { RuntimeFactory } from "../runtime/runtime.ts";
import { WorkerPool } from "../runtime/pool.ts";
import { repoPath } from "../tests/_models.ts";
import { opCounts } from "../tests/_ort_compare.ts";
import { ifModel } from "../tests/_control_flow_models.ts";
import { NORMALIZE, quantize } from "../api/quantize.ts";
import { collectHessians } from "./hessians.ts";
import { type PassContext, runPipeline } from "./pass.ts";
import { planSegments, segmentModel, segmentNodes } from "./segments.ts";
import { calibratePerLayer, chooseCalibration } from "./sequential.ts";
import { planShiftAdd } from "./shiftadd/shift_add.ts";
import { shiftAddPass } from "./shiftadd/mod.ts";
import { weightOnlyPass } from "./weightonly/mod.ts";

const calib = await Deno.readFile(repoPath("testdata/lm-calib.txt"));
const evalText = await Deno.readFile(repoPath("testdata/lm-eval.txt"));

async function normalizedLm(): Promise<Model> {
  const m = decodeModel(await Deno.readFile(repoPath("testdata/byte-lm-opt.onnx")));
  await runPipeline(m, NORMALIZE);
  return m;
}

function ctxOf(factory: RuntimeFactory, samples = 8): PassContext {
  return {
    reporter: new RecordingReporter(),
    runtime: makePassRuntime(textSource(calib, { context: 64, maxSamples: samples }), factory, {
      batchSize: 4,
    }),
  };
}

/** Hessians per site name, per layer with float inputs (no rewrite), and from one whole-model run. */
async function bothHessians(factory: RuntimeFactory) {
  const m = await normalizedLm();
  const { targets } = planShiftAdd(m.graph);
  const whole = await collectHessians(m, targets, ctxOf(factory));
  const perLayer = new Map<Value, Float64Array>();
  const info = await calibratePerLayer(m, targets, ctxOf(factory), ({ hessians }) => {
    for (const [v, h] of hessians) perLayer.set(v, Float64Array.from(h));
    return new Map();
  }, { layerInputs: "float" });
  return { targets, whole, perLayer, info };
}

Deno.test("segments: byte-lm-opt cuts at the residual stream (plus the shared mask), each half-block alone", async () => {
  const m = await normalizedLm();
  const { targets } = planShiftAdd(m.graph);
  const plan = planSegments(m.graph, { anchors: new Set(targets.map((t) => t.node)) });
  assertEquals(plan.why, undefined);
  assertEquals(plan.liveAtCuts, 2);
  const names = plan.segments.map((s) => s.nodes.filter((n) => targets.some((t) => t.node === n)).length);
  // blocks 0..2: attention (q, k, v, o) and MLP (fc1, fc2) halves; block 3 cuts finer once the mask is dead
  assertEquals(names.slice(0, 6), [4, 2, 4, 2, 4, 2]);
  assertEquals(names.reduce((a, b) => a + b, 0), targets.length);
  assertEquals(plan.segments[1]!.inputs, ["/Trilu_output_0", "/blocks.0/Add_1_output_0"]);
  // consecutive: every segment reads what the previous one hands on
  for (let i = 1; i < plan.segments.length; i++) {
    assertEquals(plan.segments[i]!.inputs, plan.segments[i - 1]!.outputs);
  }
  assertEquals(plan.segments.flatMap((s) => s.nodes).length, m.graph.nodes.length);
  // a segment model holds only its own weights and computes what the graph computes there
  const s1 = plan.segments[1]!;
  const sub = segmentModel(m, { ...s1, nodes: segmentNodes(m.graph, s1.inputs, s1.outputs) });
  assertEquals(opCounts(sub).MatMul, 2);
  assert(
    sub.graph.initializers.every((v) => s1.nodes.some((n) => n.inputs.includes(m.graph.local(v.name)!))),
  );
  assertEquals(sub.graph.inputs.map((v) => v.name), s1.inputs);
});

Deno.test("per-layer calibration: float inputs give the whole-model Hessians (CPU evaluator: bit for bit)", async () => {
  const { targets, whole, perLayer, info } = await bothHessians(cpuRuntimeFactory());
  assertEquals([info.mode, info.layerInputs, info.rows], ["per-layer", "float", whole.rows]);
  assert(info.segments >= 8, `${info.segments} segments`);
  assertEquals(perLayer.size, new Set(targets.map((t) => t.x)).size);
  for (const t of targets) assertEquals(perLayer.get(t.x), whole.hessians.get(t.x), t.node.name);
});

Deno.test("whole-model Hessians: batches folded on 2 workers give the serial Hessians bit for bit", async () => {
  const m = await normalizedLm();
  const { targets } = planShiftAdd(m.graph);
  const factory = cpuRuntimeFactory();
  const serial = await collectHessians(m, targets, ctxOf(factory));
  const pool = new WorkerPool({ threads: 2, minWeights: 0 });
  try {
    // 8 samples in batches of 4: the second batch's folds wait for the first's, run while the runtime works
    const two = await collectHessians(m, targets, { ...ctxOf(factory), pool });
    const inputs = new Set(targets.map((t) => t.x.name)).size;
    const s = pool.summary();
    assertEquals([s.workers, s.parallelJobs, s.serialJobs], [2, 2 * inputs, 0]);
    assertEquals(two.rows, serial.rows);
    for (const t of targets) assertEquals(two.hessians.get(t.x), serial.hessians.get(t.x), t.node.name);
  } finally {
    pool.close();
  }
});

Deno.test("per-layer GPTQ with float inputs equals whole-model GPTQ layer by layer (a shared Hessian is consumed by its last reader only)", async () => {
  // The CPU evaluator gives both modes the same Hessians bit for bit. Per layer they sit in float64 arenas,
  // which the last layer reading one (fc2, out-proj; q/k/v share theirs) factors in place: consuming it any
  // earlier would hand k and v a factor instead of H.
  const run = async (calibrate: "whole" | "per-layer") => {
    const pass = weightOnlyPass({ method: "gptq", bits: 4, calibrate, layerInputs: "float" });
    await runPipeline(await normalizedLm(), [pass], ctxOf(cpuRuntimeFactory(), 4));
    return pass.stats!.layers;
  };
  const [whole, perLayer] = [await run("whole"), await run("per-layer")];
  assertEquals(perLayer.map((l) => l.node), whole.map((l) => l.node));
  perLayer.forEach((l, i) => {
    assertEquals(l.relWeightError, whole[i]!.relWeightError, l.node);
    assertLess(
      Math.abs(l.relOutputError - whole[i]!.relOutputError),
      1e-9 * whole[i]!.relOutputError,
      l.node,
    );
  });
});

Deno.test("per-layer calibration: onnxruntime segments give the whole-model Hessians within float32 rounding", async () => {
  const { targets, whole, perLayer } = await bothHessians(ortRuntimeFactory({ intraOpNumThreads: 1 }));
  for (const t of targets) {
    const a = perLayer.get(t.x)!, b = whole.hessians.get(t.x)!;
    let num = 0, den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i]! - b[i]!) ** 2;
      den += b[i]! ** 2;
    }
    assertLess(Math.sqrt(num / den), 1e-5, t.node.name);
  }
});

Deno.test("per-layer GPTQ and ShiftAdd: valid models that onnxruntime runs, close to float and to whole-model calibration", async () => {
  const evalSet = textSource(evalText, { context: 128, maxSamples: 8 });
  const score = async (m: Model) => {
    const rt = await OrtRuntime.create(encodeModel(m), { intraOpNumThreads: 2 });
    const meter = new BitsPerByteMeter();
    for await (const b of evalSet.batches(8)) meter.add((await rt.run(b)).logits!, b.input_ids!);
    await rt.release();
    return meter.value;
  };
  const float = await score(await normalizedLm());
  const ort = ortRuntimeFactory({ intraOpNumThreads: 2 });
  const run = async (pass: ReturnType<typeof weightOnlyPass> | ReturnType<typeof shiftAddPass>) => {
    const m = await normalizedLm();
    const r = await runPipeline(m, [pass], ctxOf(ort, 8), { verifyEach: true });
    return { m, step: r.steps[0]! };
  };
  const gWhole = await run(weightOnlyPass({ method: "gptq", bits: 4, calibrate: "whole" }));
  const gLayer = await run(weightOnlyPass({ method: "gptq", bits: 4, calibrate: "per-layer" }));
  assertEquals(gWhole.step.calibration?.mode, "whole");
  assertEquals(gLayer.step.calibration?.mode, "per-layer");
  assertEquals(gLayer.step.calibration?.layerInputs, "quantized");
  assertEquals(opCounts(gLayer.m).MatMulNBits, 25);
  const [bw, bl] = [await score(gWhole.m), await score(gLayer.m)];
  assert(bl > float && bl < float + 0.1, `GPTQ per layer ${bl} vs float ${float}`);
  assertLess(Math.abs(bl - bw), 0.02, `per layer ${bl} vs whole ${bw}`);
  const sLayer = await run(shiftAddPass({ bits: 3, calibrate: "per-layer", layerInputs: "quantized" }));
  assertEquals(opCounts(sLayer.m).ShiftAddMatMul, 25);
  assertEquals(sLayer.step.calibration?.segments, gLayer.step.calibration?.segments);
  const bs = await score(sLayer.m);
  assert(bs > float && bs < float + 0.3, `ShiftAdd 3-bit per layer ${bs} vs float ${float}`);
});

Deno.test("per-layer calibration: auto by size, refusals with the reason", async () => {
  const m = await normalizedLm();
  const { targets } = planShiftAdd(m.graph);
  const auto = chooseCalibration(m, targets, "auto");
  assertEquals(auto.mode, "whole");
  assert(/^auto: weights \d+ MiB \+ Hessians \d+ MiB within 1024 MiB$/.test(auto.reason), auto.reason);
  await assertRejects(
    () => runPipeline(m, [shiftAddPass({ budget: 3, calibrate: "per-layer" })], ctxOf(cpuRuntimeFactory())),
    RangeError,
    "bit budget",
  );
  await assertRejects(
    () => calibratePerLayer(m, targets, { reporter: new RecordingReporter() }, () => new Map()),
    TypeError,
    "cannot run model segments",
  );
  // control flow: not cut (a segment would have to carry the subgraph's outer-scope reads), and said
  const cf = ifModel();
  const plan = planSegments(cf.graph);
  assertEquals(plan.segments.length, 1);
  assertEquals(plan.why?.includes("holds a subgraph"), true);
  await assertRejects(
    () => calibratePerLayer(cf, planShiftAdd(cf.graph).targets, ctxOf(cpuRuntimeFactory()), () => new Map()),
    RangeError,
    "Cannot calibrate per layer: node",
  );
});

Deno.test("quantize(): per-layer GPTQ through the API; whole-model load checks skipped above the limit, and said", async () => {
  const m = decodeModel(await Deno.readFile(repoPath("testdata/byte-lm-opt.onnx")));
  const report = await quantize(m, {
    method: "gptq",
    calib: repoPath("testdata/lm-calib.txt"),
    samples: 4,
    extra: { calibrate: "per-layer", layerInputs: "float" },
    maxWholeLoadBytes: 1e6,
  });
  const step = report.steps.find((s) => s.calibration)!;
  assertEquals([step.calibration!.mode, step.calibration!.layerInputs], ["per-layer", "float"]);
  assert(step.notes.some((n) => n.includes("per-layer,")), step.notes.join("; "));
  assertEquals(report.skippedChecks?.length, 2);
  assert(
    /^the float model \(\d+ MB\) was not loaded whole/.test(report.skippedChecks![0]!),
    report.skippedChecks![0],
  );
  // the check quantize() skipped, done here: the emitted model runs in onnxruntime
  const rt = await OrtRuntime.create(encodeModel(m));
  const ids =
    (await textSource(evalText, { context: 32, maxSamples: 1 }).batches(1)[Symbol.asyncIterator]().next())
      .value!;
  assert(((await rt.run(ids)).logits!.data as Float32Array).every(Number.isFinite));
  await rt.release();
});
