/**
 * The built-in CPU evaluator (onnx/evaluate) behind the {@link FloatRuntime} interface: the fallback where
 * onnxruntime is not available (browsers without onnxruntime-web, sandboxes without native addons) and the
 * second opinion that calibration and validation compare onnxruntime against. Pure TypeScript, single
 * threaded, float32 (integer ops exact); every op of the MODELS.md models is covered.
 * @module
 */
import { decodeModel } from "../onnx/codec.ts";
import type { Model, Value } from "../onnx/ir.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { createEvaluationCache, evaluateModel } from "../onnx/evaluate/evaluate.ts";
import type { FloatRuntime, RuntimeFactory } from "./runtime.ts";

/** Options of {@link CpuRuntime.create} and {@link cpuRuntimeFactory}. */
export interface CpuRuntimeOptions {
  /**
   * Called with every node output as the evaluator produces it (debugging, or observers that want every
   * intermediate value without exposing them as graph outputs). The tensor must not be modified.
   * @default {undefined}
   */
  onValue?: (name: string, tensor: Tensor) => void;
}

/**
 * A model loaded into the CPU reference evaluator.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeModel } from "../onnx/codec.ts";
 * import { Model } from "../onnx/ir.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { CpuRuntime } from "./cpu.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const x = m.graph.value("x");
 * m.graph.inputs.push(x);
 * m.graph.outputs.push(m.graph.addNode("Relu", [x], ["y"]).outputs[0]!);
 * const rt = await CpuRuntime.create(encodeModel(m));
 * assertEquals([rt.inputNames, rt.outputNames], [["x"], ["y"]]);
 * const out = await rt.run({ x: makeTensor(DataType.FLOAT, [3], new Float32Array([-1, 0, 2])) });
 * assertEquals(out.y!.data, new Float32Array([0, 0, 2]));
 * await rt.release();
 * ```
 */
export class CpuRuntime implements FloatRuntime {
  /** Graph inputs that are not initializers, in graph order (what onnxruntime also lists). */
  readonly inputNames: string[];
  readonly outputNames: string[];
  #model: Model | null;
  #onValue: CpuRuntimeOptions["onValue"];
  // The model is a private decode of the bytes: its weights never change, so packed weights are reusable.
  readonly #cache = createEvaluationCache();

  private constructor(model: Model, options: CpuRuntimeOptions) {
    this.#model = model;
    this.#onValue = options.onValue;
    this.inputNames = model.graph.inputs.filter((v) => !v.isConst).map((v) => v.name);
    this.outputNames = model.graph.outputs.map((v) => v.name);
  }

  /**
   * Load a model from its bytes.
   *
   * @param modelBytes the `.onnx` file
   * @param options see {@link CpuRuntimeOptions}
   * @returns the runtime
   * @throws {SyntaxError} when the bytes are not a model (from the codec)
   * @throws {Error} when the main graph has a cycle
   */
  static create(modelBytes: Uint8Array, options: CpuRuntimeOptions = {}): Promise<CpuRuntime> {
    // Async for the FloatRuntime contract; a decode error surfaces as a rejected promise, as onnxruntime's does.
    return Promise.resolve().then(() => {
      const model = decodeModel(modelBytes);
      // The evaluator runs nodes in list order; exporters (and passes) may leave them out of order.
      model.graph.sort();
      return new CpuRuntime(model, options);
    });
  }

  /**
   * Run the model once.
   *
   * @param feeds one tensor per graph input, by input name (an initializer-backed input may be overridden)
   * @returns every graph output, by output name
   * @throws {TypeError} for a missing or unknown input name, or after {@link CpuRuntime.release}
   * @throws {RangeError} when a node's op has no CPU kernel
   */
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    return Promise.resolve().then(() => {
      const model = this.#model;
      if (!model) throw new TypeError("Cannot run: this CpuRuntime was released");
      const overridable = model.graph.inputs.map((v) => v.name);
      const missing = this.inputNames.filter((n) => !(n in feeds));
      const unknown = Object.keys(feeds).filter((n) => !overridable.includes(n));
      if (missing.length > 0 || unknown.length > 0) {
        throw new TypeError(
          `Cannot run the model: inputs are [${this.inputNames.join(", ")}]; ` +
            `missing [${missing.join(", ")}], unknown [${unknown.join(", ")}]`,
        );
      }
      const onValue = this.#onValue;
      return evaluateModel(model, feeds, {
        cache: this.#cache,
        ...(onValue ? { onValue: (v: Value, t: Tensor) => onValue(v.name, t) } : {}),
      });
    });
  }

  /** Drop the model (idempotent); the runtime must not be used afterwards. */
  release(): Promise<void> {
    this.#model = null;
    return Promise.resolve();
  }
}

/**
 * A {@link RuntimeFactory} over the CPU reference evaluator: the drop-in replacement for
 * `ortRuntimeFactory()` where onnxruntime is not available.
 *
 * @param options see {@link CpuRuntimeOptions}
 * @returns the factory
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeModel } from "../onnx/codec.ts";
 * import { Model } from "../onnx/ir.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { cpuRuntimeFactory } from "./cpu.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const x = m.graph.value("x");
 * m.graph.inputs.push(x);
 * m.graph.outputs.push(m.graph.addNode("Neg", [x], ["y"]).outputs[0]!);
 * const rt = await cpuRuntimeFactory()(encodeModel(m));
 * const out = await rt.run({ x: makeTensor(DataType.FLOAT, [2], new Float32Array([1, -2])) });
 * assertEquals(out.y!.data, new Float32Array([-1, 2]));
 * ```
 */
export function cpuRuntimeFactory(options: CpuRuntimeOptions = {}): RuntimeFactory {
  return (modelBytes) => CpuRuntime.create(modelBytes, options);
}
