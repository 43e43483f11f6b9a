/**
 * The integer ops an integer-only conversion emits besides the shiftkit ones, each run by its GPU kernel in
 * the validating executor and compared with the CPU evaluator: batched / broadcast MatMulInteger (3-D and 4-D,
 * uint8 and per-row zero points), integer Add/Sub/Mul/Div/Mod (both fmod) with broadcasting on every held
 * integer type, Cast, every data-movement op through the gather kernel (Concat, Split, nearest Resize, ...),
 * and ShiftConv (float, within its spec's tolerance).
 */
import { assert, assertEquals } from "@std/assert";
import { intAttr, intsAttr, stringAttr } from "../onnx/attributes.ts";
import { Model, type Value } from "../onnx/ir.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import { packBits } from "../quant/bitpack.ts";
import { noGpuNotice, randomInts, Rng } from "./_test_util.ts";
import { executeModel } from "./executor.ts";

const noGpu = await noGpuNotice("executor_integer_ops_test.ts");

type Attr = ReturnType<typeof intAttr>;

function builder() {
  const m = new Model();
  m.opsets.set("", 13);
  m.opsets.set("shiftkit", 1);
  const g = m.graph;
  let n = 0;
  const node = (op: string, ins: (Value | undefined)[], attrs: Attr[] = [], outs = 1, domain = "") =>
    g.addNode(op, ins as Value[], Array.from({ length: outs }, () => `v${n++}`), {
      domain,
      attrs,
      name: `${op}_${n}`,
    })
      .outputs;
  const init = (t: Tensor) => g.addInitializer(`c${n++}`, t);
  const input = (name: string) => {
    const v = g.value(name);
    g.inputs.push(v);
    return v;
  };
  return { m, g, node, init, input };
}

/** Run on the GPU executor and the CPU evaluator; every node must run on the GPU and agree. */
async function checkAllOnGpu(m: Model, feeds: Record<string, Tensor>, expectOps: string[]) {
  const want = evaluateModel(m, feeds);
  const r = await executeModel(m, feeds);
  for (const [k, t] of Object.entries(want)) assertEquals(r.outputs[k]!.data, t.data, k);
  const kernelNodes = r.records.filter((x) => x.role === "kernel");
  for (const rec of kernelNodes) {
    assertEquals([rec.op, rec.device, rec.fallback ?? "", rec.compared, rec.withinTolerance], [
      rec.op,
      "gpu",
      "",
      true,
      true,
    ], JSON.stringify(rec));
    if (rec.integer) assert(rec.exact, rec.node);
  }
  for (const op of expectOps) assert(kernelNodes.some((x) => x.op === op), `${op} did not run`);
}

Deno.test({
  name: "GPU executor: batched and broadcast MatMulInteger (3-D, 4-D, rank 1, uint8, per-row zero points)",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(3);
    const { m, g, node, init, input } = builder();
    const a = input("a"), b = input("b"), u = input("u");
    const y1 = node("MatMulInteger", [a, b])[0]!; // [2,3,5,7] x [2,3,7,4]
    const bBroadcast = init(makeTensor(DataType.INT8, [1, 7, 4], randomInts(rng, 28, 8)));
    const y2 = node("MatMulInteger", [
      a,
      bBroadcast,
      init(makeTensor(DataType.INT8, [], new Int8Array([-3]))),
    ])[0]!;
    // uint8 A [3, 5, 7] with per-row a_zero_point [5] and a per-column b_zero_point [4]
    const zaRow = init(makeTensor(DataType.UINT8, [5], new Uint8Array([0, 1, 128, 200, 255])));
    const bu = init(makeTensor(DataType.INT8, [3, 7, 4], randomInts(rng, 84, 8)));
    const zb = init(makeTensor(DataType.INT8, [4], new Int8Array([1, -1, 127, -128])));
    const y3 = node("MatMulInteger", [u, bu, zaRow, zb])[0]!;
    const vec = init(makeTensor(DataType.INT8, [7], randomInts(rng, 7, 8)));
    const y4 = node("MatMulInteger", [vec, b])[0]!; // rank-1 A
    g.outputs.push(y1, y2, y3, y4);
    const feeds = {
      a: makeTensor(DataType.INT8, [2, 3, 5, 7], randomInts(rng, 210, 8)),
      b: makeTensor(DataType.INT8, [2, 3, 7, 4], randomInts(rng, 168, 8)),
      u: makeTensor(DataType.UINT8, [3, 5, 7], Uint8Array.from(randomInts(rng, 105, 8))),
    };
    await checkAllOnGpu(m, feeds, ["MatMulInteger"]);
  },
});

