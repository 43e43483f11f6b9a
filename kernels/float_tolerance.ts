/**
 * How far a GPU kernel with float32 outputs may differ from the CPU evaluator, per element, derived from each
 * op's spec (docs/ops/*.md). The executor (kernels/executor.ts) checks every element of every float output
 * against these bounds; beyond them the node fails validation, like an integer mismatch.
 *
 * - `DequantizeLinear`: exact. `(x - zero_point) * scale` is one float32 multiply of an exact integer, correctly
 *   rounded in WGSL and in the reference alike.
 * - `shiftkit.ShiftAddMatMul`: the spec's own bound (docs/ops/shiftadd.md, "Tolerance for other
 *   implementations"; `shiftAddTolerance` of quant/shiftadd_matmul.ts).
 * - `shiftkit.ShiftMatMul` and `shiftkit.ShiftConv` (docs/ops/denseshift.md): every product `x * (+-2^p)` is
 *   exact, so only the order of the K-term float32 sums differs from the reference's; two recursive float32
 *   sums of the same K terms each err by at most `(K - 1) * u * sum|x * w|` (u = 2^-24), plus one rounding for
 *   alpha and one for the bias: `|y - y_ref| <= 2 * (K + 2) * 2^-24 * (sum_k |x_k * w_k| + |b|)`.
 * - every other float output: exact.
 * @module
 */

import { Attrs } from "../onnx/attributes.ts";
import { getOp } from "../onnx/evaluate/registry.ts";
import { shiftAddPackedFrom } from "../onnx/evaluate/ops/shift_add.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { decodeShiftWeight } from "../quant/dense_shift.ts";
import { shiftAddTolerance } from "../quant/shiftadd_matmul.ts";

/** A per-element bound and the rule it came from. */
export interface FloatTolerance {
  /** Largest allowed |gpu - cpu| per output element (one number: every element). */
  bound: Float64Array | number;
  /** The rule, for the report. */
  rule: string;
}

const U = 2 ** -24;

function abs32(t: Tensor): Tensor {
  return { dtype: DataType.FLOAT, dims: t.dims, data: Float32Array.from(t.data as Float32Array, Math.abs) };
}

/** The decoded DenseShift weight of a ShiftMatMul / ShiftConv node, in absolute value. */
function absShiftWeight(inputs: (Tensor | undefined)[], attrs: Attrs, axis: number): Tensor {
  const shape = attrs.ints("weight_shape");
  const w = decodeShiftWeight({
    packed: inputs[1]!.data as Uint8Array,
    alpha: inputs[2]!.data as Float32Array,
    bits: attrs.int("bits"),
    shape,
    axis,
  });
  return makeTensor(DataType.FLOAT, shape, w.map(Math.abs));
}

/**
 * The tolerance of one node's float output.
 *
 * @param op op label (`shiftkit.ShiftConv`, `DequantizeLinear`, ...)
 * @param inputs the node's inputs on the host
 * @param attrs the node's attributes
 * @param opset opset of the node's domain
 * @returns the bound and its rule
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Attrs } from "../onnx/attributes.ts";
 * import { floatTolerance } from "./float_tolerance.ts";
 * assertEquals(floatTolerance("DequantizeLinear", [], new Attrs(new Map(), "t"), 13).bound, 0);
 * ```
 */
export function floatTolerance(
  op: string,
  inputs: (Tensor | undefined)[],
  attrs: Attrs,
  opset: number,
): FloatTolerance {
  if (op === "shiftkit.ShiftAddMatMul") {
    const x = inputs[0]!;
    const packed = shiftAddPackedFrom(inputs, attrs);
    return {
      bound: shiftAddTolerance({ data: x.data as Float32Array, dims: x.dims }, packed),
      rule: "2*(9 + ceil(min(group,K)/8) + q*G)*2^-24*sum|x|*sum|alpha| (docs/ops/shiftadd.md)",
    };
  }
  if (op === "shiftkit.ShiftMatMul" || op === "shiftkit.ShiftConv") {
    const conv = op === "shiftkit.ShiftConv";
    const w = absShiftWeight(inputs, attrs, conv ? 0 : 1);
    const x = abs32(inputs[0]!);
    const b = inputs[3] ? abs32(inputs[3]) : undefined;
    const K = conv ? w.dims.slice(1).reduce((p, q) => p * q, 1) : w.dims[0]!;
    let s: Tensor;
    if (conv) {
      const convAttrs = new Map([...attrs.map].filter(([k]) => k !== "bits" && k !== "weight_shape"));
      s = getOp("", "Conv")([x, w, b], new Attrs(convAttrs, attrs.where), { opset })[0]!;
    } else {
      s = getOp("", "MatMul")([x, w], attrs, { opset })[0]!;
      if (b) s = getOp("", "Add")([s, b], attrs, { opset })[0]!;
    }
    // The sums of absolute values are themselves float32 sums: one more (K + 2) u of slack covers them.
    const f = 2 * (K + 2) * U * (1 + (K + 2) * U);
    return {
      bound: Float64Array.from(s.data as Float32Array, (v) => f * v),
      rule: `2*(K+2)*2^-24*(sum|x*w| + |b|), K = ${K} (docs/ops/denseshift.md)`,
    };
  }
  return { bound: 0, rule: "exact" };
}
