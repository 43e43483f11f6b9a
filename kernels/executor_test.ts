import { assert, assertEquals } from "@std/assert";
import { intAttr, intsAttr, stringAttr } from "../onnx/attributes.ts";
import { Model, type Value } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import { registerOp } from "../onnx/evaluate/registry.ts";
import { shiftAddOps } from "../onnx/evaluate/ops/shift_add.ts";
import { dyadic } from "../quant/dyadic.ts";
import { packBits } from "../quant/bitpack.ts";
import { noGpuNotice, Rng } from "./_test_util.ts";
import { executeModel } from "./executor.ts";

const noGpu = await noGpuNotice("executor_test.ts");
// The evaluator's ShiftAddMatMul entry is a table until the registry lists it.
for (const [op, k] of Object.entries(shiftAddOps)) registerOp("shiftkit", op, k);

/** x float [4, 16] -> Q -> MatMulInteger -> Requantize -> Shiftmax -> IntAdd(with Q) -> ShiftGelu -> ILayerNorm
 *  -> DequantizeLinear -> Relu (CPU) -> ShiftAddMatMul -> ShiftMatMul -> y; plus ShiftSigmoid/LambdaShiftGelu side outputs. */
function buildModel(rng: Rng): Model {
  const m = new Model();
  m.opsets.set("", 13);
  m.opsets.set("shiftkit", 1);
  const g = m.graph;
  const x = g.value("x");
  g.inputs.push(x);
  const init = (name: string, dtype: DataType, dims: number[], data: ArrayLike<number>) => {
    const ctor = {
      [DataType.FLOAT]: Float32Array,
      [DataType.INT8]: Int8Array,
      [DataType.UINT8]: Uint8Array,
      [DataType.INT16]: Int16Array,
      [DataType.INT32]: Int32Array,
    }[dtype as 1]!;
    return g.addInitializer(name, makeTensor(dtype, dims, ctor.from(data)));
  };
  const node = (
    op: string,
    ins: Value[],
    out: string,
    attrs: ReturnType<typeof intAttr>[] = [],
    domain = "",
  ) => g.addNode(op, ins, [out], { domain, name: out, attrs }).outputs[0]!;
  const K = 16, N = 16;
  const q = node("QuantizeLinear", [
    x,
    init("s", DataType.FLOAT, [], [0.05]),
    init("z", DataType.INT8, [], [3]),
  ], "q");
  const w = init("w", DataType.INT8, [K, N], Array.from({ length: K * N }, () => rng.int(-128, 127)));
  const acc = node("MatMulInteger", [q, w, init("za", DataType.INT8, [], [3])], "acc");
  const d = dyadic(0.01);
  const r8 = node(
    "Requantize",
    [acc, init("mul", DataType.INT32, [], [d.multiplier]), init("sh", DataType.INT32, [], [d.shift])],
    "r8",
    [intAttr("output_bits", 8)],
    "shiftkit",
  );
  const sm = node("Shiftmax", [r8], "sm", [intAttr("p", 12), intAttr("n", 15)], "shiftkit");
  const a = dyadic(1), b = dyadic(0.5);
  const add = node("IntAdd", [sm, q], "add", [
    intAttr("a_multiplier", a.multiplier),
    intAttr("a_shift", a.shift),
    intAttr("b_multiplier", b.multiplier),
    intAttr("b_shift", b.shift),
    intAttr("output_bits", 8),
  ], "shiftkit");
  const ge = node("ShiftGelu", [add], "gelu", [intAttr("p", 19), intAttr("n", 11)], "shiftkit");
  const lg = node("LambdaShiftGelu", [add], "lgelu", [
    intAttr("p", 75),
    intAttr("n", 9),
    intAttr("lambda", 5),
  ], "shiftkit");
  const sg = node("ShiftSigmoid", [r8], "sig", [intAttr("p", 16), intAttr("n", 12)], "shiftkit");
  const ln = node(
    "ILayerNorm",
    [
      ge,
      init("gamma", DataType.INT16, [N], Array.from({ length: N }, () => rng.int(-32767, 32767))),
      init("beta", DataType.INT32, [N], Array.from({ length: N }, () => rng.int(-1e6, 1e6))),
    ],
    "ln",
    [intAttr("multiplier", 1220958528), intAttr("shift", 40), intAttr("var_shift", 0)],
    "shiftkit",
  );
  const dq = node("DequantizeLinear", [
    ln,
    init("s2", DataType.FLOAT, [], [0.03125]),
    init("z2", DataType.INT8, [], [0]),
  ], "dq");
  const relu = node("Relu", [dq], "relu");
  const q2 = 2, J = 2, G = 2, T = 2;
  const sa = node(
    "ShiftAddMatMul",
    [
      relu,
      init("planes", DataType.UINT8, [q2, N, J], Array.from({ length: q2 * N * J }, () => rng.int(0, 255))),
      init("aexp", DataType.INT8, [q2, N, G], Array.from({ length: q2 * N * G }, () => rng.int(-6, 0))),
      // T = 2 slots, single-term alphas (a nibble of 0: no second term), as before the 16-bit encoding
      init("aterms", DataType.UINT8, [q2, N, G, 1], new Uint8Array(q2 * N * G)),
    ],
    "sa",
    [
      intAttr("bits", q2),
      intAttr("group_size", 8),
      intAttr("terms", T),
      stringAttr("mode", "accuracy"),
      intAttr("k", 8 * J),
    ],
    "shiftkit",
  );
  const codes = Array.from({ length: N * 8 }, () => rng.int(0, 7));
  const y = node(
    "ShiftMatMul",
    [
      sa,
      init("codes", DataType.UINT8, [Math.ceil(N * 8 * 3 / 8)], packBits(codes, 3)),
      init("alpha", DataType.FLOAT, [8], Array.from({ length: 8 }, () => 0.125)),
    ],
    "y",
    [intAttr("bits", 3), intsAttr("weight_shape", [N, 8])],
    "shiftkit",
  );
  g.outputs.push(y, sg, lg);
  return m;
}

