/**
 * int64 stays exact through the codec, the IR, constant folding, the opset upgrade and quantization: open-ended
 * slices (`ends` = INT64_MAX, `starts`/`ends` = INT64_MIN with a negative step) of opset 9, 10, 11 and 13
 * models, built with the IR here, checked against onnxruntime-node before and after upgrade / QDQ.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { InputModelError } from "../api/input_model.ts";
import { quantize } from "../api/quantize.ts";
import { exitCodeOf } from "../cli.ts";
import { InternalError } from "../onnx/errors.ts";
import { loadBuilt } from "../runtime/collect.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { Attrs, intAttr, intsAttr } from "../onnx/attributes.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { getOp } from "../onnx/evaluate/registry.ts";
import { Model } from "../onnx/ir.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../onnx/tensor.ts";
import { inferShapes } from "../onnx/infer.ts";
import { verify } from "../onnx/verify.ts";
import { foldConstants } from "../passes/normalize/constant_fold.ts";
import { upgradeOpset } from "../passes/normalize/opset_upgrade.ts";
import { mulberry32 } from "../quant/_rng.ts";
import { tensorSource } from "../runtime/data/mod.ts";
import { runOrt } from "./_ort_compare.ts";

const MAX = 2n ** 63n - 1n, MIN = -(2n ** 63n);
const i64 = (...v: bigint[]) => makeTensor(DataType.INT64, [v.length], BigInt64Array.from(v));

/**
 * x [N, 4, 8] -> a = x[:, :, 3:] (ends INT64_MAX), b = x[:, :2, :] (starts INT64_MIN), and from opset 10 also
 * c = x[:, ::-1, :] (starts INT64_MAX, ends INT64_MIN, step -1); each goes through a MatMul (weights to
 * quantize) to an output.
 */
function sliceModel(opset: number, batch: number | string = "N"): Model {
  const m = new Model();
  m.irVersion = opset >= 13 ? 7 : 5;
  m.opsets.set("", opset);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [batch, 4, 8] };
  g.inputs.push(x);
  const r = mulberry32(7);
  const w = (name: string, k: number) =>
    g.addInitializer(
      name,
      makeTensor(DataType.FLOAT, [k, 3], Float32Array.from({ length: k * 3 }, () => r() - 0.5)),
    );
  const slice = (name: string, starts: bigint[], ends: bigint[], axes: bigint[], steps?: bigint[]) => {
    if (opset < 10) {
      return g.addNode("Slice", [x], [name], {
        attrs: [intsAttr("starts", starts), intsAttr("ends", ends), intsAttr("axes", axes)],
      });
    }
    const ins = [
      x,
      g.addInitializer(`${name}_s`, i64(...starts)),
      g.addInitializer(`${name}_e`, i64(...ends)),
    ];
    ins.push(g.addInitializer(`${name}_a`, i64(...axes)));
    if (steps) ins.push(g.addInitializer(`${name}_st`, i64(...steps)));
    return g.addNode("Slice", ins, [name]);
  };
  const outs: [string, bigint[], bigint[], bigint[], number, bigint[]?][] = [
    ["a", [3n], [MAX], [2n], 5],
    ["b", [MIN], [2n], [1n], 8],
  ];
  if (opset >= 10) outs.push(["c", [MAX], [MIN], [1n], 8, [-1n]]);
  for (const [name, s, e, a, k, st] of outs) {
    const sl = slice(name, s, e, a, st);
    const mm = g.addNode("MatMul", [sl.outputs[0]!, w(`w_${name}`, k)], [`y_${name}`]);
    const y = mm.outputs[0]!;
    y.type = { elemType: DataType.FLOAT };
    g.outputs.push(y);
  }
  return m;
}

function feed(n: number, seed = 1): Record<string, Tensor> {
  const r = mulberry32(seed);
  return {
    x: makeTensor(DataType.FLOAT, [n, 4, 8], Float32Array.from({ length: n * 32 }, () => r() * 2 - 1)),
  };
}

const EXPECTED_DIMS: Record<string, number[]> = { y_a: [2, 4, 3], y_b: [2, 2, 3], y_c: [2, 4, 3] };

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

Deno.test("int64: INT64_MAX / INT64_MIN slice bounds survive encode -> decode exactly", () => {
  for (const opset of [9, 13]) {
    const m = decodeModel(encodeModel(sliceModel(opset)));
    const sl = m.graph.nodes.find((n) => n.opType === "Slice")!;
    const ends = opset < 10 ? sl.a.intsExact("ends") : [...(sl.input(2)!.const!.data as BigInt64Array)];
    assertEquals(ends.map(BigInt), [MAX]);
  }
});

