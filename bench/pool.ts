/**
 * What a worker costs (runtime/pool.ts), and so where each pool task's `minWeights` threshold lies: the wall
 * and process CPU time of a fresh pool's first `map` (workers created, module graph loaded, the task module
 * imported and its WebAssembly kernels instantiated on the first job) against the same tiny jobs run in this
 * thread; then the serial cost per weight of each task on a mid-size layer. A map pays for its workers when
 * its serial time exceeds about twice the start-up wall time (two workers halve the rest).
 *
 * With `--lm LAYERSxWIDTH` (e.g. `4x1024`) it then converts a synthetic OPT-shaped LM of that shape
 * (bench/_synthetic_lm.ts; calibration `--samples` windows of testdata/lm-calib.txt) with each `--methods`
 * entry (default gptq,shiftadd), `--repeats` times, threads 1 and `--threads` interleaved in this process,
 * and prints wall and process CPU time of the whole `quantize()` call and of the method's pass: a model
 * whose layers are large enough that each worker's JIT warm-up is small beside its share of the work.
 *
 *   nice -n 10 deno run -A bench/pool.ts [--threads 2] [--repeats 5] [--lm 4x1024 --methods gptq,shiftadd
 *     --samples 8 --calibrate whole|per-layer]
 * @module
 */
import process from "node:process";
import { mulberry32 } from "../quant/_rng.ts";
import { GPTQ_TASK, RTN_TASK } from "../passes/weightonly/weight_only_task.ts";
import { SHIFT_ADD_TASK } from "../passes/shiftadd/shift_add_task.ts";
import { WorkerPool } from "../runtime/pool.ts";
import type { PoolJob, PoolTask } from "../runtime/runtime.ts";
import { listArg, median, numArg, repo } from "./_cases.ts";
import { type Method, quantize } from "../api/quantize.ts";
import { loadModel } from "../onnx/io.ts";
import { writeSyntheticLm } from "./_synthetic_lm.ts";
import { coresAvailable } from "./_cores.ts";

const threads = numArg(Deno.args, "--threads", 2);
const repeats = numArg(Deno.args, "--repeats", 5);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** A `K x N` layer and a positive-definite Hessian from random rows. */
function layer(seed: number, k: number, n: number) {
  const r = mulberry32(seed);
  const w = Float32Array.from({ length: k * n }, () => r() - 0.5);
  const rows = 2 * k, x = Float32Array.from({ length: rows * k }, () => r() - 0.5);
  const h = new Float64Array(k * k);
  for (let t = 0; t < rows; t++) {
    for (let i = 0; i < k; i++) {
      const xi = x[t * k + i]! / rows;
      for (let j = 0; j < k; j++) h[i * k + j]! += xi * x[t * k + j]!;
    }
  }
  return { w, h };
}

type AnyTask = PoolTask<unknown, unknown>;
interface Case {
  task: AnyTask;
  label: string;
  jobs: (k: number, n: number, count: number) => PoolJob<unknown>[];
}
/** `count` synthetic k x n layers as pool jobs, each with the task arguments `argsOf` builds. */
const layerJobs =
  (argsOf: (w: Float32Array, h: Float64Array, k: number, n: number) => unknown) =>
  (k: number, n: number, count: number): PoolJob<unknown>[] =>
    Array.from({ length: count }, (_, i) => {
      const { w, h } = layer(i + 1, k, n);
      return {
        label: `l${i}`,
        weights: k * n,
        bytes: 4 * k * n + 8 * k * k,
        args: () => ({ args: argsOf(w, h, k, n) }),
      };
    });
const blockwise = (hessian: boolean) =>
  layerJobs((w, h, k, n) => ({
    weight: w,
    k,
    n,
    hessian: hessian ? h : null,
    options: { bits: 4, groupSize: 32 },
    dequantized: false,
  }));
const cases: Case[] = [
  { task: GPTQ_TASK as AnyTask, label: "gptq", jobs: blockwise(true) },
  { task: RTN_TASK as AnyTask, label: "rtn", jobs: blockwise(false) },
  {
    task: SHIFT_ADD_TASK as AnyTask,
    label: "shiftadd",
    jobs: layerJobs((w, h, k, n) => ({
      hessian: h,
      layers: [{ weight: w, k, n, options: { bits: 3, groupSize: 64 }, cached: false }],
      dequantized: false,
    })),
  },
];

async function timed(f: () => Promise<void>): Promise<[number, number]> {
  const t0 = performance.now(), c0 = cpu();
  await f();
  return [(performance.now() - t0) / 1000, cpu() - c0];
}

