/**
 * Conversion cost (issue 17, item 2): for every method on every repository model, the time of decoding
 * the float file, `quantize()` (normalization, calibration, rewrite, verification) and encoding the
 * result, as a multiple of ONE float onnxruntime pass over the same calibration set (a fresh session, then
 * every sample in batches of 8 on 2 intra-op threads, onnxruntime's defaults otherwise: the float model run
 * as a user runs it). The calibration runtime runs the same batches on 2 threads without spinning
 * (`CALIBRATION_ORT_OPTIONS`); `--float-spinning off` gives the float pass that setting too.
 * Targets: QDQ <= 2x, OS+ <= 5x, DenseShift <= 5x, GPTQ and ShiftAdd <= 20x. The per-pass times (the
 * `ms` of each pipeline step, what `--verbose` prints) show where the time goes.
 *
 * Both wall time and process CPU time (user + system of every thread, onnxruntime's included) are measured
 * for the float pass and the conversion, and both ratios printed: on a shared machine wall time grows with
 * other jobs' load, CPU time much less, so the CPU ratio is the fairer one. The float pass runs on 2
 * threads, conversion mostly on one, so where the machine is idle the wall ratio is the higher.
 *
 *   nice -n 10 deno run -A bench/overhead.ts [--models a,b] [--methods x,y] [--samples N] [--passes P]
 *     [--save DIR] [--json] [--rounding nearest,learned] [--float-spinning on|off] [--threads 1,2]
 *
 * `--samples` limits the calibration set (default: all of it, as the CLI). `--passes` float passes before
 * and after each conversion, the median of all taken (default 3; one untimed pass per model comes first).
 * `--save DIR` writes each converted model to `DIR/<model>.<method>.onnx` for bench/latency.ts `--from DIR`.
 * `--rounding` converts
 * DenseShift once per listed rounding (rows `denseshift-nearest`, `denseshift-learned`; default: the
 * method's default only). `--threads 1,2` converts once per listed thread count (`quantize`'s `threads`:
 * the per-layer fits on worker threads, runtime/pool.ts), one right after the other for each model and method,
 * so both see the same load (default: `quantize`'s default only); the table says how many workers ran.
 * @module
 */
import process from "node:process";
import type { Method } from "../api/quantize.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { coresAvailable } from "./_cores.ts";
import { convert, floatBytes, listArg, median, methodsFor, MODELS, numArg, repo } from "./_cases.ts";

/** CPU seconds used by this process so far (user + system, all threads). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const args = Deno.args;
const onlyModels = listArg(args, "--models");
const onlyMethods = listArg(args, "--methods");
const samplesArg = numArg(args, "--samples", 0);
const samples = samplesArg > 0 ? samplesArg : undefined;
/** Float passes before and after each conversion (the median of all is the denominator). */
const floatPasses = numArg(args, "--passes", 3);
const roundings = listArg(args, "--rounding");
const threadCounts: (number | undefined)[] = listArg(args, "--threads")?.map(Number) ?? [undefined];
const spinIdx = args.indexOf("--float-spinning");
const floatSpinning = spinIdx < 0 || args[spinIdx + 1] !== "off";
const saveIdx = args.indexOf("--save");
const saveDir = saveIdx >= 0 ? args[saveIdx + 1] : undefined;
if (saveDir) await Deno.mkdir(saveDir, { recursive: true });

/**
 * Float passes over the calibration set, seconds each: a fresh onnxruntime session (creation included, as for
 * any user of the float model) run over every batch. Measured right before and right after every conversion
 * (`passes` each), the median of both taken, so that the ratio compares times taken under the load the
 * conversion saw (other jobs share the cores).
 */
async function floatPass(
  file: Uint8Array,
  calib: string,
  inputName: string,
  passes: number,
): Promise<{ s: number[]; cpuS: number[]; n: number }> {
  const src = await openDataSource(repo(calib), { inputName, ...(samples ? { maxSamples: samples } : {}) });
  const times: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < passes; r++) {
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const rt = await OrtRuntime.create(file, { intraOpNumThreads: 2, allowSpinning: floatSpinning });
    for await (const b of src.batches(8)) await rt.run(b);
    times.push((performance.now() - t0) / 1000);
    cpu.push(cpuSeconds() - c0);
    await rt.release();
  }
  return { s: times, cpuS: cpu, n: src.count };
}

