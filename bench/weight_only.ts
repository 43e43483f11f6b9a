/**
 * Matched-storage comparison on the byte-level LMs (issue 13): bits/byte on lm-eval.txt (all 512 windows)
 * against true stored bits per weight (passes/storage.ts: codes, scales, zero points, alphas / weights of the
 * converted layers) for weight-only RTN and GPTQ with group scales, and ShiftAddLLM (weight and output
 * objective), all calibrated on lm-calib.txt. Results accumulate in a JSON file so runs can be split into a
 * few configurations at a time; `--render` prints the markdown tables and writes the plot (SVG) and an HTML
 * report with the same plot inline.
 *
 *   nice deno run -A bench/weight_only.ts --model byte-lm-opt --only gptq-4-g128,rtn-4-g128 [--samples 128]
 *   deno run -A bench/weight_only.ts --render && deno fmt docs/weight_only* bench/weight_only.json
 *
 * Configuration names: `rtn-<bits>-g<group>`, `gptq-<bits>-g<group>[-ao]` (act-order), `shiftadd-w-<bits>-g<group>`
 * (weight objective), `shiftadd-o-<bits>-g<group>` (output objective). RTN / GPTQ are asymmetric (onnxruntime's
 * default) and emitted as MatMulNBits; 3-bit codes run as blocked DequantizeLinear (MatMulNBits' 3-bit kernel
 * is missing in onnxruntime 1.30), and their table entry also gives the storage of the 3-bit MatMulNBits file.
 * @module
 */
import { parseArgs } from "node:util";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { verify } from "../onnx/verify.ts";
import { opsetUpgradePass } from "../passes/normalize/mod.ts";
import { type Pass, runPipeline } from "../passes/pass.ts";
import { renderReport } from "../passes/report/mod.ts";
import { linePlotSvg, type ReportLines } from "../passes/report/line_plot.ts";
import { shiftAddPass } from "../passes/shiftadd/mod.ts";
import { storageAccount } from "../passes/storage.ts";
import { weightOnlyPass } from "../passes/weightonly/mod.ts";
import { planShiftAdd } from "../passes/shiftadd/shift_add.ts";
import { packMatMulNBits } from "../quant/matmul_nbits.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { type TextSource, textSource } from "../runtime/data/mod.ts";
import { BitsPerByteMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import { repoPath } from "../tests/_models.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "byte-lm-opt" },
    only: { type: "string", default: "" },
    samples: { type: "string", default: "128" },
    results: { type: "string", default: "bench/weight_only.json" },
    render: { type: "boolean", default: false },
  },
});

/** One measured configuration. */
interface Row {
  model: string;
  name: string;
  method: string;
  bits: number;
  group: number;
  bitsPerByte: number;
  /** Stored bits per weight of the emitted file. */
  bitsPerWeight: number;
  /** 3-bit RTN / GPTQ: stored bits per weight of the same codes as a (valid, not runnable) MatMulNBits file. */
  nbitsBitsPerWeight?: number;
  seconds: number;
  samples: number;
}

const resultsPath = repoPath(args.results);
const load = async (): Promise<Row[]> => {
  try {
    return JSON.parse(await Deno.readTextFile(resultsPath));
  } catch {
    return [];
  }
};

async function bitsPerByte(bytes: Uint8Array, data: TextSource): Promise<number> {
  const rt = await OrtRuntime.create(bytes, { intraOpNumThreads: 2 });
  try {
    const meter = new BitsPerByteMeter();
    for await (const b of data.batches(16)) meter.add((await rt.run(b)).logits!, b.input_ids!);
    return meter.value;
  } finally {
    await rt.release();
  }
}

function parseName(name: string): { method: string; bits: number; group: number; pass: () => Pass[] } {
  const m = /^(rtn|gptq|shiftadd-w|shiftadd-o)-(\d)-g(\d+)(-ao)?$/.exec(name);
  if (!m) throw new RangeError(`Unknown configuration "${name}"`);
  const method = m[1]!, bits = Number(m[2]), group = Number(m[3]), actOrder = !!m[4];
  const pass = (): Pass[] => {
    if (method === "rtn" || method === "gptq") {
      const format = bits === 3 ? "qdq" : "nbits";
      return [
        ...(format === "qdq" ? [opsetUpgradePass(21)] : []),
        weightOnlyPass({ method, bits: bits as 2 | 4 | 8, groupSize: group, format, actOrder }),
      ];
    }
    return [
      opsetUpgradePass(18),
      shiftAddPass({
        bits: bits as 2 | 3 | 4,
        groupSize: group,
        objective: method === "shiftadd-w" ? "weight" : "output",
        actOrder,
      }),
    ];
  };
  return { method, bits, group, pass };
}

/** Stored bits per weight of asymmetric `bits`-bit codes as MatMulNBits, for the model's converted layers. */
function nbitsStorage(bytes: Uint8Array, bits: number, group: number): number {
  let stored = 0, weights = 0;
  for (const t of planShiftAdd(decodeModel(bytes).graph).targets) {
    const G = Math.ceil(t.k / group);
    const p = packMatMulNBits({
      rows: t.k,
      cols: t.n,
      bits,
      groupSize: group,
      symmetric: false,
      codes: new Uint8Array(t.k * t.n),
      scales: new Float32Array(t.n * G),
      zeroPoints: new Uint8Array(t.n * G),
    });
    stored += 8 * p.b.length + 32 * p.scales.length + 8 * p.zeroPoints!.length;
    weights += t.k * t.n;
  }
  return stored / weights;
}

