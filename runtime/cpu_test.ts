import { assert, assertEquals, assertRejects } from "@std/assert";
import { relativeL2 } from "../quant/error_metrics.ts";
import { modelBytes, type ModelName, repoPath } from "../tests/_models.ts";
import { CpuRuntime, cpuRuntimeFactory } from "./cpu.ts";
import { openDataSource } from "./data/mod.ts";
import { OrtRuntime } from "./ort.ts";
import type { Tensor } from "../onnx/tensor.ts";

/** First batch of a data file, as fed to the model. */
async function firstBatch(spec: string, batchSize: number, samples: number): Promise<Record<string, Tensor>> {
  const data = await openDataSource(repoPath(spec), { maxSamples: samples });
  for await (const b of data.batches(batchSize)) return b;
  throw new Error(`${spec} is empty`);
}

async function agree(name: ModelName, feeds: Record<string, Tensor>): Promise<number[]> {
  const bytes = await modelBytes(name);
  const cpu = await cpuRuntimeFactory()(bytes);
  const ort = await OrtRuntime.create(bytes, { intraOpNumThreads: 2 });
  try {
    assertEquals([cpu.inputNames, cpu.outputNames], [ort.inputNames, ort.outputNames]);
    const [got, want] = [await cpu.run(feeds), await ort.run(feeds)];
    return ort.outputNames.map((o) => {
      const g = got[o]!, w = want[o]!;
      assertEquals([g.dtype, g.dims], [w.dtype, w.dims], o);
      return relativeL2(g.data as Float32Array, w.data as Float32Array);
    });
  } finally {
    await cpu.release();
    await ort.release();
  }
}

Deno.test("CpuRuntime: byte-lm-opt logits agree with onnxruntime (relative L2 <= 1e-4)", async () => {
  const feeds = await firstBatch("testdata/lm-eval.txt", 2, 2);
  assertEquals(feeds.input_ids!.dims, [2, 128]);
  const errors = await agree("byte-lm-opt", feeds);
  assertEquals(errors.length, 1);
  assert(errors.every((e) => e <= 1e-4), `relative L2 ${errors}`);
});

Deno.test("CpuRuntime: segmenter-tiny logits agree with onnxruntime (relative L2 <= 1e-4)", async () => {
  const feeds = await firstBatch("testdata/segmenter-tiny-eval", 4, 4);
  assertEquals(feeds.pixel_values!.dims, [4, 3, 64, 64]);
  const errors = await agree("segmenter-tiny", feeds);
  assertEquals(errors.length, 1);
  assert(errors.every((e) => e <= 1e-4), `relative L2 ${errors}`);
});

Deno.test("CpuRuntime: wrong feeds and use after release are TypeErrors", async () => {
  const rt = await CpuRuntime.create(await modelBytes("byte-lm-opt"));
  assertEquals(rt.inputNames, ["input_ids"]);
  await assertRejects(() => rt.run({}), TypeError, "missing [input_ids]");
  await rt.release();
  await assertRejects(() => rt.run({}), TypeError, "released");
  await assertRejects(() => CpuRuntime.create(new Uint8Array([1, 2, 3])));
});