Deno.test({
  name:
    "GPU executor: integer Add/Sub/Mul/Div/Mod with broadcasting and edge values, and Cast, on every type",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(5);
    const { m, g, node, init, input } = builder();
    const types: [DataType, 8 | 16 | 32][] = [[DataType.INT8, 8], [DataType.INT16, 16], [DataType.INT32, 32]];
    const feeds: Record<string, Tensor> = {};
    for (const [dt, bits] of types) {
      const x = input(`x${bits}`);
      feeds[`x${bits}`] = makeTensor(dt, [3, 4, 5], randomInts(rng, 60, bits));
      const row = randomInts(rng, 5, bits).map((v) => v === 0 ? 3 : v);
      const c = init(makeTensor(dt, [5], row)); // broadcast along the last axis
      const col = init(makeTensor(dt, [3, 1, 1], randomInts(rng, 3, bits)));
      for (const op of ["Add", "Sub", "Mul", "Div"]) {
        g.outputs.push(node(op, [x, c])[0]!, node(op, [col, x])[0]!);
      }
      g.outputs.push(node("Mod", [x, c])[0]!, node("Mod", [x, c], [intAttr("fmod", 1)])[0]!);
      g.outputs.push(
        node("Div", [
          x,
          init(
            makeTensor(
              dt,
              [],
              new (dt === DataType.INT8 ? Int8Array : dt === DataType.INT16 ? Int16Array : Int32Array)([-1]),
            ),
          ),
        ])[0]!,
      );
      for (
        const to of [
          DataType.INT8,
          DataType.UINT8,
          DataType.INT16,
          DataType.UINT16,
          DataType.INT32,
          DataType.FLOAT,
        ]
      ) {
        g.outputs.push(node("Cast", [x], [intAttr("to", to)])[0]!);
      }
    }
    const u = input("u8");
    feeds.u8 = makeTensor(DataType.UINT8, [6], new Uint8Array([0, 1, 127, 128, 200, 255]));
    const u2 = init(makeTensor(DataType.UINT8, [6], new Uint8Array([3, 255, 2, 129, 0, 7])));
    for (const op of ["Add", "Sub", "Mul", "Div", "Mod"]) g.outputs.push(node(op, [u, u2])[0]!);
    await checkAllOnGpu(m, feeds, ["Add", "Sub", "Mul", "Div", "Mod", "Cast"]);
  },
});

Deno.test({
  name:
    "GPU executor: data movement (Reshape, Transpose, Concat, Split, Slice, Gather, Expand, nearest Resize...)",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(7);
    const { m, g, node, init, input } = builder();
    const x = input("x");
    const i64 = (dims: number[], v: number[]) =>
      init(makeTensor(DataType.INT64, dims, BigInt64Array.from(v.map(BigInt))));
    const t = node("Transpose", [x], [intsAttr("perm", [0, 2, 3, 1])])[0]!; // [1, 4, 6, 3]
    const r = node("Reshape", [t, i64([2], [4, 18])])[0]!;
    const [s0, s1] = node("Split", [r, i64([2], [7, 11])], [intAttr("axis", 1)], 2) as [Value, Value];
    const c = node("Concat", [s1, s0, r], [intAttr("axis", 1)])[0]!; // [4, 36]
    const sl = node("Slice", [
      c,
      i64([2], [1, 2]),
      i64([2], [4, 30]),
      i64([2], [0, 1]),
      i64([2], [2, 3]),
    ])[0]!;
    const ga = node("Gather", [x, i64([2], [2, 0])], [intAttr("axis", 1)])[0]!;
    const ex = node("Expand", [
      init(makeTensor(DataType.INT8, [1, 3], new Int8Array([1, -2, 3]))),
      i64([2], [4, 3]),
    ])[0]!;
    const un = node("Unsqueeze", [ex, i64([1], [0])])[0]!;
    const fl = node("Flatten", [x], [intAttr("axis", 2)])[0]!;
    const rs = node("Resize", [
      x,
      undefined,
      init(makeTensor(DataType.FLOAT, [4], new Float32Array([1, 1, 2, 1.5]))),
    ], [
      stringAttr("mode", "nearest"),
      stringAttr("coordinate_transformation_mode", "asymmetric"),
      stringAttr("nearest_mode", "floor"),
    ])[0]!;
    const id = node("Identity", [sl])[0]!;
    g.outputs.push(c, id, ga, un, fl, rs);
    const feeds = { x: makeTensor(DataType.INT8, [1, 3, 4, 6], randomInts(rng, 72, 8)) };
    await checkAllOnGpu(m, feeds, [
      "Transpose",
      "Reshape",
      "Split",
      "Concat",
      "Slice",
      "Gather",
      "Expand",
      "Resize",
    ]);
  },
});

