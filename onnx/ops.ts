/**
 * The op-schema table: the only place op-type strings live. Passes test nodes with `isOp(node, Op.Conv)`,
 * create nodes with `Op.Conv.type`, and read attributes through `node.a` (typed getters). Each schema lists
 * the opset versions where the op's signature changed (for the opset upgrader and the emitter) and its
 * input names (for readable code: `inputIndex(Op.Conv, "B")`).
 * @module
 */
import type { Node } from "./ir.ts";

/** Domain of shiftkit's own ops. */
export const SHIFTKIT_DOMAIN = "shiftkit";
/** Domain of onnxruntime's contrib ops (recognised; only MatMulNBits is emitted, by passes/weightonly). */
export const MS_DOMAIN = "com.microsoft";

/** Schema of one operator. */
export interface OpSchema {
  /** Op type as written in NodeProto.op_type. */
  readonly type: string;
  /** Domain ("" = ai.onnx). */
  readonly domain: string;
  /** Opset versions in which the op (re)defined its signature, ascending. */
  readonly since: readonly number[];
  /** Formal input names, in order (optional ones included). */
  readonly inputs: readonly string[];
}

function op(type: string, since: number[], inputs: string[] = [], domain = ""): OpSchema {
  return { type, domain, since, inputs };
}

/** The schema of every op shiftkit knows, by op name (read it through {@link Op}). */
export const OP_TABLE = {
  // linear algebra and convolution
  MatMul: op("MatMul", [1, 9, 13], ["A", "B"]),
  Gemm: op("Gemm", [1, 6, 7, 9, 11, 13], ["A", "B", "C"]),
  Conv: op("Conv", [1, 11], ["X", "W", "B"]),
  ConvTranspose: op("ConvTranspose", [1, 11], ["X", "W", "B"]),
  MatMulInteger: op("MatMulInteger", [10], ["A", "B", "a_zero_point", "b_zero_point"]),
  ConvInteger: op("ConvInteger", [10], ["x", "w", "x_zero_point", "w_zero_point"]),
  QLinearMatMul: op("QLinearMatMul", [10, 21], [
    "a",
    "a_scale",
    "a_zero_point",
    "b",
    "b_scale",
    "b_zero_point",
    "y_scale",
    "y_zero_point",
  ]),
  QLinearConv: op("QLinearConv", [10], [
    "x",
    "x_scale",
    "x_zero_point",
    "w",
    "w_scale",
    "w_zero_point",
    "y_scale",
    "y_zero_point",
    "B",
  ]),
  // quantization
  QuantizeLinear: op("QuantizeLinear", [10, 13, 19, 21], ["x", "y_scale", "y_zero_point"]),
  DequantizeLinear: op("DequantizeLinear", [10, 13, 19, 21], ["x", "x_scale", "x_zero_point"]),
  DynamicQuantizeLinear: op("DynamicQuantizeLinear", [11], ["x"]),
  // normalization
  BatchNormalization: op("BatchNormalization", [1, 6, 7, 9, 14, 15], [
    "X",
    "scale",
    "B",
    "input_mean",
    "input_var",
  ]),
  LayerNormalization: op("LayerNormalization", [17], ["X", "Scale", "B"]),
  RMSNormalization: op("RMSNormalization", [23], ["X", "scale"]),
  // onnxruntime's fused norms (its transformer optimizer writes them; recognised, never emitted). It registers
  // SimplifiedLayerNormalization in the default domain, and some tools write it under com.microsoft.
  SimplifiedLayerNormalization: op("SimplifiedLayerNormalization", [1], ["X", "scale"]),
  MsSimplifiedLayerNormalization: op("SimplifiedLayerNormalization", [1], ["X", "scale"], MS_DOMAIN),
  SkipLayerNormalization: op(
    "SkipLayerNormalization",
    [1],
    ["input", "skip", "gamma", "beta", "bias"],
    MS_DOMAIN,
  ),
  SkipSimplifiedLayerNormalization: op(
    "SkipSimplifiedLayerNormalization",
    [1],
    ["input", "skip", "gamma", "bias"],
    MS_DOMAIN,
  ),
  InstanceNormalization: op("InstanceNormalization", [1, 6], ["input", "scale", "B"]),
  // element-wise
  Add: op("Add", [1, 6, 7, 13, 14], ["A", "B"]),
  Sub: op("Sub", [1, 6, 7, 13, 14], ["A", "B"]),
  Mul: op("Mul", [1, 6, 7, 13, 14], ["A", "B"]),
  Div: op("Div", [1, 6, 7, 13, 14], ["A", "B"]),
  Pow: op("Pow", [1, 7, 12, 13, 15], ["X", "Y"]),
  Sqrt: op("Sqrt", [1, 6, 13], ["X"]),
  Reciprocal: op("Reciprocal", [1, 6, 13], ["X"]),
  Erf: op("Erf", [9, 13], ["input"]),
  Exp: op("Exp", [1, 6, 13], ["input"]),
  Log: op("Log", [1, 6, 13], ["input"]),
  Tanh: op("Tanh", [1, 6, 13], ["input"]),
  Sigmoid: op("Sigmoid", [1, 6, 13], ["X"]),
  HardSigmoid: op("HardSigmoid", [1, 6, 22], ["X"]),
  HardSwish: op("HardSwish", [14, 22], ["X"]),
  Relu: op("Relu", [1, 6, 13, 14], ["X"]),
  LeakyRelu: op("LeakyRelu", [1, 6, 16], ["X"]),
  Gelu: op("Gelu", [20], ["X"]),
  Max: op("Max", [1, 6, 8, 12, 13], ["data_0"]),
  Min: op("Min", [1, 6, 8, 12, 13], ["data_0"]),
  Clip: op("Clip", [1, 6, 11, 12, 13], ["input", "min", "max"]),
  Neg: op("Neg", [1, 6, 13], ["X"]),
  Abs: op("Abs", [1, 6, 13], ["X"]),
  Floor: op("Floor", [1, 6, 13], ["X"]),
  Ceil: op("Ceil", [1, 6, 13], ["X"]),
  Round: op("Round", [11], ["X"]),
  Cast: op("Cast", [1, 6, 9, 13, 19, 21], ["input"]),
  Identity: op("Identity", [1, 13, 14, 16, 19, 21], ["input"]),
  Equal: op("Equal", [1, 7, 11, 13, 19], ["A", "B"]),
  Less: op("Less", [1, 7, 9, 13], ["A", "B"]),
  Greater: op("Greater", [1, 7, 9, 13], ["A", "B"]),
  Where: op("Where", [9, 16], ["condition", "X", "Y"]),
  Not: op("Not", [1], ["X"]),
  And: op("And", [1, 7], ["A", "B"]),
  Mod: op("Mod", [10, 13], ["A", "B"]),
  BitShift: op("BitShift", [11], ["X", "Y"]),
  BitwiseAnd: op("BitwiseAnd", [18], ["A", "B"]),
  BitwiseOr: op("BitwiseOr", [18], ["A", "B"]),
  // reductions and softmax
  ReduceMean: op("ReduceMean", [1, 11, 13, 18], ["data", "axes"]),
  ReduceSum: op("ReduceSum", [1, 11, 13], ["data", "axes"]),
  CumSum: op("CumSum", [11, 14], ["x", "axis"]),
  ReduceMax: op("ReduceMax", [1, 11, 12, 13, 18, 20], ["data", "axes"]),
  ReduceMin: op("ReduceMin", [1, 11, 12, 13, 18, 20], ["data", "axes"]),
  ReduceL2: op("ReduceL2", [1, 11, 13, 18], ["data", "axes"]),
  ReduceProd: op("ReduceProd", [1, 11, 13, 18], ["data", "axes"]),
  ArgMax: op("ArgMax", [1, 11, 12, 13], ["data"]),
  Softmax: op("Softmax", [1, 11, 13], ["input"]),
  LogSoftmax: op("LogSoftmax", [1, 11, 13], ["input"]),
  // pooling
  MaxPool: op("MaxPool", [1, 8, 10, 11, 12], ["X"]),
  AveragePool: op("AveragePool", [1, 7, 10, 11, 19], ["X"]),
  GlobalAveragePool: op("GlobalAveragePool", [1], ["X"]),
  GlobalMaxPool: op("GlobalMaxPool", [1], ["X"]),
  // shape and data movement
  Reshape: op("Reshape", [1, 5, 13, 14, 19, 21], ["data", "shape"]),
  Transpose: op("Transpose", [1, 13, 21], ["data"]),
  Squeeze: op("Squeeze", [1, 11, 13, 21], ["data", "axes"]),
  Unsqueeze: op("Unsqueeze", [1, 11, 13, 21], ["data", "axes"]),
  Flatten: op("Flatten", [1, 9, 11, 13, 21], ["input"]),
  Concat: op("Concat", [1, 4, 11, 13], ["inputs"]),
  Split: op("Split", [1, 2, 11, 13, 18], ["input", "split"]),
  Slice: op("Slice", [1, 10, 11, 13], ["data", "starts", "ends", "axes", "steps"]),
  Gather: op("Gather", [1, 11, 13], ["data", "indices"]),
  GatherElements: op("GatherElements", [11, 13], ["data", "indices"]),
  Expand: op("Expand", [8, 13], ["input", "shape"]),
  Tile: op("Tile", [1, 6, 13], ["input", "repeats"]),
  Pad: op("Pad", [1, 2, 11, 13, 18, 19, 21], ["data", "pads", "constant_value", "axes"]),
  Resize: op("Resize", [10, 11, 13, 18, 19], ["X", "roi", "scales", "sizes"]),
  Upsample: op("Upsample", [7, 9, 10], ["X", "scales"]),
  Dropout: op("Dropout", [1, 6, 7, 10, 12, 13, 22], ["data", "ratio", "training_mode"]),
  Trilu: op("Trilu", [14], ["input", "k"]),
  Shape: op("Shape", [1, 13, 15, 19, 21], ["data"]),
  Size: op("Size", [1, 13, 19, 21], ["data"]),
  ConstantOfShape: op("ConstantOfShape", [9, 20, 21], ["input"]),
  Range: op("Range", [11], ["start", "limit", "delta"]),
  Constant: op("Constant", [1, 9, 11, 12, 13, 19, 21], []),
  TopK: op("TopK", [1, 10, 11], ["X", "K"]),
  // control flow
  If: op("If", [1, 11, 13, 16, 19, 21], ["cond"]),
  Loop: op("Loop", [1, 11, 13, 16, 19, 21], ["M", "cond"]),
  Scan: op("Scan", [8, 9, 11, 16, 19, 21], []),
  LSTM: op("LSTM", [1, 7, 14, 22], ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]),
  // onnxruntime contrib ops (docs/ContribOperators.md of onnxruntime)
  MatMulNBits: op("MatMulNBits", [1], ["A", "B", "scales", "zero_points", "g_idx", "bias"], MS_DOMAIN),
  // shiftkit domain (specs in docs/ops/)
  ShiftAddMatMul: op(
    "ShiftAddMatMul",
    [1],
    ["X", "planes", "alpha_exp", "alpha_terms", "bias"],
    SHIFTKIT_DOMAIN,
  ),
  ShiftMatMul: op("ShiftMatMul", [1], ["X", "codes", "alpha", "bias"], SHIFTKIT_DOMAIN),
  ShiftConv: op("ShiftConv", [1], ["X", "codes", "alpha", "bias"], SHIFTKIT_DOMAIN),
  Requantize: op("Requantize", [1], ["x"], SHIFTKIT_DOMAIN),
  Shiftmax: op("Shiftmax", [1], ["x"], SHIFTKIT_DOMAIN),
  ShiftGelu: op("ShiftGelu", [1], ["x"], SHIFTKIT_DOMAIN),
  LambdaShiftGelu: op("LambdaShiftGelu", [1], ["x"], SHIFTKIT_DOMAIN),
  ShiftSigmoid: op("ShiftSigmoid", [1], ["x"], SHIFTKIT_DOMAIN),
  ILayerNorm: op("ILayerNorm", [1], ["x"], SHIFTKIT_DOMAIN),
  IntAdd: op("IntAdd", [1], ["a", "b"], SHIFTKIT_DOMAIN),
} as const satisfies Record<string, OpSchema>;

