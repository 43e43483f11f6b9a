/**
 * Acceptance table of the integer-only conversion (issues 6 and 15, METHODS.md section 4), for every
 * Segmenter in testdata/: mIoU on `<model>-eval` (256 images) of the float model and of integer-only models
 * calibrated on `<model>-calib`, with the default settings and with each choice switched in turn (L2
 * normalisation removed as in I-Segmenter or kept in float, bilinear upsampling in float, plain ShiftGelu,
 * 8-bit Shiftmax, percentile / MSE calibration, one calibration image). Per row: the SQNR of the last layer
 * and the worst layer against float on calibration data (how defaults are chosen: never on the eval set).
 * Then onnxruntime latency of the float and the integer-only model, measured in the same run (one thread,
 * batch 1, median). Scored with onnxruntime-node running the emitted file (shiftkit ops through their
 * function bodies).
 *
 *   deno run -A bench/integer_only.ts [--models segmenter-tiny,segmenter-base] [--quick] [--profile] [--json]
 *
 * `--quick`: the default row only. `--profile`: also onnxruntime's profile of the integer-only model (10
 * runs, one thread): nodes per run after function inlining and the share of time per shiftkit op body.
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import { silentReporter } from "../onnx/reporter.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { convertIntegerOnly, type IntegerOnlyOptions } from "../passes/intvit/integer_only.ts";
import { integerOnlyViolations } from "../passes/intvit/integer_only_check.ts";
import { makePassRuntime } from "../runtime/collect.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import type { SegmentationSource } from "../runtime/data/mod.ts";
import { argmaxClasses, SegmentationMeter } from "../runtime/metrics.ts";
import { OrtRuntime, ortRuntimeFactory, toOrtTensor } from "../runtime/ort.ts";
import * as ort from "onnxruntime-node";
import { loadModel } from "../onnx/io.ts";

const arg = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const json = Deno.args.includes("--json");
const quick = Deno.args.includes("--quick");
const profile = Deno.args.includes("--profile");
const names = (arg("models") ?? "segmenter-tiny,segmenter-base").split(",");

const ROWS: [string, IntegerOnlyOptions][] = [
  ["integer-only (defaults, 32 calib images)", {}],
  ["  1 calibration image", { samples: 1 }],
  ["  L2 normalisation removed (I-Segmenter)", { l2Norm: "remove" }],
  ["  L2 normalisation kept in float", { keepL2norm: true }],
  ["  bilinear upsampling in float", { nearestResize: false }],
  ["  plain ShiftGelu instead of lambda", { gelu: "shift" }],
  ["  8-bit Shiftmax (I-ViT) instead of 16", { softmaxBits: 8 }],
  ["  percentile 99.99 calibration", { calibrator: "percentile" }],
  ["  MSE calibration", { calibrator: "mse" }],
];

async function mIoU(name: string, bytes: Uint8Array): Promise<number> {
  const evalSet = await openDataSource(`testdata/${name}-eval`, {
    preset: "segmenter",
  }) as SegmentationSource;
  const rt = await ortRuntimeFactory()(bytes);
  const meter = new SegmentationMeter(evalSet.classes.length || 4);
  let i = 0;
  for await (const batch of evalSet.batches(32)) {
    for (const p of argmaxClasses((await rt.run(batch)).logits!)) meter.add(p, evalSet.masks![i++]!);
  }
  await rt.release();
  return meter.meanIoU();
}

/** Median onnxruntime latency (ms, one thread, one image) of each model, alternating between them. */
async function latencies(name: string, models: Uint8Array[], runs = 30): Promise<number[]> {
  const evalSet = await openDataSource(`testdata/${name}-eval`, { preset: "segmenter", maxSamples: 1 });
  let feeds: Record<string, Tensor> | undefined;
  for await (const b of evalSet.batches(1)) feeds = b;
  const rts = await Promise.all(models.map((b) => OrtRuntime.create(b, { intraOpNumThreads: 1 })));
  const times: number[][] = models.map(() => []);
  for (let r = 0; r < runs + 3; r++) {
    for (const [i, rt] of rts.entries()) {
      const t = performance.now();
      await rt.run(feeds!);
      if (r >= 3) times[i]!.push(performance.now() - t);
    }
  }
  await Promise.all(rts.map((rt) => rt.release()));
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
}

