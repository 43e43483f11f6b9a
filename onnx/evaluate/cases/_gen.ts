/**
 * Generates the op cases in this folder: each case is a one-node ONNX model built with onnx-proto, run by
 * onnxruntime-node (the independent oracle), and stored as inputs + attributes + expected outputs.
 * Run from the repository root: `deno run -A onnx/evaluate/cases/_gen.ts` (it formats the JSON it writes with
 * `deno fmt`).
 * @module
 */
import proto from "npm:onnx-proto@8.0.1";
import ort from "npm:onnxruntime-node@1.30.0";
import { DataType, makeTensor, type Tensor, type TypedArray } from "../../tensor.ts";
import { dtypeOf, type JsonAttr, type JsonTensor, type OpCase, toJson } from "./_case.ts";
import { mulberry32 } from "../../../quant/_rng.ts";

const { onnx } = proto;
const D = DataType;

// deterministic inputs: mulberry32
const rand = mulberry32(12345);

const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
/** Random floats in [lo, hi). */
function F(dims: number[], lo = -2, hi = 2): Tensor {
  const d = new Float32Array(size(dims));
  for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rand();
  return makeTensor(D.FLOAT, dims, d);
}
/** A tensor of any type from values. */
function T(dtype: DataType, dims: number[], values: (number | bigint)[]): Tensor {
  const t = makeTensor(dtype, dims);
  const a = t.data as TypedArray;
  values.forEach((v, i) => {
    if (a instanceof BigInt64Array) a[i] = BigInt(v);
    else a[i] = Number(v);
  });
  return t;
}
const I64 = (dims: number[], v: number[]) => T(D.INT64, dims, v);
const FV = (dims: number[], v: number[]) => T(D.FLOAT, dims, v);
/** Random integers in [lo, hi]. */
function R(dtype: DataType, dims: number[], lo: number, hi: number): Tensor {
  return T(dtype, dims, Array.from({ length: size(dims) }, () => lo + Math.floor((hi - lo + 1) * rand())));
}

type A = Record<string, JsonAttr>;
interface Spec {
  name: string;
  op: string;
  opset: number;
  attrs: A;
  inputs: (Tensor | null)[];
  nout: number;
}
const specs = new Map<string, Spec[]>();
let family = "misc";
function c(
  op: string,
  inputs: (Tensor | null)[],
  o: { opset?: number; attrs?: A; name?: string; nout?: number } = {},
) {
  const list = specs.get(family) ?? [];
  const opset = o.opset ?? 17;
  list.push({
    name: `${op} ${o.name ?? ""} (opset ${opset})`.trim(),
    op,
    opset,
    attrs: o.attrs ?? {},
    inputs,
    nout: o.nout ?? 1,
  });
  specs.set(family, list);
}
const int = (v: number): JsonAttr => ({ int: v });
const flt = (v: number): JsonAttr => ({ float: v });
const ints = (v: number[]): JsonAttr => ({ ints: v });
const str = (v: string): JsonAttr => ({ string: v });
const ten = (t: Tensor): JsonAttr => ({ tensor: toJson(t) });

