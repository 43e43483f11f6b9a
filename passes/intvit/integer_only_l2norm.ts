/**
 * Integer L2 normalisation for the integer-only conversion: `x / ||x||` over the last axis, built from
 * shiftkit.ILayerNorm without a new op. For the row `z = [x, -x]` (length 2D) the mean is exactly 0 and the
 * variance is `||x||^2 / D`, so `LayerNorm(z)` with gamma `1/sqrt(D)` and beta 0 is `[x, -x] / ||x||`; its first D
 * values are the L2-normalised row. The float model's epsilon (a Clip of the norm) only matters for rows of
 * norm below it, below one LSB of the integers here.
 *
 * Why: I-Segmenter (arXiv 2509.10334) removes the mask decoder's L2 normalisation. The following mask
 * LayerNorm undoes a per-patch scale, but not the per-class scale of the class embeddings; on segmenter-base
 * the removal alone cost 3.4 mIoU points (0.3425 with the normalisation kept in float, 0.3084 removed).
 * @module
 */
import { intAttr } from "../../onnx/attributes.ts";
import { Op } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { iLayerNormParams } from "../../quant/ilayernorm.ts";
import type { Converter } from "./integer_only_convert.ts";
import type { L2NormMatch } from "./integer_only_patterns.ts";

const I8 = DataType.INT8, I16 = DataType.INT16, I32 = DataType.INT32;

/**
 * Whether an L2 match normalises over the last axis (the only form rebuilt in integers).
 *
 * @param m the match
 * @param rank rank of the input
 * @returns true for `axes = [-1]` or `[rank - 1]` (attribute or constant input)
 */
export function l2OverLastAxis(m: L2NormMatch, rank: number): boolean {
  const red = m.nodes.find((n) => n.opType === Op.ReduceL2.type)!;
  let axes: number[] | undefined;
  if (red.attrs.has("axes")) axes = red.a.ints("axes");
  else if (red.inputs[1]?.const) axes = Array.from(red.inputs[1].const.data as BigInt64Array, Number);
  return axes !== undefined && axes.length === 1 && (axes[0] === -1 || axes[0] === rank - 1);
}

/**
 * Emit the integer L2 normalisation of a match and bind its output (int8 at the calibrated output scale).
 *
 * @param conv the running conversion
 * @param m the match
 * @param d length of the normalised axis
 */
export function l2NormOp(conv: Converter, m: L2NormMatch, d: number): void {
  const name = `${m.nodes[m.nodes.length - 1]!.name}_l2`;
  // The int8 twin times +-255 is within int16 (|x| <= 128): [255 x, -255 x] is an int16 row with mean
  // exactly 0, and LayerNorm ignores the factor 255 (it only lifts the row to the int16 range, where the
  // ILayerNorm's var_shift for 16-bit input keeps the variance's precision).
  const x = conv.need(m.input, [I8], I8);
  const x32 = conv.emit.cast(x, I32, `${name}_x32`);
  const k = (n: string, v: number) =>
    conv.emit.init(`${name}_${n}`, makeTensor(I32, [], new Int32Array([v])));
  const pos = conv.emit.node(Op.Mul, [x32.v, k("plus", 255)], `${name}_pos`, I32);
  const neg = conv.emit.node(Op.Mul, [x32.v, k("minus", -255)], `${name}_neg`, I32);
  const both = conv.emit.node(Op.Concat, [pos, neg], `${name}_pm`, I32, [intAttr("axis", -1)]);
  const z = conv.emit.cast({ v: both, scale: x.scale / 255, dtype: I32 }, I16, `${name}_pm16`);
  const sOut = conv.scaleOf(m.output, I8);
  const p = iLayerNormParams(new Array(2 * d).fill(1 / Math.sqrt(d)), new Array(2 * d).fill(0), {
    outputScale: sOut,
    inputBits: 16,
    outputBits: 8,
  });
  const g = conv.emit.init(`${name}_gamma_int16`, makeTensor(I16, [2 * d], p.gamma));
  const b = conv.emit.init(`${name}_beta_int32`, makeTensor(I32, [2 * d], p.beta));
  const ln = conv.emit.integer(Op.ILayerNorm, [z.v, g, b], {
    multiplier: p.multiplier,
    shift: p.shift,
    var_shift: p.varShift ?? 0,
    output_bits: 8,
  }, { name: `${name}_ilayernorm`, scale: sOut, dtype: I8 });
  const i64 = (n: string, v: number) =>
    conv.emit.init(`${name}_${n}`, makeTensor(DataType.INT64, [1], BigInt64Array.of(BigInt(v))));
  const first = conv.emit.node(
    Op.Slice,
    [ln.v, i64("start", 0), i64("end", d), i64("axis", -1)],
    `${name}_slice`,
    I8,
  );
  conv.notes.push(`L2 normalisation of "${m.input.name}" in integers (ILayerNorm of [x, -x])`);
  conv.bind(m.output, { v: first, scale: sOut, dtype: I8 });
}
