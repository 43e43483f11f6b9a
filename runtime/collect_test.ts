import { assert, assertEquals } from "@std/assert";
import { loadModelFile } from "../tests/_models.ts";
import { textSource } from "./data/mod.ts";
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