// ---------------------------------------------------------------- elementwise
family = "elementwise";
c("Add", [F([2, 3, 4]), F([4])], { name: "broadcast trailing" });
c("Add", [F([2, 1, 4]), F([3, 1])], { name: "broadcast both" });
c("Add", [I64([3], [1, -2, 3]), I64([1], [10])], { name: "int64" });
c("Sub", [F([2, 3]), F([])], { name: "scalar" });
c("Sub", [F([]), F([2, 3])], { name: "scalar first" });
c("Mul", [F([1, 3, 1, 2]), F([2, 1, 4, 1])], { name: "4-D broadcast" });
c("Mul", [I64([2], [3, -4]), I64([2], [5, 6])], { name: "int64" });
c("Div", [F([3, 4]), F([3, 4], 0.5, 2)]);
c("Div", [T(D.INT32, [4], [7, -7, 7, -7]), T(D.INT32, [4], [2, 2, -2, -2])], { name: "int32 truncates" });
c("Div", [I64([4], [7, -7, 9, -9]), I64([1], [2])], { name: "int64 truncates" });
c("Pow", [F([2, 3], 0.1, 3), FV([], [2])], { name: "square" });
c("Pow", [F([2, 3], 0.1, 3), F([3], -1, 2)]);
c("Pow", [F([4], 0.1, 3), I64([], [3])], { name: "int64 exponent" });
c("Max", [F([2, 3]), F([3]), F([2, 1])], { name: "variadic" });
c("Max", [F([2, 3]), FV([], [0])], { name: "relu as max" });
c("Min", [F([2, 3]), F([2, 3])]);
c("Sum", [F([2, 3]), F([3]), F([2, 3])]);
c("Mean", [F([2, 3]), F([3])]);
c("Mod", [I64([4], [7, -7, 7, -7]), I64([4], [3, 3, -3, -3])], { name: "python mod" });
c("Mod", [F([4], -5, 5), FV([4], [1.5, -1.5, 2, 3])], { name: "fmod", attrs: { fmod: int(1) } });
for (const op of ["Sqrt", "Log"]) c(op, [F([2, 5], 0.01, 4)]);
for (
  const op of [
    "Erf",
    "Exp",
    "Tanh",
    "Sigmoid",
    "Relu",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Sin",
    "Cos",
    "Softplus",
    "Sign",
  ]
) {
  c(op, [F([3, 7], -4, 4)]);
}
c("Erf", [FV([8], [0, 1e-4, -1e-3, 0.5, 2, 3.5, -4.5, 6])], { name: "tails and tiny" });
c("Reciprocal", [F([3, 4], 0.2, 3)]);
c("Round", [FV([10], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, 0.6, -0.6, 3.4999])], { name: "ties to even" });
c("LeakyRelu", [F([2, 6])], { attrs: { alpha: flt(0.2) } });
c("LeakyRelu", [F([2, 6])], { name: "default alpha" });
c("HardSigmoid", [F([4, 6], -5, 5)], { attrs: { alpha: flt(0.1666667), beta: flt(0.5) } });
c("HardSigmoid", [F([4, 6], -5, 5)], { name: "defaults" });
c("HardSwish", [F([4, 6], -5, 5)]);
c("Elu", [F([2, 6])], { attrs: { alpha: flt(0.7) } });
c("Gelu", [F([2, 6], -4, 4)], { opset: 20 });
c("Gelu", [F([2, 6], -4, 4)], { opset: 20, attrs: { approximate: str("tanh") }, name: "tanh" });
c("Clip", [F([3, 4], -8, 8)], { opset: 9, attrs: { min: flt(0), max: flt(6) }, name: "attributes" });
c("Clip", [F([3, 4], -8, 8)], { opset: 9, name: "no bounds" });
c("Clip", [F([3, 4], -8, 8), FV([], [-1]), FV([], [2])], { opset: 11, name: "inputs" });
c("Clip", [F([3, 4], -8, 8), FV([], [0.5]), null], { opset: 13, name: "min only" });
c("Clip", [F([3, 4], -8, 8), null, FV([], [0.5])], { opset: 13, name: "max only" });
c("Clip", [I64([5], [-9, -1, 0, 4, 9]), I64([], [-2]), I64([], [5])], { opset: 13, name: "int64" });
c("Equal", [I64([4], [1, 2, 3, 4]), I64([1], [3])], { name: "int64" });
c("Equal", [FV([4], [1, 2, 3, 4]), FV([4], [1, 0, 3, 0])]);
c("Less", [F([2, 3]), F([3])]);
c("Greater", [F([2, 3]), F([2, 1])]);
c("LessOrEqual", [FV([3], [1, 2, 3]), FV([3], [2, 2, 2])], { opset: 16 });
c("GreaterOrEqual", [FV([3], [1, 2, 3]), FV([3], [2, 2, 2])], { opset: 16 });
c("Where", [T(D.BOOL, [2, 1], [1, 0]), F([2, 3]), F([3])]);
c("Where", [T(D.BOOL, [3], [1, 0, 1]), I64([3], [1, 2, 3]), I64([], [-1])], { name: "int64" });
c("Not", [T(D.BOOL, [4], [1, 0, 1, 0])]);
c("And", [T(D.BOOL, [4], [1, 0, 1, 0]), T(D.BOOL, [4], [1, 1, 0, 0])]);
c("Or", [T(D.BOOL, [2, 2], [1, 0, 1, 0]), T(D.BOOL, [2], [0, 1])]);
c("Xor", [T(D.BOOL, [4], [1, 0, 1, 0]), T(D.BOOL, [4], [1, 1, 0, 0])]);
c("Identity", [F([2, 2])]);

// ---------------------------------------------------------------- cast
family = "cast";
const fsrc = FV([9], [-3.7, -1.5, -0.5, 0, 0.5, 1.5, 2.7, 100.2, -0.0]);
c("Cast", [fsrc], { attrs: { to: int(D.INT32) }, name: "float to int32" });
c("Cast", [fsrc], { attrs: { to: int(D.INT64) }, name: "float to int64" });
c("Cast", [fsrc], { attrs: { to: int(D.INT8) }, name: "float to int8" });
c("Cast", [fsrc], { attrs: { to: int(D.BOOL) }, name: "float to bool" });
c("Cast", [fsrc], { attrs: { to: int(D.DOUBLE) }, name: "float to double" });
c("Cast", [FV([5], [0, 1.5, 200.9, 255, 3])], { attrs: { to: int(D.UINT8) }, name: "float to uint8" });
c("Cast", [FV([7], [1, -2.5, 65504, 1e-5, 3.14159, 0.1, -1e-8])], {
  attrs: { to: int(D.FLOAT16) },
  name: "float to float16",
});
c("Cast", [I64([4], [-5, 0, 7, 1 << 30])], { attrs: { to: int(D.FLOAT) }, name: "int64 to float" });
c("Cast", [I64([4], [-5, 0, 7, 1 << 30])], { attrs: { to: int(D.INT32) }, name: "int64 to int32" });
c("Cast", [T(D.INT32, [3], [-5, 0, 7])], { attrs: { to: int(D.INT64) }, name: "int32 to int64" });
c("Cast", [T(D.BOOL, [3], [1, 0, 1])], { attrs: { to: int(D.FLOAT) }, name: "bool to float" });
c("Cast", [T(D.UINT8, [3], [0, 100, 127])], { attrs: { to: int(D.INT8) }, name: "uint8 to int8" });
c("CastLike", [FV([3], [1.7, -2.2, 3]), I64([1], [0])], { opset: 15 });

