/**
 * ShiftAddLLM on the byte-level LM (issue 8 acceptance): bits/byte on lm-eval.txt (all non-overlapping
 * 128-byte windows) for float, round-to-nearest per-channel asymmetric min-max (weight-only, fake-quantized
 * float weights) and ShiftAdd variants calibrated on lm-calib.txt; plus quantization time per layer and per
 * model as a ratio to one float pass over the calibration set.
 *
 *   deno run -A bench/shift_add.ts [--samples 128] [--group 128] [--act-order] [--only name,name] [--json]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { verify } from "../onnx/verify.ts";
import { runPipeline } from "../passes/pass.ts";
import {
  planShiftAdd,
  shiftAddPass,
  type ShiftAddPassOptions,
  type ShiftAddStats,
} from "../passes/shiftadd/shift_add.ts";
import { computeQParamsPerChannel } from "../quant/qparams.ts";
import { fakeQuantize } from "../quant/quantize.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { type TextSource, textSource } from "../runtime/data/mod.ts";
import { BitsPerByteMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import { modelBytes, repoPath } from "../tests/_models.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    samples: { type: "string", default: "128" },
    group: { type: "string", default: "128" },
    "act-order": { type: "boolean", default: false },
    damp: { type: "string", default: "0.01" },
    only: { type: "string", default: "" },
    json: { type: "boolean", default: false },
  },
});
const samples = Number(args.samples);
const groupSize = Number(args.group);
const only = new Set(args.only ? args.only.split(",") : []);

const floatBytes = await modelBytes("byte-lm-opt");
const calibText = await Deno.readFile(repoPath("testdata/lm-calib.txt"));
const evalText = await Deno.readFile(repoPath("testdata/lm-eval.txt"));
const calib = textSource(calibText, { context: 128, maxSamples: samples });
const evalSet = textSource(evalText, { context: 128 });
const factory = ortRuntimeFactory({ intraOpNumThreads: 2 });

/** Bits per byte of a model over a text source (all windows). */
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

/** Seconds of one float pass over the calibration windows (what calibration costs at least). */
async function floatPassSeconds(): Promise<number> {
  const rt = await OrtRuntime.create(floatBytes, { intraOpNumThreads: 2 });
  try {
    const t0 = performance.now();
    for await (const b of calib.batches(8)) await rt.run(b);
    return (performance.now() - t0) / 1000;
  } finally {
    await rt.release();
  }
}

/** Round-to-nearest, per output channel, asymmetric min-max, weight-only (fake-quantized float weights). */
function rtn(bits: number): Model {
  const m = decodeModel(floatBytes);
  for (const t of planShiftAdd(m.graph).targets) {
    const w = t.weight.const!, d = w.data as Float32Array;
    const axis = t.transposed ? 0 : 1, channels = w.dims[axis]!;
    const mins = new Float32Array(channels).fill(Infinity), maxs = new Float32Array(channels).fill(-Infinity);
    for (let i = 0; i < d.length; i++) {
      const c = axis === 1 ? i % channels : Math.floor(i / w.dims[1]!);
      mins[c] = Math.min(mins[c]!, d[i]!);
      maxs[c] = Math.max(maxs[c]!, d[i]!);
    }
    const p = computeQParamsPerChannel(mins, maxs, { bits, signed: false, symmetric: false });
    const fq = fakeQuantize(d, w.dims, p.scale, p.zeroPoint, { axis, qmin: p.qmin, qmax: p.qmax });
    t.weight.const = makeTensor(DataType.FLOAT, w.dims, fq);
  }
  return m;
}

interface Row {
  name: string;
  bpb: number;
  bytes?: number;
  stats?: ShiftAddStats;
  seconds?: number;
}

async function shiftAdd(name: string, options: ShiftAddPassOptions): Promise<Row> {
  const m = decodeModel(floatBytes);
  const pass = shiftAddPass({
    groupSize,
    actOrder: args["act-order"],
    damp: Number(args.damp),
    // Trilu (the causal mask) is not in onnx/ops.ts yet; it has one signature since opset 14.
    ...options,
  });
  const t0 = performance.now();
  await runPipeline(m, [pass], { runtime: makePassRuntime(calib, factory, { batchSize: 8 }) });
  const seconds = (performance.now() - t0) / 1000;
  const problems = verify(m);
  if (problems.length) throw new Error(`${name}: invalid model: ${problems.slice(0, 3).join("; ")}`);
  const bytes = encodeModel(m);
  return { name, bpb: await bitsPerByte(bytes, evalSet), bytes: bytes.length, stats: pass.stats!, seconds };
}

