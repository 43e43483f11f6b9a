/**
 * Normalization passes: bring any model to the forms the methods match (Constant -> initializer, dead code,
 * duplicate initializers, BatchNorm folded into Conv, canonical forms by rewrite rules, LayerNorm fusion,
 * constant folding, opset upgrade).
 * No paper; the ONNX spec's operator changelog drives the opset upgrader. Docs: docs/architecture.md.
 * @module
 */
export {
  applyRules,
  type ApplyRulesOptions,
  type ApplyRulesResult,
  canonicalize,
  canonicalizePass,
  type RewriteRule,
  type RuleMiss,
} from "./canonicalize.ts";
export { CANONICAL_RULES } from "./canonical_rules.ts";
export { constantFold, foldConstants, type FoldOptions } from "./constant_fold.ts";
export { constantsToInitializers, constantToInitializer } from "./constants_to_initializers.ts";
export { dce, eliminateDeadCode } from "./dce.ts";
export { dedupe, dedupeInitializers } from "./dedupe.ts";
export { checkFoldBatchNorm, foldBatchNorm, foldBatchNormPass } from "./fold_batchnorm.ts";
export { fuseLayerNorm, fuseLayerNormPass } from "./fuse_layernorm.ts";
export {
  MAX_TARGET_OPSET,
  OpsetUpgradeError,
  opsetUpgradePass,
  upgradeOpset,
  type UpgradeOptions,
} from "./opset_upgrade.ts";
export { findSignalConstants } from "./signal_constants.ts";
export { initializerInputs } from "./initializer_inputs.ts";