// ---------------------------------------------------------------- matmul
family = "matmul";
c("MatMul", [F([3, 4]), F([4, 5])]);
c("MatMul", [F([37, 65]), F([65, 29])], { name: "ragged edges" });
c("MatMul", [F([2, 3, 4]), F([4, 5])], { name: "batched A" });
c("MatMul", [F([2, 1, 3, 4]), F([3, 4, 2])], { name: "broadcast batch" });
c("MatMul", [F([4]), F([4, 5])], { name: "1-D A" });
c("MatMul", [F([2, 3, 4]), F([4])], { name: "1-D B" });
c("MatMul", [F([1, 4, 8, 30]), F([1, 4, 30, 8])], { name: "attention scores" });
c("Gemm", [F([3, 4]), F([4, 5]), F([5])]);
c("Gemm", [F([4, 3]), F([5, 4]), F([3, 1])], {
  attrs: { transA: int(1), transB: int(1), alpha: flt(0.5), beta: flt(2) },
  name: "transposed",
});
c("Gemm", [F([3, 4]), F([5, 4])], { attrs: { transB: int(1) }, name: "no C" });
c("Gemm", [F([3, 4]), F([4, 5]), FV([], [0.25])], { opset: 11, name: "scalar C" });

// ---------------------------------------------------------------- conv
family = "conv";
c("Conv", [F([1, 3, 7, 7]), F([4, 3, 3, 3]), F([4])], {
  attrs: { pads: ints([1, 1, 1, 1]) },
  name: "pad 1 bias",
});
c("Conv", [F([2, 3, 9, 8]), F([4, 3, 3, 3])], {
  attrs: { strides: ints([2, 2]), dilations: ints([2, 1]) },
  name: "stride dilation",
});
c("Conv", [F([1, 4, 6, 6]), F([6, 2, 3, 3]), F([6])], {
  attrs: { group: int(2), pads: ints([1, 0, 1, 2]) },
  name: "grouped",
});
c("Conv", [F([1, 8, 10, 9]), F([8, 1, 3, 3]), F([8])], {
  attrs: { group: int(8), pads: ints([1, 1, 1, 1]), strides: ints([2, 1]) },
  name: "depthwise",
  opset: 9,
});
c("Conv", [F([1, 3, 7, 8]), F([2, 3, 3, 3])], {
  attrs: { auto_pad: str("SAME_UPPER"), strides: ints([2, 2]) },
  name: "SAME_UPPER",
});
c("Conv", [F([1, 3, 7, 8]), F([2, 3, 4, 4])], { attrs: { auto_pad: str("SAME_LOWER") }, name: "SAME_LOWER" });
c("Conv", [F([1, 3, 7, 8]), F([2, 3, 3, 2])], {
  attrs: { auto_pad: str("VALID"), strides: ints([1, 2]) },
  name: "VALID",
});
c("Conv", [F([1, 1, 16, 8]), F([4, 1, 3, 3]), F([4])], {
  attrs: { pads: ints([0, 1, 0, 1]) },
  name: "asymmetric pads",
  opset: 13,
});
c("Conv", [F([1, 4, 10, 3]), F([5, 4, 3, 1])], { name: "3x1 kernel", opset: 13 });
c("Conv", [F([2, 3, 20]), F([4, 3, 5]), F([4])], {
  attrs: { pads: ints([2, 1]), strides: ints([2]) },
  name: "1-D",
});
c("Conv", [F([1, 3, 16, 16]), F([16, 3, 8, 8]), F([16])], {
  attrs: { strides: ints([8, 8]) },
  name: "patch embedding",
});
c("ConvTranspose", [F([1, 4, 5, 5]), F([4, 2, 2, 2])], {
  attrs: { strides: ints([2, 2]) },
  name: "stride 2",
  opset: 11,
});
c("ConvTranspose", [F([1, 4, 5, 4]), F([4, 3, 3, 3]), F([6])], {
  attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 0]), output_padding: ints([1, 0]), group: int(2) },
  name: "grouped pads output_padding",
});
c("ConvTranspose", [F([1, 2, 3, 3]), F([2, 2, 3, 3])], {
  attrs: { strides: ints([2, 2]), output_shape: ints([7, 6]) },
  name: "output_shape",
});
c("ConvTranspose", [F([1, 2, 6]), F([2, 3, 3])], {
  attrs: { strides: ints([2]), dilations: ints([2]) },
  name: "1-D dilated",
});

// ---------------------------------------------------------------- norm
family = "norm";
const bn = (C: number) => [F([C]), F([C]), F([C]), F([C], 0.1, 2)];
c("BatchNormalization", [F([2, 3, 4, 5]), ...bn(3)], {
  opset: 9,
  attrs: { epsilon: flt(1e-5), momentum: flt(0.9) },
});
c("BatchNormalization", [F([2, 3]), ...bn(3)], { opset: 15, name: "2-D" });
c("LayerNormalization", [F([2, 5, 16]), F([16]), F([16])], { nout: 3, name: "with stats" });
c("LayerNormalization", [F([2, 3, 4]), F([3, 4])], {
  attrs: { axis: int(1), epsilon: flt(1e-3) },
  name: "axis 1 no bias",
});
c("InstanceNormalization", [F([2, 3, 4, 5]), F([3]), F([3])], { attrs: { epsilon: flt(1e-4) } });

