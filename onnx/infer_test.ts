import { assert, assertEquals } from "@std/assert";
import { intAttr, intsAttr } from "./attributes.ts";
import { inferShapes, mergeType } from "./infer.ts";
import { Model } from "./ir.ts";
import { DataType, makeTensor } from "./tensor.ts";
import { loadModelFile, type ModelName } from "../tests/_models.ts";
import { MODEL_INPUTS, randomFeeds, runOrt } from "../tests/_ort_compare.ts";
import { encodeModel } from "./codec.ts";

/**
 * Infer with fixed input shapes, then run onnxruntime with every node output exposed and compare each
 * fully static inferred shape with the real one. Returns [values checked, values with a static shape].
 */
async function checkAgainstOrt(name: ModelName): Promise<[number, number]> {
  const m = await loadModelFile(name);
  const shapes = Object.fromEntries(Object.entries(MODEL_INPUTS[name]).map(([k, v]) => [k, v.dims]));
  inferShapes(m, { inputShapes: shapes });
  const probe = await loadModelFile(name);
  const inferred = new Map<string, (number | string | null)[] | undefined>();
  let total = 0;
  for (const n of m.graph.nodes) {
    if (n.opType === "Constant") continue;
    for (const o of n.outputs) {
      if (!o.name || o.isGraphOutput) continue;
      total++;
      const pv = probe.graph.lookup(o.name)!;
      pv.type = { elemType: o.type?.elemType ?? DataType.FLOAT };
      probe.graph.outputs.push(pv);
      inferred.set(o.name, o.type?.shape);
    }
  }
  const got = await runOrt(encodeModel(probe), randomFeeds(m, MODEL_INPUTS[name]));
  let static_ = 0;
  for (const [k, s] of inferred) {
    if (!s || !s.every((d) => typeof d === "number")) continue;
    static_++;
    assertEquals(s, got[k]!.dims, `shape of "${k}"`);
    assertEquals(m.graph.lookup(k)!.type!.elemType, got[k]!.dtype, `type of "${k}"`);
  }
  return [total, static_];
}

for (
  const [name, minStatic] of [["byte-lm-opt", 1], ["segmenter-tiny", 0.7], ["ppocr-rec", 0.95], [
    "ppocr-cls",
    1,
  ]] as const
) {
  Deno.test(`inferShapes: ${name} with fixed input shapes matches onnxruntime on every static value`, async () => {
    const [total, stat] = await checkAgainstOrt(name);
    assert(stat / total >= minStatic, `${stat} of ${total} values static`);
  });
}

Deno.test("inferShapes: symbolic dims survive, known dims are never made worse", () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 3, 8, 8] };
  g.inputs.push(x);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [4, 3, 3, 3]));
  const c = g.addNode("Conv", [x, w], ["c"], {
    attrs: [intsAttr("strides", [2, 2]), intsAttr("pads", [1, 1, 1, 1])],
  });
  const f = g.addNode("Flatten", [c.outputs[0]!], ["f"], { attrs: [intAttr("axis", 1)] });
  const sm = g.addNode("Softmax", [f.outputs[0]!], ["y"]);
  const y = sm.outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: ["batch", 64] }; // already known from value_info
  g.outputs.push(y);
  inferShapes(m);
  assertEquals(c.outputs[0]!.type, { elemType: DataType.FLOAT, shape: ["batch", 4, 4, 4] });
  assertEquals(f.outputs[0]!.type, { elemType: DataType.FLOAT, shape: [null, 64] });
  assertEquals(y.type, { elemType: DataType.FLOAT, shape: ["batch", 64] });
  assertEquals(mergeType({ elemType: 1, shape: [2, "n"] }, { elemType: 1, shape: [null, 5] }), {
    elemType: 1,
    shape: [2, 5],
  });
  assertEquals(mergeType({ elemType: 1, shape: [2] }, { elemType: 1, shape: [2, 3] }), {
    elemType: 1,
    shape: [2],
  });
});

