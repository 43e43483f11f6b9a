/// <reference lib="webworker" />
/**
 * The quantization page's Worker: everything heavy runs here, off the page's main thread, on the bytes the
 * user picked (nothing is uploaded). It loads the model, opens the calibration data, runs `quantize()` with the
 * chosen float runtime for calibration, encodes the result, measures output agreement against the float model
 * in onnxruntime-web (WebGPU where the browser has it, else wasm), validates the integer ops on WebGPU where
 * available (api/validate.ts), and renders the per-layer report. Per-layer fits run on the worker pool
 * (runtime/pool.ts), whose workers this Worker starts from web/dist/pool_worker.js (web/pool_worker.ts).
 * @module
 */
import { evaluate } from "../api/evaluate.ts";
import { quantize } from "../api/quantize.ts";
import { validate } from "../api/validate.ts";
import { encodeModel } from "../onnx/codec.ts";
import { loadModel } from "../onnx/io.ts";
import type { Reporter } from "../onnx/reporter.ts";
import { renderReport, type ReportSection } from "../passes/report/mod.ts";
import { cpuRuntimeFactory } from "../runtime/cpu.ts";
import { type DataSource, imageSource, tensorSource } from "../runtime/data/mod.ts";
import type { PresetName } from "../runtime/images.ts";
import { decodeNpz } from "../runtime/npy.ts";
import { ortWebRuntimeFactory } from "../runtime/ort_web.ts";
import { WorkerPool } from "../runtime/pool.ts";
import { decodeImageInBrowser } from "./images.ts";

/** onnxruntime-web's wasm files sit next to this bundle (web/build.ts copies them). */
const WASM_PATHS = new URL("./", self.location.href).href;
/**
 * The worker pool's worker, bundled with every pass's pool task (web/pool_worker.ts): the default,
 * runtime/pool_worker.ts beside runtime/pool.ts, is not in the bundle and imports tasks by a URL a bundle does
 * not have.
 */
const POOL_WORKER = new URL("./pool_worker.js", self.location.href);
import type { Agreement, PickedFile, QuantizeRequest, Validation, WorkerMessage } from "./protocol.ts";

declare const self: DedicatedWorkerGlobalScope;

function post(m: WorkerMessage, transfer: Transferable[] = []): void {
  self.postMessage(m, transfer);
}

const reporter: Reporter = {
  progress: (task, done, total) => post({ type: "progress", task, done, total }),
  info: (message) => post({ type: "log", level: "info", message }),
  warn: (message) => post({ type: "log", level: "warn", message }),
};

/** Open picked files as a data source: one `.npz`, or images with a preset. */
async function openPicked(files: PickedFile[], preset: string, samples: number): Promise<DataSource> {
  const max = samples > 0 ? { maxSamples: samples } : {};
  if (files.length === 1 && /\.npz$/i.test(files[0]!.name)) {
    return tensorSource(decodeNpz(files[0]!.bytes), max);
  }
  if (files.some((f) => /\.npz$/i.test(f.name))) {
    throw new TypeError(`Pick one .npz, or images: got ${files.map((f) => f.name).join(", ")}`);
  }
  const images = [];
  for (const f of files) images.push({ name: f.name, image: await decodeImageInBrowser(f.bytes, f.name) });
  return imageSource(images, { preset: preset as PresetName, ...max });
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hasWebGpu(): Promise<string | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return "this browser exposes no WebGPU (navigator.gpu is undefined)";
  const adapter = await gpu.requestAdapter().catch(() => null);
  return adapter ? undefined : "WebGPU is exposed but no adapter was found";
}