// ---------------------------------------------------------------- pool
family = "pool";
c("MaxPool", [F([1, 2, 6, 6])], { attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } });
c("MaxPool", [F([1, 2, 5, 8])], {
  attrs: { kernel_shape: ints([1, 2]), strides: ints([1, 2]), pads: ints([0, 0, 0, 0]) },
  name: "1x2",
  opset: 13,
});
c("MaxPool", [F([1, 2, 7, 7])], {
  attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), ceil_mode: int(1) },
  name: "ceil pads",
});
c("MaxPool", [F([1, 1, 8, 8])], {
  attrs: { kernel_shape: ints([2, 2]), dilations: ints([2, 2]) },
  name: "dilated",
});
c("MaxPool", [F([2, 2, 5, 5])], {
  attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) },
  nout: 2,
  name: "indices",
});
c("MaxPool", [F([1, 3, 9])], {
  attrs: { kernel_shape: ints([3]), strides: ints([2]), auto_pad: str("SAME_UPPER") },
  name: "1-D SAME_UPPER",
});
c("AveragePool", [F([1, 2, 9, 8])], {
  attrs: {
    kernel_shape: ints([3, 2]),
    strides: ints([3, 2]),
    pads: ints([0, 0, 0, 0]),
    count_include_pad: int(0),
  },
  name: "3x2",
  opset: 9,
});
c("AveragePool", [F([1, 2, 6, 6])], {
  attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) },
  name: "exclude pad",
});
c("AveragePool", [F([1, 2, 6, 6])], {
  attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1) },
  name: "include pad",
});
c("AveragePool", [F([1, 1, 7, 7])], {
  attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) },
  name: "ceil",
});
c("AveragePool", [F([1, 1, 7, 7])], {
  attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), auto_pad: str("SAME_UPPER") },
  name: "SAME_UPPER",
});
c("GlobalAveragePool", [F([2, 3, 4, 5])]);
c("GlobalMaxPool", [F([2, 3, 4, 5])]);

// ---------------------------------------------------------------- reduce
family = "reduce";
c("ReduceMean", [F([2, 3, 4])], { opset: 11, attrs: { axes: ints([-1]) }, name: "attr axes" });
c("ReduceMean", [F([2, 3, 4]), I64([2], [0, 2])], {
  opset: 18,
  attrs: { keepdims: int(0) },
  name: "input axes",
});
c("ReduceMean", [F([2, 3, 4])], { opset: 18, name: "all" });
c("ReduceSum", [F([2, 3, 4])], { opset: 11, attrs: { axes: ints([1]) }, name: "attr axes" });
c("ReduceSum", [F([2, 3, 4]), I64([1], [1])], { opset: 13, attrs: { keepdims: int(0) }, name: "input axes" });
c("ReduceSum", [F([2, 3]), I64([0], [])], {
  opset: 13,
  attrs: { noop_with_empty_axes: int(1) },
  name: "noop",
});
c("ReduceSum", [I64([2, 3], [1, 2, 3, 4, 5, 6]), I64([1], [1])], { opset: 13, name: "int64" });
c("ReduceMax", [F([2, 3, 4])], { opset: 13, attrs: { axes: ints([1, 2]), keepdims: int(0) } });
c("ReduceMin", [F([2, 3, 4])], { opset: 13 });
c("ReduceProd", [F([2, 3, 4], 0.5, 1.5)], { opset: 13, attrs: { axes: ints([0]) } });
c("ReduceL2", [F([2, 3, 4])], { opset: 17, attrs: { axes: ints([-1]), keepdims: int(1) } });
c("ReduceL1", [F([2, 3, 4])], { opset: 17, attrs: { axes: ints([0, 2]) } });
c("ReduceSumSquare", [F([2, 3, 4])], { opset: 17, attrs: { axes: ints([1]) } });
c("ReduceLogSumExp", [F([2, 3, 4])], { opset: 17, attrs: { axes: ints([2]) } });
c("ArgMax", [F([2, 3, 4])], { attrs: { axis: int(1), keepdims: int(0) } });
c("ArgMax", [FV([2, 4], [1, 3, 3, 0, 2, 2, 1, 2])], {
  attrs: { axis: int(-1), select_last_index: int(1) },
  name: "ties last",
});
c("ArgMax", [FV([2, 4], [1, 3, 3, 0, 2, 2, 1, 2])], { attrs: { axis: int(-1) }, name: "ties first" });
c("ArgMin", [F([2, 3, 4])], { attrs: { axis: int(2) } });

// ---------------------------------------------------------------- softmax
family = "softmax";
c("Softmax", [F([2, 3, 4], -5, 5)], { opset: 9, name: "legacy default axis flattens" });
c("Softmax", [F([2, 3, 4], -5, 5)], { opset: 11, attrs: { axis: int(2) }, name: "legacy last axis" });
c("Softmax", [F([2, 3, 4], -5, 5)], { opset: 13, attrs: { axis: int(1) }, name: "single axis" });
c("Softmax", [F([2, 3, 4], -50, 50)], { opset: 13, name: "default axis" });
c("LogSoftmax", [F([2, 3, 4], -5, 5)], { opset: 11, attrs: { axis: int(1) }, name: "legacy" });
c("LogSoftmax", [F([2, 3, 4], -5, 5)], { opset: 13, attrs: { axis: int(1) } });
c("Hardmax", [F([2, 3, 4])], { opset: 13 });