const want = (n: string) => only.size === 0 || only.has(n);
const rows: Row[] = [];
const floatPass = await floatPassSeconds();
rows.push({ name: "float", bpb: await bitsPerByte(floatBytes, evalSet), bytes: floatBytes.length });
for (const b of [4, 3, 2]) {
  if (want(`rtn-${b}`)) rows.push({ name: `rtn-${b}`, bpb: await bitsPerByte(encodeModel(rtn(b)), evalSet) });
}
const variants: [string, ShiftAddPassOptions][] = [
  ["shiftadd-weight-3", { bits: 3, objective: "weight" }],
  ["shiftadd-weight-2", { bits: 2, objective: "weight" }],
  ["shiftadd-output-3", { bits: 3, objective: "output" }],
  ["shiftadd-output-2", { bits: 2, objective: "output" }],
  ["shiftadd-output-3-lat", { bits: 3, objective: "output", mode: "lat" }],
  // The budget counts stored bits (planes + alphas): at group 128, 2 planes store 2.5 and 3 planes 3.75.
  ["shiftadd-budget-3.125", { budget: 3.125, objective: "output" }],
];
for (const [name, o] of variants) {
  if (!want(name)) continue;
  const r = await shiftAdd(name, o);
  rows.push(r);
  console.error(`${name}: ${r.bpb.toFixed(4)} bits/byte (${r.seconds!.toFixed(1)} s)`);
}

const fl = rows[0]!.bpb;
const rtnOf = (bits: number) => rows.find((r) => r.name === `rtn-${bits}`)?.bpb;
console.log(
  `byte-lm-opt, calibration ${calib.count} windows of lm-calib.txt, eval ${evalSet.count} windows of lm-eval.txt, ` +
    `group ${groupSize}, act-order ${
      args["act-order"]
    }, damp ${args.damp}; one float pass over the calibration set: ${floatPass.toFixed(2)} s`,
);
console.log("| variant | avg bits | bits/byte | RTN gap closed | file bytes | quantize s (x float pass) |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) {
  const bits = r.stats?.averageBits ?? Number(r.name.match(/-(\d)(-|$)/)?.[1] ?? 32);
  const ref = rtnOf(Math.round(bits));
  const closed = r.stats && Number.isInteger(bits) && ref !== undefined
    ? `${(((ref - r.bpb) / (ref - fl)) * 100).toFixed(0)}%`
    : "";
  const time = r.seconds !== undefined
    ? `${r.seconds.toFixed(1)} (${(r.seconds / floatPass).toFixed(0)}x)`
    : "";
  console.log(
    `| ${r.name} | ${bits.toFixed(2)} | ${r.bpb.toFixed(4)} | ${closed} | ${r.bytes ?? ""} | ${time} |`,
  );
}
const detail = rows.find((r) => r.name === "shiftadd-output-3") ?? rows.find((r) => r.stats);
if (detail?.stats) {
  console.log(
    `\nper layer (${detail.name}; calibration run ${detail.stats.calibrationSeconds.toFixed(2)} s = ${
      (detail.stats.calibrationSeconds / floatPass).toFixed(1)
    }x float pass):`,
  );
  console.log("| layer | K x N | bits | weight err | output err | seconds | x float pass |");
  console.log("|---|---|---|---|---|---|---|");
  for (const l of detail.stats.layers) {
    console.log(
      `| ${l.node} | ${l.k}x${l.n} | ${l.bits} | ${l.relWeightError.toFixed(4)} | ${
        l.relOutputError.toFixed(4)
      } | ${l.seconds.toFixed(2)} | ${(l.seconds / floatPass).toFixed(2)} |`,
    );
  }
}
const budget = rows.find((r) => r.name === "shiftadd-budget-3.125");
if (budget?.stats) {
  console.log(`\nbits per layer at budget 3.125: ${budget.stats.layers.map((l) => l.bits).join(" ")}`);
}
if (args.json) {
  console.log(JSON.stringify(rows.map(({ stats, ...r }) => ({ ...r, averageBits: stats?.averageBits }))));
}
