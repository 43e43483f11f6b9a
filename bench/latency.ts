/**
 * Emitted models in onnxruntime (issue 17, item 1): for every method on every repository model, session
 * creation time and steady-state latency of the converted file against the float model, in the SAME run,
 * one intra-op thread, graph optimizations "all" (onnxruntime's default), on the same real input (one
 * 128-byte window of lm-eval.txt for the LMs, one eval image for the segmenters). Latency rounds
 * alternate float and emitted sessions, so machine noise hits both; the table reports ratios.
 * Targets: ShiftAdd and DenseShift <= 1.3x float. `--bits B` converts every method at that bit setting
 * (the methods' own defaults otherwise; meant for one method at a time, e.g. DenseShift at 3 bits).
 *
 *   nice -n 10 deno run -A bench/latency.ts [--models a,b] [--methods x,y] [--from DIR] [--samples N]
 *     [--runs R] [--bits B] [--json]
 *
 * Without `--from`, each model is converted first (calibrating on `--samples`, default 16: latency does
 * not depend on the calibration size); with `--from DIR` the files bench/overhead.ts `--save DIR` wrote
 * are used. Load = median of 3 `InferenceSession.create` from bytes; latency = the fastest of R runs
 * (default 30) after 3 warm-up runs: on a machine shared with other jobs the minimum is the stable
 * statistic (the median is printed in the JSON too).
 * @module
 */
import * as ort from "npm:onnxruntime-node@1.30.0";
import type { Method } from "../api/quantize.ts";
import { decodeModel } from "../onnx/codec.ts";
import { toOrtTensor } from "../runtime/ort.ts";
import { convert, firstSamples, floatBytes, listArg, median, methodsFor, MODELS, numArg } from "./_cases.ts";

const args = Deno.args;
const onlyModels = listArg(args, "--models");
const onlyMethods = listArg(args, "--methods");
const samples = numArg(args, "--samples", 16);
const runs = numArg(args, "--runs", 30);
const bitsIdx = args.indexOf("--bits");
const bits = bitsIdx >= 0 ? args[bitsIdx + 1] : undefined;
const fromIdx = args.indexOf("--from");
const fromDir = fromIdx >= 0 ? args[fromIdx + 1] : undefined;
const OPTS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: "all",
};

async function load(bytes: Uint8Array): Promise<{ session: ort.InferenceSession; loadMs: number }> {
  const times: number[] = [];
  let session: ort.InferenceSession | undefined;
  for (let i = 0; i < 3; i++) {
    await session?.release();
    const t0 = performance.now();
    session = await ort.InferenceSession.create(bytes, OPTS);
    times.push(performance.now() - t0);
  }
  return { session: session!, loadMs: median(times) };
}

interface Row {
  model: string;
  method: string;
  floatLoadMs: number;
  loadMs: number;
  floatMs: number;
  ms: number;
  ratio: number;
  floatMedianMs?: number;
  medianMs?: number;
  error?: string;
}
const rows: Row[] = [];
for (const m of MODELS) {
  if (onlyModels && !onlyModels.includes(m.name)) continue;
  const fb = await floatBytes(m);
  const inputName = decodeModel(fb).graph.inputs.find((v) => !v.isConst)!.name;
  const [sample] = await firstSamples(m.eval, inputName, 1);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(sample!)) feeds[k] = toOrtTensor(v);
  const float = await load(fb);
  for (const method of methodsFor(m)) {
    if (onlyMethods && !onlyMethods.includes(method)) continue;
    try {
      const bytes = fromDir
        ? await Deno.readFile(`${fromDir}/${m.name}.${method}.onnx`)
        : (await convert(m, method as Method, samples, undefined, undefined, bits)).bytes;
      const emitted = await load(bytes);
      const sessions = [float.session, emitted.session];
      for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
      const t: number[][] = [[], []];
      for (let r = 0; r < runs; r++) {
        for (let j = 0; j < 2; j++) {
          const t0 = performance.now();
          await sessions[j]!.run(feeds);
          t[j]!.push(performance.now() - t0);
        }
      }
      await emitted.session.release();
      const floatMs = Math.min(...t[0]!), ms = Math.min(...t[1]!);
      const medians = { floatMedianMs: median(t[0]!), medianMs: median(t[1]!) };
      rows.push({
        model: m.name,
        method,
        floatLoadMs: float.loadMs,
        loadMs: emitted.loadMs,
        floatMs,
        ms,
        ratio: ms / floatMs,
        ...medians,
      });
    } catch (e) {
      const error = (e as Error).message.split("\n")[0]!;
      rows.push({
        model: m.name,
        method,
        floatLoadMs: float.loadMs,
        loadMs: NaN,
        floatMs: NaN,
        ms: NaN,
        ratio: NaN,
        error,
      });
    }
    const r = rows[rows.length - 1]!;
    console.error(
      `${r.model} ${r.method}: ${r.error ?? `${r.ms.toFixed(2)} ms vs ${r.floatMs.toFixed(2)} ms float`}`,
    );
  }
  await float.session.release();
}

if (args.includes("--json")) {
  console.log(JSON.stringify({ runs, rows }));
} else {
  console.log(
    "| model | method | load float (ms) | load emitted (ms) | float, fastest (ms) | emitted, fastest (ms) | emitted / float |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      r.error
        ? `| ${r.model} | ${r.method} | ${r.floatLoadMs.toFixed(0)} | error: ${r.error} | | | |`
        : `| ${r.model} | ${r.method} | ${r.floatLoadMs.toFixed(0)} | ${r.loadMs.toFixed(0)} | ${
          r.floatMs.toFixed(2)
        } | ${r.ms.toFixed(2)} | ${r.ratio.toFixed(2)}x |`,
    );
  }
}
