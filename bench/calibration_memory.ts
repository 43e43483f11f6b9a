/**
 * Streaming calibration memory (issue 3 acceptance: peak memory of calibrating the byte LM on 4,096 windows
 * stays within 1.5x of 64 windows).
 *
 *   deno run -A bench/calibration_memory.ts [--windows 64,4096] [--batch 8] [--no-gram] [--json]
 *
 * Each setting runs in a fresh subprocess (Deno.Command on this same file with `--child N`) so the runs share
 * no heap. The child calibrates testdata/byte-lm-opt.onnx through `collectValues` + onnxruntime-node:
 * per-channel min/max (last axis) of every LayerNormalization output and a float64 `GramAccumulator` of the
 * input of every MatMul with a constant weight (17 distinct inputs, k = 256 or 1024). It samples
 * `Deno.memoryUsage().rss` every 20 ms and after every batch; "peak" is the largest sample.
 *
 * Windows: lm-calib.txt has 65,536 bytes = 512 non-overlapping 128-byte windows. To reach 4,096 windows the
 * bench takes 128-byte windows at stride 16 over the file read cyclically (window i starts at byte
 * 16 i mod 65,536 and wraps around the end), which gives exactly 4,096 distinct windows; every setting uses
 * the same windows 0..N-1. Windows are generated batch by batch, so the input data does not grow with N either.
 *
 * Time: the Gram matrices dominate (~2.5M float64 multiply-adds per token, ~0.25 s per window on one core):
 * 4,096 windows take about 20 minutes. `--no-gram` measures the min/max part alone (a minute or so).
 * @module
 */
import { decodeModel } from "../onnx/codec.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { GramAccumulator } from "../quant/gram.ts";
import { MinMaxObserver } from "../quant/observers.ts";
import { collectValues } from "../runtime/collect.ts";
import type { DataSource } from "../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";

const ROOT = new URL("../", import.meta.url);
const CONTEXT = 128;
const STRIDE = 16;

/** What one child run reports. */
interface Row {
  windows: number;
  gram: boolean;
  /** RSS after loading, before calibration (MiB). */
  baseMiB: number;
  /** Largest RSS sample during calibration (MiB). */
  peakMiB: number;
  /** Largest V8 heapUsed sample (MiB). */
  peakHeapMiB: number;
  seconds: number;
  samples: number;
  /** Values observed: LayerNorm outputs (min/max) and MatMul inputs (Gram). */
  lnOutputs: number;
  gramInputs: number;
}

/** Windows of `context` bytes at `stride` over `text` read cyclically, made batch by batch. */
function cyclicWindows(text: Uint8Array, count: number): DataSource {
  return {
    kind: "text",
    count,
    inputNames: ["input_ids"],
    async *batches(batchSize: number) {
      for (let i = 0; i < count; i += batchSize) {
        const b = Math.min(batchSize, count - i);
        const ids = new BigInt64Array(b * CONTEXT);
        for (let w = 0; w < b; w++) {
          const start = ((i + w) * STRIDE) % text.length;
          for (let j = 0; j < CONTEXT; j++) ids[w * CONTEXT + j] = BigInt(text[(start + j) % text.length]!);
        }
        yield { input_ids: makeTensor(DataType.INT64, [b, CONTEXT], ids) };
      }
    },
  };
}

const MiB = 1024 * 1024;

