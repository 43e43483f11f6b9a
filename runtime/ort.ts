/**
 * onnxruntime-node adapter: runs a model given as bytes and converts between shiftkit's {@link Tensor} and
 * `ort.Tensor`. This is the one Node-only module of runtime/; everything else talks to {@link FloatRuntime}.
 * @module
 */
import * as ort from "npm:onnxruntime-node@1.30.0";
import { DataType, dtypeName, type Tensor, type TensorData } from "../onnx/tensor.ts";
import { checkFeedNames, DTYPE_OF_ORT, ORT_TYPE_NAMES } from "./ort_types.ts";
import type { FloatRuntime, RuntimeFactory } from "./runtime.ts";

const TO_ORT = ORT_TYPE_NAMES as Partial<Record<DataType, ort.Tensor.Type>>;
const FROM_ORT = DTYPE_OF_ORT;

/**
 * Convert a shiftkit tensor to an `ort.Tensor` (sharing its storage). FLOAT16 travels as raw bits.
 *
 * @param tensor the tensor
 * @returns the onnxruntime tensor
 * @throws {TypeError} for element types onnxruntime-node cannot take from JS (int4, bfloat16, float8, ...)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { toOrtTensor } from "./ort.ts";
 * const t = toOrtTensor(makeTensor(DataType.INT64, [1, 2], new BigInt64Array([3n, 4n])));
 * assertEquals([t.type, t.dims], ["int64", [1, 2]]);
 * ```
 */
export function toOrtTensor(tensor: Tensor): ort.Tensor {
  const type = TO_ORT[tensor.dtype];
  if (type === undefined) {
    throw new TypeError(`Cannot pass a ${dtypeName(tensor.dtype)} tensor to onnxruntime-node`);
  }
  // deno-lint-ignore no-explicit-any
  const t = new ort.Tensor(type, tensor.data as any, [...tensor.dims]);
  if (type === "float16" && !(t.data instanceof Uint16Array)) {
    // Where the JS engine has Float16Array (Deno 2.9), onnxruntime-common wraps Uint16Array data in one, and
    // the native N-API binding then reads 0 bytes from it ("not enough space: expected 8, got 0"). Keep the
    // raw bits: the binding copies the typed array's bytes, which is what float16 expects.
    (t as unknown as { cpuData: Uint16Array }).cpuData = tensor.data as Uint16Array;
  }
  return t;
}

/**
 * Convert an `ort.Tensor` to a shiftkit tensor (sharing its storage). FLOAT16 comes back as raw bits in a
 * Uint16Array, also where onnxruntime hands out a Float16Array.
 *
 * @param tensor the onnxruntime tensor
 * @returns the shiftkit tensor
 * @throws {TypeError} for an onnxruntime element type shiftkit does not map
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import * as ort from "npm:onnxruntime-node@1.30.0";
 * import { DataType } from "../onnx/tensor.ts";
 * import { fromOrtTensor } from "./ort.ts";
 * const t = fromOrtTensor(new ort.Tensor("bool", new Uint8Array([1, 0]), [2]));
 * assertEquals([t.dtype, t.dims, Array.from(t.data as Uint8Array)], [DataType.BOOL, [2], [1, 0]]);
 * ```
 */
export function fromOrtTensor(tensor: ort.Tensor): Tensor {
  const dtype = FROM_ORT[tensor.type];
  if (dtype === undefined) throw new TypeError(`Cannot convert an onnxruntime "${tensor.type}" tensor`);
  let data = tensor.data as unknown as TensorData;
  if (dtype === DataType.FLOAT16 && !(data instanceof Uint16Array)) {
    const view = data as unknown as ArrayBufferView;
    data = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
  }
  return { dtype, dims: [...tensor.dims], data };
}

/** What onnxruntime reports about one graph input or output. */
export interface TensorInfo {
  /** Value name. */
  readonly name: string;
  /** Element type, or null for a non-tensor value (sequence, map) or a type shiftkit does not map. */
  readonly dtype: DataType | null;
  /** Shape: numbers for fixed dimensions, strings for named dynamic ones; null when unknown. */
  readonly dims: readonly (number | string)[] | null;
}

