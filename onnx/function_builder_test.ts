import { assertEquals } from "@std/assert";
import * as ort from "npm:onnxruntime-node@1.30.0";
import { intAttr } from "./attributes.ts";
import { decodeModel, encodeModel } from "./codec.ts";
import { ensureFunction, FunctionBuilder } from "./function_builder.ts";
import { Model } from "./ir.ts";
import { Op } from "./ops.ts";
import { DataType } from "./tensor.ts";
import { verify } from "./verify.ts";

Deno.test("function builder: a shiftkit op with a ref-attribute body runs in onnxruntime", async () => {
  const m = new Model();
  m.opsets.set("", 18);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.INT64, shape: [4] };
  g.inputs.push(x);
  // shiftkit.ShiftLeft(X, shift=k) = X * 2^k, built from standard ops only.
  ensureFunction(m, "shiftkit", "ShiftLeft", (opset) => {
    const b = new FunctionBuilder("ShiftLeft", { opset });
    b.attribute("shift");
    const X = b.input("X");
    const two = b.constant({ dtype: DataType.INT64, dims: [], data: new BigInt64Array([2n]) });
    const k = b.attrInt("shift");
    b.output(b.op(Op.Mul.type, [X, b.op(Op.Pow.type, [two, k])]), "Y");
    return b.build();
  }, 18);
  const n = g.addNode("ShiftLeft", [x], ["y"], { domain: "shiftkit", attrs: [intAttr("shift", 3)] });
  const y = n.outputs[0]!;
  y.type = { elemType: DataType.INT64, shape: [4] };
  g.outputs.push(y);
  assertEquals(verify(m), []);
  const bytes = encodeModel(m);
  assertEquals(encodeModel(decodeModel(bytes)), bytes);
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ x: new ort.Tensor("int64", new BigInt64Array([1n, -2n, 3n, 0n]), [4]) });
  assertEquals(Array.from(r.y!.data as BigInt64Array), [8n, -16n, 24n, 0n]);
});
