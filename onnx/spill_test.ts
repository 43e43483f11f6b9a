import { assert, assertEquals, assertThrows } from "@std/assert";
import { Model } from "./ir.ts";
import { loadModel, saveModel } from "./io.ts";
import { attachSpill, releaseSpilled, TensorSpill } from "./spill.ts";
import { DataType, makeTensor, type Tensor } from "./tensor.ts";

/** A model whose initializers are built in memory: one of each kind the weight-only passes emit, and more. */
function build(): { model: Model; tensors: Map<string, Tensor> } {
  const m = new Model();
  m.opsets.set("", 21);
  const g = m.graph;
  const tensors = new Map<string, Tensor>([
    // larger than the writer's 4 MiB copy chunk: copied in two pieces
    [
      "big",
      makeTensor(DataType.UINT8, [5, 2 ** 20], Uint8Array.from({ length: 5 * 2 ** 20 }, (_, i) => i * 7)),
    ],
    [
      "scales",
      makeTensor(DataType.FLOAT, [64, 32], Float32Array.from({ length: 2048 }, (_, i) => Math.sin(i))),
    ],
    // odd element count: the last byte holds one nibble
    ["codes4", makeTensor(DataType.INT4, [8193], Int8Array.from({ length: 8193 }, (_, i) => (i % 16) - 8))],
    [
      "i64",
      makeTensor(DataType.INT64, [1024], BigInt64Array.from({ length: 1024 }, (_, i) => BigInt(i) << 40n)),
    ],
    ["small", makeTensor(DataType.FLOAT, [4], new Float32Array([1, 2, 3, 4]))],
  ]);
  for (const [name, t] of tensors) {
    const v = g.addInitializer(name, t);
    const y = g.addNode("Identity", [v], [`${name}_out`]).outputs[0]!;
    y.type = { elemType: t.dtype, shape: [...t.dims] };
    g.outputs.push(y);
  }
  return { model: m, tensors };
}

Deno.test("spill: tensors move to an unlinked scratch file and decode back equal; small ones stay", () => {
  const { model, tensors } = build();
  const dir = Deno.makeTempDirSync();
  const spill = new TensorSpill({ dir });
  const spilled = model.graph.initializers.filter((v) => spill.spill(v)).map((v) => v.name);
  assertEquals(spilled, ["big", "scales", "codes4", "i64"]);
  assertEquals(spill.tensors, 4);
  assertEquals(spill.bytes, 5 * 2 ** 20 + 2048 * 4 + 4097 + 8192);
  // the file has no name on disk (POSIX): nothing is left behind however the process ends
  if (Deno.build.os !== "windows") assertEquals([...Deno.readDirSync(dir)], []);
  for (const v of model.graph.initializers) {
    const t = tensors.get(v.name)!;
    assertEquals(v.constInfo(), { dtype: t.dtype, dims: [...t.dims] });
    assertEquals(v.constRange() !== undefined, v.name !== "small");
    assertEquals(v.peekConst()!.data, t.data, v.name);
    assertEquals(v.constRange() !== undefined, v.name !== "small"); // peekConst does not keep it
  }
  const r = model.graph.local("codes4")!.constRange()!;
  assertEquals(r.length, 4097);
  assertEquals(r.read(4096, 1), new Uint8Array([(8193 - 1) % 16 - 8 + 16]));
  assertThrows(
    () => r.read(4000, 100),
    RangeError,
    `spilled tensor "codes4" has 4097 bytes, 100 asked at offset 4000`,
  );
  // `const` decodes and keeps it, as for lazily loaded weights
  const big = model.graph.local("big")!;
  assertEquals(big.const!.data, tensors.get("big")!.data);
  assertEquals(big.constRange(), undefined);
  spill.close();
  assertThrows(() => model.graph.local("scales")!.peekConst(), RangeError, "is closed");
  Deno.removeSync(dir);
});

Deno.test("spill: saveModel writes spilled tensors by range into external data, the same bytes", async () => {
  const dir = await Deno.makeTempDir();
  const plain = build().model;
  await saveModel(plain, `${dir}/plain.onnx`, { externalData: { location: "w.bin" } });
  const { model } = build();
  const spill = new TensorSpill({ dir });
  for (const v of model.graph.initializers) spill.spill(v);
  attachSpill(model, spill);
  // no externalData asked: a model holding spilled tensors gets it by itself
  const written = await saveModel(model, `${dir}/spilled.onnx`);
  assertEquals(written, [`${dir}/spilled.onnx.data`, `${dir}/spilled.onnx`]);
  assert(
    model.graph.initializers.filter((v) => v.constRange()).length === 4,
    "the writer kept nothing decoded",
  );
  await saveModel(model, `${dir}/again.onnx`, { externalData: { location: "w.bin" } });
  assertEquals(await Deno.readFile(`${dir}/w.bin`), await Deno.readFile(`${dir}/spilled.onnx.data`));
  // same model bytes once the location names agree
  const a = await loadModel(`${dir}/plain.onnx`), b = await loadModel(`${dir}/again.onnx`);
  for (const v of a.graph.initializers) {
    assertEquals(v.const!.data, b.graph.local(v.name)!.const!.data, v.name);
  }
  assertEquals(await Deno.readFile(`${dir}/plain.onnx`), await Deno.readFile(`${dir}/again.onnx`));
  // inline (a .zip bundle): read back whole, still equal
  await saveModel(model, `${dir}/bundle.zip`);
  const z = await loadModel(`${dir}/bundle.zip`);
  assertEquals(z.graph.local("codes4")!.const!.data, a.graph.local("codes4")!.const!.data);
  assertEquals(releaseSpilled(model), true);
  assertEquals(releaseSpilled(model), false);
  await Deno.remove(dir, { recursive: true });
});