async function run(req: QuantizeRequest): Promise<void> {
  const floatBytes = req.model.bytes;
  const model = await loadModel(floatBytes, { name: req.model.name });
  const calib = await openPicked(req.calib, req.preset, req.samples);
  reporter.info(`calibration data: ${calib.count} samples (${calib.kind})`);
  const pool = new WorkerPool({
    workerUrl: POOL_WORKER,
    ...(req.threads > 0 ? { threads: req.threads } : {}),
    ...(req.poolMinWeights !== undefined ? { minWeights: req.poolMinWeights } : {}),
  });
  let report;
  try {
    report = await quantize(model, {
      method: req.method,
      bits: req.bits,
      calib,
      runtime: req.calibRuntime === "cpu"
        ? cpuRuntimeFactory()
        : ortWebRuntimeFactory({ wasmPaths: WASM_PATHS }),
      reporter,
      pool,
    });
  } finally {
    pool.close();
  }
  const t = report.threads;
  reporter.info(
    `threads: ${t.threads} asked, ${t.workers} workers ran ${t.parallelJobs} jobs, ${t.serialJobs} serially${
      t.serialReasons.length ? ` (${t.serialReasons.join("; ")})` : ""
    }`,
  );
  const bytes = encodeModel(model);
  const noGpu = await hasWebGpu();
  const provider = req.provider === "webgpu" && !noGpu ? "webgpu" : "wasm";
  if (req.provider === "webgpu" && noGpu) reporter.warn(`agreement measured with wasm: ${noGpu}`);
  const evalData = req.eval.length ? await openPicked(req.eval, req.preset, 0) : calib;
  if (!req.eval.length) {
    reporter.warn("no evaluation data picked: agreement is measured on the calibration data");
  }
  const compare = await evaluate(bytes, {
    task: "compare",
    reference: floatBytes,
    data: evalData,
    runtime: ortWebRuntimeFactory({
      executionProviders: provider === "webgpu" ? ["webgpu", "wasm"] : ["wasm"],
      wasmPaths: WASM_PATHS,
    }),
    reporter,
  });
  const agreement: Agreement = {
    samples: compare.samples,
    metrics: compare.metrics,
    data: req.eval.length ? "eval" : "calibration",
    runtime: `onnxruntime-web (${provider})`,
  };
  let validation: Validation;
  if (noGpu) {
    validation = { ran: false, reason: `WebGPU validation of the integer ops did not run: ${noGpu}` };
    reporter.warn(validation.reason!);
  } else {
    const v = await validate(bytes, { reference: floatBytes, data: evalData, samples: 1 });
    if (!v.ops.some((o) => o.gpu > 0)) {
      reporter.warn(
        `WebGPU validation: no op ran on the GPU (${v.ops.flatMap((o) => o.notes).slice(0, 2).join("; ")})`,
      );
    }
    validation = {
      ran: true,
      ops: v.ops.map((o) => ({
        op: o.op,
        runs: o.runs,
        gpu: o.gpu,
        compared: o.compared,
        exact: o.exact,
        integer: o.integer,
        notes: o.notes,
      })),
    };
  }
  const summary: ReportSection = {
    title: "Summary",
    summary: [
      ["model", req.model.name],
      ["method", report.method],
      ["bits", report.bits],
      ["size before", `${(report.sizeBefore / 1e6).toFixed(2)} MB`],
      ["size after", `${(report.sizeAfter / 1e6).toFixed(2)} MB`],
      ["calibration samples", report.calibrationSamples],
      ["calibration runtime", req.calibRuntime === "cpu" ? "shiftkit evaluator" : "onnxruntime-web"],
      [
        "threads",
        `${t.threads} asked, ${t.workers} workers, ${t.parallelJobs} jobs on workers, ${t.serialJobs} serially${
          t.serialReasons.length ? ` (${t.serialReasons.join("; ")})` : ""
        }`,
      ],
      ...Object.entries(agreement.metrics).map(([k, v]) => [`agreement ${k}`, v] as [string, number]),
    ],
  };
  const passes: ReportSection = {
    title: "Passes",
    tables: [{
      columns: ["pass", "changed", "time", "notes"],
      rows: report.steps.map((
        s,
      ) => [s.pass, s.modified ? "yes" : "no", `${s.ms.toFixed(0)} ms`, s.notes.join("; ")]),
    }],
  };
  const reportHtml = renderReport({
    title: `shiftkit (in the browser): ${report.method} ${report.bits}`,
    subtitle: [req.model.name],
    sections: [summary, passes, ...report.steps.flatMap((s) => s.sections)],
  });
  post({
    type: "result",
    bytes,
    fileName: req.model.name.replace(/\.onnx$/i, "") + `-${report.method}-${report.bits.toLowerCase()}.onnx`,
    sizeBefore: report.sizeBefore,
    sizeAfter: report.sizeAfter,
    method: report.method,
    bits: report.bits,
    calibrationSamples: report.calibrationSamples,
    elapsedMs: report.elapsedMs,
    threads: t,
    sha256: await sha256(bytes),
    agreement,
    validation,
    reportHtml,
  }, [bytes.buffer]);
}

self.onmessage = (e: MessageEvent<QuantizeRequest>) => {
  run(e.data).catch((err: unknown) => {
    post({ type: "error", message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  });
};
