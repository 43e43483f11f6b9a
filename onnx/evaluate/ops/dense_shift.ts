/**
 * CPU evaluator entries of the DenseShift ops `shiftkit.ShiftMatMul` and `shiftkit.ShiftConv`
 * (docs/ops/denseshift.md). Both decode their weight with the single reference in quant/dense_shift.ts:
 * ShiftMatMul is `shiftMatMul` itself (float64 sums, one rounding to float32, then the bias); ShiftConv
 * composes `decodeShiftWeight` with the evaluator's Conv (`conv.ts`), Conv attributes unchanged, accumulating
 * in double (`float64`), as it always has: the WebGPU validation compares its ShiftConv kernel against this
 * oracle, whose numbers must not move with the float32 GEMM of plain Conv.
 *
 * Importing this module registers both kernels (domain `shiftkit`). It must be imported after
 * `../registry.ts` has been evaluated (e.g. from evaluate.ts), never from registry.ts itself.
 * @module
 */
import { Attrs } from "../../attributes.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../ops.ts";
import { DataType, dtypeName, makeTensor, type Tensor } from "../../tensor.ts";
import { decodeShiftWeight, shiftMatMul, type ShiftWeight } from "../../../quant/dense_shift.ts";
import { type OpKernel, registerOp } from "../registry.ts";
import { f32, req } from "./_util.ts";
import { conv } from "./conv.ts";

/** The packed weight of a ShiftMatMul / ShiftConv node from its `codes`, `alpha` inputs and attributes. */
function shiftWeight(inputs: (Tensor | undefined)[], attrs: Attrs, op: string, axis: number): ShiftWeight {
  const codes = req(inputs, 1, op);
  if (codes.dtype !== DataType.UINT8 || !(codes.data instanceof Uint8Array)) {
    throw new TypeError(`${op}: codes must be UINT8, got ${dtypeName(codes.dtype)}`);
  }
  return {
    packed: codes.data,
    alpha: f32(req(inputs, 2, op), op, "alpha"),
    bits: attrs.int("bits"),
    shape: attrs.ints("weight_shape"),
    axis,
  };
}

/**
 * `shiftkit.ShiftMatMul(X, codes, alpha[, bias])`: the quant/ reference `shiftMatMul`.
 *
 * @param inputs X (float32 `[..., K]`), codes (uint8), alpha (float32 `[N]`), optional bias (float32 `[N]`)
 * @param attrs `bits`, `weight_shape` = `[K, N]`
 * @returns `[Y]`, float32 `[..., N]`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Attrs, intAttr, intsAttr } from "../../attributes.ts";
 * import { DataType, makeTensor } from "../../tensor.ts";
 * import { shiftMatMulKernel } from "./dense_shift.ts";
 * // W [2, 1] = alpha 0.5 * [+4, -1]: 3-bit codes 2 and 4 | 0 = 4, packed 2 | 4 << 3 = 0x22.
 * const attrs = new Attrs(new Map([["bits", intAttr("bits", 3)], ["weight_shape", intsAttr("weight_shape", [2, 1])]]), "t");
 * const [y] = shiftMatMulKernel([
 *   makeTensor(DataType.FLOAT, [1, 2], new Float32Array([1, 4])),
 *   makeTensor(DataType.UINT8, [1], new Uint8Array([0x22])),
 *   makeTensor(DataType.FLOAT, [1], new Float32Array([0.5])),
 * ], attrs, { opset: 1 });
 * assertEquals(y!.data, new Float32Array([0]));
 * ```
 */
export const shiftMatMulKernel: OpKernel = (inputs, attrs) => {
  const op = Op.ShiftMatMul.type;
  const x = req(inputs, 0, op);
  const bias = inputs[3];
  const y = shiftMatMul(
    { data: f32(x, op, "X"), shape: x.dims },
    shiftWeight(inputs, attrs, op, 1),
    bias ? { bias: f32(bias, op, "bias") } : {},
  );
  return [makeTensor(DataType.FLOAT, y.shape, y.data)];
};

/**
 * `shiftkit.ShiftConv(X, codes, alpha[, B])`: `Conv(X, decodeShiftWeight(codes, alpha), B)` with the
 * node's Conv attributes (the evaluator's Conv, summing in double: see the module doc).
 *
 * @param inputs X (float32 `[N, Cin, ...]`), codes (uint8), alpha (float32 `[Cout]`), optional B
 * @param attrs `bits`, `weight_shape` = `[Cout, Cin/group, ...kernel]`, and Conv's attributes
 * @returns `[Y]`, as Conv
 */
export const shiftConvKernel: OpKernel = (inputs, attrs) => {
  const op = Op.ShiftConv.type;
  const weight = shiftWeight(inputs, attrs, op, 0);
  const w = makeTensor(DataType.FLOAT, weight.shape, decodeShiftWeight(weight));
  const convAttrs = new Map([...attrs.map].filter(([k]) => k !== "bits" && k !== "weight_shape"));
  return [conv(req(inputs, 0, op), w, inputs[3], new Attrs(convAttrs, attrs.where), { float64: true })];
};

/**
 * Register {@linkcode shiftMatMulKernel} and {@linkcode shiftConvKernel} in domain `shiftkit` (also done
 * once when this module is imported).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { getOp } from "../registry.ts";
 * import { registerDenseShiftOps } from "./dense_shift.ts";
 * registerDenseShiftOps();
 * assert(typeof getOp("shiftkit", "ShiftConv") === "function");
 * ```
 */
export function registerDenseShiftOps(): void {
  registerOp(SHIFTKIT_DOMAIN, Op.ShiftMatMul.type, shiftMatMulKernel);
  registerOp(SHIFTKIT_DOMAIN, Op.ShiftConv.type, shiftConvKernel);
}

registerDenseShiftOps();