for (const opset of [9, 10, 11, 13]) {
  Deno.test(`int64: opset ${opset} open-ended slices -> opset 13 keep INT64_MAX/MIN (onnxruntime)`, async () => {
    const m = sliceModel(opset);
    const f = feed(2);
    const want = await runOrt(m, f);
    for (const [k, t] of Object.entries(want)) assertEquals(t.dims, EXPECTED_DIMS[k], k);
    if (opset < 13) upgradeOpset(m, 13);
    assertEquals(m.opset, 13);
    assertEquals(verify(m), []);
    // structure: every Slice now takes int64 inputs, with the extreme bounds bit-exact
    const bounds = m.graph.nodes.filter((n) => n.opType === "Slice").map((n) =>
      [1, 2].map((i) => (n.input(i)!.const!.data as BigInt64Array)[0]!)
    );
    assertEquals(bounds.slice(0, 2), [[3n, MAX], [MIN, 2n]]);
    if (opset >= 10) assertEquals(bounds[2], [MAX, MIN]);
    // shape inference reads the extreme bounds right: a = x[:, :, 3:], b = x[:, :2, :], c = x[:, ::-1, :]
    inferShapes(m, { inputShapes: { x: [2, 4, 8] } });
    const shapes = m.graph.nodes.filter((n) => n.opType === "Slice").map((n) => n.outputs[0]!.type?.shape);
    assertEquals(shapes, [[2, 4, 5], [2, 2, 8], ...(opset >= 10 ? [[2, 4, 8]] : [])]);
    const got = await runOrt(decodeModel(encodeModel(m)), f);
    for (const [k, t] of Object.entries(want)) {
      assertEquals(got[k]!.dims, t.dims, k);
      assertEquals([...got[k]!.data], [...t.data], k);
    }
  });

  Deno.test(`int64: opset ${opset} open-ended slices quantize with QDQ and match float (onnxruntime)`, async () => {
    const m = sliceModel(opset);
    const evalFeed = feed(4, 99);
    const want = await runOrt(m, evalFeed);
    const calib = feed(16, 5).x!;
    await quantize(m, { method: "qdq", calib: tensorSource(new Map([["x", calib]])) });
    assert(m.graph.nodes.some((n) => n.opType === "QuantizeLinear"), "no QuantizeLinear emitted");
    const got = await runOrt(m, evalFeed);
    for (const [k, t] of Object.entries(want)) {
      assertEquals(got[k]!.dims, t.dims, k);
      const c = cosine(got[k]!, t);
      assert(c > 0.999, `${k}: cosine ${c}`);
    }
  });
}

Deno.test("int64: constant folding keeps int64 extremes exact (Concat, Range, ReduceSum/Max, Constant)", () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const a = g.addInitializer("a", i64(MAX - 2n));
  const b = g.addInitializer("b", i64(MIN));
  const cat = g.addNode("Concat", [a, b], ["cat"], { attrs: [intAttr("axis", 0)] });
  const lim = g.addInitializer("lim", makeTensor(DataType.INT64, [], BigInt64Array.of(MAX)));
  const st = g.addInitializer("st", makeTensor(DataType.INT64, [], BigInt64Array.of(MAX - 3n)));
  const one = g.addInitializer("one", makeTensor(DataType.INT64, [], BigInt64Array.of(1n)));
  const rng = g.addNode("Range", [st, lim, one], ["rng"]);
  const mx = g.addNode("ReduceMax", [rng.outputs[0]!], ["mx"], { attrs: [intAttr("keepdims", 0)] });
  const big = g.addInitializer("big", i64(2n ** 60n + 1n, 2n ** 60n + 1n));
  const sum = g.addNode("ReduceSum", [big], ["sum"], { attrs: [intAttr("keepdims", 0)] });
  for (const n of [cat, mx, sum]) {
    const y = g.addNode("Identity", [n.outputs[0]!], [`${n.outputs[0]!.name}_out`]).outputs[0]!;
    y.type = { elemType: DataType.INT64 };
    g.outputs.push(y);
  }
  assertEquals(foldConstants(m), 4);
  const val = (name: string) => [...(g.local(name)!.const!.data as BigInt64Array)];
  assertEquals(val("cat"), [MAX - 2n, MIN]);
  assertEquals(val("rng"), [MAX - 3n, MAX - 2n, MAX - 1n]);
  assertEquals(val("mx"), [MAX - 1n]);
  assertEquals(val("sum"), [2n ** 61n + 2n]);
  const c = getOp("", "Constant")(
    [],
    new Attrs(new Map([["value_int", intAttr("value_int", MAX)]]), "Constant"),
    {
      opset: 13,
    },
  )[0]!;
  assertEquals([...(c.data as BigInt64Array)], [MAX]);
  assertEquals(sizeOf(c.dims), 1);
});

/** x [2, 3] times a [4, 5] weight: onnxruntime refuses it at load (shape inference). */
function brokenModel(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [2, 3] };
  m.graph.inputs.push(x);
  const weights = Float32Array.from({ length: 20 }, (_, i) => ((i * 7) % 11) / 10 - 0.5);
  const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [4, 5], weights));
  const y = m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!;
  y.type = { elemType: DataType.FLOAT };
  m.graph.outputs.push(y);
  return m;
}

Deno.test("errors: a model shiftkit built that onnxruntime rejects is an InternalError (exit 3)", async () => {
  const e = await loadBuilt(ortRuntimeFactory(), brokenModel(), "calibration").then(() => null, (e) => e);
  assert(e instanceof InternalError, `got ${e}`);
  assertStringIncludes(e.message, "shiftkit bug");
  assertEquals(exitCodeOf(e), 3);
});

for (const method of ["qdq", "rtn"] as const) {
  // qdq fails at its calibration session, rtn (no calibration) at the emitted-model load check: both are
  // blamed on the input, which the runtime is then asked to load (api/_input_load.ts)
  Deno.test(`errors: a user model onnxruntime rejects is bad input (exit 2), never a shiftkit bug (${method})`, async () => {
    const calib = makeTensor(DataType.FLOAT, [8, 2, 3], new Float32Array(48));
    const e = await quantize(brokenModel(), { method, calib: tensorSource(new Map([["x", calib]])) })
      .then(
        () => null,
        (e) => e,
      );
    assert(e instanceof InputModelError, `got ${e}`);
    assertStringIncludes(e.message, "input model invalid: the float runtime cannot load it");
    assert(e.cause instanceof InternalError, `cause ${e.cause}`);
    assertEquals(exitCodeOf(e), 2);
  });
}
