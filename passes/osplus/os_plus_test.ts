import { assert, assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import { floatAttr, intAttr, intsAttr } from "../../onnx/attributes.ts";
import { encodeModel } from "../../onnx/codec.ts";
import { Model, type Value } from "../../onnx/ir.ts";
import { RecordingReporter } from "../../onnx/reporter.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { tensorSource, textSource } from "../../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { loadModelFile, repoPath } from "../../tests/_models.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { qdqPass } from "../qdq/insert_qdq.ts";
import { migrateOsPlus, OsPlusNoSiteError, osPlusPass, outlierRatio } from "./os_plus.ts";
import { findOsPlusSites, foldOsPlusSite } from "./os_plus_fold.ts";
import { runPipeline } from "../pass.ts";
import { mulberry32 } from "../../quant/_rng.ts";

const calibBytes = Deno.readFileSync(repoPath("testdata/lm-calib.txt"));
const evalBytes = Deno.readFileSync(repoPath("testdata/lm-eval.txt"));
const ctx = (windows: number) => ({
  reporter: new RecordingReporter(),
  runtime: makePassRuntime(
    textSource(calibBytes, { maxSamples: windows }),
    ortRuntimeFactory({ intraOpNumThreads: 2 }),
  ),
});

/** Max |a - b| over max |b|. */
function maxRel(a: Tensor, b: Tensor): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.data.length; i++) {
    d = Math.max(d, Math.abs(Number(a.data[i]) - Number(b.data[i])));
    m = Math.max(m, Math.abs(Number(b.data[i])));
  }
  return d / m;
}

/** Initializer name -> a copy of its float data. */
function snapshot(m: Model): Map<string, Float32Array> {
  return new Map(
    m.graph.initializers.filter((v) => v.const!.dtype === DataType.FLOAT).map((
      v,
    ) => [v.name, (v.const!.data as Float32Array).slice()]),
  );
}

Deno.test("os-plus: folded float byte-lm-opt-outliers equals the original within 1e-5 (onnxruntime, real text)", async () => {
  const ref = await loadModelFile("byte-lm-opt-outliers");
  const m = await loadModelFile("byte-lm-opt-outliers");
  const before = snapshot(m);
  const nodesBefore = m.graph.nodes.map((n) => n.name);
  const res = await migrateOsPlus(m, ctx(4), {
    quantize: false,
    gridSteps: 3,
    calibTokens: 32,
    activationBits: 6,
    weightBits: 6,
  });
  assertEquals(verify(m), []);

  // Sites: ln1 (Q, K, V) and ln2 (FC1) of 4 blocks, and the final norm (LM head): nothing skipped.
  assertEquals(res.sites.length, 9);
  assertEquals(res.skipped, []);
  assertEquals(res.sites.map((s) => s.consumers.length), [3, 1, 3, 1, 3, 1, 3, 1, 1]);
  for (const s of res.sites) {
    assertEquals(s.channels, 256);
    assert(s.scale.every((v) => v >= 1), `${s.name}: scales >= 1`);
    assert(
      s.scale.some((v) => v > 1.5) && s.shift.some((z) => Math.abs(z) > 0.5),
      `${s.name}: a real migration`,
    );
    assert(
      s.outlierRatioBefore > 10 && s.outlierRatioAfter < s.outlierRatioBefore,
      `${s.name} outlier ratio`,
    );
    assert(s.loss <= s.lossShiftOnly);
  }

  // Structure: no new node except the bias Add of the LM head (its MatMul had no bias); names kept.
  const added = m.graph.nodes.filter((n) => !nodesBefore.includes(n.name));
  assertEquals(added.map((n) => n.opType), ["Add"]);
  assertEquals(added[0]!.outputs[0]!.name, "logits");
  assertEquals(m.graph.outputs.map((v) => v.name), ["logits"]);
  assertEquals(res.sites.flatMap((s) => s.createdNodes), [added[0]!.name]);
  // Changed initializers: exactly the gammas / betas, the consumer weights and their biases.
  const after = snapshot(m);
  const changed = [...before].filter(([k, v]) => !after.has(k) || after.get(k)!.some((x, i) => x !== v[i]))
    .map(([k]) => k).sort();
  const created = [...after.keys()].filter((k) => !before.has(k));
  const expected = new Set<string>();
  for (const s of findOsPlusSites(ref.graph).sites) {
    for (const v of [s.norm!.gamma, s.norm!.beta] as Value[]) expected.add(v.name);
    for (const c of s.consumers) {
      expected.add(c.weight.name);
      const add = c.node.outputs[0]!.consumers()[0];
      if (add?.opType === "Add") expected.add(add.inputs.find((v) => v!.isConst)!.name);
    }
  }
  assertEquals(changed, [...expected].sort());
  assertEquals(changed.length, 9 * 2 + 17 + 16);
  assertEquals(created.length, 1);
  assertEquals(after.get(created[0]!)!.length, 256);

  // Float equivalence on real windows of lm-eval.txt.
  const ids = new BigInt64Array(4 * 128);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(evalBytes[i]!);
  const feeds = { input_ids: makeTensor(DataType.INT64, [4, 128], ids) };
  const want = (await runOrt(ref, feeds)).logits!;
  const got = (await runOrt(m, feeds)).logits!;
  const e = maxRel(got, want);
  assert(e <= 1e-5, `max relative difference ${e}`);
});

