/**
 * shiftkit: a quantization toolkit for ONNX models, in TypeScript for Deno.
 *
 * Load a float model, quantize it with one of the methods (standard QDQ, Outlier Suppression+,
 * ShiftAddLLM, DenseShift, integer-only ViT conversion), score it on a task, and save it:
 *
 * ```ts ignore
 * import { evaluate, loadModel, quantize, saveModel } from "./mod.ts";
 *
 * const model = await loadModel("testdata/byte-lm-opt.onnx");
 * const report = await quantize(model, { method: "qdq", bits: "W8A8", calib: "testdata/lm-calib.txt", samples: 32 });
 * const { metrics } = await evaluate(model, { task: "lm", data: "testdata/lm-eval.txt" });
 * console.log(report.sizeBefore, "->", report.sizeAfter, "bytes;", metrics.bitsPerByte, "bits/byte");
 * await saveModel(model, "byte-lm-w8a8.onnx");
 * ```
 *
 * Lower-level pieces are exported too: the graph IR (`Model`, `Graph`, `Node`, `Value`), the codec
 * (`decodeModel`, `encodeModel`), `inspectModel`, `verify`, the pass pipeline and the passes.
 * @module
 */
export {
  loadedFiles,
  loadModel,
  type LoadOptions,
  ModelIOError,
  saveModel,
  type SaveOptions,
  storedBytes,
} from "./onnx/io.ts";
export { DEFAULT_LIMITS, limit, LIMIT_ENV, type Limits } from "./onnx/limits.ts";
export { decodeModel, encodeModel, NotOnnxError } from "./onnx/codec.ts";
export {
  type Dim,
  type FunctionDef,
  Graph,
  Model,
  Node,
  type TensorType,
  type Use,
  Value,
} from "./onnx/ir.ts";
export { DataType, makeTensor, type Tensor } from "./onnx/tensor.ts";
export { formatInspect, inspectModel, type InspectReport } from "./onnx/inspect.ts";
export { verify } from "./onnx/verify.ts";
export { isOp, Op } from "./onnx/ops.ts";
export { makeReporter, RecordingReporter, type Reporter, silentReporter } from "./onnx/reporter.ts";
export { ProtoDecodeError } from "./onnx/wire.ts";
export {
  type Method,
  METHODS,
  parseBits,
  quantize,
  QuantizeInputError,
  type QuantizeOptions,
  type QuantizeReport,
  whyNotQuantizable,
} from "./api/quantize.ts";
export { type EvalResult, evaluate, type EvaluateOptions, type Task } from "./api/evaluate.ts";
export { validate, type ValidateOptions, type ValidateReport } from "./api/validate.ts";
export { type Pass, type PassContext, type PassResult, runPipeline } from "./passes/pass.ts";
export { qdqPass } from "./passes/qdq/mod.ts";
export { osPlusPass } from "./passes/osplus/mod.ts";
export { buildShiftAddFunction, planShiftAdd, shiftAddPass } from "./passes/shiftadd/mod.ts";
export { denseShiftPass } from "./passes/denseshift/mod.ts";
export { addMatMulNBits, weightOnlyPass } from "./passes/weightonly/mod.ts";
export { type LayerStorage, type StorageAccount, storageAccount } from "./passes/storage.ts";
export { integerOnlyPass } from "./passes/intvit/mod.ts";
export { integerRegionQdqPass } from "./passes/intvit/mod.ts";
export { cpuRuntimeFactory } from "./runtime/cpu.ts";
export {
  DATA_KINDS,
  DataMismatchError,
  type DataSource,
  modelInputs,
  openDataSource,
  tensorSource,
  textSource,
} from "./runtime/data/mod.ts";
export { NothingConvertedError, type SiteSummary } from "./api/sites.ts";
export { InputModelError } from "./api/input_model.ts";
export { InternalError } from "./onnx/errors.ts";
export { ortRuntimeFactory } from "./runtime/ort.ts";
export type { FloatRuntime, RuntimeFactory } from "./runtime/runtime.ts";
