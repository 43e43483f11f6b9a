/**
 * `quantize(model, options)`: the library entry point behind `shiftkit quantize`. It checks that the model
 * can be quantized (not already quantized, not fp16), normalizes it (Constant nodes -> initializers,
 * BatchNorm folded, dead code removed, opset lifted where the method needs it), opens the calibration data,
 * and runs the chosen method's passes with a calibration runtime and a reporter in their context.
 * @module
 */
import { InternalError } from "../onnx/errors.ts";
import { storedBytes } from "../onnx/io.ts";
import type { Model, Value } from "../onnx/ir.ts";
import { attachSpill, canSpill, releaseSpilled, TensorSpill } from "../onnx/spill.ts";
import { isAnyOp, QUANTIZED_OPS, SHIFTKIT_DOMAIN, WEIGHTED_OPS } from "../onnx/ops.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import { DataType } from "../onnx/tensor.ts";
import { verify } from "../onnx/verify.ts";
import { constantsToInitializers } from "../passes/normalize/mod.ts";
import { dce } from "../passes/normalize/mod.ts";
import { dedupe } from "../passes/normalize/mod.ts";
import { foldBatchNormPass } from "../passes/normalize/mod.ts";
import { canonicalizePass, initializerInputs } from "../passes/normalize/mod.ts";
import { qdqPass } from "../passes/qdq/mod.ts";
import { type Pass, type PipelineResult, runPipeline } from "../passes/pass.ts";
import { type StorageAccount, storageAccount } from "../passes/storage.ts";
import type { CalibratorKind } from "../quant/observers.ts";
import { loadBuilt, makePassRuntime } from "../runtime/collect.ts";
import { type DataSource, modelInputs } from "../runtime/data/mod.ts";
import type { Preprocess } from "../runtime/images.ts";
import { ortRuntimeFactory, type OrtRuntimeOptions } from "../runtime/ort.ts";
import { type PoolSummary, WorkerPool } from "../runtime/pool.ts";
import type { RuntimeFactory } from "../runtime/runtime.ts";
import { openData } from "./data.ts";
import { checkInputModel } from "./input_model.ts";
import { DEFERRED_INPUT_CHECK_BYTES, inputLoadCheck } from "./_input_load.ts";
import { checkWrittenFinite, finiteOnly, snapshotInitializers } from "./_finite.ts";
import { METHOD_PASSES } from "./methods.ts";
import { refuseNoSites, type SiteSummary, summarizeSites } from "./sites.ts";

/** Quantization methods. */
export type Method = "qdq" | "osplus" | "shiftadd" | "denseshift" | "intvit" | "rtn" | "gptq";

/** All method names. */
export const METHODS: readonly Method[] = [
  "qdq",
  "osplus",
  "shiftadd",
  "denseshift",
  "intvit",
  "rtn",
  "gptq",
];

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /** The method. */
  method: Method;
  /**
   * Bit setting: `W8A8` | `W6A6` | `W4A4` (qdq, osplus); 2 | 3 | 4 (shiftadd); 3..6 (denseshift); 8 (intvit);
   * 2 | 3 | 4 | 8 (rtn, gptq: weight-only).
   * @default W8A8, 3, 4, 8 and 4 respectively
   */
  bits?: string | number;
  /** Calibration data: a DATA spec (path, eval-set prefix) or a ready source. Never the eval data. */
  calib: string | DataSource;
  /** Preprocessing preset for image folders / eval sets. @default the data's own */
  preprocess?: Preprocess;
  /** Calibration samples to use. @default all (intvit: 32) */
  samples?: number;
  /** Samples per calibration run. @default 8 */
  batchSize?: number;
  /** Activation calibrator (qdq, osplus). @default "minmax" */
  calibrator?: CalibratorKind;
  /** Node or output names to leave unquantized. @default [] */
  exclude?: string[];
  /** Float runtime for calibration (and the load checks). @default onnxruntime-node, {@link CALIBRATION_ORT_OPTIONS} */
  runtime?: RuntimeFactory;
  /** Progress and warnings. @default silent */
  reporter?: Reporter;
  /**
   * Write the model even when the method converted nothing (else {@link NothingConvertedError}).
   * @default false
   */
  allowNoSites?: boolean;
  /**
   * Largest stored size of a model loaded whole into the float runtime for the input / emitted-model load
   * checks; above it the check is skipped and said so in `skippedChecks`.
   * @default {WHOLE_LOAD_CHECK_BYTES} (1 GB)
   */
  maxWholeLoadBytes?: number;
  /**
   * Worker threads for the per-layer fits (GPTQ, RTN, ShiftAdd, DenseShift in one calibration round;
   * runtime/pool.ts); 1 runs everything in this thread. Results are the same bytes either way.
   * @default {navigator.hardwareConcurrency, at most 8; 1 for a model above `maxWholeLoadBytes`, converted one layer
   *   at a time to bound memory}
   */
  threads?: number;
  /**
   * A pool to run the per-layer fits on instead of a new one of `threads` (which is then ignored): its workers,
   * once warm, serve conversion after conversion. The caller closes it; the report's `threads` is its summary
   * so far.
   * @default {a new pool, closed when the call returns}
   */
  pool?: WorkerPool;
  /** Method-specific options (see each method's pass): mode, budget, objective, minSqnr, keepFirstLast, gelu, keepL2norm. */
  extra?: Record<string, unknown>;
  /**
   * Move each converted layer's emitted tensors to a scratch file as soon as the layer is done (rtn, gptq,
   * shiftadd: onnx/spill.ts), so memory does not grow with the layers emitted: `"auto"` for a model above
   * `maxWholeLoadBytes` (the models whose memory is bounded by one layer) where a file system is at hand
   * (Deno; not in a browser), `true` always. The model then reads them from that file: save it, then call
   * {@link releaseSpilled} (saveModel copies them into the external data file by range; a failed quantize
   * closes the file itself).
   * @default "auto"
   */
  spill?: "auto" | boolean;
  /** Folder of the spill's scratch file. @default the OS temp folder */
  spillDir?: string;
}

