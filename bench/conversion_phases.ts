/**
 * Where a conversion's time goes (issue 17, item 2), next to the float pass bench/overhead.ts divides by:
 * process CPU time (user + system, every thread) and wall time of each onnxruntime session a conversion
 * creates, split into creation and runs, and everything else (JavaScript: decode, normalize, calibration
 * bookkeeping, rewrite, verify, encodes; session releases). Sessions are told apart by the options
 * `quantize()` gives them: the input load check (no graph optimizations), the calibration copy
 * (`CALIBRATION_ORT_OPTIONS`), the emitted-model load check (1 thread, every optimization). Each number is
 * the median over `--reps` conversions of the same model (after one untimed conversion), the float pass the
 * median of one pass right before each of them.
 *
 *   nice -n 10 deno run -A bench/conversion_phases.ts [--models a,b] [--methods x,y] [--samples N] [--reps R]
 *     [--float-spinning on|off] [--rounding nearest|learned] [--warmup 1|0]
 *
 * The float pass is bench/overhead.ts's: a fresh session on 2 intra-op threads (onnxruntime's defaults
 * otherwise, spinning on unless `--float-spinning off`) over the calibration samples in batches of 8.
 * @module
 */
import process from "node:process";
import type { Method } from "../api/quantize.ts";
import { decodeModel } from "../onnx/codec.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import { OrtRuntime, type OrtRuntimeOptions } from "../runtime/ort.ts";
import { convert, floatBytes, listArg, median, methodsFor, MODELS, numArg, repo } from "./_cases.ts";

const args = Deno.args;
const onlyModels = listArg(args, "--models") ?? ["segmenter-tiny", "segmenter-base"];
const onlyMethods = listArg(args, "--methods") ?? ["qdq"];
const samples = numArg(args, "--samples", 64);
const reps = numArg(args, "--reps", 5);
const spinIdx = args.indexOf("--float-spinning");
const floatSpinning = spinIdx < 0 || args[spinIdx + 1] !== "off";
/** `--warmup 0`: no untimed conversion first, so the first measured one is a fresh process's (JIT cold). */
const warmup = numArg(args, "--warmup", 1);
const roundingIdx = args.indexOf("--rounding");
/** DenseShift's rounding (`--rounding`), as bench/overhead.ts passes it; other methods ignore it. */
const extra = roundingIdx >= 0 ? { rounding: args[roundingIdx + 1] } : undefined;

/** CPU milliseconds used by this process so far (user + system, all threads). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

/** Set while the float pass runs: its session is the float pass's whatever its options. */
let inFloatPass = false;

/** What a session is for, from the options quantize() creates it with. */
function kind(o: OrtRuntimeOptions): string {
  if (inFloatPass) return "float pass";
  if (o.graphOptimizationLevel === "disabled") return "input check";
  if (o.allowSpinning === false) return "calibration";
  if (o.intraOpNumThreads === 1) return "emitted check";
  return "other";
}

/** Per phase: [wall ms, CPU ms] accumulated during one measured span. */
let acc = new Map<string, [number, number]>();
const add = (k: string, wall: number, cpu: number) => {
  const a = acc.get(k) ?? [0, 0];
  acc.set(k, [a[0] + wall, a[1] + cpu]);
};
const create = OrtRuntime.create.bind(OrtRuntime);
const run = OrtRuntime.prototype.run;
const kinds = new WeakMap<OrtRuntime, string>();
// Wrapped for the measurement only: every session the conversion creates goes through OrtRuntime.create.
OrtRuntime.create = async (bytes: Uint8Array, options: OrtRuntimeOptions = {}) => {
  const t = performance.now(), c = cpuMs();
  const rt = await create(bytes, options);
  add(`${kind(options)}: create`, performance.now() - t, cpuMs() - c);
  kinds.set(rt, kind(options));
  return rt;
};
OrtRuntime.prototype.run = async function (this: OrtRuntime, feeds, options) {
  const t = performance.now(), c = cpuMs();
  const out = await run.call(this, feeds, options);
  add(`${kinds.get(this) ?? "?"}: runs`, performance.now() - t, cpuMs() - c);
  return out;
};

for (const m of MODELS) {
  if (!onlyModels.includes(m.name)) continue;
  const bytes = await floatBytes(m);
  const inputName = decodeModel(bytes).graph.inputs.find((v) => !v.isConst)!.name;
  const src = await openDataSource(repo(m.calib), { inputName, maxSamples: samples });
  const floatPass = async () => {
    inFloatPass = true;
    const rt = await OrtRuntime.create(bytes, { intraOpNumThreads: 2, allowSpinning: floatSpinning });
    for await (const b of src.batches(8)) await rt.run(b);
    await rt.release();
    inFloatPass = false;
  };
  for (const method of methodsFor(m)) {
    if (!onlyMethods.includes(method)) continue;
    await floatPass();
    if (warmup) await convert(m, method as Method, samples, method === "denseshift" ? extra : undefined);
    const spans: Map<string, [number, number]>[] = [];
    for (let r = 0; r < reps; r++) {
      acc = new Map();
      let t = performance.now(), c = cpuMs();
      await floatPass();
      add("float pass: total", performance.now() - t, cpuMs() - c);
      t = performance.now(), c = cpuMs();
      await convert(m, method as Method, samples, method === "denseshift" ? extra : undefined);
      const wall = performance.now() - t, cpu = cpuMs() - c;
      let sessW = 0, sessC = 0;
      for (const [k, [w, cc]] of acc) if (!k.startsWith("float pass")) sessW += w, sessC += cc;
      add("conversion: onnxruntime sessions", sessW, sessC);
      add("conversion: everything else", wall - sessW, cpu - sessC);
      add("conversion: total", wall, cpu);
      spans.push(acc);
    }
    const keys = [...new Set(spans.flatMap((s) => [...s.keys()]))].sort();
    const med = (k: string, i: 0 | 1) => median(spans.map((s) => s.get(k)?.[i] ?? 0));
    const fp = med("float pass: total", 1);
    console.log(
      `\n${m.name} ${method} (${src.count} samples, ${reps} reps; CPU ratio ${
        (med("conversion: total", 1) / fp).toFixed(2)
      }x)`,
    );
    console.log("| phase | wall (ms) | CPU (ms) | CPU / float pass |");
    console.log("| --- | --- | --- | --- |");
    for (const k of keys) {
      console.log(
        `| ${k} | ${med(k, 0).toFixed(1)} | ${med(k, 1).toFixed(1)} | ${(med(k, 1) / fp).toFixed(2)}x |`,
      );
    }
  }
}
