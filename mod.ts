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
 * `exportForRuntime` writes the transformers.js / onnxruntime-web file set (q8, q4, q4f16);
 * `ortWebRuntimeFactory` runs models in onnxruntime-web (also in a browser). Lower-level pieces are exported
 * too: the graph IR (`Model`, `Graph`, `Node`, `Value`), the codec (`decodeModel`, `encodeModel`),
 * `inspectModel`, `verify`, the pass pipeline and the passes.
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
  type ByteRange,
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
  releaseSpilled,
  whyNotQuantizable,
} from "./api/quantize.ts";
export {
  decodeForLoad,
  type DecodeForLoadOptions,
  type DecodeForLoadReport,
  type DecodeShiftAddStats,
  type DecodeStats,
} from "./api/decode.ts";
export { type EvalResult, evaluate, type EvaluateOptions, type Task } from "./api/evaluate.ts";
export { validate, type ValidateOptions, type ValidateReport } from "./api/validate.ts";
export {
  DEFAULT_EXPORT_VARIANTS,
  EXPORT_VARIANTS,
  type ExportedFile,
  exportForRuntime,
  type ExportOptions,
  type ExportTarget,
  type ExportVariant,
  TRANSFORMERS_JS_FILES,
} from "./api/export.ts";
export { type Pass, type PassContext, type PassResult, runPipeline } from "./passes/pass.ts";
export { qdqPass } from "./passes/qdq/mod.ts";
export { osPlusPass } from "./passes/osplus/mod.ts";
export {
  buildShiftAddFunction,
  planShiftAdd,
  type ShiftAddBodyVariant,
  shiftAddPass,
} from "./passes/shiftadd/mod.ts";
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
export { defaultThreads, type PoolSummary, WorkerPool, type WorkerPoolOptions } from "./runtime/pool.ts";
export { OrtWebRuntime, ortWebRuntimeFactory, type OrtWebRuntimeOptions } from "./runtime/ort_web.ts";
export {
  type DynamicInt8Options,
  dynamicInt8Pass,
  type DynamicInt8Stats,
  type Float16Options,
  float16Pass,
  type Float16Stats,
} from "./passes/export/mod.ts";
export type { FloatRuntime, LayerPool, PoolJob, PoolTask, RuntimeFactory } from "./runtime/runtime.ts";

// Types that the exports above reference (options, reports, data shapes), exported so that the documentation
// is complete and users can name them.
export type { Attribute, Attrs } from "./onnx/attributes.ts";
export type { DecodeOptions, EncodeOptions } from "./onnx/codec.ts";
export type { FileFacts, FileSystem, FileWriter } from "./onnx/_fs.ts";
export type { StoredFiles } from "./onnx/io.ts";
export type { SiteCount } from "./passes/pass.ts";
export type { DataKind, ModelInput } from "./runtime/data/source.ts";
export type { TensorSourceOptions } from "./runtime/data/tensors.ts";
export type { InspectOptions, IOInfo, TensorTally } from "./onnx/inspect.ts";
export type { ExternalDataOptions } from "./onnx/io.ts";
export type { OpName, OpSchema } from "./onnx/ops.ts";
export type { TensorData } from "./onnx/tensor.ts";
export type { ExternalReader } from "./onnx/tensor_proto.ts";
export type { Message } from "./onnx/wire.ts";
export type { LayerError, OpAgreement, OutputCompare } from "./api/validate.ts";
export type { PipelineOptions, PipelineResult } from "./passes/pass.ts";
export type { ReportSection } from "./passes/report/report.ts";
export type { QdqOptions, QdqStats } from "./passes/qdq/insert_qdq.ts";
export type { OsPlusOptions, OsPlusResult } from "./passes/osplus/os_plus.ts";
export type { ShiftAddPassOptions, ShiftAddStats, ShiftAddTarget } from "./passes/shiftadd/shift_add.ts";
export type { DenseShiftLayer, DenseShiftOptions } from "./passes/denseshift/dense_shift.ts";
export type { IntegerOnlyOptions, IntegerOnlyReport } from "./passes/intvit/integer_only.ts";
export type { IntegerRegionQdqOptions, IntegerRegionQdqReport } from "./passes/intvit/integer_only_mixed.ts";
export type { CalibratorKind } from "./quant/observers.ts";
export type { CpuRuntimeOptions } from "./runtime/cpu.ts";
export type { OpenDataOptions, TextSource, TextSourceOptions } from "./runtime/data/mod.ts";
export type { Preprocess, PreprocessOptions, PresetName } from "./runtime/images.ts";
export type { OrtRuntimeOptions } from "./runtime/ort.ts";
export type { CollectRequest, PassRuntime } from "./runtime/runtime.ts";
export type { AttrType } from "./onnx/attributes.ts";
export type { OP_TABLE } from "./onnx/ops.ts";
export type { TypedArray } from "./onnx/tensor.ts";
export type { ReportBars, ReportRanges, ReportTable } from "./passes/report/report.ts";
export type { OsPlusSiteReport } from "./passes/osplus/os_plus.ts";
export type { CalibrateMode, CalibrationInfo, LayerInputs } from "./passes/sequential.ts";
export type { OsPlusSiteKind, OsPlusSkip } from "./passes/osplus/os_plus_sites.ts";
export type { ShiftAddLayerReport } from "./passes/shiftadd/shift_add.ts";
export type { IntegerRegion, RegionSpec } from "./passes/intvit/integer_only_region.ts";
export type { OpRecord } from "./passes/intvit/integer_only_emit.ts";
export type { Pow2AlphaOutputOptions, Pow2AlphaSearchOptions, Pow2Options } from "./quant/pow2.ts";
export type { EvalSetOptions, OcrLinesOptions } from "./runtime/data/evalsets.ts";
export type { ReportLines } from "./passes/report/report.ts";
export type {
  AddMatMulNBitsOptions,
  WeightOnlyLayerReport,
  WeightOnlyPassOptions,
  WeightOnlyStats,
} from "./passes/weightonly/mod.ts";
export type { MatMulNBitsPacked } from "./quant/matmul_nbits.ts";
export type { LayerSqnr } from "./passes/intvit/integer_only_sqnr.ts";
