import { assert, assertEquals, assertLess, assertRejects, assertStringIncludes } from "@std/assert";
import { floatAttr, intAttr } from "../../onnx/attributes.ts";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import { Model } from "../../onnx/ir.ts";
import { MS_DOMAIN } from "../../onnx/ops.ts";
import { RecordingReporter } from "../../onnx/reporter.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import { mulberry32 } from "../../quant/_rng.ts";
import { quantErrorStats } from "../../quant/gptq.ts";
import { quantizeBlockwise } from "../../quant/weight_only.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { tensorSource, textSource } from "../../runtime/data/mod.ts";
import { BitsPerByteMeter } from "../../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../../runtime/ort.ts";
import { repoPath } from "../../tests/_models.ts";
import { opCounts } from "../../tests/_ort_compare.ts";
import { opsetUpgradePass } from "../normalize/mod.ts";
import { type PassContext, runPipeline } from "../pass.ts";
import { storageAccount } from "../storage.ts";
import { weightOnlyPass, type WeightOnlyPassOptions } from "./weight_only.ts";

const K = 64, N = 24, ROWS = 6;

function rand(seed: number, n: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** x -> MatMul(w1) -> Gemm(w2ᵀ, transB, bias c) -> Gemm(w3, alpha 0.5, beta 2, c3) -> y. */
function tinyModel(): { m: Model; w: Float32Array[]; c: Float32Array[] } {
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["rows", K] };
  g.inputs.push(x);
  const w1 = rand(1, K * K, 0.2), w2 = rand(2, N * K, 0.2), w3 = rand(3, N * N, 0.3);
  const c2 = rand(4, N), c3 = rand(5, N);
  const a = g.addNode("MatMul", [x, g.addInitializer("w1", makeTensor(DataType.FLOAT, [K, K], w1))], ["h1"], {
    name: "fc1",
  }).outputs[0]!;
  const b = g.addNode(
    "Gemm",
    [
      a,
      g.addInitializer("w2", makeTensor(DataType.FLOAT, [N, K], w2)),
      g.addInitializer("c2", makeTensor(DataType.FLOAT, [N], c2)),
    ],
    ["h2"],
    { name: "fc2", attrs: [intAttr("transB", 1)] },
  ).outputs[0]!;
  const y = g.addNode(
    "Gemm",
    [
      b,
      g.addInitializer("w3", makeTensor(DataType.FLOAT, [N, N], w3)),
      g.addInitializer("c3", makeTensor(DataType.FLOAT, [N], c3)),
    ],
    ["y"],
    { name: "fc3", attrs: [floatAttr("alpha", 0.5), floatAttr("beta", 2)] },
  ).outputs[0]!;
  for (const v of [a, b, y]) v.type = { elemType: DataType.FLOAT };
  y.type = { elemType: DataType.FLOAT, shape: ["rows", N] };
  g.outputs.push(y);
  return { m, w: [w1, w2, w3], c: [c2, c3] };
}

/** The model's math with Ŵ from quant/weight_only.ts (RTN, the same options): an independent reference. */
function reference(x: Float32Array, w: Float32Array[], c: Float32Array[], bits: number): Float32Array {
  const mm = (a: Float32Array, rows: number, k: number, wt: Float32Array, n: number) => {
    const q = quantizeBlockwise({ data: wt, rows: k, cols: n }, null, { bits, groupSize: 32 }).dequantized;
    const out = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += a[r * k + i]! * q[i * n + j]!;
        out[r * n + j] = s;
      }
    }
    return out;
  };
  const w2 = new Float32Array(K * N); // transB: stored N x K
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) w2[k * N + n] = w[1]![n * K + k]!;
  const h1 = mm(x, ROWS, K, w[0]!, K);
  const h2 = mm(h1, ROWS, K, w2, N).map((v, i) => v + c[0]![i % N]!);
  return mm(h2, ROWS, N, w[2]!, N).map((v, i) => 0.5 * v + 2 * c[1]![i % N]!);
}

async function runOrtAt(m: Model, x: Float32Array, level: "disabled" | "all"): Promise<Float32Array> {
  const rt = await OrtRuntime.create(encodeModel(m), { graphOptimizationLevel: level, intraOpNumThreads: 1 });
  try {
    return (await rt.run({ x: makeTensor(DataType.FLOAT, [ROWS, K], x) })).y!.data as Float32Array;
  } finally {
    await rt.release();
  }
}