// ---------------------------------------------------------------- shape
family = "shape";
c("Shape", [F([2, 3, 4])]);
c("Shape", [F([2, 3, 4, 5])], { opset: 15, attrs: { start: int(1), end: int(-1) }, name: "start end" });
c("Size", [F([2, 3, 4])]);
c("Reshape", [F([2, 3, 4]), I64([3], [0, -1, 2])], { name: "0 and -1" });
c("Reshape", [F([2, 0, 3]), I64([2], [3, 0])], {
  attrs: { allowzero: int(1) },
  opset: 14,
  name: "allowzero empty",
});
c("Transpose", [F([2, 3, 4, 5])], { attrs: { perm: ints([0, 2, 3, 1]) } });
c("Transpose", [F([2, 3, 4])], { name: "default reverse" });
c("Transpose", [I64([2, 3], [1, 2, 3, 4, 5, 6])], { attrs: { perm: ints([1, 0]) }, name: "int64" });
c("Squeeze", [F([1, 3, 1, 2])], { opset: 11, attrs: { axes: ints([0, -2]) }, name: "attr axes" });
c("Squeeze", [F([1, 3, 1, 2]), I64([1], [2])], { opset: 13, name: "input axes" });
c("Squeeze", [F([1, 3, 1, 2])], { opset: 13, name: "all ones" });
c("Unsqueeze", [F([3, 2])], { opset: 11, attrs: { axes: ints([0, -1]) }, name: "attr axes" });
c("Unsqueeze", [F([3, 2]), I64([2], [1, 3])], { opset: 13, name: "input axes" });
c("Flatten", [F([2, 3, 4])], { attrs: { axis: int(0) }, name: "axis 0" });
c("Flatten", [F([2, 3, 4, 5])], { attrs: { axis: int(-1) }, name: "axis -1" });
c("Flatten", [F([2, 3, 4])], { name: "default" });
c("Concat", [F([2, 1, 3]), F([2, 2, 3]), F([2, 3, 3])], { attrs: { axis: int(1) } });
c("Concat", [I64([1], [4]), I64([2], [5, 6])], { attrs: { axis: int(-1) }, name: "int64 negative axis" });
c("Split", [F([2, 6])], {
  opset: 11,
  attrs: { axis: int(1), split: ints([1, 2, 3]) },
  nout: 3,
  name: "attr split",
});
c("Split", [F([5, 2]), I64([2], [3, 2])], { opset: 13, nout: 2, name: "input split" });
c("Split", [F([2, 6])], { opset: 13, attrs: { axis: int(-1) }, nout: 3, name: "equal" });
c("Split", [F([7, 2])], { opset: 18, attrs: { num_outputs: int(3) }, nout: 3, name: "num_outputs uneven" });
c("Expand", [F([3, 1]), I64([3], [2, 3, 4])]);
c("Expand", [F([2, 3]), I64([1], [1])], { name: "smaller shape" });
c("Tile", [F([2, 3]), I64([2], [2, 3])]);
c("ConstantOfShape", [I64([2], [2, 3])], { attrs: { value: ten(FV([1], [1.5])) } });
c("ConstantOfShape", [I64([1], [4])], { attrs: { value: ten(I64([1], [7])) }, name: "int64" });
c("ConstantOfShape", [I64([2], [2, 2])], { name: "default zero" });
c("Range", [FV([], [1]), FV([], [3.1]), FV([], [0.5])]);
c("Range", [I64([], [10]), I64([], [1]), I64([], [-3])], { name: "int64 negative delta" });
c("Constant", [], { attrs: { value: ten(FV([2, 2], [1, 2, 3, 4])) } });
c("Constant", [], { attrs: { value_floats: { floats: [1.5, -2] } }, name: "value_floats" });
c("Constant", [], { attrs: { value_int: int(5) }, name: "value_int" });
c("Constant", [], { attrs: { value_ints: ints([1, 2, 3]) }, name: "value_ints" });
c("Trilu", [F([2, 4, 5]), I64([], [1])], { attrs: { upper: int(1) }, name: "upper k=1" });
c("Trilu", [F([4, 5]), I64([], [-1])], { attrs: { upper: int(0) }, name: "lower k=-1" });
c("Trilu", [F([4, 4])], { name: "default" });

