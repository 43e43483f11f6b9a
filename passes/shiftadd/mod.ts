/**
 * ShiftAddLLM (You et al., NeurIPS 2024): binary-coded weights with power-of-two scales, output-error fitting,
 * bit allocation; emits `shiftkit.ShiftAddMatMul`. Docs: docs/ops/shiftadd.md, header of ./shift_add.ts.
 * @module
 */
export {
  buildShiftAddFunction,
  planShiftAdd,
  SHIFT_ADD_OPSET,
  type ShiftAddBodyVariant,
  type ShiftAddLayerReport,
  shiftAddPass,
  type ShiftAddPassOptions,
  type ShiftAddStats,
  type ShiftAddTarget,
} from "./shift_add.ts";
