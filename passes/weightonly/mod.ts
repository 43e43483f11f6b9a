/**
 * Weight-only baselines: round-to-nearest and GPTQ (Frantar et al., ICLR 2023) with group scales, emitted as
 * onnxruntime's `com.microsoft.MatMulNBits` (what onnxruntime-node/-web and transformers.js `q4` files run)
 * or as standard blocked `DequantizeLinear` (opset 21). Numerics in quant/weight_only.ts and quant/gptq.ts,
 * packing in quant/matmul_nbits.ts; header of ./weight_only.ts for the steps and choices.
 * @module
 */
export {
  NBITS_RUNNABLE_BITS,
  type WeightOnlyLayerReport,
  weightOnlyPass,
  type WeightOnlyPassOptions,
  type WeightOnlyStats,
} from "./weight_only.ts";
export { addBlockedDequantize, addMatMulNBits, type AddMatMulNBitsOptions } from "./matmul_nbits.ts";
