/**
 * The one table from op type to WebGPU kernel used by the executor (kernels/executor.ts). Each entry reads
 * the node's attributes, takes its activation inputs as device tensors and its constant-like inputs
 * (scales, zero points, multipliers, weights) on the host, and records the kernel. An entry returns
 * `{ fallback: reason }` (or throws {@linkcode NotCoveredError}) when the node uses a form no kernel covers
 * (blocked QDQ, an int64 input, ...); the executor then runs the CPU evaluator for it and reports the fallback
 * with that reason. Any other error thrown by an entry is a kernel failure, never a silent fallback.
 *
 * Data-movement nodes (Reshape, Transpose, Slice, Gather, Concat, Split, nearest Resize, ...) run the CPU
 * evaluator's own kernel on an index tensor to get an index map (shapes and attributes only), then move the
 * data on the GPU (kernels/gather_map.ts).
 * @module
 */

import { SHIFTKIT_DOMAIN } from "../onnx/ops.ts";
import { DataType, dtypeName, type Tensor, toNumbers } from "../onnx/tensor.ts";
import {
  bits8or16,
  type GpuOp,
  type GpuOpContext,
  type GpuOpResult,
  need,
  needDevice,
  notCovered,
  NotCoveredError,
} from "./executor_op_types.ts";
import { castOp, DATA_INPUTS, intBinary, movement } from "./executor_ops_default.ts";
import { shiftAddPackedFrom } from "../onnx/evaluate/ops/shift_add.ts";
import { convGeometry } from "../quant/int_gemm.ts";
import { convI8 } from "./conv_i8.ts";
import { gemmI8 } from "./gemm_i8.ts";
import { matMulIntegerBatchedGpu } from "./gemm_i8_batched.ts";
import { encodeShiftConv } from "./shift_conv.ts";
import { encodeILayerNorm } from "./ilayernorm.ts";
import { encodeIntAdd } from "./int_add.ts";
import { encodeLutGemm, uploadLutGemmWeights } from "./lut_gemm.ts";
import { encodeDequantizeLinear, encodeQuantizeLinear } from "./qdq.ts";
import { encodeRequantize } from "./requantize.ts";
import { encodeShiftGemm } from "./shift_gemm.ts";
import { encodeShiftGelu } from "./shift_gelu.ts";
import { encodeShiftSigmoid } from "./shift_sigmoid.ts";
import { encodeShiftmax } from "./shiftmax.ts";

/** QDQ: per tensor or per axis; blocked (opset 21 block_size) falls back to the CPU. */
async function qdqParams(ctx: GpuOpContext, rank: number) {
  if (ctx.opset >= 21 && ctx.attrs.int("block_size", 0) !== 0) return "blocked quantization (block_size)";
  const scale = await need(ctx, 1, "scale");
  if (scale.dtype !== DataType.FLOAT) return `${dtypeName(scale.dtype)} scale`;
  const zp = ctx.inputCount > 2 ? await ctx.host(2) : undefined;
  const axis = ctx.attrs.int("axis", 1);
  return {
    scale: scale.data as Float32Array,
    zeroPoint: zp ? Int32Array.from(toNumbers(zp)) : null,
    axis: axis < 0 ? axis + rank : axis,
    zpType: zp?.dtype,
  };
}

const quantizeLinear: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const p = await qdqParams(ctx, x.dims.length);
  if (typeof p === "string") return notCovered(p);
  if (x.dtype !== DataType.FLOAT) return notCovered(`${dtypeName(x.dtype)} input`);
  const dtype = p.zpType ??
    (ctx.opset >= 21 ? ctx.attrs.int("output_dtype", 0) || DataType.UINT8 : DataType.UINT8);
  if (
    dtype !== DataType.INT8 && dtype !== DataType.UINT8 && dtype !== DataType.INT16 &&
    dtype !== DataType.UINT16
  ) {
    return notCovered(`output type ${dtypeName(dtype)}`);
  }
  return await encodeQuantizeLinear(ctx.scope, x, { ...p, dtype });
};