function relErr(a: Float32Array, b: Float32Array): number {
  let e = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    e += (a[i]! - b[i]!) ** 2;
    s += b[i]! ** 2;
  }
  return Math.sqrt(e / s);
}

async function convert(m: Model, o: WeightOnlyPassOptions, ctx: Partial<PassContext> = {}) {
  const pass = weightOnlyPass(o);
  const pre = o.format === "qdq" ? [opsetUpgradePass(21)] : [];
  const r = await runPipeline(m, [...pre, pass], ctx, { verifyEach: true });
  return { step: r.steps.at(-1)!, stats: pass.stats! };
}

Deno.test("weight-only: structure — MatMulNBits as onnxruntime's quantizer writes it; Gemm bias, alpha, beta", async () => {
  const { m } = tinyModel();
  const { step } = await convert(m, { bits: 4 });
  assertEquals(opCounts(m), { MatMulNBits: 3, Mul: 2, Add: 1 });
  assertEquals(m.opsets.get(MS_DOMAIN), 1);
  const [n1, n2] = m.graph.nodes.filter((n) => n.opType === "MatMulNBits");
  assertEquals([
    n1!.domain,
    n1!.name,
    n1!.a.int("K"),
    n1!.a.int("N"),
    n1!.a.int("bits"),
    n1!.a.int("block_size"),
  ], [
    MS_DOMAIN,
    "fc1_Q4",
    K,
    K,
    4,
    32,
  ]);
  assert(!n1!.attrs.has("accuracy_level"));
  assertEquals(n1!.inputs.map((v) => v?.name), ["x", "w1_Q4", "w1_scales", "w1_zero_points"]);
  assertEquals(m.graph.initializers.find((v) => v.name === "w1_Q4")!.const!.dims, [K, 2, 16]);
  assertEquals(m.graph.initializers.find((v) => v.name === "w1_scales")!.const!.dims, [K * 2]);
  assertEquals(m.graph.initializers.find((v) => v.name === "w1_zero_points")!.const!.dims, [K * 1]);
  // fc2 (beta = 1, alpha = 1, C of shape [N]) takes C as the bias input (index 5).
  assertEquals(n2!.inputs.map((v) => v?.name ?? ""), [
    "h1",
    "w2_Q4",
    "w2_scales",
    "w2_zero_points",
    "",
    "c2",
  ]);
  assertEquals(
    m.graph.initializers.filter((v) => v.const?.dtype === DataType.FLOAT && v.const.dims.length === 2),
    [],
  );
  // Storage: per column and block of 32, 16 bytes of codes + a float32 scale, and 4-bit zero points packed per
  // column; fc3's K = 24 is one zero-padded block of 32.
  const bits = (k: number, n: number) =>
    n * Math.ceil(k / 32) * (16 * 8 + 32) + n * Math.ceil(Math.ceil(k / 32) / 2) * 8;
  const acc = storageAccount(m, step.storage!);
  assertEquals([acc.layers, acc.weights, acc.bits], [
    3,
    K * K + K * N + N * N,
    bits(K, K) + bits(K, N) + bits(N, N),
  ]);
  assertEquals(acc.perLayer[0]!.bitsPerWeight, 5.125);
  assertEquals(m.graph.nodes.filter((n) => n.opType === "MatMulNBits")[2]!.a.int("block_size"), 32);
  assertStringIncludes(step.notes.join("\n"), "RTN 4-bit asymmetric, group 32, MatMulNBits on 3 layers");
});

