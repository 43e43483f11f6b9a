/**
 * The float-inference contract shared by every backend that can run a model on real inputs: the
 * onnxruntime-node adapter ({@link ./ort.ts}), an onnxruntime-web adapter, or the built-in CPU evaluator.
 * Calibration, evaluation and validation are written against this interface only.
 * @module
 */
import type { Model } from "../onnx/ir.ts";
import type { Tensor } from "../onnx/tensor.ts";

/** A loaded model that runs float inference. */
export interface FloatRuntime {
  /**
   * Run the model once.
   *
   * @param feeds one tensor per graph input, by input name
   * @returns every graph output, by output name
   */
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Graph input names, in graph order. */
  readonly inputNames: string[];
  /** Graph output names, in graph order. */
  readonly outputNames: string[];
  /** Free the native session; the runtime must not be used afterwards. */
  release(): Promise<void>;
}

/** Creates a {@link FloatRuntime} from the bytes of an `.onnx` model. */
export type RuntimeFactory = (modelBytes: Uint8Array) => Promise<FloatRuntime>;

/**
 * Runs a (float) model over the calibration data; what a pass receives as `ctx.runtime`. Defined here, beside
 * the other runtime contracts; passes/pass.ts imports this type only, never a runtime implementation.
 */
export interface PassRuntime {
  /**
   * Run `model` on each batch of inputs and hand the requested values (graph outputs or intermediate
   * values, by name) to `onBatch`. Intermediate values are exposed by the runtime as it sees fit (e.g. extra
   * graph outputs).
   */
  collect(
    model: Model,
    values: readonly string[],
    onBatch: (values: Record<string, Tensor>, batchIndex: number) => void | Promise<void>,
    options?: CollectRequest,
  ): Promise<void>;
  /**
   * The calibration inputs, batch by batch (graph input name -> tensor), in the order and batching `collect`
   * feeds them: what per-layer calibration (passes/sequential.ts) starts its first segment from.
   */
  inputs?(): AsyncIterable<Record<string, Tensor>>;
  /**
   * Load a model shiftkit built (a segment of the model being quantized) for runs on feeds the caller
   * provides; the caller releases it. A rejection is shiftkit's bug, never bad input.
   */
  load?(model: Model): Promise<FloatRuntime>;
  /** Number of calibration samples `collect` runs over, where the runtime knows it. */
  readonly count?: number;
}

/** What one {@link PassRuntime.collect} call needs beyond the values' names. */
export interface CollectRequest {
  /**
   * Names among the values for which the caller needs only each batch's minimum and maximum (NaN ignored,
   * as {@link ../quant/observers.ts MinMaxObserver} does). The runtime may hand such a value over as a float32
   * tensor of dims [2] holding [min, max] of the batch, computed where the tensor lives (reductions appended
   * to the model) so that it never crosses into JavaScript; it hands it over whole otherwise (a value with
   * no elements or with NaN, a runtime that cannot reduce). Either form gives a min-max observer the same
   * minimum and maximum, so the caller observes what it receives. @default [] (every value whole)
   */
  minMax?: readonly string[];
}

/**
 * A function a pass runs once per independent layer (or group of layers sharing calibration statistics), in
 * parallel where a {@link LayerPool} has workers: exported by `name` from the module at `url`, which a worker
 * imports; `fn` is the same function, for the serial path. Arguments and results must be structured-cloneable
 * (plain objects, typed arrays).
 */
export interface PoolTask<A, R> {
  /** URL of the module exporting the function (its `import.meta.url`). */
  url: string;
  /** The export name. */
  name: string;
  /** The function itself, run in this thread on the serial path. */
  fn: (args: A) => R;
  /**
   * Below this many weights in one `map`, the work runs serially: less than a worker's start-up would cost
   * (measured per task; see runtime/pool.ts).
   */
  minWeights: number;
  /**
   * What a job's `weights` count, and what one `map` is, where not weights of one pass's layers: then the
   * reason a map ran serially names the threshold alone, the same for every map (passes/hessians.ts: one map
   * per calibration batch, "gramFold: under 1073741824 multiply-adds per batch, ...").
   */
  unit?: { weights: string; map: string };
}

/** One call of a {@link PoolTask}. */
export interface PoolJob<A> {
  /** The layer(s) it converts, for errors and progress (`"attn.q, attn.k"`). */
  label: string;
  /** Weights it converts: the size a pool weighs against a worker's start-up. */
  weights: number;
  /** Bytes its arguments copy to a worker (weights, Hessians, statistics): bounded per job by a pool. */
  bytes: number;
  /**
   * Relative work (GPTQ-style fits: `K² N`); a pool starts the costliest jobs first, so that a long one does
   * not run alone at the end.
   * @default {weights}
   */
  cost?: number;
  /**
   * Builds the arguments when the job is dispatched (so copies are made one worker's worth at a time).
   * `onWorker`: they cross to a worker, so pass copies of anything the caller still reads or cannot give up
   * (views into a larger buffer, WebAssembly memory), and list in `transfer` the buffers moved there, not
   * copied; else (this thread) the originals, as the serial path always did.
   */
  args: (onWorker: boolean) => { args: A; transfer?: ArrayBuffer[] };
}

/**
 * Runs a pass's independent per-layer work, on workers or serially; what a pass receives as `ctx.pool`
 * (runtime/pool.ts implements it). Results are those of the serial path, bit for bit: the same function on
 * the same arguments.
 */
export interface LayerPool {
  /** Threads asked for (1: always serial). */
  readonly threads: number;
  /**
   * Run `task` on every job; `onResult` receives the results in job order (as soon as all earlier ones are
   * in), on this thread.
   *
   * @throws the first job's error, its message naming the job's label
   */
  map<A, R>(
    task: PoolTask<A, R>,
    jobs: readonly PoolJob<A>[],
    onResult: (result: R, index: number) => void,
  ): Promise<void>;
}