async function child(windows: number, batchSize: number, gram: boolean): Promise<Row> {
  const bytes = await Deno.readFile(new URL("testdata/byte-lm-opt.onnx", ROOT));
  const text = await Deno.readFile(new URL("testdata/lm-calib.txt", ROOT));
  const model = decodeModel(bytes);
  const lnOutputs = model.graph.nodes.filter((n) => n.opType === "LayerNormalization").map((n) =>
    n.outputs[0]!.name
  );
  const gramInputs = gram
    ? [
      ...new Set(
        model.graph.nodes.filter((n) => n.opType === "MatMul" && n.inputs[1]?.isConst).map((n) =>
          n.inputs[0]!.name
        ),
      ),
    ]
    : [];
  const minmax = new Map(lnOutputs.map((v) => [v, new MinMaxObserver({ axis: -1 })]));
  const grams = new Map<string, GramAccumulator>();
  let peak = 0, peakHeap = 0, samples = 0;
  const sample = () => {
    const m = Deno.memoryUsage();
    peak = Math.max(peak, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    samples++;
  };
  const base = Deno.memoryUsage().rss;
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  try {
    await collectValues(
      model,
      [...new Set([...lnOutputs, ...gramInputs])],
      cyclicWindows(text, windows),
      ortRuntimeFactory({ intraOpNumThreads: 1 }),
      (values: Record<string, Tensor>) => {
        sample();
        for (const [v, o] of minmax) o.observe(values[v]!.data as Float32Array, values[v]!.dims);
        for (const v of gramInputs) {
          const t = values[v]!, k = t.dims.at(-1)!;
          let g = grams.get(v);
          if (!g) grams.set(v, g = new GramAccumulator(k));
          g.add(t.data as Float32Array, t.data.length / k);
        }
        sample();
      },
      { batchSize },
    );
  } finally {
    clearInterval(timer);
  }
  sample();
  // Use the statistics, so nothing is optimized away and the run is checked end to end.
  for (const o of minmax.values()) if (!(o.count === windows * CONTEXT * 256)) throw new Error("bad count");
  for (const g of grams.values()) if (g.mean().some((x) => !Number.isFinite(x))) throw new Error("bad Gram");
  return {
    windows,
    gram,
    baseMiB: base / MiB,
    peakMiB: peak / MiB,
    peakHeapMiB: peakHeap / MiB,
    seconds: (performance.now() - t0) / 1000,
    samples,
    lnOutputs: lnOutputs.length,
    gramInputs: gramInputs.length,
  };
}

function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const batchSize = Number(flag("batch") ?? 8);
const gram = !Deno.args.includes("--no-gram");
const childWindows = flag("child");
if (childWindows !== undefined) {
  console.log(JSON.stringify(await child(Number(childWindows), batchSize, gram)));
} else {
  const settings = (flag("windows") ?? "64,4096").split(",").map(Number);
  const rows: Row[] = [];
  for (const windows of settings) {
    const args = ["run", "-A", new URL(import.meta.url).pathname, "--child", String(windows)];
    args.push("--batch", String(batchSize), ...(gram ? [] : ["--no-gram"]));
    const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" })
      .output();
    if (!out.success) throw new Error(`child run with ${windows} windows failed (exit ${out.code})`);
    rows.push(JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!));
  }
  const first = rows[0]!;
  const ratios = rows.map((r) => r.peakMiB / first.peakMiB);
  const ok = ratios.every((r) => r <= 1.5);
  if (Deno.args.includes("--json")) {
    console.log(JSON.stringify({ batchSize, rows, ratios, ok }, null, 2));
  } else {
    console.log(`Calibration memory, byte-lm-opt, batch ${batchSize}, onnxruntime-node (1 thread)`);
    console.log(
      `min/max of ${first.lnOutputs} LayerNorm outputs` +
        (gram ? ` + X^T X of ${first.gramInputs} MatMul inputs` : " (no Gram)"),
    );
    console.log("");
    console.log(
      "| windows | RSS before (MiB) | peak RSS (MiB) | peak heap (MiB) | peak / first | time (s) |",
    );
    console.log("|--:|--:|--:|--:|--:|--:|");
    rows.forEach((r, i) => {
      console.log(
        `| ${r.windows} | ${r.baseMiB.toFixed(1)} | ${r.peakMiB.toFixed(1)} | ${
          r.peakHeapMiB.toFixed(1)
        } | ` +
          `${ratios[i]!.toFixed(3)} | ${r.seconds.toFixed(1)} |`,
      );
    });
    console.log("");
    console.log(
      ok ? "PASS: peak RSS within 1.5x of the first setting" : "FAIL: peak RSS grew more than 1.5x",
    );
  }
}
