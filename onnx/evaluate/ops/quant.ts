/**
 * Quantization ops. All integer semantics come from quant/: QuantizeLinear / DequantizeLinear from
 * quant/quantize.ts (the one rounding and broadcasting implementation), MatMulInteger / ConvInteger from
 * quant/int_gemm.ts. QLinearMatMul and QLinearConv follow onnxruntime: the int32 accumulator (plus the int32
 * bias) is requantized as `saturate(roundHalfEven(fround(acc * fround(fround(sx * sw) / sy))) + zy)`, which
 * is QuantizeLinear of `fround(acc * multiplier)` with scale 1 and zero point zy.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, dtypeName, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import { dequantizeLinear, quantizeLinear, type QuantStorage } from "../../../quant/quantize.ts";
import { convGeometry, convInteger, type Int8Data, matMulInteger } from "../../../quant/int_gemm.ts";
import { clamp, roundHalfEven } from "../../../quant/round.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { castTensor } from "./cast.ts";
import { broadcastOffsets, broadcastShapes, f32, ints, normAxis, req, shapeStr } from "./_util.ts";

/** Saturation range of each quantized element type. */
const RANGE: Partial<Record<DataType, [number, number]>> = {
  [DataType.UINT8]: [0, 255],
  [DataType.INT8]: [-128, 127],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT16]: [-32768, 32767],
  [DataType.INT32]: [-2147483648, 2147483647],
  [DataType.UINT4]: [0, 15],
  [DataType.INT4]: [-8, 7],
};

function rangeOf(dtype: DataType, op: string): [number, number] {
  const r = RANGE[dtype];
  if (!r) throw new TypeError(`${op}: quantized element type ${dtypeName(dtype)} is not supported`);
  return r;
}

/** Float32 data of a FLOAT or FLOAT16 tensor. */
function floatIn(t: Tensor, op: string, what: string): Float32Array {
  return f32(t.dtype === DataType.FLOAT16 ? castTensor(t, DataType.FLOAT) : t, op, what);
}

function zeroPoint(t: Tensor | undefined): Int32Array | null {
  return t ? Int32Array.from(ints(t)) : null;
}

interface AxisOpts {
  axis?: number;
  blockSize?: number;
}

/** Axis options of a QuantizeLinear / DequantizeLinear node: per-axis from opset 13, blocked from 21. */
function axisOpts(attrs: Attrs, ctx: OpContext, rank: number, scale: Tensor, op: string): AxisOpts {
  const blockSize = ctx.opset >= 21 ? attrs.int("block_size", 0) : 0;
  // a one-element scale is per tensor: the axis attribute is not even checked against the rank
  if (ctx.opset < 13 || (scale.data.length === 1 && blockSize === 0)) return {};
  return { axis: normAxis(attrs.int("axis", 1), rank, op), blockSize };
}

function quantizeOp(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const op = "QuantizeLinear";
  const x = req(inputs, 0, op), s = req(inputs, 1, op), z = inputs[2];
  const dtype: DataType = z
    ? z.dtype
    : ctx.opset >= 21
    ? attrs.int("output_dtype", 0) || DataType.UINT8
    : DataType.UINT8;
  const [qmin, qmax] = rangeOf(dtype, op);
  const out = makeTensor(dtype, x.dims);
  quantizeLinear(floatIn(x, op, "x"), x.dims, floatIn(s, op, "y_scale"), zeroPoint(z), {
    ...axisOpts(attrs, ctx, x.dims.length, s, op),
    qmin,
    qmax,
    out: out.data as QuantStorage,
  });
  return [out];
}

function dequantizeOp(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const op = "DequantizeLinear";
  const x = req(inputs, 0, op), s = req(inputs, 1, op), z = inputs[2];
  rangeOf(x.dtype, op);
  const y = dequantizeLinear(x.data as QuantStorage, x.dims, floatIn(s, op, "x_scale"), zeroPoint(z), {
    ...axisOpts(attrs, ctx, x.dims.length, s, op),
  });
  const out = makeTensor(DataType.FLOAT, x.dims, y);
  return [s.dtype === DataType.FLOAT16 ? castTensor(out, DataType.FLOAT16) : out];
}

