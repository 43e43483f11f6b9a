/**
 * The transformers.js file set of byte-lm-opt, scored in onnxruntime-web (wasm, 1 thread) under Deno: bits per
 * byte on every non-overlapping 128-byte window of testdata/lm-eval.txt (batches of 8, as `shiftkit eval`),
 * file size, and latency of one 128-token forward pass (batch 1; median of `--reps` runs after 2 warm-ups),
 * every variant measured in the same process, float first, runs interleaved round-robin so that machine load
 * hits all variants alike.
 *
 *   deno run -A bench/transformers_js.ts [--model testdata/byte-lm-opt.onnx] [--variants fp32,q8,...] [--reps 20] [--windows 512]
 * @module
 */
import { DEFAULT_EXPORT_VARIANTS, exportForRuntime, type ExportVariant } from "../api/export.ts";
import { evaluate } from "../api/evaluate.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { textSource } from "../runtime/data/mod.ts";
import { OrtWebRuntime, ortWebRuntimeFactory } from "../runtime/ort_web.ts";

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] !== undefined ? Deno.args[i + 1]! : dflt;
}

const root = new URL("../", import.meta.url).pathname;
const MODEL = arg("model", `${root}testdata/byte-lm-opt.onnx`);
const VARIANTS = arg("variants", ["fp32", ...DEFAULT_EXPORT_VARIANTS].join(",")).split(
  ",",
) as ExportVariant[];
const REPS = Number(arg("reps", "20"));
const WINDOWS = Number(arg("windows", "512"));

const float = await Deno.readFile(MODEL);
const files = await exportForRuntime(float, { variants: VARIANTS });
const evalText = await Deno.readFile(`${root}testdata/lm-eval.txt`);

const rows: { variant: string; file: string; mb: number; bpb: number; ms: number[] }[] = [];
for (const f of files) {
  const result = await evaluate(f.bytes, {
    task: "lm",
    data: textSource(evalText, { context: 128, maxSamples: WINDOWS }),
    runtime: ortWebRuntimeFactory(),
  });
  rows.push({
    variant: f.variant,
    file: f.path,
    mb: f.bytes.length / 1e6,
    bpb: result.metrics.bitsPerByte!,
    ms: [],
  });
  console.error(
    `${f.variant}: ${result.metrics.bitsPerByte!.toFixed(4)} bits/byte on ${result.samples} windows`,
  );
}

// Latency: one session per file, all open at once, runs interleaved.
const ids = makeTensor(
  DataType.INT64,
  [1, 128],
  BigInt64Array.from(evalText.slice(0, 128), (b) => BigInt(b)),
);
const sessions = await Promise.all(files.map((f) => OrtWebRuntime.create(f.bytes)));
for (const s of sessions) for (let i = 0; i < 2; i++) await s.run({ input_ids: ids });
for (let r = 0; r < REPS; r++) {
  for (const [i, s] of sessions.entries()) {
    const t0 = performance.now();
    await s.run({ input_ids: ids });
    rows[i]!.ms.push(performance.now() - t0);
  }
}
for (const s of sessions) await s.release();

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const base = rows.find((r) => r.variant === "fp32");
console.log(
  `onnxruntime-web 1.30 (wasm, 1 thread) under Deno; ${MODEL.split("/").pop()}; ${WINDOWS} eval windows`,
);
console.log("| variant | file | MB | bits/byte | Δ vs fp32 | ms / 128-token forward (median) |");
console.log("| ------- | ---- | -: | --------: | --------: | ------------------------------: |");
for (const r of rows) {
  const d = base ? (r.bpb - base.bpb).toFixed(4) : "–";
  console.log(
    `| ${r.variant} | \`${r.file}\` | ${r.mb.toFixed(2)} | ${r.bpb.toFixed(4)} | ${d} | ${
      median(r.ms).toFixed(1)
    } |`,
  );
}
