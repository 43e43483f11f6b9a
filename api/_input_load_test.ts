import { assert, assertEquals, assertRejects, assertStrictEquals } from "@std/assert";
import { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import type { RuntimeFactory } from "../runtime/runtime.ts";
import { inputLoadCheck } from "./_input_load.ts";
import { InputModelError } from "./input_model.ts";

/** x [2, k] times a [k', 5] weight: onnxruntime loads it iff k === k'. */
function matmul(k: number, kw: number): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [2, k] };
  m.graph.inputs.push(x);
  const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [kw, 5], new Float32Array(kw * 5)));
  const y = m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!;
  y.type = { elemType: DataType.FLOAT };
  m.graph.outputs.push(y);
  return m;
}

/** The real onnxruntime factory, counting its loads. */
function counted(): { factory: RuntimeFactory; loads: () => number } {
  let n = 0;
  const ort = ortRuntimeFactory({ intraOpNumThreads: 1 });
  return { factory: (bytes) => (n++, ort(bytes)), loads: () => n };
}

Deno.test("input load check: deferred, a conversion that succeeds never loads the input", async () => {
  const { factory, loads } = counted();
  const check = await inputLoadCheck(matmul(3, 4), factory, true);
  assertEquals(await check.guard(() => Promise.resolve(7)), 7);
  assertEquals(loads(), 0);
  assertEquals(check.ran, false);
});

Deno.test("input load check: deferred, a failure with an input that loads rethrows the failure", async () => {
  const { factory, loads } = counted();
  const m = matmul(3, 3);
  const check = await inputLoadCheck(m, factory, true);
  m.graph.nodes[0]!.opType = "NoSuchOp"; // passes change the model in place: the snapshot is what was given
  const boom = new RangeError("pass failed");
  const e = await check.guard(() => Promise.reject(boom)).then(() => null, (e) => e);
  assertStrictEquals(e, boom);
  assertEquals(loads(), 1);
  assert(check.ran);
});

Deno.test("input load check: deferred, a failure with an input the runtime rejects is InputModelError", async () => {
  const { factory, loads } = counted();
  const check = await inputLoadCheck(matmul(3, 4), factory, true);
  const boom = new Error("the emitted model was rejected");
  const e = await check.guard(() => Promise.reject(boom)).then(() => null, (e) => e);
  assert(e instanceof InputModelError, `got ${e}`);
  assertStrictEquals(e.cause, boom);
  assertEquals(loads(), 1);
  // a second failure does not load it again
  await assertRejects(() => check.guard(() => Promise.reject(boom)));
  assertEquals(loads(), 1);
});

Deno.test("input load check: eager (large models) loads first and refuses before any work", async () => {
  const { factory, loads } = counted();
  await assertRejects(() => inputLoadCheck(matmul(3, 4), factory, false), InputModelError, "cannot load it");
  const check = await inputLoadCheck(matmul(3, 3), factory, false);
  assertEquals(loads(), 2);
  assert(check.ran);
  const boom = new RangeError("later failure");
  const e = await check.guard(() => Promise.reject(boom)).then(() => null, (e) => e);
  assertStrictEquals(e, boom);
  assertEquals(loads(), 2);
});