/** DynamicQuantizeLinear (uint8), with onnxruntime's parameters: range widened to include 0, scale 1 if empty. */
function dynamicQuantizeOp(inputs: (Tensor | undefined)[]): Tensor[] {
  const op = "DynamicQuantizeLinear";
  const x = req(inputs, 0, op);
  const X = f32(x, op, "x");
  let lo = 0, hi = 0;
  for (let i = 0; i < X.length; i++) {
    const v = X[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = hi === lo ? 1 : Math.fround(Math.fround(hi - lo) / 255);
  const zp = roundHalfEven(clamp(Math.fround(0 - Math.fround(lo / scale)), 0, 255));
  const y = makeTensor(DataType.UINT8, x.dims);
  quantizeLinear(X, x.dims, new Float32Array([scale]), new Int32Array([zp]), { out: y.data as Uint8Array });
  return [
    y,
    makeTensor(DataType.FLOAT, [], new Float32Array([scale])),
    makeTensor(DataType.UINT8, [], new Uint8Array([zp])),
  ];
}

function int8(t: Tensor, op: string, what: string): Int8Data {
  if (t.dtype !== DataType.INT8 && t.dtype !== DataType.UINT8) {
    throw new TypeError(`${op}: ${what} must be INT8 or UINT8, got ${dtypeName(t.dtype)}`);
  }
  return t.data as Int8Data;
}

/** Batched int32 matrix product (numpy broadcasting of batch dims) through quant/int_gemm.ts. */
function batchedMatMulInteger(
  a: Tensor,
  b: Tensor,
  za: Int32Array | null,
  zb: Int32Array | null,
  op: string,
) {
  const A = int8(a, op, "A"), B = int8(b, op, "B");
  const aD = a.dims.length === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bD = b.dims.length === 1 ? [b.dims[0]!, 1] : [...b.dims];
  const M = aD[aD.length - 2]!, K = aD[aD.length - 1]!, N = bD[bD.length - 1]!;
  if (bD[bD.length - 2] !== K) {
    throw new RangeError(`${op}: A ${shapeStr(a.dims)} and B ${shapeStr(b.dims)} differ in K`);
  }
  const aB = aD.slice(0, -2), bB = bD.slice(0, -2);
  const batch = broadcastShapes([aB, bB], op);
  const oa = broadcastOffsets(aB, batch), ob = broadcastOffsets(bB, batch);
  const nb = sizeOf(batch);
  const Y = new Int32Array(nb * M * N);
  const opts = { aZeroPoint: za ?? 0, bZeroPoint: zb ?? 0 };
  for (let i = 0; i < nb; i++) {
    const ai = oa ? oa[i]! : i, bi = ob ? ob[i]! : i;
    const y = matMulInteger(
      { data: A.subarray(ai * M * K, (ai + 1) * M * K), dims: [M, K] },
      { data: B.subarray(bi * K * N, (bi + 1) * K * N), dims: [K, N] },
      opts,
    );
    Y.set(y, i * M * N);
  }
  const dims = [...batch, M, N];
  if (a.dims.length === 1) dims.splice(dims.length - 2, 1);
  if (b.dims.length === 1) dims.splice(dims.length - 1, 1);
  return { Y, dims, N };
}

/** Requantize int32 accumulators, onnxruntime style; `index(i)` picks element i's multiplier (per channel). */
function requantize(
  acc: Int32Array,
  dims: number[],
  mult: Float32Array,
  index: (i: number) => number,
  zy: Tensor | undefined,
  op: string,
): Tensor {
  const dtype = zy ? zy.dtype : DataType.UINT8;
  const [qmin, qmax] = rangeOf(dtype, op);
  const v = new Float32Array(acc.length);
  for (let i = 0; i < acc.length; i++) v[i] = Math.fround(acc[i]!) * mult[mult.length === 1 ? 0 : index(i)]!;
  const out = makeTensor(dtype, dims);
  quantizeLinear(v, dims, new Float32Array([1]), zeroPoint(zy), {
    qmin,
    qmax,
    out: out.data as QuantStorage,
  });
  return out;
}

function multipliers(sx: Tensor, sw: Tensor, sy: Tensor, op: string): Float32Array {
  const X = f32(sx, op, "scale"), W = f32(sw, op, "scale"), Y = f32(sy, op, "scale");
  const m = new Float32Array(W.length);
  for (let i = 0; i < W.length; i++) m[i] = Math.fround(Math.fround(X[0]! * W[i]!) / Y[0]!);
  return m;
}

function qlinearMatMul(inputs: (Tensor | undefined)[]): Tensor[] {
  const op = "QLinearMatMul";
  const [a, sa, za, b, sb, zb, sy, zy] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => req(inputs, i, op));
  const { Y, dims, N } = batchedMatMulInteger(a!, b!, zeroPoint(za), zeroPoint(zb), op);
  return [requantize(Y, dims, multipliers(sa!, sb!, sy!, op), (i) => i % N, zy, op)];
}

function convOptions(attrs: Attrs, op: string) {
  const autoPad = attrs.string("auto_pad", "NOTSET");
  if (!["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].includes(autoPad)) {
    throw new RangeError(`${op}: unknown auto_pad "${autoPad}"`);
  }
  return {
    pads: attrs.ints("pads", [0, 0, 0, 0]),
    strides: attrs.ints("strides", [1, 1]),
    dilations: attrs.ints("dilations", [1, 1]),
    group: attrs.int("group", 1),
    autoPad: autoPad as "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER",
  };
}

function convIntegerRun(
  x: Tensor,
  w: Tensor,
  zx: Tensor | undefined,
  zw: Tensor | undefined,
  attrs: Attrs,
  op: string,
): { Y: Int32Array; dims: number[]; m: number; p: number } {
  if (x.dims.length !== 4) {
    throw new RangeError(`${op}: only 2-D (NCHW) inputs are supported, got ${shapeStr(x.dims)}`);
  }
  const opts = {
    ...convOptions(attrs, op),
    xZeroPoint: zx ? ints(zx)[0]! : 0,
    wZeroPoint: zw ? ints(zw) : 0,
  };
  const g = convGeometry(x.dims, w.dims, opts);
  const Y = convInteger(
    { data: int8(x, op, "x"), dims: x.dims },
    { data: int8(w, op, "w"), dims: w.dims },
    opts,
  );
  return { Y, dims: [g.n, g.m, g.oh, g.ow], m: g.m, p: g.oh * g.ow };
}

function convIntegerOp(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const op = "ConvInteger";
  const x = req(inputs, 0, op), w = req(inputs, 1, op);
  const { Y, dims } = convIntegerRun(x, w, inputs[2], inputs[3], attrs, op);
  return [makeTensor(DataType.INT32, dims, Y)];
}

function qlinearConv(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const op = "QLinearConv";
  const [x, sx, zx, w, sw, zw, sy] = [0, 1, 2, 3, 4, 5, 6].map((i) => req(inputs, i, op));
  const zy = inputs[7], bias = inputs[8];
  const { Y, dims, m, p } = convIntegerRun(x!, w!, zx, zw, attrs, op);
  if (bias) {
    const B = bias.data as Int32Array;
    for (let i = 0; i < Y.length; i++) Y[i] = Y[i]! + B[Math.floor(i / p) % m]!;
  }
  return [requantize(Y, dims, multipliers(sx!, sw!, sy!, op), (i) => Math.floor(i / p) % m, zy, op)];
}

/** Quantization kernels for the default domain. */
export const quantOps: Record<string, OpKernel> = {
  QuantizeLinear: quantizeOp,
  DequantizeLinear: dequantizeOp,
  DynamicQuantizeLinear: dynamicQuantizeOp,
  MatMulInteger: (inputs) => {
    const op = "MatMulInteger";
    const a = req(inputs, 0, op), b = req(inputs, 1, op);
    const { Y, dims } = batchedMatMulInteger(a, b, zeroPoint(inputs[2]), zeroPoint(inputs[3]), op);
    return [makeTensor(DataType.INT32, dims, Y)];
  },
  ConvInteger: convIntegerOp,
  QLinearMatMul: qlinearMatMul,
  QLinearConv: qlinearConv,
};