type Kind = "fused" | "decomposed" | "rms";
const C = 8;

/**
 * x[n, 8] -> norm -> y; y -> MatMul(w1) -> Add(b1) -> out1; y -> MatMul(w2) -> out2 (no bias);
 * y -> Gemm(w3, transB, alpha 0.5, no C) -> out3; optionally y -> Add(x, y) -> res (a residual).
 */
function synthetic(kind: Kind, opts: { gamma: boolean; beta: boolean; residual?: boolean }): Model {
  const r = mulberry32(11);
  const rand = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["n", C] };
  g.inputs.push(x);
  const f = (name: string, dims: number[], data: Float32Array) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, dims, data));
  // Channel 2 carries a large, asymmetric outlier through gamma and beta (as in LLM norm outputs).
  const gammaData = rand(C, 0.5, 2), betaData = rand(C);
  gammaData[2] = 40;
  betaData[2] = 25;
  let y: Value;
  if (kind === "fused") {
    const ins = [x, f("gamma", [C], gammaData), ...(opts.beta ? [f("beta", [C], betaData)] : [])];
    y = g.addNode("LayerNormalization", ins, ["y"], { attrs: [floatAttr("epsilon", 1e-5)] }).outputs[0]!;
  } else {
    const axes = [intsAttr("axes", [-1])];
    let num: Value = x, sq: Value;
    if (kind === "decomposed") {
      const mean = g.addNode("ReduceMean", [x], ["mean"], { attrs: axes }).outputs[0]!;
      num = g.addNode("Sub", [x, mean], ["d"]).outputs[0]!;
      sq = g.addNode("Pow", [num, f("two", [], Float32Array.of(2))], ["sq"]).outputs[0]!;
    } else sq = g.addNode("Mul", [x, x], ["sq"]).outputs[0]!;
    const v = g.addNode("ReduceMean", [sq], ["var"], { attrs: axes }).outputs[0]!;
    const ve = g.addNode("Add", [v, f("eps", [], Float32Array.of(1e-5))], ["ve"]).outputs[0]!;
    const sd = g.addNode("Sqrt", [ve], ["sd"]).outputs[0]!;
    y = g.addNode("Div", [num, sd], ["n"]).outputs[0]!;
    if (opts.gamma) y = g.addNode("Mul", [y, f("gamma", [1, C], gammaData)], ["ng"]).outputs[0]!;
    if (opts.beta) y = g.addNode("Add", [y, f("beta", [C], betaData)], ["nb"]).outputs[0]!;
  }
  const mm = g.addNode("MatMul", [y, f("w1", [C, 5], rand(C * 5))], ["mm"]).outputs[0]!;
  g.outputs.push(g.addNode("Add", [f("b1", [5], rand(5)), mm], ["out1"]).outputs[0]!);
  g.outputs.push(g.addNode("MatMul", [y, f("w2", [C, 4], rand(C * 4))], ["out2"]).outputs[0]!);
  const gemmAttrs = [intAttr("transB", 1), floatAttr("alpha", 0.5)];
  g.outputs.push(
    g.addNode("Gemm", [y, f("w3", [6, C], rand(6 * C))], ["out3"], { attrs: gemmAttrs }).outputs[0]!,
  );
  if (opts.residual) g.outputs.push(g.addNode("Add", [x, y], ["res"]).outputs[0]!);
  for (const o of g.outputs) o.type = { elemType: DataType.FLOAT };
  return m;
}

