/**
 * Runs every case of tests/ops/ShiftAddMatMul.json through (a) the CPU evaluator's kernel (bit for bit with
 * the recorded reference output) and (b) onnxruntime-node on a one-node model that carries the standard-op
 * function body (within the case's spec tolerance `atol`, docs/ops/shiftadd.md "Tolerance").
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { type Attribute, intAttr, stringAttr } from "../../onnx/attributes.ts";
import { encodeModel } from "../../onnx/codec.ts";
import { ensureFunction } from "../../onnx/function_builder.ts";
import { Model } from "../../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import { registerOp } from "../../onnx/evaluate/registry.ts";
import { shiftAddOps } from "../../onnx/evaluate/ops/shift_add.ts";
import { buildShiftAddFunction, SHIFT_ADD_OPSET } from "../../passes/shiftadd/shift_add.ts";
import { type ShiftAddBodyVariant, shiftAddBodyVariant } from "../../passes/shiftadd/_shift_add_body.ts";
import { OrtRuntime } from "../../runtime/ort.ts";

// Until onnx/evaluate/registry.ts registers the shiftkit tables itself (registering twice is harmless).
for (const [type, kernel] of Object.entries(shiftAddOps)) registerOp(SHIFTKIT_DOMAIN, type, kernel);

interface TensorCase {
  dtype: string;
  dims: number[];
  data: number[];
}
interface Case {
  name: string;
  attributes: { bits: number; group_size: number; terms: number; mode: string; k: number };
  inputs: Record<string, TensorCase>;
  outputs: { Y: TensorCase };
  tolerance: { atol: number; rtol: number };
}

const doc = JSON.parse(await Deno.readTextFile(new URL("./ShiftAddMatMul.json", import.meta.url))) as {
  op: string;
  domain: string;
  version: number;
  cases: Case[];
};

const DTYPES: Record<string, DataType> = {
  float32: DataType.FLOAT,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
};

function tensorOf(c: TensorCase): Tensor {
  const dtype = DTYPES[c.dtype];
  if (dtype === undefined) throw new TypeError(`unexpected dtype ${c.dtype}`);
  const data = dtype === DataType.FLOAT
    ? Float32Array.from(c.data)
    : dtype === DataType.UINT8
    ? Uint8Array.from(c.data)
    : Int8Array.from(c.data);
  return makeTensor(dtype, c.dims, data);
}

const INPUTS = ["X", "planes", "alpha_exp", "alpha_terms"] as const;

/** One ShiftAddMatMul node; X is a graph input, the weights initializers; the function is attached. */
function oneNodeModel(c: Case, variant: ShiftAddBodyVariant = "terms"): Model {
  const m = new Model();
  m.opsets.set("", SHIFT_ADD_OPSET);
  const g = m.graph;
  const x = g.value("X");
  x.type = { elemType: DataType.FLOAT, shape: [...c.inputs.X!.dims] };
  g.inputs.push(x);
  const weights = INPUTS.slice(1).map((n) => g.addInitializer(n, tensorOf(c.inputs[n]!)));
  const attrs: Attribute[] = [
    intAttr("bits", c.attributes.bits),
    intAttr("group_size", c.attributes.group_size),
    intAttr("terms", c.attributes.terms),
    stringAttr("mode", c.attributes.mode),
    intAttr("k", c.attributes.k),
  ];
  const y = g.addNode(Op.ShiftAddMatMul.type, [x, ...weights], ["Y"], { domain: SHIFTKIT_DOMAIN, attrs })
    .outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: [...c.outputs.Y.dims] };
  g.outputs.push(y);
  ensureFunction(
    m,
    SHIFTKIT_DOMAIN,
    Op.ShiftAddMatMul.type,
    (opset) => buildShiftAddFunction(opset, variant),
    SHIFT_ADD_OPSET,
  );
  return m;
}

Deno.test("ShiftAddMatMul.json: header, and cases cover both modes, padding and several groups", () => {
  assertEquals([doc.op, doc.domain, doc.version], ["ShiftAddMatMul", "shiftkit", 1]);
  assert(doc.cases.length >= 6);
  assertEquals(new Set(doc.cases.map((c) => c.attributes.mode)), new Set(["accuracy", "latency"]));
  assert(doc.cases.some((c) => c.inputs.X!.dims.at(-1)! % 8 !== 0));
  assert(doc.cases.some((c) => c.inputs.alpha_exp!.dims[2]! > 1));
});

for (const c of doc.cases) {
  const want = Float32Array.from(c.outputs.Y.data);
  Deno.test(`ShiftAddMatMul.json ${c.name}: CPU evaluator equals the reference bit for bit`, () => {
    const m = oneNodeModel(c);
    assertEquals(verify(m), []);
    const y = evaluateModel(m, { X: tensorOf(c.inputs.X!) }).Y!;
    assertEquals(y.dims, c.outputs.Y.dims);
    assertEquals(y.data, want);
  });

  Deno.test(`ShiftAddMatMul.json ${c.name}: onnxruntime runs the function body within the spec tolerance`, async () => {
    assertEquals(c.tolerance.rtol, 0);
    const rt = await OrtRuntime.create(encodeModel(oneNodeModel(c)), { intraOpNumThreads: 1 });
    try {
      const y = (await rt.run({ X: tensorOf(c.inputs.X!) })).Y!;
      assertEquals(y.dims, c.outputs.Y.dims);
      const got = y.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      assert(worst <= c.tolerance.atol, `${c.name}: max |ort - ref| = ${worst} > atol ${c.tolerance.atol}`);
    } finally {
      await rt.release();
    }
  });

  Deno.test(`ShiftAddMatMul.json ${c.name}: the one-byte body decodes as the general one, or refuses its T`, async () => {
    const run = async (variant: ShiftAddBodyVariant) => {
      const m = oneNodeModel(c, variant);
      assertEquals(shiftAddBodyVariant(m.functions[0]!), variant);
      const rt = await OrtRuntime.create(encodeModel(m), { intraOpNumThreads: 1 });
      try {
        return (await rt.run({ X: tensorOf(c.inputs.X!) })).Y!;
      } finally {
        await rt.release();
      }
    };
    if (c.attributes.terms === 2 || c.attributes.terms === 3) {
      // the same alphas, so the same decoded weight and the same MatMul: bit for bit
      assertEquals(
        Array.from((await run("byte")).data as Float32Array),
        Array.from((await run("terms")).data as Float32Array),
      );
    } else {
      await assertRejects(() => run("byte"));
    }
  });
}
