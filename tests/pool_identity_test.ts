/**
 * The worker pool changes where per-layer fits run, never what they produce: `quantize()` with 2 threads
 * writes the same bytes as with 1 (the serial path), on repository models, for every method whose layers
 * run through the pool; and the report says the workers ran (so the comparison is not serial vs serial).
 */
import { assert, assertEquals } from "@std/assert";
import { type Method, quantize, type QuantizeReport } from "../api/quantize.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { WorkerPool } from "../runtime/pool.ts";
import { modelBytes, type ModelName, repoPath } from "./_models.ts";

async function convert(
  name: ModelName,
  calib: string,
  method: Method,
  threads: number,
  extra: Record<string, unknown> = {},
): Promise<{ bytes: Uint8Array; report: QuantizeReport }> {
  const model = decodeModel(await modelBytes(name));
  // Workers whatever the tasks' thresholds (these models are below most of them): the comparison is real.
  const pool = new WorkerPool({ threads, minWeights: 0 });
  try {
    const report = await quantize(model, { method, calib: repoPath(calib), samples: 4, pool, extra });
    return { bytes: encodeModel(model), report };
  } finally {
    pool.close();
  }
}

const cases: { name: ModelName; calib: string; method: Method; extra?: Record<string, unknown> }[] = [
  { name: "byte-lm-llama", calib: "testdata/lm-calib.txt", method: "gptq" },
  {
    name: "byte-lm-llama",
    calib: "testdata/lm-calib.txt",
    method: "gptq",
    extra: { calibrate: "per-layer" },
  },
  { name: "byte-lm-llama", calib: "testdata/lm-calib.txt", method: "shiftadd" },
  {
    name: "byte-lm-llama",
    calib: "testdata/lm-calib.txt",
    method: "denseshift",
    extra: { rounding: "nearest" },
  },
  {
    name: "segmenter-tiny",
    calib: "testdata/segmenter-tiny-calib",
    method: "denseshift",
    extra: { rounding: "nearest" },
  },
  // learned rounding (the default) in one round: independent layers too
  { name: "segmenter-tiny", calib: "testdata/segmenter-tiny-calib", method: "denseshift" },
];

for (const c of cases) {
  const what = `${c.name} ${c.method}${c.extra ? ` ${JSON.stringify(c.extra)}` : ""}`;
  Deno.test(`pool: ${what} — 2 threads write the bytes 1 thread writes`, async () => {
    const one = await convert(c.name, c.calib, c.method, 1, c.extra);
    const two = await convert(c.name, c.calib, c.method, 2, c.extra);
    assertEquals(one.report.threads.serialReasons, [
      `1 thread asked (${one.report.threads.serialJobs} job${
        one.report.threads.serialJobs === 1 ? "" : "s"
      })`,
    ]);
    const t = two.report.threads;
    assert(t.workers === 2 && t.parallelJobs > 1, JSON.stringify(t));
    assertEquals(t.parallelJobs + t.serialJobs, one.report.threads.serialJobs);
    assertEquals(two.bytes.length, one.bytes.length);
    assert(two.bytes.every((b, i) => b === one.bytes[i]), "emitted bytes differ");
  });
}

Deno.test("pool: a model above the whole-load size gets one thread by default (memory), and says why", async () => {
  const model = decodeModel(await modelBytes("byte-lm-llama"));
  const report = await quantize(model, {
    method: "rtn",
    calib: repoPath("testdata/lm-calib.txt"),
    samples: 2,
    maxWholeLoadBytes: 1000,
    spill: false,
  });
  assertEquals([report.threads.threads, report.threads.workers], [1, 0]);
  assert(report.threads.serialJobs > 0, JSON.stringify(report.threads));
  assert(
    report.threads.serialReasons.some((r) => r.includes("one layer at a time bounds memory")),
    JSON.stringify(report.threads.serialReasons),
  );
  // asked for, threads are given whatever the size
  const again = await quantize(decodeModel(await modelBytes("byte-lm-llama")), {
    method: "rtn",
    calib: repoPath("testdata/lm-calib.txt"),
    samples: 2,
    maxWholeLoadBytes: 1000,
    spill: false,
    threads: 2,
  });
  assertEquals(again.threads.threads, 2);
});
