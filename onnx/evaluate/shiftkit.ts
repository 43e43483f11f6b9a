/**
 * Registers the evaluator kernels of every op in the `shiftkit` domain (their semantics live in quant/), and
 * of the one `com.microsoft` op shiftkit emits (MatMulNBits, passes/weightonly).
 * Imported by evaluate.ts, so any graph the evaluator runs can contain shiftkit ops; kept out of
 * registry.ts because the op modules import the registry themselves.
 * @module
 */
import { MS_DOMAIN, SHIFTKIT_DOMAIN } from "../ops.ts";
import { msOps } from "./ops/matmul_nbits.ts";
import { registerOp } from "./registry.ts";
import { registerDenseShiftOps } from "./ops/dense_shift.ts";
import { integerOps } from "./ops/integer.ts";
import { shiftAddOps } from "./ops/shift_add.ts";

registerDenseShiftOps();
for (const table of [integerOps, shiftAddOps]) {
  for (const [opType, kernel] of Object.entries(table)) registerOp(SHIFTKIT_DOMAIN, opType, kernel);
}
for (const [opType, kernel] of Object.entries(msOps)) registerOp(MS_DOMAIN, opType, kernel);
