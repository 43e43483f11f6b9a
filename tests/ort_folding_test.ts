/**
 * The compact shiftkit formats cost no speed in onnxruntime: after it inlines the model-local functions,
 * its constant folding decodes ShiftAddMatMul / ShiftMatMul / ShiftConv weights once at session creation
 * (DESIGN.md "Emitted formats"). Checked on onnxruntime's optimized-model dump: none of the decode ops
 * survive, and the optimized session computes what the unoptimized one does. Latency: bench/latency.ts.
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import * as ort from "npm:onnxruntime-node@1.30.0";
import { intAttr, intsAttr } from "../onnx/attributes.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { Model } from "../onnx/ir.ts";
import { Op } from "../onnx/ops.ts";
import { silentReporter } from "../onnx/reporter.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { denseShiftPass } from "../passes/denseshift/dense_shift.ts";
import { shiftAddPass } from "../passes/shiftadd/shift_add.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { tensorSource } from "../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import { mulberry32 } from "../quant/_rng.ts";

const rand = (n: number, seed: number, scale = 1) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => scale * (r() * 2 - 1));
};

/** Ops that only the weight decodes use: none may be left after onnxruntime's optimizations. */
const DECODE_OPS = [
  "BitShift",
  "BitwiseAnd",
  "Pow",
  "CumSum",
  "ReduceSum",
  "ReduceProd",
  "Mod",
  "Range",
  "Gather",
];

/** Session at optimization level "all" with its optimized-model dump; op counts of the dump, outputs of both. */
async function optimized(m: Model, feeds: Record<string, ort.Tensor>) {
  const bytes = encodeModel(m);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/optimized.onnx`;
    const fast = await ort.InferenceSession.create(bytes, {
      graphOptimizationLevel: "all",
      intraOpNumThreads: 1,
      optimizedModelFilePath: path,
    });
    const plain = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "disabled" });
    const dump = decodeModel(await Deno.readFile(path));
    const ops = new Set(dump.graph.nodes.map((n) => n.opType));
    const a = (await fast.run(feeds))[fast.outputNames[0]!]!.data as Float32Array;
    const b = (await plain.run(feeds))[plain.outputNames[0]!]!.data as Float32Array;
    await fast.release();
    await plain.release();
    return { ops, functions: dump.functions.length, a, b };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

Deno.test("onnxruntime folds the ShiftAddMatMul decode at load (K = 20, not a multiple of 8)", async () => {
  const m = new Model();
  m.opsets.set("", 18);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["b", 3, 20] };
  g.inputs.push(x);
  const w1 = g.addInitializer("w1", makeTensor(DataType.FLOAT, [20, 16], rand(320, 1)));
  const w2 = g.addInitializer("w2", makeTensor(DataType.FLOAT, [16, 12], rand(192, 2)));
  const h = g.addNode(Op.MatMul.type, [x, w1], ["h"], { name: "mm1" }).outputs[0]!;
  const y = g.addNode(Op.MatMul.type, [h, w2], ["y"], { name: "mm2" }).outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: ["b", 3, 12] };
  g.outputs.push(y);
  const r = await shiftAddPass({ bits: 3, objective: "weight", groupSize: 8 }).run(m, {
    reporter: silentReporter,
  });
  assert(r.modified);
  assertEquals(g.nodes.map((n) => n.opType), ["ShiftAddMatMul", "ShiftAddMatMul"]);
  const feeds = { x: new ort.Tensor("float32", rand(2 * 3 * 20, 3), [2, 3, 20]) };
  const o = await optimized(m, feeds);
  for (const op of DECODE_OPS) assert(!o.ops.has(op), `${op} survived: ${[...o.ops].join(", ")}`);
  assert(o.ops.has("MatMul") && !o.ops.has("ShiftAddMatMul"), [...o.ops].join(", "));
  assertLess(maxRelDiff(o.a, o.b), 1e-5);
});

Deno.test("onnxruntime folds the ShiftConv / ShiftMatMul decode at load", async () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["N", 4, 6, 6] };
  g.inputs.push(x);
  const c = g.addNode(
    Op.Conv.type,
    [x, g.addInitializer("wc", makeTensor(DataType.FLOAT, [8, 4, 3, 3], rand(288, 4, 0.3)))],
    ["c"],
    { name: "conv", attrs: [intsAttr("pads", [1, 1, 1, 1]), intsAttr("kernel_shape", [3, 3])] },
  ).outputs[0]!;
  const f = g.addNode(Op.Flatten.type, [c], ["f"], { attrs: [intAttr("axis", 1)] }).outputs[0]!;
  const y = g.addNode(
    Op.MatMul.type,
    [f, g.addInitializer("wm", makeTensor(DataType.FLOAT, [288, 5], rand(1440, 5, 0.1)))],
    ["y"],
    { name: "matmul" },
  ).outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: ["N", 5] };
  g.outputs.push(y);
  const calib = makeTensor(DataType.FLOAT, [64, 4, 6, 6], rand(64 * 144, 6));
  const runtime = makePassRuntime(tensorSource(new Map([["x", calib]])), ortRuntimeFactory(), {
    batchSize: 64,
  });
  const r = await denseShiftPass({ bits: 4 }).run(m, { reporter: silentReporter, runtime });
  assert(r.modified);
  const types = g.nodes.map((n) => n.opType);
  assert(types.includes("ShiftConv") && types.includes("ShiftMatMul"), types.join(", "));
  const feeds = { x: new ort.Tensor("float32", rand(2 * 144, 7), [2, 4, 6, 6]) };
  const o = await optimized(m, feeds);
  for (const op of DECODE_OPS) assert(!o.ops.has(op), `${op} survived: ${[...o.ops].join(", ")}`);
  assert(!o.ops.has("ShiftConv") && !o.ops.has("ShiftMatMul"), [...o.ops].join(", "));
  assertLess(maxRelDiff(o.a, o.b), 1e-5);
});
