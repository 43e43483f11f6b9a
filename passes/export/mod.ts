/**
 * Rewrites into the formats the JavaScript runtimes load fastest (transformers.js / onnxruntime-web file
 * set): dynamic int8 (`q8`: DynamicQuantizeLinear + MatMulInteger) and float16 storage and compute with
 * float32 inputs and outputs (`f16`, the base of `q4f16`).
 * @module
 */
export {
  type DynamicInt8Options,
  dynamicInt8Pass,
  type DynamicInt8Stats,
  newDynamicInt8Stats,
  whyNotDynamicInt8,
} from "./dynamic_int8.ts";
export { type Float16Options, float16Pass, type Float16Stats, newFloat16Stats } from "./float16.ts";