function inputs(n: number, seed: number): Tensor {
  const r = mulberry32(seed);
  return makeTensor(DataType.FLOAT, [n, C], Float32Array.from({ length: n * C }, () => 4 * r() - 2));
}

const CASES: [Kind, { gamma: boolean; beta: boolean }, string[]][] = [
  ["fused", { gamma: true, beta: true }, ["Add"]],
  ["fused", { gamma: true, beta: false }, ["Add"]],
  ["decomposed", { gamma: true, beta: true }, ["Add"]],
  ["decomposed", { gamma: true, beta: false }, ["Add", "Add"]],
  ["decomposed", { gamma: false, beta: true }, ["Add", "Mul"]],
  ["decomposed", { gamma: false, beta: false }, ["Add", "Add", "Mul"]],
  ["rms", { gamma: true, beta: false }, []],
  ["rms", { gamma: false, beta: false }, ["Mul"]],
];

for (const [kind, opts, createdOps] of CASES) {
  Deno.test(`os-plus: fold keeps the float function (${kind}, gamma ${opts.gamma}, beta ${opts.beta})`, async () => {
    const m = synthetic(kind, opts);
    const feeds = { x: inputs(5, 3) };
    const want = await runOrt(m, feeds);
    const { sites, skipped } = findOsPlusSites(m.graph);
    assertEquals([sites.length, skipped.length], [1, 0]);
    const site = sites[0]!;
    assertEquals([site.norm!.kind, site.channels, site.consumers.map((c) => c.node.opType)], [kind, C, [
      "MatMul",
      "MatMul",
      "Gemm",
    ]]);
    const r = mulberry32(5);
    const shift = Float32Array.from({ length: C }, () => (kind === "rms" ? 0 : 2 * r() - 1));
    const scale = Float32Array.from({ length: C }, () => 1 + 3 * r());
    const nodes = m.graph.nodes.length;
    const ch = foldOsPlusSite(site, shift, scale);
    m.graph.sort();
    assertEquals(verify(m), []);
    // Only the documented additions: the missing bias Add of the bias-less MatMul (when shifting) and, for
    // a decomposed norm without gamma / beta, the per-channel Mul / Add that carries 1 / s and -z / s.
    assertEquals(
      ch.createdNodes.map((n) => m.graph.nodes.find((x) => x.name === n)!.opType).sort(),
      [...createdOps].sort(),
    );
    assertEquals(m.graph.nodes.length, nodes + createdOps.length);
    assertEquals(m.graph.outputs.map((v) => v.name), ["out1", "out2", "out3"]);
    const got = await runOrt(m, feeds);
    for (const k of ["out1", "out2", "out3"]) {
      const e = maxRel(got[k]!, want[k]!);
      assert(e <= 1e-5, `${k}: max relative difference ${e}`);
    }
  });
}

