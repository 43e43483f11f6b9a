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
