/**
 * Element-type names shared by the onnxruntime adapters (onnxruntime-node in ./ort.ts, onnxruntime-web in
 * ./ort_web.ts): both take and return tensors of onnxruntime-common's `Tensor.Type` names.
 * @module
 */
import { DataType } from "../onnx/tensor.ts";

/** onnxruntime's element-type name for each shiftkit element type it can move across (typed arrays, no copy). */
export const ORT_TYPE_NAMES: Readonly<Partial<Record<DataType, string>>> = {
  [DataType.FLOAT]: "float32",
  [DataType.DOUBLE]: "float64",
  [DataType.FLOAT16]: "float16",
  [DataType.INT8]: "int8",
  [DataType.UINT8]: "uint8",
  [DataType.INT16]: "int16",
  [DataType.UINT16]: "uint16",
  [DataType.INT32]: "int32",
  [DataType.UINT32]: "uint32",
  [DataType.INT64]: "int64",
  [DataType.UINT64]: "uint64",
  [DataType.BOOL]: "bool",
  [DataType.STRING]: "string",
};

/** The shiftkit element type of each onnxruntime element-type name. */
export const DTYPE_OF_ORT: Readonly<Record<string, DataType>> = Object.fromEntries(
  Object.entries(ORT_TYPE_NAMES).map(([dt, name]) => [name, Number(dt) as DataType]),
);

/**
 * Refuse feeds that do not name exactly the model's inputs (both onnxruntime adapters run this first).
 *
 * @param inputNames the model's input names
 * @param feeds the feeds, by name
 * @throws {TypeError} naming the inputs, the missing and the unknown ones
 */
export function checkFeedNames(
  inputNames: readonly string[],
  feeds: Readonly<Record<string, unknown>>,
): void {
  const missing = inputNames.filter((n) => !(n in feeds));
  const unknown = Object.keys(feeds).filter((n) => !inputNames.includes(n));
  if (missing.length > 0 || unknown.length > 0) {
    throw new TypeError(
      `Cannot run the model: inputs are [${inputNames.join(", ")}]; ` +
        `missing [${missing.join(", ")}], unknown [${unknown.join(", ")}]`,
    );
  }
}