Deno.test("os-plus: with residual compensation off, a norm feeding a residual Add is skipped; no site fails unless allowed", async () => {
  const m = synthetic("fused", { gamma: true, beta: true, residual: true });
  const { sites, skipped } = findOsPlusSites(m.graph, { compensateResidual: false });
  assertEquals(sites.length, 0);
  assertEquals(skipped.length, 1);
  assert(/residual/.test(skipped[0]!.reason) && skipped[0]!.reason.includes(`Add "`), skipped[0]!.reason);
  assertEquals(findOsPlusSites(m.graph).sites[0]!.residual.map((n) => n.opType), ["Add"]);
  const bytes = encodeModel(m);
  const reporter = new RecordingReporter();
  const runtime = makePassRuntime(tensorSource(new Map([["x", inputs(16, 1)]])), ortRuntimeFactory());
  const strict = osPlusPass({ quantize: false, compensateResidual: false });
  const err = await assertRejects(() => runPipeline(m, [strict], { reporter, runtime }), OsPlusNoSiteError);
  assert(err.message.includes("no site") && err.message.includes("residual"), err.message);
  const pass = osPlusPass({ quantize: false, compensateResidual: false, allowNoSites: true });
  const res = await runPipeline(m, [pass], { reporter, runtime });
  assertEquals(res.modified, false);
  assertEquals(res.steps[0]!.notes[0], "0 site(s) migrated, 1 norm(s) skipped");
  assert(res.steps[0]!.notes.some((n) => n.startsWith("skipped") && n.includes("residual")));
  assert(reporter.warnings.some((w) => w.includes("residual")));
  assertEquals(encodeModel(m), bytes);
});

Deno.test("os-plus: Shape readers of the norm output do not block a site (PP-OCRv4 rec reshapes Q, K, V so)", () => {
  const m = synthetic("decomposed", { gamma: true, beta: true });
  const y = findOsPlusSites(m.graph).sites[0]!.output;
  m.graph.outputs.push(m.graph.addNode("Shape", [y], ["shape"]).outputs[0]!);
  const { sites } = findOsPlusSites(m.graph);
  assertEquals(sites.map((s) => s.consumers.length), [3]);
  m.graph.addNode("Relu", [y], ["relu"]);
  const again = findOsPlusSites(m.graph);
  assertEquals(again.sites.length, 0);
  assert(again.skipped[0]!.reason.includes(`Relu "`), again.skipped[0]!.reason);
});

Deno.test("os-plus: the pass migrates and quantizes a decomposed-norm model; W8A8 stays close to float", async () => {
  const m = synthetic("decomposed", { gamma: true, beta: true });
  const feeds = { x: inputs(32, 9) };
  const want = await runOrt(m, feeds);
  const runtime = makePassRuntime(tensorSource(new Map([["x", inputs(64, 2)]])), ortRuntimeFactory());
  const pass = osPlusPass({ weightBits: 8, activationBits: 8, gridSteps: 20 });
  const qdqOnly = synthetic("decomposed", { gamma: true, beta: true });
  await runPipeline(qdqOnly, [qdqPass({ weightBits: 8, activationBits: 8 })], { runtime });
  await runPipeline(m, [pass], { runtime }, { verifyEach: true });
  const site = pass.result!.sites[0]!;
  assert(
    site.scale[2]! > 1 && site.outlierRatioAfter < site.outlierRatioBefore / 2,
    JSON.stringify(site.scale),
  );
  assertEquals(pass.stats!.weights, 3);
  const got = await runOrt(m, feeds), base = await runOrt(qdqOnly, feeds);
  for (const k of ["out1", "out2", "out3"]) {
    const eOs = maxRel(got[k]!, want[k]!), eQdq = maxRel(base[k]!, want[k]!);
    assert(eOs < 0.05 && eOs < eQdq, `${k}: OS+ ${eOs}, QDQ ${eQdq}`);
  }
});

Deno.test("os-plus: outlierRatio is max over median of per-channel ranges", () => {
  assertAlmostEquals(outlierRatio([-1, -2, -1, -10], [1, 2, 1, 10]), 20 / 3, 1e-12);
  assertEquals(outlierRatio([0, 0, 0], [1, 1, 1]), 1);
});
