/**
 * DenseShift (Li et al., ICCV 2023): zero-free power-of-two weights (sign + exponent) for Conv and linear
 * layers; emits `shiftkit.ShiftConv` / `ShiftMatMul`. Docs: docs/ops/denseshift.md, header of ./dense_shift.ts.
 * @module
 */
export {
  averageStoredBits,
  type DenseShiftLayer,
  type DenseShiftOptions,
  denseShiftPass,
} from "./dense_shift.ts";