/** onnxruntime's node profile of a model: nodes per run and time per function body (inlined nodes). */
async function ortProfile(name: string, bytes: Uint8Array, runs = 10) {
  const dir = await Deno.makeTempDir();
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    enableProfiling: true,
    profileFilePrefix: `${dir}/profile`,
  });
  const evalSet = await openDataSource(`testdata/${name}-eval`, { preset: "segmenter", maxSamples: 1 });
  const feeds: Record<string, ort.Tensor> = {};
  for await (const b of evalSet.batches(1)) for (const [k, t] of Object.entries(b)) feeds[k] = toOrtTensor(t);
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  let events: { cat?: string; name: string; dur: number }[] = [];
  for await (const e of Deno.readDir(dir)) events = JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`));
  await Deno.remove(dir, { recursive: true });
  const by = new Map<string, { us: number; nodes: number }>();
  let total = 0, nodes = 0;
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
    // Inlined function nodes are named `_inlfunc_<Op>_token...`; the rest are the graph's own nodes.
    const m = /^_inlfunc_([A-Za-z]+)_/.exec(e.name);
    const key = m ? m[1]! : "graph nodes";
    const a = by.get(key) ?? { us: 0, nodes: 0 };
    a.us += e.dur;
    a.nodes++;
    by.set(key, a);
    total += e.dur;
    nodes++;
  }
  return {
    nodesPerRun: nodes / runs,
    msPerRunProfiled: total / runs / 1000,
    share: [...by].sort((a, b) => b[1].us - a[1].us).map(([k, a]) => ({
      body: k,
      percent: (100 * a.us) / total,
      nodesPerRun: a.nodes / runs,
    })),
  };
}

const results = [];
for (const name of names) {
  const floatBytes = encodeModel(await loadModel(`testdata/${name}.onnx`));
  const floatScore = await mIoU(name, floatBytes);
  const rows = [];
  let defaultBytes: Uint8Array | undefined;
  for (const [config, options] of quick ? ROWS.slice(0, 1) : ROWS) {
    const model = await loadModel(`testdata/${name}.onnx`);
    const calib = await openDataSource(`testdata/${name}-calib`, {
      preset: "segmenter",
      ...(options.samples ? { maxSamples: options.samples } : {}),
    });
    const report = await convertIntegerOnly(model, {
      reporter: silentReporter,
      runtime: makePassRuntime(calib, ortRuntimeFactory()),
    }, { sqnrBatches: 4, ...options });
    const bytes = encodeModel(model);
    defaultBytes ??= bytes;
    const score = await mIoU(name, bytes);
    const worst = [...report.layers].sort((a, b) => a.sqnrDb - b.sqnrDb)[0];
    const last = report.layers[report.layers.length - 1];
    rows.push({
      config,
      mIoU: score,
      gap: floatScore - score,
      floatNodes: report.floatNodes.length,
      integerOnly: integerOnlyViolations(model).length === 0,
      lastLayerSqnrDb: last?.sqnrDb ?? NaN,
      worstLayer: worst ? { value: worst.value, op: worst.op, sqnrDb: worst.sqnrDb } : null,
      bytes: bytes.length,
    });
  }
  const [floatMs = NaN, intMs = NaN] = await latencies(name, [floatBytes, defaultBytes!]);
  const prof = profile ? await ortProfile(name, defaultBytes!) : undefined;
  results.push({ model: name, float: floatScore, floatBytes: floatBytes.length, rows, floatMs, intMs, prof });
}

if (json) console.log(JSON.stringify(results));
else {
  for (const r of results) {
    console.log(`\n${r.model}: mIoU on ${r.model}-eval (256 images), float ${r.float.toFixed(4)}\n`);
    console.log(
      "| config | mIoU | gap (points) | float nodes | last-layer SQNR (calib) | worst layer (calib) | bytes |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    console.log(`| float (onnxruntime) | ${r.float.toFixed(4)} | 0 | - | - | - | ${r.floatBytes} |`);
    for (const x of r.rows) {
      const w = x.worstLayer
        ? `${x.worstLayer.value} (${x.worstLayer.op}) ${x.worstLayer.sqnrDb.toFixed(1)} dB`
        : "-";
      console.log(
        `| ${x.config} | ${x.mIoU.toFixed(4)} | ${(100 * x.gap).toFixed(2)} | ${x.floatNodes} | ${
          x.lastLayerSqnrDb.toFixed(1)
        } dB | ${w} | ${x.bytes} |`,
      );
    }
    console.log(
      `\nonnxruntime latency (1 thread, batch 1, median of 30): float ${
        r.floatMs.toFixed(2)
      } ms, integer-only ${r.intMs.toFixed(2)} ms (${(r.intMs / r.floatMs).toFixed(1)}x)`,
    );
    if (r.prof) {
      const top = r.prof.share.slice(0, 6).map((x) =>
        `${x.body} ${x.percent.toFixed(0)}% (${x.nodesPerRun} nodes)`
      );
      console.log(
        `onnxruntime profile of the integer-only model: ${r.prof.nodesPerRun} nodes per run, ${
          r.prof.msPerRunProfiled.toFixed(1)
        } ms per run profiled; ${top.join(", ")}`,
      );
    }
  }
}