async function measure(model: string, names: string[]): Promise<void> {
  const bytes = await Deno.readFile(repoPath(`testdata/${model}.onnx`));
  const samples = Number(args.samples);
  const calib = textSource(await Deno.readFile(repoPath("testdata/lm-calib.txt")), {
    context: 128,
    maxSamples: samples,
  });
  const evalSet = textSource(await Deno.readFile(repoPath("testdata/lm-eval.txt")), { context: 128 });
  const factory = ortRuntimeFactory({ intraOpNumThreads: 2 });
  for (const name of names) {
    const t0 = performance.now();
    let row: Row;
    if (name === "float") {
      row = {
        model,
        name,
        method: "float",
        bits: 32,
        group: 0,
        bitsPerByte: await bitsPerByte(bytes, evalSet),
        bitsPerWeight: 32,
        seconds: 0,
        samples: 0,
      };
    } else {
      const c = parseName(name);
      const m = decodeModel(bytes);
      const r = await runPipeline(m, c.pass(), {
        runtime: makePassRuntime(calib, factory, { batchSize: 8 }),
      });
      const seconds = (performance.now() - t0) / 1000;
      const problems = verify(m);
      if (problems.length) throw new Error(`${name}: invalid model: ${problems.slice(0, 3).join("; ")}`);
      const account = storageAccount(m, r.steps.flatMap((s) => s.storage ?? []));
      row = {
        model,
        name,
        method: c.method,
        bits: c.bits,
        group: c.group,
        bitsPerByte: await bitsPerByte(encodeModel(m), evalSet),
        bitsPerWeight: account.bitsPerWeight,
        ...(c.bits === 3 && (c.method === "rtn" || c.method === "gptq")
          ? { nbitsBitsPerWeight: nbitsStorage(bytes, 3, c.group) }
          : {}),
        seconds,
        samples,
      };
    }
    const rows = (await load()).filter((x) => !(x.model === model && x.name === name));
    rows.push(row);
    await Deno.writeTextFile(resultsPath, JSON.stringify(rows, null, 1) + "\n");
    console.error(
      `${model} ${name}: ${row.bitsPerByte.toFixed(4)} bits/byte at ${
        row.bitsPerWeight.toFixed(3)
      } bits/weight ` +
        `(${row.seconds.toFixed(1)} s)`,
    );
  }
}

const LABEL: Record<string, string> = {
  rtn: "RTN",
  gptq: "GPTQ",
  "shiftadd-w": "ShiftAdd (weight obj.)",
  "shiftadd-o": "ShiftAdd (output obj.)",
};

function pareto(rows: Row[]): [number, number][] {
  let best = Infinity;
  const out: [number, number][] = [];
  for (
    const r of [...rows].sort((a, b) => a.bitsPerWeight - b.bitsPerWeight || a.bitsPerByte - b.bitsPerByte)
  ) {
    if (r.bitsPerByte < best) out.push([r.bitsPerWeight, r.bitsPerByte]);
    best = Math.min(best, r.bitsPerByte);
  }
  return out;
}

async function render(): Promise<void> {
  const rows = await load();
  const models = [...new Set(rows.map((r) => r.model))];
  const sections = [];
  for (const model of models) {
    const mine = rows.filter((r) => r.model === model);
    const float = mine.find((r) => r.name === "float");
    console.log(`\n#### ${model} (float ${float ? float.bitsPerByte.toFixed(4) : "?"} bits/byte)\n`);
    console.log("| method | bits | group | stored bits/weight | bits/byte |");
    console.log("| --- | --- | --- | --- | --- |");
    const q = mine.filter((r) => r.method !== "float").sort((a, b) => a.bitsPerWeight - b.bitsPerWeight);
    for (const r of q) {
      const w = r.nbitsBitsPerWeight !== undefined
        ? `${r.bitsPerWeight.toFixed(3)} (as MatMulNBits 3-bit: ${r.nbitsBitsPerWeight.toFixed(3)})`
        : r.bitsPerWeight.toFixed(3);
      console.log(
        `| ${LABEL[r.method]}${
          r.name.endsWith("-ao") ? " act-order" : ""
        } | ${r.bits} | ${r.group} | ${w} | ${r.bitsPerByte.toFixed(4)} |`,
      );
    }
    const plot: ReportLines = {
      caption:
        `${model}: bits/byte on lm-eval.txt against stored bits per weight, best configuration per storage (lower left is better)`,
      xLabel: "stored bits per weight (converted layers)",
      yLabel: "bits per byte",
      series: Object.keys(LABEL).map((m) => ({
        name: LABEL[m]!,
        // The Pareto front of each method: a point stays when nothing of that method stores less and scores
        // at least as well.
        points: pareto(q.filter((r) => r.method === m)),
      })).filter((s) => s.points.length > 0),
    };
    await Deno.writeTextFile(repoPath(`docs/weight_only_${model}.svg`), linePlotSvg(plot) + "\n");
    sections.push({
      title: model,
      tables: [{
        columns: ["method", "bits", "group", "stored bits/weight", "bits/byte"],
        rows: q.map((
          r,
        ) => [LABEL[r.method]!, r.bits, r.group, r.bitsPerWeight.toFixed(3), r.bitsPerByte.toFixed(4)]),
      }],
      lines: [plot],
    });
  }
  await Deno.writeTextFile(
    repoPath("docs/weight_only.html"),
    renderReport({ title: "Weight-only baselines vs ShiftAdd at matched storage", sections }),
  );
}

if (args.render) await render();
else await measure(args.model, args.only ? args.only.split(",") : ["float"]);
