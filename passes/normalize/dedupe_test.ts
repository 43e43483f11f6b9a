import { assertEquals } from "@std/assert";
import { Model } from "../../onnx/ir.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { dedupe, dedupeInitializers } from "./dedupe.ts";

Deno.test("dedupe: merges same dtype/dims/bytes only; outputs and inputs keep identity", async () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [2] };
  g.inputs.push(x);
  const t = (dims: number[], ...v: number[]) => makeTensor(DataType.FLOAT, dims, Float32Array.from(v));
  const a = g.addInitializer("a", t([2], 1, 2));
  const b = g.addInitializer("b", t([2], 1, 2)); // twin of a
  const c = g.addInitializer("c", t([1, 2], 1, 2)); // other dims
  const d = g.addInitializer("d", t([2], 1, -2)); // other bytes
  const e = g.addInitializer("e", makeTensor(DataType.INT32, [2], Int32Array.of(1, 2)));
  const z = g.addInitializer("z", t([2], 0, 0));
  const nz = g.addInitializer("nz", t([2], -0, -0)); // -0 differs bitwise from +0: not merged
  let y = x;
  for (const v of [a, b, c, d, z, nz]) y = g.addNode("Add", [y, v], 1).outputs[0]!;
  const ei = g.addNode("Cast", [e], ["ef"], { attrs: [{ name: "to", type: 2, value: 1 }] });
  y = g.addNode("Add", [y, ei.outputs[0]!], ["y"]).outputs[0]!;
  y.type = { elemType: DataType.FLOAT, shape: [1, 2] };
  g.outputs.push(y);
  const want = await runOrt(m, { x: t([2], 5, 6) });
  assertEquals(dedupeInitializers(m), 1);
  assertEquals(g.initializers.map((v) => v.name), ["a", "c", "d", "e", "z", "nz"]);
  assertEquals(a.uses.length, 2);
  assertEquals(verify(m), []);
  assertEquals(await runOrt(m, { x: t([2], 5, 6) }), want);
  assertEquals(dedupe.run(m, { reporter: { progress() {}, info() {}, warn() {} } }).modified, false);
});

Deno.test("dedupe: large tensors are compared whole, not by the sampled hash alone", () => {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const n = 100_003; // more words than the hash samples, and not a multiple of its stride
  const base = new Float32Array(n).map((_, i) => Math.sin(i));
  const odd = base.slice();
  odd[n - 2] = odd[n - 2]! + 1; // a word the sample skips (it reads the last one): same hash, other bytes
  const vs = [base, base.slice(), odd].map((d, i) =>
    g.addInitializer(`w${i}`, makeTensor(DataType.FLOAT, [n], d))
  );
  for (const v of vs) g.outputs.push(g.addNode("Neg", [v], 1).outputs[0]!);
  assertEquals(dedupeInitializers(m), 1);
  assertEquals(g.initializers.map((v) => v.name), ["w0", "w2"]);
});
