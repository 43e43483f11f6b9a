/**
 * Standard post-training quantization (the baseline every method is compared with): QuantizeLinear /
 * DequantizeLinear pairs, per-channel weights, calibrated activations. Docs: ../shared METHODS.md "Baseline".
 * @module
 */
export {
  activationValues,
  applyQdq,
  calibrateRanges,
  planQdq,
  qdqNote,
  type QdqOptions,
  qdqPass,
  qdqSection,
  type QdqStats,
  type QdqTarget,
  quantizeWeight,
  reachedTargets,
  weightInput,
} from "./insert_qdq.ts";
export {
  type LearnedRoundingLayer,
  learnedRoundingPass,
  type LearnedRoundingPassOptions,
} from "./learned_weights.ts";