/** What {@link quantize} did. */
export interface QuantizeReport {
  /** The method that ran. */
  method: Method;
  /** The bit setting, normalized ("W8A8", "3", ...). */
  bits: string;
  /** Stored size before and after, bytes: the graph plus all tensor data, external data included. */
  sizeBefore: number;
  /** Stored size after, bytes. */
  sizeAfter: number;
  /** Every pass that ran, with its notes. */
  steps: PipelineResult["steps"];
  /** Calibration samples read. */
  calibrationSamples: number;
  /** What the method converted, and why it left the other candidates. */
  sites: SiteSummary;
  /** Wall time of the whole call, ms. */
  elapsedMs: number;
  /** Checks not run, each with why (a model too large to load whole into the runtime). */
  skippedChecks?: string[];
  /** Threads asked for, workers that ran, and why any per-layer work ran serially (runtime/pool.ts). */
  threads: PoolSummary;
  /**
   * True storage of the converted layers (passes/storage.ts): all bits their initializers hold / their weight
   * count; absent when the method's passes declare no per-layer storage.
   */
  storage?: StorageAccount;
  /** Emitted tensors moved to a scratch file as their layers were done (absent when spilling was off). */
  spilled?: { tensors: number; bytes: number };
}

/** The model cannot (or must not) be quantized: already quantized, fp16, no weights... */
export class QuantizeInputError extends TypeError {
  /**
   * Create the error.
   * @param detail why
   */
  constructor(detail: string) {
    super(detail);
    this.name = "QuantizeInputError";
  }
}

/**
 * Why a model should not be quantized, or undefined when it can be.
 *
 * @param model the model
 * @returns a reason a person can act on
 */
export function whyNotQuantizable(model: Model): string | undefined {
  let quantOps = 0, shiftOps = 0, fp16 = 0, fp32 = 0, weighted = 0;
  for (const n of model.allNodes()) {
    if (isAnyOp(n, QUANTIZED_OPS)) quantOps++;
    if (n.domain === SHIFTKIT_DOMAIN) shiftOps++;
    if (isAnyOp(n, WEIGHTED_OPS)) weighted++;
  }
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      const t = v.type?.elemType;
      if (t === DataType.FLOAT16 || t === DataType.BFLOAT16) fp16++;
      if (t === DataType.FLOAT) fp32++;
    }
  }
  if (shiftOps > 0) {
    return `the model already contains ${shiftOps} shiftkit ops: it was converted by shiftkit before`;
  }
  if (quantOps > 0) {
    return `the model is already quantized (${quantOps} QuantizeLinear/DequantizeLinear/integer ops)`;
  }
  if (fp16 > 0 && fp32 === 0) {
    return `the model stores its weights in float16/bfloat16; convert it to float32 first`;
  }
  if (weighted === 0) return "the model has no MatMul, Gemm or Conv to quantize";
  return undefined;
}

