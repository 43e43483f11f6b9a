/**
 * The first conversions of a fresh process (what `shiftkit quantize` pays: every conversion is a first one),
 * next to the steady state bench/conversion_phases.ts measures after a warm-up: process CPU and wall time of
 * `--reps` conversions in a row, after one onnxruntime session of the float model (onnxruntime initialised,
 * as bench/overhead.ts's float pass leaves it). The first row includes the JIT's warm-up of the conversion
 * code and the first use of each onnxruntime kernel.
 *
 *   nice -n 10 deno run -A bench/cold_conversion.ts [--models a,b] [--method denseshift] [--rounding nearest]
 *     [--samples 64] [--reps 3]
 *
 * Run it several times (one process per model gives the cold numbers of that model alone).
 * @module
 */
import process from "node:process";
import type { Method } from "../api/quantize.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { convert, floatBytes, listArg, MODELS, numArg } from "./_cases.ts";

const args = Deno.args;
const onlyModels = listArg(args, "--models") ?? ["segmenter-tiny"];
const method = (listArg(args, "--method") ?? ["denseshift"])[0] as Method;
const rounding = listArg(args, "--rounding")?.[0] ?? "nearest";
const samples = numArg(args, "--samples", 64);
const reps = numArg(args, "--reps", 3);

/** CPU milliseconds used by this process so far (user + system, all threads). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

for (const m of MODELS) {
  if (!onlyModels.includes(m.name)) continue;
  await (await OrtRuntime.create(await floatBytes(m), { intraOpNumThreads: 2 })).release();
  for (let i = 0; i < reps; i++) {
    const c = cpuMs(), t = performance.now();
    await convert(m, method, samples, method === "denseshift" ? { rounding } : undefined);
    console.log(
      `${m.name} ${method} conversion ${i}: CPU ${(cpuMs() - c).toFixed(0)} ms, wall ${
        (performance.now() - t).toFixed(0)
      } ms`,
    );
  }
}