/** Options of {@link OrtRuntime.create}. */
export interface OrtRuntimeOptions {
  /** onnxruntime graph optimization level. @default "all" */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  /** Where onnxruntime writes the optimized model, for inspection (what it fused). @default undefined (none) */
  optimizedModelFilePath?: string;
  /** Threads for one operator; 0 lets onnxruntime decide. @default 0 */
  intraOpNumThreads?: number;
  /** onnxruntime log level: 0 verbose .. 4 fatal. @default 3 (errors only) */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Accuracy level onnxruntime gives the MatMulNBits it fuses from a blocked int4 DequantizeLinear + MatMul
   * (session config `session.qdq_matmulnbits_accuracy_level`). onnxruntime's own default, 4, quantizes the
   * activations to int8 inside the fused op (about 1e-3 relative output error against the model's math, seen
   * on onnxruntime-node 1.30); shiftkit measures the model as written, so it asks for float compute.
   * @default 1
   */
  qdqMatMulNBitsAccuracyLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Whether idle intra-op threads spin waiting for work (session config `session.intra_op.allow_spinning`).
   * Spinning lowers the latency of each parallel operator on an otherwise idle machine, at the price of CPU
   * time: with 2 threads it about doubles a session's CPU (its creation included), and where other jobs share
   * the cores it costs wall time too. Only meaningful with more than one thread.
   * @default true (onnxruntime's default)
   */
  allowSpinning?: boolean;
  /**
   * Whether kernels pre-pack constant weights at session creation (session config
   * `session.disable_prepacking` when false): a session only created to check that a model loads, and never
   * run, can spare the repacking; every other check (parsing, type inference, finding a kernel for every node)
   * is the same.
   * @default true (onnxruntime's default)
   */
  prepacking?: boolean;
}

/** Options of {@link OrtRuntime.run}. */
export interface OrtRunOptions {
  /** Outputs to fetch. @default all graph outputs */
  outputs?: readonly string[];
}

function metadata(list: readonly ort.InferenceSession.ValueMetadata[] | undefined): TensorInfo[] {
  return (list ?? []).map((m) => {
    if (!m.isTensor) return { name: m.name, dtype: null, dims: null };
    return { name: m.name, dtype: FROM_ORT[m.type] ?? null, dims: [...m.shape] };
  });
}

/**
 * A model loaded into onnxruntime-node.
 *
 * @example
 * ```ts ignore
 * const rt = await OrtRuntime.create(Deno.readFileSync("model.onnx"), { intraOpNumThreads: 2 });
 * const out = await rt.run({ [rt.inputNames[0]!]: input });
 * await rt.release();
 * ```
 */
export class OrtRuntime implements FloatRuntime {
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** Type and shape of each graph input, as onnxruntime reports them. */
  readonly inputMetadata: readonly TensorInfo[];
  /** Type and shape of each graph output, as onnxruntime reports them. */
  readonly outputMetadata: readonly TensorInfo[];
  #session: ort.InferenceSession | null;

  private constructor(session: ort.InferenceSession) {
    this.#session = session;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
    this.inputMetadata = metadata(session.inputMetadata);
    this.outputMetadata = metadata(session.outputMetadata);
  }

  /**
   * Create a session from model bytes.
   *
   * @param modelBytes the `.onnx` file
   * @param options see {@link OrtRuntimeOptions}
   * @returns the runtime
   * @throws {SyntaxError} when onnxruntime cannot load the model (the message carries onnxruntime's reason)
   */
  static async create(modelBytes: Uint8Array, options: OrtRuntimeOptions = {}): Promise<OrtRuntime> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
      intraOpNumThreads: options.intraOpNumThreads ?? 0,
      logSeverityLevel: options.logSeverityLevel ?? 3,
      extra: {
        session: {
          qdq_matmulnbits_accuracy_level: String(options.qdqMatMulNBitsAccuracyLevel ?? 1),
          ...(options.allowSpinning === false ? { "intra_op.allow_spinning": "0" } : {}),
          ...(options.prepacking === false ? { disable_prepacking: "1" } : {}),
        },
      },
    };
    if (options.optimizedModelFilePath !== undefined) {
      sessionOptions.optimizedModelFilePath = options.optimizedModelFilePath;
    }
    try {
      return new OrtRuntime(await ort.InferenceSession.create(modelBytes, sessionOptions));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new SyntaxError(`onnxruntime cannot load the model (${modelBytes.length} bytes): ${why}`, {
        cause: e,
      });
    }
  }

  /**
   * Run the model.
   *
   * @param feeds one tensor per graph input
   * @param options see {@link OrtRunOptions}
   * @returns the fetched outputs by name
   * @throws {TypeError} for a missing or unknown input name, or an element type onnxruntime cannot take
   */
  async run(feeds: Record<string, Tensor>, options: OrtRunOptions = {}): Promise<Record<string, Tensor>> {
    const session = this.#live();
    checkFeedNames(this.inputNames, feeds);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(t);
    const fetches = options.outputs ? [...options.outputs] : this.outputNames;
    const results = await session.run(ortFeeds, fetches);
    const out: Record<string, Tensor> = {};
    for (const name of fetches) {
      const r = results[name];
      if (r === undefined) throw new TypeError(`onnxruntime returned no output "${name}"`);
      out[name] = fromOrtTensor(r);
    }
    return out;
  }

  /** Release the native session (idempotent). */
  async release(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    if (session) await session.release();
  }

  #live(): ort.InferenceSession {
    if (!this.#session) throw new TypeError("Cannot run: this OrtRuntime was released");
    return this.#session;
  }
}

/**
 * A {@link RuntimeFactory} creating onnxruntime-node sessions with fixed options.
 *
 * @param options session options for every runtime the factory makes
 * @returns the factory
 */
export function ortRuntimeFactory(options: OrtRuntimeOptions = {}): RuntimeFactory {
  return (modelBytes) => OrtRuntime.create(modelBytes, options);
}