Deno.test("weight-only: numbers — onnxruntime runs both formats as the model's math (2, 3, 4, 8 bits)", async () => {
  const x = rand(9, ROWS * K);
  for (const bits of [2, 3, 4, 8] as const) {
    for (const format of ["nbits", "qdq"] as const) {
      if (format === "nbits" && bits === 3) continue;
      const { m, w, c } = tinyModel();
      await convert(m, { bits, format });
      assertEquals(verify(m), []);
      const want = reference(x, w, c, bits);
      for (const level of ["disabled", "all"] as const) {
        assertLess(relErr(await runOrtAt(m, x, level), want), 1e-5, `${format} ${bits}-bit ${level}`);
      }
      // The CPU evaluator (MatMulNBits through quant/matmul_nbits.ts) agrees too.
      const ev = evaluateModel(m, { x: makeTensor(DataType.FLOAT, [ROWS, K], x) }).y!.data as Float32Array;
      assertLess(relErr(ev, want), 1e-5, `evaluator ${format} ${bits}-bit`);
    }
  }
  // onnxruntime's default for the DequantizeLinear -> MatMulNBits fusion computes with int8 activations.
  const { m, w, c } = tinyModel();
  await convert(m, { bits: 4, format: "qdq" });
  const rt = await OrtRuntime.create(encodeModel(m), {
    qdqMatMulNBitsAccuracyLevel: 4,
    intraOpNumThreads: 1,
  });
  const got = (await rt.run({ x: makeTensor(DataType.FLOAT, [ROWS, K], x) })).y!.data as Float32Array;
  await rt.release();
  const e = relErr(got, reference(x, w, c, 4));
  assert(e > 1e-5 && e < 2e-2, `accuracy level 4: relative error ${e}`);
});

Deno.test("weight-only: GPTQ lowers the output error against RTN on calibration activations; exclude; refusals", async () => {
  const r = mulberry32(3);
  const mix = rand(4, K * K);
  const xs = new Float32Array(16 * ROWS * K);
  for (let row = 0; row < 16 * ROWS; row++) {
    const z = Float32Array.from({ length: K }, () => r() * 2 - 1);
    for (let j = 0; j < K; j++) {
      let s = z[j]!;
      for (let i = 0; i < 4; i++) s += z[(j + 5 * i) % K]! * mix[i * K + j]!;
      xs[row * K + j] = s * (1 + (j % 7));
    }
  }
  const data: Tensor = makeTensor(DataType.FLOAT, [16 * ROWS, K], xs);
  const ctx = () => ({
    reporter: new RecordingReporter(),
    runtime: makePassRuntime(tensorSource(new Map([["x", data]])), ortRuntimeFactory(), { batchSize: 4 }),
  });
  const rtn = await convert(tinyModel().m, { bits: 3, format: "qdq" }, ctx());
  const gptq = await convert(tinyModel().m, { method: "gptq", bits: 3, format: "qdq" }, ctx());
  const ao = await convert(tinyModel().m, { method: "gptq", bits: 3, format: "qdq", actOrder: true }, ctx());
  assertEquals(gptq.stats.calibrationRows, 16 * ROWS);
  for (const s of [gptq, ao]) {
    for (const l of s.stats.layers) assertLess(l.relOutputError, 0.5, l.node);
  }
  // fc1 sees the calibration activations directly: RTN's output error there, through H = XᵀX / rows.
  assert(Number.isNaN(rtn.stats.layers[0]!.relOutputError));
  const rows = 16 * ROWS, h = new Float64Array(K * K);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) h[i * K + j]! += xs[r * K + i]! * xs[r * K + j]! / rows;
    }
  }
  const w1 = tinyModel().w[0]!;
  const rtnQ = quantizeBlockwise({ data: w1, rows: K, cols: K }, null, { bits: 3, groupSize: 32 });
  const rtnOut = quantErrorStats(w1, rtnQ.dequantized, h, K, K, 0).relOutputError;
  assertLess(gptq.stats.layers[0]!.relOutputError, 0.8 * rtnOut);
  assertLess(ao.stats.layers[0]!.relOutputError, 0.8 * rtnOut);
  // qdq: DequantizeLinear feeds the MatMul / Gemm; opset 21.
  const q = tinyModel().m;
  await convert(q, { bits: 4, format: "qdq", exclude: ["fc3"] });
  assertEquals(opCounts(q), { DequantizeLinear: 2, MatMul: 1, Gemm: 2 });
  assertEquals(q.opset, 21);
  assertEquals(q.graph.nodes.find((n) => n.name === "fc2")!.a.int("transB", 0), 0);
  assertEquals(q.graph.initializers.find((v) => v.name === "w1_DQ_Q")!.const!.dtype, DataType.UINT4);
  const sym = tinyModel().m;
  await convert(sym, { bits: 4, format: "qdq", symmetric: true });
  assertEquals(sym.graph.initializers.find((v) => v.name === "w1_DQ_Q")!.const!.dtype, DataType.INT4);
  assert(!sym.graph.initializers.some((v) => v.name.endsWith("zero_points")));
  await assertRejects(
    () => convert(tinyModel().m, { bits: 3 }),
    RangeError,
    "does not run in onnxruntime 1.30",
  );
  await assertRejects(() => convert(tinyModel().m, { groupSize: 48 }), RangeError, "power of two");
  await assertRejects(() => convert(tinyModel().m, { groupSize: 512 }), RangeError, "16..256");
  await assertRejects(() => convert(tinyModel().m, { method: "gptq" }), TypeError, "no runtime");
});