console.log(
  `Worker start-up: ${threads} workers, median of ${repeats} fresh pools (wall / process CPU, ms)\n`,
);
console.log("| task | first map on fresh workers | same jobs in this thread | start-up cost |");
console.log("| --- | --- | --- | --- |");
for (const c of cases) {
  const jobs = c.jobs(32, 16, threads);
  const task = { ...c.task, minWeights: 0 };
  const par: [number, number][] = [], ser: [number, number][] = [];
  for (let r = 0; r < repeats; r++) {
    const pool = new WorkerPool({ threads });
    par.push(await timed(() => pool.map(task, jobs, () => {})));
    pool.close();
    const one = new WorkerPool({ threads: 1 });
    ser.push(await timed(() => one.map(task, jobs, () => {})));
  }
  const m = (xs: [number, number][], i: 0 | 1) => 1000 * median(xs.map((x) => x[i]));
  console.log(
    `| ${c.label} | ${m(par, 0).toFixed(0)} / ${m(par, 1).toFixed(0)} | ${m(ser, 0).toFixed(1)} / ${
      m(ser, 1).toFixed(1)
    } | ${(m(par, 0) - m(ser, 0)).toFixed(0)} / ${(m(par, 1) - m(ser, 1)).toFixed(0)} |`,
  );
}

console.log(
  "\nSerial cost per weight (one 256 x 256 layer, this thread, median of 3) and the task's threshold\n",
);
console.log("| task | ns per weight | serial time at minWeights (ms) |");
console.log("| --- | --- | --- |");
for (const c of cases) {
  const k = 256, n = 256;
  const pool = new WorkerPool({ threads: 1 });
  const ts: number[] = [];
  for (let r = 0; r < 3; r++) {
    const jobs = c.jobs(k, n, 1);
    ts.push((await timed(() => pool.map(c.task, jobs, () => {})))[0]);
  }
  const ns = 1e9 * median(ts) / (k * n);
  console.log(`| ${c.label} | ${ns.toFixed(1)} | ${(ns * c.task.minWeights / 1e6).toFixed(0)} |`);
}

const lmArg = Deno.args[Deno.args.indexOf("--lm") + 1];
if (Deno.args.includes("--lm") && lmArg) {
  const [layers, width] = lmArg.split("x").map(Number) as [number, number];
  const methods = (listArg(Deno.args, "--methods") ?? ["gptq", "shiftadd"]) as Method[];
  const samples = numArg(Deno.args, "--samples", 8);
  const ci = Deno.args.indexOf("--calibrate");
  const calibrate = ci >= 0 ? Deno.args[ci + 1] : undefined;
  const dir = await Deno.makeTempDir({ prefix: "pool_lm_" });
  try {
    const lm = await writeSyntheticLm(dir, { layers, width });
    console.log(
      `\nSynthetic OPT-shaped LM ${layers} x ${width} (${
        (lm.matmulWeights / 1e6).toFixed(1)
      } M MatMul weights), ` +
        `${samples} calibration samples${
          calibrate ? `, calibrate ${calibrate}` : ""
        }; threads 1 and ${threads} ` +
        `interleaved, median of ${repeats} (wall / process CPU, s)\n`,
    );
    const before = await coresAvailable(threads);
    const lines: string[] = [];
    for (const method of methods) {
      const runs = new Map<number, { all: [number, number][]; pass: number[]; jobs: string }>();
      for (let r = 0; r < repeats; r++) {
        for (const t of [1, threads]) {
          const model = await loadModel(lm.model);
          let report;
          const all = await timed(async () => {
            report = await quantize(model, {
              method,
              calib: repo("testdata/lm-calib.txt"),
              samples,
              threads: t,
              ...(calibrate ? { extra: { calibrate } } : {}),
            });
          });
          const rep = report!;
          const step = rep.steps[rep.steps.length - 1]!;
          const row = runs.get(t) ?? { all: [], pass: [], jobs: "" };
          row.all.push(all);
          row.pass.push(step.ms / 1000);
          const th = rep.threads;
          row.jobs = `${th.parallelJobs} / ${th.parallelJobs + th.serialJobs}`;
          runs.set(t, row);
        }
      }
      for (const [t, row] of runs) {
        lines.push(
          `| ${method} | ${t} | ${median(row.all.map((x) => x[0])).toFixed(1)} / ${
            median(row.all.map((x) => x[1])).toFixed(1)
          } | ${median(row.pass).toFixed(1)} (wall) | ${row.jobs} |`,
        );
      }
    }
    const after = await coresAvailable(threads);
    console.log(
      `cores this process got (${threads} spinning workers, before / after): ${before.toFixed(2)} / ${
        after.toFixed(2)
      }\n`,
    );
    console.log("| method | threads | quantize() | the method's pass | jobs on workers / all |");
    console.log("| --- | --- | --- | --- | --- |");
    lines.forEach((l) => console.log(l));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
