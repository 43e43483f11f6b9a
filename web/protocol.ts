/**
 * Messages between the quantization page (web/main.ts) and its Worker (web/worker.ts). Files travel as bytes
 * (transferred, not copied); nothing leaves the page.
 * @module
 */

import type { PoolSummary } from "../runtime/pool.ts";

/** A file the user picked. */
export interface PickedFile {
  /** File name (for messages, and to tell .npz from images). */
  name: string;
  /** Contents. */
  bytes: Uint8Array;
}

/** Page -> Worker: quantize a model. */
export interface QuantizeRequest {
  type: "quantize";
  /** The float model. */
  model: PickedFile;
  /** Calibration data: one `.npz` (inputs stacked on axis 0), or PNG / JPEG images. */
  calib: PickedFile[];
  /** Data to measure agreement on (same kinds); the calibration data when empty, and the report says so. */
  eval: PickedFile[];
  /** Preprocessing preset for images. */
  preset: string;
  /**
   * `qdq` or `osplus` (activations too), or `denseshift` (weights as signed powers of two, per-layer fits on the
   * worker pool): the methods that need no extra flags.
   */
  method: "qdq" | "osplus" | "denseshift";
  /** `W8A8`, `W6A6` or `W4A4` (qdq, osplus); `3` to `6` (denseshift). */
  bits: string;
  /**
   * Threads for the per-layer fits (runtime/pool.ts; workers started from the page's Worker, running
   * web/dist/pool_worker.js): 1 = serial, 0 = `navigator.hardwareConcurrency` (at most 8). The bytes are the
   * same either way.
   */
  threads: number;
  /**
   * Replaces each pool task's `minWeights` (0: workers for any map of two jobs or more) when set; the page
   * takes it from its URL (`?poolMinWeights=0`), for tests and measurements on small models.
   */
  poolMinWeights?: number;
  /** Calibration samples (0 = all). */
  samples: number;
  /**
   * Float runtime for calibration: `cpu` = shiftkit's evaluator (deterministic, so the file equals what
   * `shiftkit quantize --runtime cpu` writes), `ort-web` = onnxruntime-web.
   */
  calibRuntime: "cpu" | "ort-web";
  /**
   * onnxruntime-web execution provider for the agreement measurement: `wasm` (CPU kernels, the default) or
   * `webgpu` (where the browser has WebGPU; falls back to wasm, and says so, where it has not).
   */
  provider: "wasm" | "webgpu";
}

/** Agreement of the quantized model's outputs with the float model's. */
export interface Agreement {
  /** Samples compared. */
  samples: number;
  /** Metric name -> value (sqnrDb, cosine, top1Agreement, maxAbsError). */
  metrics: Record<string, number>;
  /** Which data: "eval" or "calibration". */
  data: "eval" | "calibration";
  /** Where the models ran: "onnxruntime-web (webgpu)" or "onnxruntime-web (wasm)". */
  runtime: string;
}

/** WebGPU validation of the integer ops (api/validate.ts), or why it did not run. */
export interface Validation {
  /** Whether it ran. */
  ran: boolean;
  /** Why not, when it did not. */
  reason?: string;
  /** Per op: GPU runs, bitwise-exact comparisons. */
  ops?: {
    op: string;
    runs: number;
    gpu: number;
    compared: number;
    exact: number;
    integer: boolean;
    notes: string[];
  }[];
}

/** Worker -> page. */
export type WorkerMessage =
  | { type: "progress"; task: string; done: number; total: number }
  | { type: "log"; level: "info" | "warn"; message: string }
  | {
    type: "result";
    /** The quantized model. */
    bytes: Uint8Array;
    /** Suggested download name. */
    fileName: string;
    sizeBefore: number;
    sizeAfter: number;
    method: string;
    bits: string;
    calibrationSamples: number;
    elapsedMs: number;
    /** What the worker pool did: threads asked, workers that ran, jobs on workers and serially, and why. */
    threads: PoolSummary;
    /** SHA-256 of `bytes`, hex. */
    sha256: string;
    agreement: Agreement;
    validation: Validation;
    /** Per-layer report: the same sections as `shiftkit quantize --report`, as a self-contained page. */
    reportHtml: string;
  }
  | { type: "error"; message: string };