const dequantizeLinear: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const p = await qdqParams(ctx, x.dims.length);
  if (typeof p === "string") return notCovered(p);
  if (x.dtype === DataType.FLOAT) return notCovered("float32 input");
  return await encodeDequantizeLinear(ctx.scope, x, p);
};

function int8Data(t: Tensor): Int8Array | Uint8Array | null {
  return t.data instanceof Int8Array || t.data instanceof Uint8Array ? t.data : null;
}

const matMulInteger: GpuOp = async (ctx) => {
  const a = await need(ctx, 0, "A"), b = await need(ctx, 1, "B");
  const ad = int8Data(a), bd = int8Data(b);
  if (!ad || !bd) return notCovered(`${dtypeName(a.dtype)} x ${dtypeName(b.dtype)} operands`);
  const za = ctx.inputCount > 2 ? await ctx.host(2) : undefined;
  const zb = ctx.inputCount > 3 ? await ctx.host(3) : undefined;
  const zp = { aZeroPoint: za ? toNumbers(za) : 0, bZeroPoint: zb ? toNumbers(zb) : 0 };
  // A 2-D B with a per-tensor a_zero_point: one GEMM over A's rows flattened (weights packed once).
  if (b.dims.length === 2 && a.dims.length >= 2 && (!za || za.data.length === 1 || a.dims.length === 2)) {
    const K = a.dims[a.dims.length - 1]!, N = b.dims[1]!, M = ad.length / Math.max(1, K);
    if (b.dims[0] === K && M > 0 && N > 0) {
      const y = await gemmI8({ data: ad, dims: [M, K] }, { data: bd, dims: [K, N] }, zp);
      return { outputs: [{ dtype: DataType.INT32, dims: [...a.dims.slice(0, -1), N], data: y }] };
    }
  }
  // Batched and broadcast operands (QK^T, attention x V): one dispatch over the broadcast batch.
  const y = await matMulIntegerBatchedGpu({ data: ad, dims: a.dims }, { data: bd, dims: b.dims }, zp);
  return { outputs: [{ dtype: DataType.INT32, dims: y.dims, data: y.data }] };
};

const convInteger: GpuOp = async (ctx) => {
  const x = await need(ctx, 0, "X"), w = await need(ctx, 1, "W");
  const xd = int8Data(x), wd = int8Data(w);
  if (!xd || !wd) return notCovered(`${dtypeName(x.dtype)} x ${dtypeName(w.dtype)} operands`);
  if (x.dims.length !== 4 || w.dims.length !== 4) return notCovered(`${x.dims.length - 2}-D convolution`);
  if (ctx.attrs.string("auto_pad", "NOTSET") !== "NOTSET") return notCovered("auto_pad");
  const zx = ctx.inputCount > 2 ? await ctx.host(2) : undefined;
  const zw = ctx.inputCount > 3 ? await ctx.host(3) : undefined;
  const opts = {
    group: ctx.attrs.int("group", 1),
    pads: ctx.attrs.ints("pads", [0, 0, 0, 0]),
    strides: ctx.attrs.ints("strides", [1, 1]),
    dilations: ctx.attrs.ints("dilations", [1, 1]),
    xZeroPoint: zx ? toNumbers(zx)[0]! : 0,
    wZeroPoint: zw ? (zw.data.length === 1 ? toNumbers(zw)[0]! : toNumbers(zw)) : 0,
  };
  const y = await convI8({ data: xd, dims: x.dims }, { data: wd, dims: w.dims }, opts);
  const geo = convGeometry(x.dims, w.dims, opts);
  return { outputs: [{ dtype: DataType.INT32, dims: [geo.n, geo.m, geo.oh, geo.ow], data: y }] };
};

const requantizeOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const mult = toNumbers(await need(ctx, 1, "multiplier")), shift = toNumbers(await need(ctx, 2, "shift"));
  const rank = x.dims.length;
  const raw = ctx.attrs.int("axis", 1);
  const axis = raw < 0 ? raw + rank : raw;
  const inner = x.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const ob = ctx.attrs.int("output_bits", 8);
  return await encodeRequantize(ctx.scope, x, { multiplier: mult, shift }, {
    outputBits: ob === 32 ? 32 : ob === 16 ? 16 : 8,
    zeroPoint: ctx.attrs.int("zero_point", 0),
    innerSize: inner,
  });
};

const intAddOp: GpuOp = async (ctx) => {
  const a = await needDevice(ctx, 0), b = await needDevice(ctx, 1);
  if (a.dims.join() !== b.dims.join()) return notCovered("broadcasting IntAdd inputs");
  const at = ctx.attrs;
  return await encodeIntAdd(ctx.scope, [a, b], {
    a: { multiplier: at.int("a_multiplier"), shift: at.int("a_shift") },
    b: { multiplier: at.int("b_multiplier"), shift: at.int("b_shift") },
    outputBits: bits8or16(at.int("output_bits", 16)),
  });
};

const shiftmaxOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const at = ctx.attrs;
  return await encodeShiftmax(ctx.scope, x, {
    rowLength: x.dims[x.dims.length - 1] ?? 1,
    p: at.int("p"),
    n: at.int("n"),
    expShift: at.int("exp_shift", 0),
    outputBits: bits8or16(at.int("output_bits", 8)),
  });
};

const shiftSigmoidOp: GpuOp = async (ctx) => {
  const at = ctx.attrs;
  return await encodeShiftSigmoid(ctx.scope, await needDevice(ctx, 0), {
    p: at.int("p"),
    n: at.int("n"),
    expShift: at.int("exp_shift", 0),
    outputBits: bits8or16(at.int("output_bits", 8)),
  });
};

const shiftGeluOp: GpuOp = async (ctx) =>
  await encodeShiftGelu(ctx.scope, await needDevice(ctx, 0), {
    p: ctx.attrs.int("p"),
    n: ctx.attrs.int("n"),
  });

const lambdaShiftGeluOp: GpuOp = async (ctx) =>
  await encodeShiftGelu(ctx.scope, await needDevice(ctx, 0), {
    p: ctx.attrs.int("p"),
    n: ctx.attrs.int("n"),
    lambda: ctx.attrs.int("lambda"),
  });

const iLayerNormOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const at = ctx.attrs;
  return await encodeILayerNorm(ctx.scope, x, {
    rowLength: x.dims[x.dims.length - 1] ?? 1,
    gamma: Int16Array.from(toNumbers(await need(ctx, 1, "gamma"))),
    beta: Int32Array.from(toNumbers(await need(ctx, 2, "beta"))),
    multiplier: at.int("multiplier"),
    shift: at.int("shift"),
    varShift: at.int("var_shift", 0),
    outputBits: bits8or16(at.int("output_bits", 8)),
  });
};

const shiftAddMatMulOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const shapeOnly: Tensor = { dtype: DataType.FLOAT, dims: x.dims, data: new Float32Array(0) };
  const packed = shiftAddPackedFrom(
    [shapeOnly, await ctx.host(1), await ctx.host(2), await ctx.host(3)],
    ctx.attrs,
  );
  return await encodeLutGemm(ctx.scope, x, uploadLutGemmWeights(ctx.scope, packed));
};

const shiftMatMulOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  if (x.dtype !== DataType.FLOAT) return notCovered(`${dtypeName(x.dtype)} X`);
  const [k, n] = ctx.attrs.ints("weight_shape");
  const bias = ctx.inputCount > 3 ? await ctx.host(3) : undefined;
  const w = {
    packed: (await need(ctx, 1, "codes")).data as Uint8Array,
    alpha: (await need(ctx, 2, "alpha")).data as Float32Array,
    bits: ctx.attrs.int("bits"),
    shape: [k!, n!],
    axis: 1,
  };
  return await encodeShiftGemm(ctx.scope, x, w, bias ? { bias: bias.data as Float32Array } : {});
};

const shiftConvOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  if (x.dtype !== DataType.FLOAT) return notCovered(`${dtypeName(x.dtype)} X`);
  const shape = ctx.attrs.ints("weight_shape");
  if (shape.length !== 3 && shape.length !== 4) return notCovered(`${shape.length - 2}-D convolution`);
  const bias = ctx.inputCount > 3 ? await ctx.host(3) : undefined;
  const autoPad = ctx.attrs.string("auto_pad", "NOTSET") as "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER";
  const spatial = shape.length - 2;
  return await encodeShiftConv(ctx.scope, x, {
    packed: (await need(ctx, 1, "codes")).data as Uint8Array,
    alpha: (await need(ctx, 2, "alpha")).data as Float32Array,
    bits: ctx.attrs.int("bits"),
    shape,
    axis: 0,
  }, {
    pads: ctx.attrs.ints("pads", new Array(2 * spatial).fill(0)),
    strides: ctx.attrs.ints("strides", new Array(spatial).fill(1)),
    dilations: ctx.attrs.ints("dilations", new Array(spatial).fill(1)),
    group: ctx.attrs.int("group", 1),
    autoPad,
    ...(bias ? { bias: bias.data as Float32Array } : {}),
  });
};

export { NotCoveredError };
export type { GpuOp, GpuOpContext, GpuOpResult };

/** The one table: `domain:opType` (default domain = "") -> kernel. */
export const GPU_OPS: Readonly<Record<string, GpuOp>> = {
  ...Object.fromEntries(Object.keys(DATA_INPUTS).map((op) => [`:${op}`, movement(op)])),
  ":Add": intBinary("Add"),
  ":Sub": intBinary("Sub"),
  ":Mul": intBinary("Mul"),
  ":Div": intBinary("Div"),
  ":Mod": intBinary("Mod"),
  ":Cast": castOp,
  ":QuantizeLinear": quantizeLinear,
  ":DequantizeLinear": dequantizeLinear,
  ":MatMulInteger": matMulInteger,
  ":ConvInteger": convInteger,
  [`${SHIFTKIT_DOMAIN}:Requantize`]: requantizeOp,
  [`${SHIFTKIT_DOMAIN}:IntAdd`]: intAddOp,
  [`${SHIFTKIT_DOMAIN}:Shiftmax`]: shiftmaxOp,
  [`${SHIFTKIT_DOMAIN}:ShiftSigmoid`]: shiftSigmoidOp,
  [`${SHIFTKIT_DOMAIN}:ShiftGelu`]: shiftGeluOp,
  [`${SHIFTKIT_DOMAIN}:LambdaShiftGelu`]: lambdaShiftGeluOp,
  [`${SHIFTKIT_DOMAIN}:ILayerNorm`]: iLayerNormOp,
  [`${SHIFTKIT_DOMAIN}:ShiftAddMatMul`]: shiftAddMatMulOp,
  [`${SHIFTKIT_DOMAIN}:ShiftMatMul`]: shiftMatMulOp,
  [`${SHIFTKIT_DOMAIN}:ShiftConv`]: shiftConvOp,
};

/**
 * The GPU kernel for an op, if any.
 *
 * @param domain node domain ("" or "ai.onnx" = default)
 * @param opType node op type
 * @returns the table entry or undefined
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gpuOpFor } from "./executor_ops.ts";
 * assertEquals([typeof gpuOpFor("", "QuantizeLinear"), typeof gpuOpFor("", "Relu")], ["function", "undefined"]);
 * ```
 */
export function gpuOpFor(domain: string, opType: string): GpuOp | undefined {
  return GPU_OPS[`${domain === "ai.onnx" ? "" : domain}:${opType}`];
}