/** Name of an op in the table. */
export type OpName = keyof typeof OP_TABLE;

/** Every op shiftkit reads, rewrites or emits. */
export const Op: { readonly [K in OpName]: OpSchema } = OP_TABLE;

function normDomain(d: string): string {
  return d === "ai.onnx" ? "" : d;
}

/**
 * True if `node` is an instance of `schema` (op type and domain).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { Node } from "./ir.ts";
 * import { isOp, Op } from "./ops.ts";
 * assert(isOp(new Node("Conv"), Op.Conv));
 * assert(!isOp(new Node("Conv", "shiftkit"), Op.Conv));
 * ```
 */
export function isOp(node: Node, schema: OpSchema): boolean {
  return node.opType === schema.type && normDomain(node.domain) === schema.domain;
}

/** True if `node` is any of the given ops. */
export function isAnyOp(node: Node, schemas: readonly OpSchema[]): boolean {
  return schemas.some((s) => isOp(node, s));
}

/** Index of a named formal input of an op. */
export function inputIndex(schema: OpSchema, name: string): number {
  const i = schema.inputs.indexOf(name);
  if (i < 0) throw new RangeError(`${schema.type} has no input named "${name}"`);
  return i;
}

/** The schema of a node, if the table knows it. */
export function schemaOf(node: Node): OpSchema | undefined {
  const d = normDomain(node.domain);
  return Object.values(Op).find((s) => s.type === node.opType && s.domain === d);
}

/**
 * The version of an op's definition in effect at a given opset (the largest `since` <= opset).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Op, opVersionAt } from "./ops.ts";
 * assertEquals(opVersionAt(Op.Clip, 9), 6);
 * assertEquals(opVersionAt(Op.Clip, 13), 13);
 * ```
 */
export function opVersionAt(schema: OpSchema, opset: number): number {
  let v = 0;
  for (const s of schema.since) if (s <= opset) v = s;
  return v;
}

/** Ops with learnable weight inputs that quantization methods rewrite. */
export const WEIGHTED_OPS: readonly OpSchema[] = [Op.MatMul, Op.Gemm, Op.Conv, Op.ConvTranspose];

/** Ops that mark a model as already quantized. */
export const QUANTIZED_OPS: readonly OpSchema[] = [
  Op.QuantizeLinear,
  Op.DequantizeLinear,
  Op.DynamicQuantizeLinear,
  Op.MatMulInteger,
  Op.ConvInteger,
  Op.QLinearMatMul,
  Op.QLinearConv,
  Op.MatMulNBits,
];