// ---------------------------------------------------------------- slice / pad / gather
family = "slice";
c("Slice", [F([5, 6])], {
  opset: 9,
  attrs: { starts: ints([1, 0]), ends: ints([4, -1]) },
  name: "attributes",
});
c("Slice", [F([3, 5])], {
  opset: 9,
  attrs: { axes: ints([1]), starts: ints([2]), ends: ints([1000]) },
  name: "attr clamp",
});
c("Slice", [F([5, 6]), I64([2], [1, 0]), I64([2], [4, 5])], { opset: 10, name: "inputs" });
c("Slice", [F([5, 6]), I64([1], [-1]), I64([1], [-1e15]), I64([1], [-1]), I64([1], [-2])], {
  opset: 13,
  name: "negative step",
});
c("Slice", [F([5, 6]), I64([1], [0]), I64([1], [9e15]), I64([1], [0]), I64([1], [2])], {
  opset: 13,
  name: "step 2 big end",
});
c("Slice", [F([5, 6]), I64([1], [3]), I64([1], [1]), I64([1], [1])], { opset: 13, name: "empty" });
c("Pad", [F([2, 3])], { opset: 9, attrs: { pads: ints([1, 0, 0, 2]), value: flt(1.5) }, name: "attributes" });
c("Pad", [F([2, 3]), I64([4], [0, 1, 1, 1]), FV([], [-3])], { opset: 11, name: "constant input" });
c("Pad", [F([3, 4]), I64([4], [1, 2, 2, 3])], {
  opset: 13,
  attrs: { mode: str("reflect") },
  name: "reflect",
});
c("Pad", [F([3, 4]), I64([4], [2, 1, 0, 3])], { opset: 13, attrs: { mode: str("edge") }, name: "edge" });
c("Pad", [F([3, 4]), I64([4], [-1, 1, 0, -2])], { opset: 13, name: "negative crops" });
c("Pad", [F([3, 4]), I64([4], [1, 2, 3, 5])], { opset: 19, attrs: { mode: str("wrap") }, name: "wrap" });
c("Pad", [F([2, 3, 4]), I64([2], [1, 2]), null, I64([1], [-1])], { opset: 18, name: "axes" });
c("Pad", [I64([2, 2], [1, 2, 3, 4]), I64([4], [1, 0, 0, 1])], { opset: 13, name: "int64 default zero" });
c("Gather", [F([5, 3]), I64([4], [0, 4, -1, 2])], { name: "axis 0 negative" });
c("Gather", [F([2, 5, 3]), I64([2, 2], [1, 0, 3, 4])], { attrs: { axis: int(1) }, name: "2-D indices" });
c("Gather", [I64([3], [7, 8, 9]), I64([], [1])], { name: "scalar index" });
c("GatherElements", [F([3, 4]), I64([2, 4], [0, 1, 2, 0, 2, 2, -1, 1])], { attrs: { axis: int(0) } });
c("GatherElements", [F([3, 4]), I64([3, 2], [3, 0, 1, 1, 2, -4])], {
  attrs: { axis: int(1) },
  name: "axis 1",
});
c("TopK", [F([3, 6]), I64([1], [3])], { opset: 11, nout: 2 });
c("TopK", [FV([2, 4], [1, 3, 3, 0, 2, 2, 1, 2]), I64([1], [2])], {
  opset: 11,
  attrs: { largest: int(0), axis: int(-1) },
  nout: 2,
  name: "smallest ties",
});

// ---------------------------------------------------------------- resize
family = "resize";
const noRoi = FV([0], []);
c("Resize", [F([1, 2, 3, 4]), noRoi, FV([4], [1, 1, 2, 2])], {
  opset: 11,
  attrs: {
    mode: str("nearest"),
    coordinate_transformation_mode: str("asymmetric"),
    nearest_mode: str("floor"),
  },
  name: "nearest asymmetric floor x2",
});
c("Resize", [F([1, 2, 4, 4]), noRoi, null, I64([4], [1, 2, 7, 9])], {
  opset: 17,
  attrs: {
    mode: str("linear"),
    coordinate_transformation_mode: str("half_pixel"),
    cubic_coeff_a: flt(-0.75),
    nearest_mode: str("floor"),
  },
  name: "linear half_pixel sizes",
});
c("Resize", [F([1, 1, 8, 8]), null, FV([4], [1, 1, 0.5, 0.75])], {
  opset: 13,
  attrs: { mode: str("linear") },
  name: "linear downsample",
});
c("Resize", [F([1, 1, 3, 4]), null, null, I64([4], [1, 1, 5, 7])], {
  opset: 13,
  attrs: { mode: str("linear"), coordinate_transformation_mode: str("align_corners") },
  name: "linear align_corners",
});
c("Resize", [F([1, 1, 5, 5]), null, null, I64([4], [1, 1, 3, 1])], {
  opset: 13,
  attrs: { mode: str("linear"), coordinate_transformation_mode: str("pytorch_half_pixel") },
  name: "pytorch_half_pixel",
});
c("Resize", [F([1, 1, 5, 6]), null, FV([4], [1, 1, 0.6, 1.7])], {
  opset: 13,
  attrs: { mode: str("nearest") },
  name: "nearest half_pixel round_prefer_floor",
});
c("Resize", [F([1, 1, 5, 6]), null, FV([4], [1, 1, 1.5, 2.5])], {
  opset: 13,
  attrs: {
    mode: str("nearest"),
    nearest_mode: str("round_prefer_ceil"),
    coordinate_transformation_mode: str("align_corners"),
  },
  name: "nearest round_prefer_ceil",
});
c("Resize", [F([1, 1, 5, 6]), null, FV([4], [1, 1, 1.5, 2])], {
  opset: 13,
  attrs: { mode: str("nearest"), nearest_mode: str("ceil") },
  name: "nearest ceil",
});
c("Resize", [F([1, 1, 4, 5]), null, FV([4], [1, 1, 2, 1.5])], {
  opset: 13,
  attrs: { mode: str("cubic") },
  name: "cubic",
});
c("Resize", [F([1, 1, 4, 5]), null, FV([4], [1, 1, 2, 1.5])], {
  opset: 13,
  attrs: { mode: str("cubic"), exclude_outside: int(1), cubic_coeff_a: flt(-0.5) },
  name: "cubic exclude_outside",
});
c("Resize", [F([1, 2, 3, 3]), FV([4], [1, 1, 2, 2])], {
  opset: 10,
  attrs: { mode: str("nearest") },
  name: "opset 10 nearest",
});
c("Resize", [F([1, 2, 3, 3]), FV([4], [1, 1, 2, 2])], {
  opset: 10,
  attrs: { mode: str("linear") },
  name: "opset 10 linear",
});
c("Resize", [F([1, 1, 4, 6]), null, FV([2], [1.5, 0.5])], {
  opset: 18,
  attrs: { mode: str("linear"), axes: ints([2, 3]) },
  name: "axes",
});
c("Resize", [F([1, 1, 4, 6]), null, FV([4], [1, 1, 1.7, 0.4])], {
  opset: 19,
  attrs: { mode: str("linear"), coordinate_transformation_mode: str("half_pixel_symmetric") },
  name: "half_pixel_symmetric",
});
c("Resize", [T(D.UINT8, [1, 1, 2, 3], [1, 2, 3, 4, 5, 6]), null, FV([4], [1, 1, 2, 2])], {
  opset: 13,
  attrs: { mode: str("nearest") },
  name: "uint8 nearest",
});

