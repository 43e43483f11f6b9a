import { assert, assertEquals } from "@std/assert";
import { loadModelFile } from "../tests/_models.ts";
import { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { tensorSource, textSource } from "./data/mod.ts";
import { collectValues } from "./collect.ts";
import { ortRuntimeFactory } from "./ort.ts";
import { MinMaxObserver } from "../quant/observers.ts";

Deno.test("collectValues: intermediate tensors of the byte LM, streamed batch by batch", async () => {
  const model = await loadModelFile("byte-lm-opt");
  const text = await Deno.readFile(new URL("../testdata/lm-calib.txt", import.meta.url));
  const data = textSource(text, { context: 128, maxSamples: 6 });
  // The first LayerNormalization's output: what OS+ and QDQ calibrate.
  const ln = model.graph.nodes.find((n) => n.opType === "LayerNormalization")!;
  const name = ln.outputs[0]!.name;
  const obs = new MinMaxObserver({ axis: -1 });
  let batches = 0;
  await collectValues(model, [name, "logits"], data, ortRuntimeFactory(), (v) => {
    batches++;
    const t = v[name]!;
    assertEquals(t.dims.at(-1), 256);
    assertEquals(v["logits"]!.dims.at(-1), 256);
    obs.observe(t.data as Float32Array, t.dims);
  }, { batchSize: 4 });
  assertEquals(batches, 2);
  const min = obs.mins, max = obs.maxs;
  assertEquals(min.length, 256);
  assert(max.every((x, i) => x >= min[i]!));
});

Deno.test("collectValues minMax: the byte LM's activations reduced inside onnxruntime give the whole tensors' ranges", async () => {
  const model = await loadModelFile("byte-lm-opt");
  const text = await Deno.readFile(new URL("../testdata/lm-calib.txt", import.meta.url));
  const names = model.graph.nodes.filter((n) => n.opType === "MatMul").slice(0, 6).map((n) =>
    n.inputs[0]!.name
  );
  const run = async (minMax: string[]) => {
    const obs = new Map(names.map((n) => [n, new MinMaxObserver()]));
    const dims = new Set<string>();
    await collectValues(
      model,
      names,
      textSource(text, { context: 128, maxSamples: 12 }),
      ortRuntimeFactory(),
      (v) => {
        for (const [n, o] of obs) {
          dims.add(v[n]!.dims.join("x"));
          o.observe(v[n]!.data as Float32Array);
        }
      },
      { batchSize: 4, minMax },
    );
    return { ranges: names.map((n) => obs.get(n)!.range()), dims };
  };
  const whole = await run([]), reduced = await run(names);
  assertEquals(reduced.ranges, whole.ranges);
  assertEquals([...reduced.dims], ["2"]); // every value came as [min, max]
  assert(![...whole.dims].includes("2"));
  // the model the caller passed is left as it was (the reductions were added for the encoding only)
  assertEquals(
    model.graph.nodes.filter((n) => n.opType.startsWith("Reduce") && n.name.includes("_calib_")),
    [],
  );
});

Deno.test("collectValues minMax: a batch with NaN or no elements comes whole, so NaN is skipped as observers do", async () => {
  // y = Sqrt(x) (NaN for x < 0), z = y[:, 0:n] with n from a second input (0 elements when n = 0)
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x"), n = g.value("n");
  x.type = { elemType: DataType.FLOAT, shape: ["B", 4] };
  n.type = { elemType: DataType.INT64, shape: [1] };
  g.inputs.push(x, n);
  const y = g.addNode("Sqrt", [x], ["y"]).outputs[0]!;
  const zero = g.addInitializer("zero", makeTensor(DataType.INT64, [1], new BigInt64Array([0n])));
  const one = g.addInitializer("one", makeTensor(DataType.INT64, [1], new BigInt64Array([1n])));
  const z = g.addNode("Slice", [y, zero, n, one], ["z"]).outputs[0]!;
  const out = g.addNode("Identity", [z], ["out"]).outputs[0]!;
  out.type = { elemType: DataType.FLOAT };
  g.outputs.push(out);
  const xs = makeTensor(
    DataType.FLOAT,
    [3, 4],
    Float32Array.of(1, 4, 9, 16, -1, 25, 36, 49, 64, 81, 100, 121),
  );
  const ns = makeTensor(DataType.INT64, [3], new BigInt64Array([1n, 1n, 0n]));
  const got: { y: number[]; z: number[] }[] = [];
  await collectValues(
    m,
    ["y", "z"],
    tensorSource(new Map([["x", xs], ["n", ns]])),
    ortRuntimeFactory(),
    (v) => {
      got.push({ y: Array.from(v.y!.data as Float32Array), z: Array.from(v.z!.data as Float32Array) });
    },
    { batchSize: 1, minMax: ["y", "z"] },
  );
  assertEquals(got[0], { y: [1, 4], z: [1, 1] }); // finite: reduced to [min, max]
  assertEquals(got[1]!.y.length, 4); // a NaN: the whole tensor, NaN included
  assert(Number.isNaN(got[1]!.y[0]!) && got[1]!.z.length === 1 && Number.isNaN(got[1]!.z[0]!));
  const o = new MinMaxObserver();
  o.observe(Float32Array.from(got[1]!.y));
  assertEquals(o.range(), [5, 7]);
  assertEquals(got[2], { y: [8, 11], z: [] }); // no elements: whole (empty), nothing to observe
});