/** Parse a bit setting for a method, with the method's default. */
export function parseBits(
  method: Method,
  bits: string | number | undefined,
): { weight: number; activation: number; label: string } {
  if (method === "qdq" || method === "osplus") {
    const s = String(bits ?? "W8A8").toUpperCase();
    const m = /^W(\d)A(\d)$/.exec(s);
    if (!m || !["W8A8", "W6A6", "W4A4"].includes(s)) {
      throw new RangeError(`--bits for ${method} must be W8A8, W6A6 or W4A4, got "${bits}"`);
    }
    return { weight: Number(m[1]), activation: Number(m[2]), label: s };
  }
  const allowed: Record<string, number[]> = {
    shiftadd: [2, 3, 4],
    denseshift: [3, 4, 5, 6],
    intvit: [8],
    rtn: [2, 3, 4, 8],
    gptq: [2, 3, 4, 8],
  };
  const dflt: Record<string, number> = { shiftadd: 3, denseshift: 4, intvit: 8, rtn: 4, gptq: 4 };
  const b = bits === undefined ? dflt[method]! : Number(bits);
  if (!allowed[method]!.includes(b)) {
    throw new RangeError(`--bits for ${method} must be one of ${allowed[method]!.join(", ")}, got "${bits}"`);
  }
  return { weight: b, activation: method === "intvit" ? 8 : 32, label: String(b) };
}

/**
 * Above this stored size a model is not loaded whole into the float runtime for a check (input loads,
 * emitted model loads): that would hold the whole model in memory, which per-layer calibration avoids
 * (passes/sequential.ts), and onnxruntime cannot load more than 2 GiB from bytes at all.
 */
export const WHOLE_LOAD_CHECK_BYTES = 1e9;

/**
 * onnxruntime settings of the calibration runtime (every method's float runs over the calibration data):
 * 2 intra-op threads without spinning. Spinning threads wait for the next operator by busy-looping, which
 * about doubles the CPU time of a session on 2 threads (measured on the repository models: a Segmenter
 * calibration session 134 -> 68 ms CPU for 32 images) and, where other jobs share the cores, its wall time
 * too; the results are the same (same threads, same partitioning of the work).
 */
export const CALIBRATION_ORT_OPTIONS: Readonly<OrtRuntimeOptions> = {
  intraOpNumThreads: 2,
  allowSpinning: false,
};

/** The normalization every method starts from (canonical forms before any method matches patterns). */
export const NORMALIZE: readonly Pass[] = [
  initializerInputs,
  constantsToInitializers,
  foldBatchNormPass,
  canonicalizePass,
  dce,
  dedupe,
];

/**
 * Quantize a model in place.
 *
 * @param model the float model (changed in place)
 * @param options method, bits, calibration data
 * @returns the report
 * @throws {InputModelError} for a model that fails verify() (checked before any work) or that the float runtime
 *   cannot load (checked when the conversion fails; first, for a model above 64 MB)
 * @throws {QuantizeInputError} for a model that is already quantized, fp16, or has nothing to quantize
 * @throws {RangeError} for a bad bit setting
 * @throws {NothingConvertedError} when the method converted nothing (unless `allowNoSites`)
 * @throws {InternalError} when the model shiftkit built is invalid or onnxruntime rejects it (a shiftkit bug)
 */
export async function quantize(model: Model, options: QuantizeOptions): Promise<QuantizeReport> {
  const spill = options.spill === false
    ? undefined
    : new TensorSpill(options.spillDir !== undefined ? { dir: options.spillDir } : {});
  try {
    return await quantizeWith(model, options, spill);
  } catch (e) {
    spill?.close(); // nothing of the model will be written: the spilled tensors go
    throw e;
  }
}

