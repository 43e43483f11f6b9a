/**
 * Integer-only vision transformers: I-ViT (Li & Gu, ICCV 2023) and I-Segmenter: dyadic requantization,
 * Shiftmax, ShiftGELU, integer LayerNorm. Docs: docs/ops/integer.md, header of ./integer_only.ts.
 * @module
 */
export {
  convertIntegerOnly,
  type IntegerOnlyOptions,
  integerOnlyPass,
  type IntegerOnlyReport,
  type IntegerRegion,
  type OpRecord,
  type RegionSpec,
} from "./integer_only.ts";
export { integerRegionQdqPass } from "./integer_only_mixed.ts";