Deno.test({
  name:
    "executeModel runs every kernel-backed op on the GPU, the rest on the CPU, and agrees with evaluateModel",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(51);
    const model = buildModel(rng);
    const x = makeTensor(
      DataType.FLOAT,
      [4, 16],
      Float32Array.from({ length: 64 }, () => (rng.float() - 0.5) * 12),
    );
    const want = evaluateModel(model, { x });
    const r = await executeModel(model, { x });
    assertEquals(Object.keys(r.outputs).sort(), ["lgelu", "sig", "y"]);
    for (const k of Object.keys(want)) assertEquals(r.outputs[k]!.data, want[k]!.data, k);
    const byOp = Object.fromEntries(r.records.map((n) => [n.op, n]));
    assertEquals(r.records.length, 13);
    assertEquals(byOp["Relu"]!.device, "cpu");
    for (const n of r.records.filter((n) => n.op !== "Relu")) {
      assertEquals(
        [n.op, n.device, n.compared, n.exact, n.maxAbsDiff],
        [n.op, "gpu", true, true, 0],
        JSON.stringify(n),
      );
    }
    assert(r.records.filter((n) => n.integer).length >= 9);
    assert(r.adapter.length > 0);
    // Without comparison the same outputs come back.
    const fast = await executeModel(model, { x }, { compare: false });
    for (const k of Object.keys(want)) {
      assertEquals(fast.outputs[k]!.data, want[k]!.data, `${k} (no compare)`);
    }
    assert(fast.records.every((n) => !n.compared));
  },
});