async function quantizeWith(
  model: Model,
  options: QuantizeOptions,
  spill: TensorSpill | undefined,
): Promise<QuantizeReport> {
  const t0 = performance.now();
  const reporter = options.reporter ?? silentReporter;
  checkInputModel(model);
  const why = whyNotQuantizable(model);
  if (why) throw new QuantizeInputError(`Cannot quantize: ${why}`);
  const bits = parseBits(options.method, options.bits);
  const sizeBefore = storedBytes(model);
  const maxLoad = options.maxWholeLoadBytes ?? WHOLE_LOAD_CHECK_BYTES;
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  // Workers start only when a pass has enough per-layer work (runtime/pool.ts); closed after the passes. A
  // model above the whole-load size is converted one layer at a time to bound memory: each worker would hold
  // another layer, so it gets one thread unless threads are asked for.
  const pool = options.pool ?? new WorkerPool(
    options.threads !== undefined ? { threads: options.threads } : sizeBefore > maxLoad
      ? {
        threads: 1,
        serialReason: `1 thread: the model (${mb(sizeBefore)}) is above ${
          mb(maxLoad)
        }, one layer at a time bounds memory (threads N holds N layers)`,
      }
      : {},
  );
  const first = model.graph.inputs.find((v) => !v.isConst);
  const samples = options.samples ?? (options.method === "intvit" ? 32 : undefined);
  const data = await openData(options.calib, {
    ...(options.preprocess ? { preset: options.preprocess } : {}),
    ...(samples !== undefined ? { maxSamples: samples } : {}),
    ...(first ? { inputName: first.name } : {}),
    inputs: modelInputs(model),
  });
  const calibName = typeof options.calib === "string" ? options.calib : `(${data.kind} source)`;
  if (data.count === 0) throw new RangeError(`0 calibration samples in ${calibName}`);
  const factory = options.runtime ?? ortRuntimeFactory(CALIBRATION_ORT_OPTIONS);
  // The load checks run nothing: one intra-op thread spares onnxruntime a thread pool (half the load's CPU).
  // The input only has to load (parse, resolve, infer types, find every kernel): no graph optimizations, no
  // weight pre-packing (kernel-internal layouts for runs that never come).
  const loadCheck = options.runtime ?? ortRuntimeFactory({ intraOpNumThreads: 1 });
  const inputCheck = options.runtime ??
    ortRuntimeFactory({ intraOpNumThreads: 1, graphOptimizationLevel: "disabled", prepacking: false });
  const skippedChecks: string[] = [];
  const input = sizeBefore <= maxLoad
    ? await inputLoadCheck(model, inputCheck, sizeBefore <= DEFERRED_INPUT_CHECK_BYTES)
    : undefined;
  if (!input) {
    skippedChecks.push(
      `the float model (${mb(sizeBefore)}) was not loaded whole into the runtime first (above ${
        mb(maxLoad)
      }: memory stays bounded by one layer), so a runtime rejection later is not told apart from a shiftkit bug`,
    );
  }
  const spilling = spill && (options.spill === true || sizeBefore > maxLoad && canSpill());
  if (spilling) attachSpill(model, spill);
  const convert = async () => {
    const runtime = makePassRuntime(finiteOnly(data, calibName), factory, {
      reporter,
      batchSize: options.batchSize ?? 8,
    });
    const common = {
      bits,
      calibrator: options.calibrator ?? "minmax",
      exclude: options.exclude ?? [],
      extra: options.extra ?? {},
    };
    const passes = [...NORMALIZE, ...METHOD_PASSES[options.method](model, common)];
    const before = snapshotInitializers(model);
    let result;
    try {
      result = await runPipeline(model, passes, {
        reporter,
        runtime,
        pool,
        ...(spilling ? { spill: (vs: readonly Value[]) => vs.forEach((v) => spill.spill(v)) } : {}),
      });
    } finally {
      if (pool !== options.pool) pool.close();
    }
    const methodSteps = result.steps.slice(NORMALIZE.length);
    const sites = summarizeSites(methodSteps);
    if (!options.allowNoSites) refuseNoSites(options.method, model, methodSteps, sites);
    checkWrittenFinite(model, before);
    const problems = verify(model);
    if (problems.length) {
      throw new InternalError(`the quantized model is invalid: ${problems.slice(0, 5).join("; ")}`);
    }
    // validity: the emitted model loads in the float runtime; a rejection is shiftkit's bug, never bad input
    const sizeAfter = storedBytes(model);
    // Judged by the float size too: the runtime expands a ShiftAdd / DenseShift file to float weights and more
    // (their decode functions are constant-folded at session creation), whatever the stored size.
    if (Math.max(sizeBefore, sizeAfter) <= maxLoad) {
      await (await loadBuilt(loadCheck, model, "the emitted model")).release();
    } else {
      skippedChecks.push(
        `the emitted model (${mb(sizeAfter)}, ${
          mb(sizeBefore)
        } as float) was not loaded into the runtime (above ${mb(maxLoad)})`,
      );
    }
    return { result, sites, sizeAfter };
  };
  const { result, sites, sizeAfter } = input ? await input.guard(convert) : await convert();
  const declared = result.steps.flatMap((s) => s.storage ?? []);
  return {
    method: options.method,
    bits: bits.label,
    sizeBefore,
    sizeAfter,
    steps: result.steps,
    ...(skippedChecks.length ? { skippedChecks } : {}),
    calibrationSamples: data.count,
    sites,
    threads: pool.summary(),
    elapsedMs: performance.now() - t0,
    ...(declared.length ? { storage: storageAccount(model, declared) } : {}),
    ...(spilling && (options.spill === true || spill.tensors > 0)
      ? { spilled: { tensors: spill.tensors, bytes: spill.bytes } }
      : {}),
  };
}

/** Settings every method's pass factory receives. */
export interface CommonSettings {
  bits: { weight: number; activation: number; label: string };
  calibrator: CalibratorKind;
  exclude: string[];
  extra: Record<string, unknown>;
}

export { qdqPass, releaseSpilled };
export { NothingConvertedError, type SiteSummary } from "./sites.ts";