Deno.test("inferShapes: quantized ops, Reshape through a Shape chain, Resize with scales", () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["n", 6, 4] };
  g.inputs.push(x);
  const scale = g.addInitializer("s", makeTensor(DataType.FLOAT, [], Float32Array.of(0.1)));
  const zp = g.addInitializer("zp", makeTensor(DataType.INT8, [], Int8Array.of(0)));
  const q = g.addNode("QuantizeLinear", [x, scale, zp], ["q"]);
  const wq = g.addInitializer("wq", makeTensor(DataType.INT8, [4, 5]));
  const mmi = g.addNode("MatMulInteger", [q.outputs[0]!, wq], ["mmi"]);
  const dq = g.addNode("DequantizeLinear", [q.outputs[0]!, scale, zp], ["dq"]);
  const shp = g.addNode("Shape", [x], ["shp"]);
  const i0 = g.addInitializer("i0", makeTensor(DataType.INT64, [1], BigInt64Array.of(0n)));
  const n0 = g.addNode("Gather", [shp.outputs[0]!, i0], ["n0"], { attrs: [intAttr("axis", 0)] });
  const m1 = g.addInitializer("m1", makeTensor(DataType.INT64, [1], BigInt64Array.of(-1n)));
  const cat = g.addNode("Concat", [n0.outputs[0]!, m1], ["cat"], { attrs: [intAttr("axis", 0)] });
  const r = g.addNode("Reshape", [dq.outputs[0]!, cat.outputs[0]!], ["r"]);
  const x4 = g.addNode("Unsqueeze", [
    x,
    g.addInitializer("ax", makeTensor(DataType.INT64, [1], BigInt64Array.of(1n))),
  ], ["x4"]);
  const sc = g.addInitializer("sc", makeTensor(DataType.FLOAT, [4], Float32Array.of(1, 1, 2, 1.5)));
  const rs = g.addNode("Resize", [x4.outputs[0]!, null, sc], ["rs"]);
  inferShapes(m);
  assertEquals(q.outputs[0]!.type, { elemType: DataType.INT8, shape: ["n", 6, 4] });
  assertEquals(mmi.outputs[0]!.type, { elemType: DataType.INT32, shape: ["n", 6, 5] });
  assertEquals(dq.outputs[0]!.type, { elemType: DataType.FLOAT, shape: ["n", 6, 4] });
  assertEquals(r.outputs[0]!.type, { elemType: DataType.FLOAT, shape: ["n", null] });
  assertEquals(rs.outputs[0]!.type, { elemType: DataType.FLOAT, shape: ["n", 1, 12, 6] });
  inferShapes(m, { inputShapes: { x: [2, 6, 4] } });
  assertEquals(r.outputs[0]!.type!.shape, [2, 24]);
});

Deno.test("inferShapes: initializers are typed from their dims, weights are never decoded (lazily read models)", () => {
  const m = new Model();
  m.opsets.set("", 17);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [2, 64] };
  m.graph.inputs.push(x);
  // A 64 x 32 weight and a 2-element shape, both encoded only: decoding the weight is what must not happen.
  let decoded = 0;
  const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [1], new Float32Array(1)));
  w.setEncodedConst({ data_type: DataType.FLOAT, dims: [64, 32] }, () => {
    decoded++;
    return makeTensor(DataType.FLOAT, [64, 32], new Float32Array(64 * 32));
  });
  w.type = undefined;
  const shape = m.graph.addInitializer("s", makeTensor(DataType.INT64, [2], new BigInt64Array([4n, 16n])));
  const y = m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!;
  const z = m.graph.addNode("Reshape", [y, shape], ["z"]).outputs[0]!;
  m.graph.outputs.push(z);
  inferShapes(m);
  assertEquals(decoded, 0);
  assertEquals(w.type, { elemType: DataType.FLOAT, shape: [64, 32] });
  assertEquals(y.type?.shape, [2, 32]);
  assertEquals(z.type?.shape, [4, 16]);
});