Deno.test({
  name:
    "GPU executor: ShiftConv (2-D grouped/strided/padded/dilated with bias, and 1-D) within its tolerance",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(11);
    const { m, g, node, init, input } = builder();
    const x = input("x"), x1 = input("x1");
    const conv = (xv: Value, shape: number[], attrs: Attr[], bias: boolean) => {
      const count = shape.reduce((a, b) => a * b, 1);
      const codes = Array.from({ length: count }, () => rng.int(0, 15));
      const cout = shape[0]!;
      return node(
        "ShiftConv",
        [
          xv,
          init(makeTensor(DataType.UINT8, [Math.ceil(count * 4 / 8)], packBits(codes, 4))),
          init(makeTensor(
            DataType.FLOAT,
            [cout],
            Float32Array.from({ length: cout }, () => 0.01 + rng.float() * 0.1),
          )),
          bias
            ? init(makeTensor(
              DataType.FLOAT,
              [cout],
              Float32Array.from({ length: cout }, () => rng.float() - 0.5),
            ))
            : undefined,
        ],
        [intAttr("bits", 4), intsAttr("weight_shape", shape), ...attrs],
        1,
        "shiftkit",
      )[0]!;
    };
    g.outputs.push(
      conv(x, [6, 2, 3, 3], [
        intAttr("group", 2),
        intsAttr("pads", [1, 0, 2, 1]),
        intsAttr("strides", [2, 1]),
        intsAttr("dilations", [1, 2]),
      ], true),
      conv(x, [5, 4, 1, 1], [], false),
      conv(x1, [3, 2, 3], [intsAttr("pads", [1, 1])], true),
    );
    const f = (n: number) => Float32Array.from({ length: n }, () => (rng.float() - 0.5) * 8);
    const feeds = {
      x: makeTensor(DataType.FLOAT, [2, 4, 7, 9], f(504)),
      x1: makeTensor(DataType.FLOAT, [1, 2, 10], f(20)),
    };
    // Float outputs: checked element-wise against the tolerance (not for bitwise equality with the evaluator).
    const want = evaluateModel(m, feeds);
    const r = await executeModel(m, feeds);
    assertEquals(r.records.map((n) => [n.op, n.device, n.withinTolerance]), [
      ["shiftkit.ShiftConv", "gpu", true],
      ["shiftkit.ShiftConv", "gpu", true],
      ["shiftkit.ShiftConv", "gpu", true],
    ]);
    assert(r.records.every((n) => n.tolerance?.startsWith("2*(K+2)*2^-24")), r.records[0]!.tolerance);
    for (const [k, t] of Object.entries(want)) {
      assertEquals(r.outputs[k]!.dims, t.dims, k);
      const d = Math.max(
        ...Array.from(
          t.data as Float32Array,
          (v, i) => Math.abs(v - (r.outputs[k]!.data as Float32Array)[i]!),
        ),
      );
      assert(d < 1e-4, `${k}: ${d}`);
    }
  },
});
