/**
 * Every case of tests/ops/ShiftMatMul.json through the CPU evaluator entry (onnx/evaluate/ops/dense_shift.ts)
 * and through onnxruntime-node running a one-node model whose `shiftkit.ShiftMatMul` is the model-local
 * function body (passes/denseshift/_dense_shift_body.ts): both must reproduce Y bit for bit (the cases are dyadic with
 * float32-exact partial sums). ShiftConv is checked on small grouped / strided / padded convolutions:
 * onnxruntime through the body against the evaluator entry.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { intAttr, intsAttr } from "../../onnx/attributes.ts";
import { encodeModel } from "../../onnx/codec.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import "../../onnx/evaluate/ops/dense_shift.ts";
import { Model, type Value } from "../../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { bodyVariant, ensureShiftFunctions } from "../../passes/denseshift/_dense_shift_body.ts";
import { runOrt } from "../_ort_compare.ts";
import { packShiftWeight } from "../../quant/dense_shift.ts";
import { encodePow2, pow2AlphaMax } from "../../quant/pow2.ts";

interface TensorCase {
  dtype: string;
  dims: number[];
  data: number[];
}
interface Case {
  name: string;
  attributes: { bits: number; weight_shape: [number, number] };
  inputs: Record<string, TensorCase>;
  outputs: Record<string, TensorCase>;
}

const doc = JSON.parse(await Deno.readTextFile(new URL("./ShiftMatMul.json", import.meta.url))) as {
  cases: Case[];
};

function tensorOf(t: TensorCase): Tensor {
  return t.dtype === "uint8"
    ? makeTensor(DataType.UINT8, t.dims, Uint8Array.from(t.data))
    : makeTensor(DataType.FLOAT, t.dims, Float32Array.from(t.data));
}

/** A one-node model: X is a graph input, the other inputs are initializers. */
function oneNode(
  op: typeof Op.ShiftMatMul | typeof Op.ShiftConv,
  x: Tensor,
  consts: [string, Tensor | undefined][],
  attrs: ReturnType<typeof intAttr>[],
  yDims: number[],
  nibbles = false,
): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const xv = g.value("X");
  xv.type = { elemType: DataType.FLOAT, shape: [...x.dims] };
  g.inputs.push(xv);
  const ins: (Value | null)[] = [xv];
  for (const [name, t] of consts) if (t) ins.push(g.addInitializer(name, t));
  const y = g.addNode(op.type, ins, ["Y"], { domain: SHIFTKIT_DOMAIN, attrs }).outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: yDims };
  g.outputs.push(y);
  // nibbles: the 4-bit body (two codes per byte), which must decode exactly as the general one
  ensureShiftFunctions(m, nibbles ? { matMul: true, conv: true, bits: 4 } : undefined);
  return m;
}

for (const c of doc.cases) {
  Deno.test(`ShiftMatMul.json ${c.name}: evaluator entry and onnxruntime (function body) match exactly`, async () => {
    const x = tensorOf(c.inputs.X!);
    const build = (nibbles: boolean) =>
      oneNode(
        Op.ShiftMatMul,
        x,
        [["codes", tensorOf(c.inputs.codes!)], ["alpha", tensorOf(c.inputs.alpha!)], [
          "bias",
          c.inputs.bias ? tensorOf(c.inputs.bias) : undefined,
        ]],
        [intAttr("bits", c.attributes.bits), intsAttr("weight_shape", c.attributes.weight_shape)],
        c.outputs.Y!.dims,
        nibbles,
      );
    const m = build(false);
    assertEquals(verify(m), []);
    const want = c.outputs.Y!;
    const cpu = evaluateModel(m, { X: x }).Y!;
    assertEquals([cpu.dims, Array.from(cpu.data as Float32Array)], [want.dims, want.data]);
    const ort = (await runOrt(m, { X: x })).Y!;
    assertEquals([ort.dims, Array.from(ort.data as Float32Array)], [want.dims, want.data]);
    if (c.attributes.bits === 4) {
      const m4 = build(true);
      assertEquals(m4.functions.map(bodyVariant), ["nibbles", "nibbles"]);
      const ort4 = (await runOrt(m4, { X: x })).Y!;
      assertEquals([ort4.dims, Array.from(ort4.data as Float32Array)], [want.dims, want.data]);
    } else {
      // the 4-bit body refuses another width rather than decoding wrong levels
      await assertRejects(() => runOrt(build(true), { X: x }), Error, "out of");
    }
  });
}