// ---------------------------------------------------------------- quant
family = "quant";
const ties = FV([10], [0.25, 0.75, 1.25, -0.25, -0.75, 63.75, 64.25, 200, -200, 0]);
c("QuantizeLinear", [ties, FV([], [0.5]), T(D.UINT8, [], [128])], {
  opset: 13,
  name: "uint8 ties saturation",
});
c("QuantizeLinear", [ties, FV([], [0.5]), T(D.INT8, [], [-3])], { opset: 13, name: "int8 ties saturation" });
c("QuantizeLinear", [ties, FV([], [0.5])], { opset: 13, name: "default uint8 zp 0" });
c("QuantizeLinear", [ties, FV([], [0.5]), T(D.INT8, [], [0])], { opset: 10, name: "opset 10" });
c("QuantizeLinear", [F([2, 3, 4], -3, 3), FV([3], [0.01, 0.02, 0.05]), T(D.INT8, [3], [0, 5, -5])], {
  opset: 13,
  name: "per axis 1",
});
c("QuantizeLinear", [
  F([2, 3, 4], -3, 3),
  FV([4], [0.01, 0.02, 0.05, 0.1]),
  T(D.UINT8, [4], [128, 120, 130, 0]),
], { opset: 13, attrs: { axis: int(-1) }, name: "per axis -1" });
c("QuantizeLinear", [F([3, 4], -300, 300), FV([], [0.01]), T(D.INT16, [], [7])], {
  opset: 21,
  name: "int16",
});
c(
  "QuantizeLinear",
  [F([2, 6], -3, 3), FV([2, 2], [0.01, 0.02, 0.03, 0.04]), T(D.INT8, [2, 2], [0, 1, 2, 3])],
  { opset: 21, attrs: { axis: int(1), block_size: int(3) }, name: "blocked" },
);
c("DequantizeLinear", [R(D.UINT8, [2, 5], 0, 255), FV([], [0.05]), T(D.UINT8, [], [128])], { opset: 13 });
c(
  "DequantizeLinear",
  [R(D.INT8, [2, 3, 2], -128, 127), FV([3], [0.1, 0.2, 0.3]), T(D.INT8, [3], [0, -1, 2])],
  { opset: 13, name: "per axis" },
);
c("DequantizeLinear", [R(D.INT8, [4, 2], -128, 127), FV([4], [0.1, 0.2, 0.3, 0.4])], {
  opset: 13,
  attrs: { axis: int(0) },
  name: "axis 0 no zp",
});
c("DequantizeLinear", [T(D.INT32, [4], [-100000, 0, 7, 123456]), FV([], [0.001])], {
  opset: 10,
  name: "int32 opset 10",
});
c("DequantizeLinear", [R(D.INT16, [3], -30000, 30000), FV([], [0.001]), T(D.INT16, [], [-5])], {
  opset: 21,
  name: "int16",
});
c("DynamicQuantizeLinear", [F([3, 4], -2, 3)], { opset: 11, nout: 3 });
c("DynamicQuantizeLinear", [F([3, 4], 0.5, 3)], { opset: 11, nout: 3, name: "positive only" });
c("MatMulInteger", [
  R(D.UINT8, [3, 4], 0, 255),
  R(D.UINT8, [4, 5], 0, 255),
  T(D.UINT8, [], [12]),
  T(D.UINT8, [], [130]),
], { opset: 10 });
c("MatMulInteger", [R(D.UINT8, [2, 3, 4], 0, 255), R(D.INT8, [4, 5], -128, 127), T(D.UINT8, [], [3])], {
  opset: 10,
  name: "batched u8s8",
});
c("MatMulInteger", [
  R(D.INT8, [3, 4], -128, 127),
  R(D.INT8, [4, 5], -128, 127),
  null,
  T(D.INT8, [5], [1, -2, 3, 0, 5]),
], { opset: 10, name: "per-column b zp" });
c("ConvInteger", [
  R(D.UINT8, [1, 2, 5, 5], 0, 255),
  R(D.UINT8, [3, 2, 3, 3], 0, 255),
  T(D.UINT8, [], [100]),
  T(D.UINT8, [], [120]),
], { opset: 10, attrs: { pads: ints([1, 1, 1, 1]) } });
c("QLinearMatMul", [
  R(D.UINT8, [3, 8], 0, 255),
  FV([], [0.02]),
  T(D.UINT8, [], [128]),
  R(D.UINT8, [8, 5], 0, 255),
  FV([], [0.01]),
  T(D.UINT8, [], [120]),
  FV([], [0.05]),
  T(D.UINT8, [], [100]),
], { opset: 10 });
c("QLinearMatMul", [
  R(D.INT8, [2, 3, 8], -128, 127),
  FV([], [0.02]),
  T(D.INT8, [], [1]),
  R(D.INT8, [8, 5], -128, 127),
  FV([], [0.01]),
  T(D.INT8, [], [0]),
  FV([], [0.03]),
  T(D.INT8, [], [-2]),
], { opset: 21, name: "int8 batched" });
c("QLinearConv", [
  R(D.UINT8, [1, 3, 6, 6], 0, 255),
  FV([], [0.02]),
  T(D.UINT8, [], [128]),
  R(D.INT8, [4, 3, 3, 3], -128, 127),
  FV([4], [0.01, 0.02, 0.005, 0.03]),
  T(D.INT8, [4], [0, 0, 0, 0]),
  FV([], [0.1]),
  T(D.UINT8, [], [120]),
  R(D.INT32, [4], -500, 500),
], { opset: 10, attrs: { pads: ints([1, 1, 1, 1]), strides: ints([2, 1]) }, name: "per-channel bias" });
c("QLinearConv", [
  R(D.UINT8, [1, 4, 5, 5], 0, 255),
  FV([], [0.02]),
  T(D.UINT8, [], [10]),
  R(D.UINT8, [4, 1, 3, 3], 0, 255),
  FV([], [0.01]),
  T(D.UINT8, [], [128]),
  FV([], [0.2]),
  T(D.UINT8, [], [5]),
], { opset: 10, attrs: { group: int(4) }, name: "depthwise u8u8" });

