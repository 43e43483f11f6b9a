/**
 * Integer Swish for the integer-only conversion (passes/intvit/integer_only_convert.ts): `x * sigmoid(g x)` as
 * shiftkit.ShiftSigmoid (16-bit, scale 2^-15, the shift-exp sigmoid of docs/ops/integer.md) times the
 * integer x in int32, then Requantize to the calibrated output scale (METHODS.md section 4: "the same
 * shift-exp builds an integer sigmoid"). PP-OCRv4 rec's SVTR MLP uses Swish.
 * @module
 */
import { Op } from "../../onnx/ops.ts";
import { DataType } from "../../onnx/tensor.ts";
import { shiftExpParams } from "../../quant/shiftmax.ts";
import type { Converter } from "./integer_only_convert.ts";
import type { SwishMatch } from "./integer_only_patterns.ts";

const I8 = DataType.INT8, I16 = DataType.INT16, I32 = DataType.INT32;

/** Fraction bits of the sigmoid (ShiftSigmoid output_bits 16). */
const SIGMOID_BITS = 15;

/**
 * Replace a Swish match by ShiftSigmoid + integer Mul + Requantize (int8 output, or int16 where it feeds a
 * residual Add).
 *
 * @param conv the running conversion
 * @param m the match
 */
export function swishOp(conv: Converter, m: SwishMatch): void {
  const x = conv.need(m.input, [I8, I16], I8);
  const name = `${m.nodes[0]!.name}_swish`;
  // ShiftSigmoid at 16 bits needs p * 2^n * 2^15 <= 2^31 - 1, i.e. E0 = p * 2^n <= 65535.
  const p = shiftExpParams(x.scale, { gain: m.gain, expShift: "auto", maxE0: 65535, maxN: 15 });
  const sig = conv.emit.integer(
    Op.ShiftSigmoid,
    [x.v],
    { p: p.p, n: p.n, exp_shift: p.expShift, output_bits: 16 },
    { name: `${name}_sigmoid`, scale: 2 ** -SIGMOID_BITS, dtype: I16 },
  );
  // |x| <= 2^15 and 0 <= sig < 2^15: the product fits int32.
  const x32 = conv.emit.cast(x, I32, `${name}_x32`);
  const s32 = conv.emit.cast(sig, I32, `${name}_sig32`);
  const prod = conv.emit.node(Op.Mul, [x32.v, s32.v], `${name}_mul`, I32);
  const dtype = conv.feedsResidual(m.output) ? I16 : I8;
  const sOut = conv.scaleOf(m.output, dtype);
  const inScale = x.scale * 2 ** -SIGMOID_BITS;
  conv.bind(m.output, conv.emit.requantize(prod, inScale / sOut, { name, scale: sOut, dtype }));
}