/** Deterministic dyadic values in [-2, 2) with 1/8 steps (float32-exact sums for small convolutions). */
function dyadic(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s >>> 16) % 32) / 8 - 2;
  });
}

const convCases = [
  {
    name: "3x3 pad 1",
    cin: 4,
    cout: 6,
    group: 1,
    k: [3, 3],
    attrs: { pads: [1, 1, 1, 1] },
    bits: 3,
    hw: [5, 6],
  },
  {
    name: "grouped stride 2",
    cin: 4,
    cout: 4,
    group: 2,
    k: [3, 3],
    attrs: { strides: [2, 2] },
    bits: 4,
    hw: [7, 7],
  },
  {
    name: "depthwise dilated",
    cin: 5,
    cout: 5,
    group: 5,
    k: [3, 3],
    attrs: { dilations: [2, 2] },
    bits: 5,
    hw: [8, 6],
  },
  { name: "1x1 with bias", cin: 3, cout: 7, group: 1, k: [1, 1], attrs: {}, bits: 6, hw: [4, 4], bias: true },
  // 135 weights: the last byte holds one code and a padding nibble
  {
    name: "4 bits, odd weight count",
    cin: 3,
    cout: 5,
    group: 1,
    k: [3, 3],
    attrs: { pads: [1, 1, 1, 1] },
    bits: 4,
    hw: [5, 5],
  },
  {
    name: "auto_pad SAME_UPPER",
    cin: 2,
    cout: 3,
    group: 1,
    k: [3, 3],
    attrs: {},
    bits: 3,
    hw: [5, 5],
    same: true,
  },
];

for (const cc of convCases) {
  Deno.test(`ShiftConv ${cc.name}: onnxruntime through the function body == evaluator entry (exact)`, async () => {
    const wShape = [cc.cout, cc.cin / cc.group, ...cc.k];
    const fanIn = wShape.slice(1).reduce((a, b) => a * b, 1);
    const wf = dyadic(cc.cout * fanIn, 7);
    const alpha = pow2AlphaMax(wf, fanIn, { bits: cc.bits }).map((a) => 2 ** Math.round(Math.log2(a)));
    const weight = packShiftWeight(encodePow2(wf, alpha, { bits: cc.bits }), {
      alpha,
      bits: cc.bits,
      shape: wShape,
      axis: 0,
    });
    const x = makeTensor(DataType.FLOAT, [1, cc.cin, ...cc.hw], dyadic(cc.cin * cc.hw[0]! * cc.hw[1]!, 3));
    const attrs = [intAttr("bits", cc.bits), intsAttr("weight_shape", wShape), intAttr("group", cc.group)];
    for (const [k, v] of Object.entries(cc.attrs)) attrs.push(intsAttr(k, v));
    if (cc.same) attrs.push({ name: "auto_pad", type: 3, value: new TextEncoder().encode("SAME_UPPER") });
    const build = (nibbles: boolean) => {
      const m = oneNode(
        Op.ShiftConv,
        x,
        [
          ["codes", makeTensor(DataType.UINT8, [weight.packed.length], weight.packed)],
          ["alpha", makeTensor(DataType.FLOAT, [cc.cout], weight.alpha)],
          ["B", cc.bias ? makeTensor(DataType.FLOAT, [cc.cout], dyadic(cc.cout, 9)) : undefined],
        ],
        attrs,
        [],
        nibbles,
      );
      m.graph.outputs[0]!.type = { elemType: DataType.FLOAT };
      return m;
    };
    const m = build(false);
    assertEquals(verify(m), []);
    const cpu = evaluateModel(m, { X: x }).Y!;
    const ort = (await runOrt(encodeModel(m), { X: x })).Y!;
    assertEquals(ort.dims, cpu.dims);
    assertEquals(Array.from(ort.data as Float32Array), Array.from(cpu.data as Float32Array));
    if (cc.bits === 4) {
      const m4 = build(true);
      assert(m4.functions.every((f) => bodyVariant(f) === "nibbles"));
      assert(m4.functions[1]!.body.nodes.length < m.functions[1]!.body.nodes.length);
      const ort4 = (await runOrt(encodeModel(m4), { X: x })).Y!;
      assertEquals(Array.from(ort4.data as Float32Array), Array.from(cpu.data as Float32Array));
    }
  });
}