// ---------------------------------------------------------------- run everything in onnxruntime
const ORT_TYPE: Record<number, string> = {
  [D.FLOAT]: "float32",
  [D.INT64]: "int64",
  [D.INT32]: "int32",
  [D.INT8]: "int8",
  [D.UINT8]: "uint8",
  [D.BOOL]: "bool",
  [D.FLOAT16]: "float16",
  [D.DOUBLE]: "float64",
  [D.INT16]: "int16",
  [D.UINT16]: "uint16",
};

function attrProto(name: string, a: JsonAttr) {
  if ("int" in a) return { name, type: 2, i: a.int };
  if ("float" in a) return { name, type: 1, f: a.float };
  if ("string" in a) return { name, type: 3, s: new TextEncoder().encode(a.string) };
  if ("ints" in a) return { name, type: 7, ints: a.ints };
  if ("floats" in a) return { name, type: 6, floats: a.floats };
  return { name, type: 4, t: tensorProto(a.tensor) };
}

function tensorProto(t: JsonTensor) {
  const dtype = dtypeOf(t.dtype);
  const p: Record<string, unknown> = { dataType: dtype, dims: t.dims };
  if (dtype === D.FLOAT) p.floatData = t.data.map(Number);
  else if (dtype === D.INT64) p.int64Data = t.data.map(Number);
  else p.int32Data = t.data.map(Number);
  return p;
}

async function run(s: Spec): Promise<OpCase> {
  const inNames = s.inputs.map((t, i) => (t ? `in${i}` : ""));
  const outNames = Array.from({ length: s.nout }, (_, i) => `out${i}`);
  const vi = (name: string, t: Tensor) => ({
    name,
    type: { tensorType: { elemType: t.dtype, shape: { dim: t.dims.map((d) => ({ dimValue: d })) } } },
  });
  const irVersion = s.opset >= 21 ? 10 : s.opset >= 19 ? 9 : 8;
  const model = onnx.ModelProto.create({
    irVersion,
    opsetImport: [{ domain: "", version: s.opset }],
    graph: {
      name: "case",
      node: [{
        opType: s.op,
        input: inNames,
        output: outNames,
        attribute: Object.entries(s.attrs).map(([k, v]) => attrProto(k, v)),
      }],
      input: s.inputs.flatMap((t, i) => (t ? [vi(`in${i}`, t)] : [])),
      output: outNames.map((name) => ({ name })),
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, unknown> = {};
  s.inputs.forEach((t, i) => {
    if (t) {
      feeds[`in${i}`] = new ort.Tensor(ORT_TYPE[t.dtype] as "float32", t.data as Float32Array, [...t.dims]);
    }
  });
  const res = await session.run(feeds as never);
  const outputs = outNames.map((n) => {
    const o = res[n]!;
    const entry = Object.entries(ORT_TYPE).find(([, v]) => v === o.type);
    if (!entry) throw new TypeError(`unexpected onnxruntime output type ${o.type}`);
    const dtype = Number(entry[0]) as DataType;
    return toJson(makeTensor(dtype, o.dims as number[], o.data as TypedArray));
  });
  return {
    name: s.name,
    op: s.op,
    opset: s.opset,
    attrs: s.attrs,
    inputs: s.inputs.map((t) => (t ? toJson(t) : null)),
    outputs,
  };
}

const dir = new URL(".", import.meta.url);
for (const [fam, list] of specs) {
  const cases: OpCase[] = [];
  for (const s of list) {
    try {
      cases.push(await run(s));
    } catch (e) {
      console.error(`onnxruntime rejected ${s.name}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  await Deno.writeTextFile(new URL(`${fam}.json`, dir), JSON.stringify(cases) + "\n");
  console.log(`${fam}: ${cases.length}/${list.length} cases`);
}
await new Deno.Command(Deno.execPath(), { args: ["fmt", new URL(".", dir).pathname] }).output();