Deno.test("weight-only: byte-lm-opt — both formats of the same RTN weights give the same bits/byte", async () => {
  const bytes = await Deno.readFile(repoPath("testdata/byte-lm-opt.onnx"));
  const evalSet = textSource(await Deno.readFile(repoPath("testdata/lm-eval.txt")), {
    context: 128,
    maxSamples: 32,
  });
  const score = async (m: Model) => {
    const rt = await OrtRuntime.create(encodeModel(m), { intraOpNumThreads: 2 });
    const meter = new BitsPerByteMeter();
    for await (const b of evalSet.batches(16)) meter.add((await rt.run(b)).logits!, b.input_ids!);
    await rt.release();
    return meter.value;
  };
  const nb = decodeModel(bytes), qd = decodeModel(bytes);
  await convert(nb, { bits: 4 });
  await convert(qd, { bits: 4, format: "qdq" });
  const [a, b, f] = [await score(nb), await score(qd), await score(decodeModel(bytes))];
  assertLess(Math.abs(a - b), 1e-4, `nbits ${a} vs qdq ${b}`);
  assert(a > f && a < f + 0.1, `4-bit ${a} vs float ${f}`);
});

Deno.test("weight-only: GPTQ on two layers sharing one input gives each the error of GPTQ on the direct hessian (whole and per layer)", async () => {
  // x -> MatMul(wa) -> a, x -> MatMul(wb) -> b, y = a + b: one hessian, two readers.
  const build = () => {
    const m = new Model();
    m.opsets.set("", 17);
    const g = m.graph;
    const x = g.value("x");
    x.type = { elemType: DataType.FLOAT, shape: ["rows", K] };
    g.inputs.push(x);
    const outs = ["wa", "wb"].map((name, i) =>
      g.addNode("MatMul", [
        x,
        g.addInitializer(name, makeTensor(DataType.FLOAT, [K, N], rand(20 + i, K * N))),
      ], [
        `h${i}`,
      ], { name: `fc${name.at(-1)}` }).outputs[0]!
    );
    const y = g.addNode("Add", outs, ["y"]).outputs[0]!;
    for (const v of outs) v.type = { elemType: DataType.FLOAT };
    y.type = { elemType: DataType.FLOAT, shape: ["rows", N] };
    g.outputs.push(y);
    return m;
  };
  const rows = 8 * ROWS, r = mulberry32(9);
  const xs = Float32Array.from({ length: rows * K }, (_, i) => (r() * 2 - 1) * (1 + (i % K) % 5));
  const h = new Float64Array(K * K);
  for (let q = 0; q < rows; q++) {
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) h[i * K + j]! += xs[q * K + i]! * xs[q * K + j]! / rows;
    }
  }
  const direct = ["wa", "wb"].map((_name, i) =>
    quantizeBlockwise({ data: rand(20 + i, K * N), rows: K, cols: N }, h, { bits: 3, groupSize: 32 }).stats
      .relOutputError
  );
  for (const calibrate of ["whole", "per-layer"] as const) {
    const ctx = {
      reporter: new RecordingReporter(),
      runtime: makePassRuntime(
        tensorSource(new Map([["x", makeTensor(DataType.FLOAT, [rows, K], xs)]])),
        ortRuntimeFactory(),
        { batchSize: 4 },
      ),
    };
    const { stats } = await convert(build(), { method: "gptq", bits: 3, format: "qdq", calibrate }, ctx);
    assertEquals(stats.layers.map((l) => l.node), ["fca", "fcb"]);
    // (The consume guard itself, readers sharing one segment: passes/sequential_test.ts.)
    stats.layers.forEach((l, i) => {
      assert(
        Math.abs(l.relOutputError - direct[i]!) < 0.02 * direct[i]!,
        `${calibrate} ${l.node}: ${l.relOutputError} vs ${direct[i]}`,
      );
    });
  }
});