Deno.test({
  name: "executeModel falls back to the CPU for forms the kernels do not cover, and says why",
  ignore: noGpu !== null,
  async fn() {
    const m = new Model();
    m.opsets.set("", 21);
    const g = m.graph;
    const x = g.value("x");
    g.inputs.push(x);
    const s = g.addInitializer("s", makeTensor(DataType.FLOAT, [1, 2], new Float32Array([0.5, 0.25])));
    // Blocked quantization (block_size) runs on the CPU.
    const q = g.addNode("QuantizeLinear", [x, s], ["q"], {
      name: "blocked",
      attrs: [intAttr("axis", 1), intAttr("block_size", 2)],
    }).outputs[0]!;
    g.outputs.push(q);
    const r = await executeModel(m, {
      x: makeTensor(DataType.FLOAT, [1, 4], new Float32Array([1, 2, 3, 4])),
    });
    assertEquals([r.records[0]!.device, r.records[0]!.role], ["cpu", "kernel"]);
    assert(r.records[0]!.fallback?.includes("block_size"), r.records[0]!.fallback);
    assertEquals(Array.from(r.outputs.q!.data as Uint8Array), [2, 4, 12, 16]);
  },
});

Deno.test({
  name: "executeModel: a GPU kernel that throws is an error, never a silent fallback",
  ignore: noGpu !== null,
  async fn() {
    const m = new Model();
    m.opsets.set("", 13);
    m.opsets.set("shiftkit", 1);
    const g = m.graph;
    const x = g.value("x");
    g.inputs.push(x);
    // shift 99 is outside the dyadic range the IntAdd kernel accepts (checkDyadic throws RangeError).
    const y = g.addNode("IntAdd", [x, x], ["y"], {
      domain: "shiftkit",
      name: "bad_add",
      attrs: [
        intAttr("a_multiplier", 1),
        intAttr("a_shift", 99),
        intAttr("b_multiplier", 1),
        intAttr("b_shift", 0),
      ],
    }).outputs[0]!;
    g.outputs.push(y);
    let message = "";
    try {
      await executeModel(m, { x: makeTensor(DataType.INT8, [2], new Int8Array([1, 2])) });
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message.includes('GPU kernel of shiftkit.IntAdd node "bad_add" failed'), message);
  },
});

Deno.test({
  name: "executeModel: integer ops without a kernel are fallbacks; shape arithmetic and float ops are not",
  ignore: noGpu !== null,
  async fn() {
    const m = new Model();
    m.opsets.set("", 13);
    const g = m.graph;
    const x = g.value("x");
    g.inputs.push(x);
    const shape = g.addNode("Shape", [x], ["shape"]).outputs[0]!;
    const zero = g.addInitializer("zero", makeTensor(DataType.INT8, [], new Int8Array([0])));
    const pos = g.addNode("Greater", [x, zero], ["pos"]).outputs[0]!;
    const w = g.addNode("Where", [pos, x, zero], ["w"]).outputs[0]!; // int8 Where: no GPU kernel
    const f = g.addNode("Cast", [x], ["f"], { attrs: [intAttr("to", DataType.FLOAT)] }).outputs[0]!;
    const e = g.addNode("Exp", [f], ["e"]).outputs[0]!; // float op: CPU by design
    g.outputs.push(shape, w, e);
    const r = await executeModel(m, { x: makeTensor(DataType.INT8, [3], new Int8Array([-2, 0, 5])) });
    const by = Object.fromEntries(r.records.map((n) => [n.op, [n.device, n.role, n.fallback ?? ""]]));
    assertEquals(by["Shape"], ["cpu", "shape", ""]);
    assertEquals(by["Where"], ["cpu", "kernel", "no GPU kernel for Where"]);
    assertEquals(by["Greater"], ["cpu", "kernel", "no GPU kernel for Greater"]);
    assertEquals(by["Cast"], ["gpu", "kernel", ""]);
    assertEquals(by["Exp"], ["cpu", "float", ""]);
    assertEquals([...r.outputs.w!.data], [0, 0, 5]);
  },
});
