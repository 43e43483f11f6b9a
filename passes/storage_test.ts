import { assertEquals, assertThrows } from "@std/assert";
import { AttrType } from "../onnx/attributes.ts";
import { Graph, Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { storageAccount } from "./storage.ts";

Deno.test("storageAccount: initializers found in subgraphs, shared ones counted once, a missing one refused", () => {
  const m = new Model();
  m.graph.addInitializer("codes", makeTensor(DataType.INT8, [4, 8], new Int8Array(32))); // 256 bits
  const body = new Graph("then", m.graph);
  body.addInitializer("inner", makeTensor(DataType.FLOAT, [2], new Float32Array(2))); // 64 bits
  m.graph.addNode("If", [], 0, { attrs: [{ name: "then_branch", type: AttrType.GRAPH, value: body }] });
  const a = storageAccount(m, [
    { layer: "a", weights: 32, initializers: ["codes", "inner"] },
    { layer: "b", weights: 32, initializers: ["codes"] }, // shared: counted once in the total
  ]);
  assertEquals(a.perLayer.map((l) => l.bits), [320, 256]);
  assertEquals([a.bits, a.weights, a.bitsPerWeight], [320, 64, 5]);
  assertThrows(
    () => storageAccount(m, [{ layer: "c", weights: 1, initializers: ["nowhere"] }]),
    RangeError,
    `no initializer "nowhere"`,
  );
});
