/**
 * onnxruntime-web adapter: the float runtime in a browser (wasm, or WebGPU where the browser has it) and the
 * runtime the JavaScript-side files are checked in under Deno. Same contract as ./ort.ts
 * ({@link FloatRuntime}); no Node or Deno API, so it bundles for the browser.
 *
 * Under Deno, `npm:onnxruntime-web` resolves to its Node build, which loads its wasm from node_modules; in a
 * browser bundle, set `wasmPaths` to where the page serves `ort-wasm-simd-threaded*.wasm`.
 * @module
 */
import * as ort from "npm:onnxruntime-web@1.30.0";
import { DataType, dtypeName, type Tensor, type TensorData } from "../onnx/tensor.ts";
import { checkFeedNames, DTYPE_OF_ORT, ORT_TYPE_NAMES } from "./ort_types.ts";
import type { FloatRuntime, RuntimeFactory } from "./runtime.ts";

/** Options of {@link OrtWebRuntime.create}. */
export interface OrtWebRuntimeOptions {
  /** Execution providers in order of preference. @default ["wasm"] */
  executionProviders?: ("wasm" | "webgpu")[];
  /** wasm threads (1 needs no cross-origin isolation). @default 1 */
  numThreads?: number;
  /** URL prefix of the `.wasm` files (browser bundles). @default onnxruntime-web's own resolution */
  wasmPaths?: string;
  /** Graph optimization level. @default "all" */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
}

function toWebTensor(t: Tensor): ort.Tensor {
  const type = ORT_TYPE_NAMES[t.dtype] as ort.Tensor.Type | undefined;
  if (type === undefined) {
    throw new TypeError(`Cannot pass a ${dtypeName(t.dtype)} tensor to onnxruntime-web`);
  }
  // deno-lint-ignore no-explicit-any
  return new ort.Tensor(type, t.data as any, [...t.dims]);
}

function fromWebTensor(t: ort.Tensor): Tensor {
  const dtype = DTYPE_OF_ORT[t.type];
  if (dtype === undefined) throw new TypeError(`Cannot convert an onnxruntime-web "${t.type}" tensor`);
  let data = t.data as unknown as TensorData;
  if (dtype === DataType.FLOAT16 && !(data instanceof Uint16Array)) {
    // FLOAT16 travels as raw bits (Uint16Array), also where onnxruntime-web hands out a Float16Array.
    const view = data as unknown as ArrayBufferView;
    data = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
  }
  return { dtype, dims: [...t.dims], data };
}

/**
 * A model loaded into onnxruntime-web.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OrtWebRuntime } from "./ort_web.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * const bytes = await Deno.readFile(new URL("../testdata/byte-lm-opt.onnx", import.meta.url));
 * const rt = await OrtWebRuntime.create(bytes);
 * const ids = makeTensor(DataType.INT64, [1, 4], new BigInt64Array([104n, 101n, 108n, 108n]));
 * const { logits } = await rt.run({ input_ids: ids });
 * assertEquals(logits!.dims, [1, 4, 256]);
 * await rt.release();
 * ```
 */
export class OrtWebRuntime implements FloatRuntime {
  /** Graph input names, in graph order. */
  readonly inputNames: string[];
  /** Graph output names, in graph order. */
  readonly outputNames: string[];
  #session: ort.InferenceSession | null;

  private constructor(session: ort.InferenceSession) {
    this.#session = session;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
  }

  /**
   * Create a session from model bytes.
   *
   * @param modelBytes the `.onnx` file
   * @param options execution providers, threads, wasm location
   * @returns the runtime
   * @throws {SyntaxError} when onnxruntime-web cannot load the model (with its reason)
   */
  static async create(modelBytes: Uint8Array, options: OrtWebRuntimeOptions = {}): Promise<OrtWebRuntime> {
    ort.env.wasm.numThreads = options.numThreads ?? 1;
    if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
    try {
      const session = await ort.InferenceSession.create(modelBytes, {
        executionProviders: options.executionProviders ?? ["wasm"],
        graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
      });
      return new OrtWebRuntime(session);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new SyntaxError(`onnxruntime-web cannot load the model (${modelBytes.length} bytes): ${why}`, {
        cause: e,
      });
    }
  }

  /**
   * Run the model once.
   *
   * @param feeds one tensor per graph input, by name
   * @returns every graph output, by name
   * @throws {TypeError} for a missing or unknown input, or an element type onnxruntime-web cannot take
   */
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const session = this.#session;
    if (!session) throw new TypeError("Cannot run: this OrtWebRuntime was released");
    checkFeedNames(this.inputNames, feeds);
    const webFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) webFeeds[name] = toWebTensor(t);
    const results = await session.run(webFeeds);
    const out: Record<string, Tensor> = {};
    for (const name of this.outputNames) {
      const r = results[name];
      if (r === undefined) throw new TypeError(`onnxruntime-web returned no output "${name}"`);
      out[name] = fromWebTensor(r);
    }
    return out;
  }

  /** Release the session (idempotent). */
  async release(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    if (session) await session.release();
  }
}

/**
 * A {@link RuntimeFactory} creating onnxruntime-web sessions with fixed options.
 *
 * @param options session options for every runtime the factory makes
 * @returns the factory
 */
export function ortWebRuntimeFactory(options: OrtWebRuntimeOptions = {}): RuntimeFactory {
  return (modelBytes) => OrtWebRuntime.create(modelBytes, options);
}