interface Row {
  model: string;
  method: string;
  samples: number;
  floatPassS: number;
  convertS: number;
  ratio: number;
  /** Process CPU seconds of the float pass and the conversion, and their ratio. */
  floatPassCpuS: number;
  convertCpuS: number;
  cpuRatio: number;
  /** Threads asked for (undefined: the default) and workers that ran. */
  threads?: number;
  workers: number;
  passes: Record<string, number>;
  error?: string;
}
const rows: Row[] = [];
// With --threads: the cores this process gets (two spinning workers), before and after, beside the table.
const cores: number[] = threadCounts.some((t) => t !== undefined && t > 1) ? [await coresAvailable(2)] : [];
const { decodeModel } = await import("../onnx/codec.ts");
for (const m of MODELS) {
  if (onlyModels && !onlyModels.includes(m.name)) continue;
  const bytes = await floatBytes(m);
  const inputName = decodeModel(bytes).graph.inputs.find((v) => !v.isConst)!.name;
  // one untimed pass: onnxruntime's first session in the process and the data's first decode are not a pass
  await floatPass(bytes, m.calib, inputName, 1);
  const runs = methodsFor(m).flatMap((
    method,
  ): { method: Method; label: string; extra?: Record<string, unknown> }[] =>
    method === "denseshift" && roundings
      ? roundings.map((rounding) => ({ method, label: `${method}-${rounding}`, extra: { rounding } }))
      : [{ method, label: method }]
  );
  for (
    const { method, label, extra, threads } of runs.flatMap((r) =>
      threadCounts.map((threads) => ({ ...r, threads }))
    )
  ) {
    if (onlyMethods && !onlyMethods.includes(method)) continue;
    const before = await floatPass(bytes, m.calib, inputName, floatPasses);
    const t0 = performance.now();
    const c0 = cpuSeconds();
    // after the conversion, whatever its outcome: the float passes that bracket it
    const around = async () => {
      const after = await floatPass(bytes, m.calib, inputName, floatPasses);
      return {
        s: median([...before.s, ...after.s]),
        cpuS: median([...before.cpuS, ...after.cpuS]),
        n: before.n,
      };
    };
    try {
      const { bytes: out, report } = await convert(m, method as Method, samples, extra, threads);
      const convertS = (performance.now() - t0) / 1000;
      const convertCpuS = cpuSeconds() - c0;
      const fp = await around();
      if (saveDir) await Deno.writeFile(`${saveDir}/${m.name}.${label}.onnx`, out);
      const passes: Record<string, number> = {};
      for (const s of report.steps) passes[s.pass] = (passes[s.pass] ?? 0) + s.ms / 1000;
      rows.push({
        model: m.name,
        method: label,
        samples: report.calibrationSamples,
        floatPassS: fp.s,
        convertS,
        ratio: convertS / fp.s,
        floatPassCpuS: fp.cpuS,
        convertCpuS,
        cpuRatio: convertCpuS / fp.cpuS,
        ...(threads !== undefined ? { threads } : {}),
        workers: report.threads.workers,
        passes,
      });
    } catch (e) {
      const fp = await around();
      rows.push({
        model: m.name,
        method: label,
        samples: fp.n,
        floatPassS: fp.s,
        convertS: NaN,
        ratio: NaN,
        floatPassCpuS: fp.cpuS,
        convertCpuS: NaN,
        cpuRatio: NaN,
        ...(threads !== undefined ? { threads } : {}),
        workers: 0,
        passes: {},
        error: (e as Error).message.split("\n")[0]!,
      });
    }
    const r = rows[rows.length - 1]!;
    console.error(
      `${r.model} ${r.method}${r.threads !== undefined ? ` threads ${r.threads}` : ""}: ${
        r.error ??
          `${r.convertS.toFixed(1)} s = ${r.ratio.toFixed(1)}x float pass (CPU ${
            r.convertCpuS.toFixed(1)
          } s = ${r.cpuRatio.toFixed(1)}x)`
      }`,
    );
  }
}

if (cores.length) cores.push(await coresAvailable(2));
if (args.includes("--json")) {
  console.log(JSON.stringify({ rows, ...(cores.length ? { coresAvailable: cores } : {}) }));
} else {
  if (cores.length) {
    console.log(
      `cores this process got (two spinning workers, before / after): ${
        cores.map((c) => c.toFixed(2)).join(" / ")
      }\n`,
    );
  }
  console.log(
    "| model | method | threads (workers) | calib samples | float pass (s): wall / CPU | conversion (s): wall / CPU | overhead: wall / CPU | slowest passes (s) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const top = Object.entries(r.passes).sort((a, b) => b[1] - a[1]).slice(0, 2)
      .map(([p, s]) => `${p} ${s.toFixed(1)}`).join(", ");
    console.log(
      `| ${r.model} | ${r.method} | ${r.threads ?? "default"} (${r.workers}) | ${r.samples} | ${
        r.floatPassS.toFixed(2)
      } / ${r.floatPassCpuS.toFixed(2)} | ${
        r.error ? "error" : `${r.convertS.toFixed(1)} / ${r.convertCpuS.toFixed(1)}`
      } | ${r.error ? r.error : `${r.ratio.toFixed(1)}x / ${r.cpuRatio.toFixed(1)}x`} | ${top} |`,
    );
  }
}
