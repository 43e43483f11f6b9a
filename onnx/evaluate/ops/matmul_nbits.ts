/**
 * onnxruntime's `com.microsoft.MatMulNBits` in the CPU evaluator (layout: quant/matmul_nbits.ts and
 * docs/ops.md): `Ŵ` from the single reference `dequantizeMatMulNBits`, then `A · Ŵ (+ bias)`. `g_idx` is
 * deprecated in onnxruntime and refused here.
 * @module
 */
import { Op } from "../../ops.ts";
import { DataType, dtypeName, makeTensor } from "../../tensor.ts";
import { dequantizeMatMulNBits } from "../../../quant/matmul_nbits.ts";
import type { OpKernel } from "../registry.ts";
import { matMul } from "./matmul.ts";
import { f32, req, shapeStr } from "./_util.ts";

const OP = Op.MatMulNBits.type;

/** `Y = A · Ŵ (+ bias)`. */
const matMulNBits: OpKernel = (inputs, attrs) => {
  const a = req(inputs, 0, OP), b = req(inputs, 1, OP), s = req(inputs, 2, OP);
  const zp = inputs[3], bias = inputs[5];
  const k = attrs.int("K"),
    n = attrs.int("N"),
    bits = attrs.int("bits", 4),
    blockSize = attrs.int("block_size");
  if (inputs[4]) throw new TypeError(`${OP}: g_idx (deprecated in onnxruntime) is not supported`);
  const kb = Math.ceil(k / blockSize), blob = (blockSize * bits) / 8;
  if (b.dtype !== DataType.UINT8 || b.dims.join() !== [n, kb, blob].join()) {
    throw new RangeError(
      `${OP}: B must be uint8 ${shapeStr([n, kb, blob])}, got ${dtypeName(b.dtype)} ${shapeStr(b.dims)}`,
    );
  }
  if (zp && zp.dtype !== DataType.UINT8) {
    throw new TypeError(`${OP}: only uint8 packed zero_points are supported, got ${dtypeName(zp.dtype)}`);
  }
  const w = dequantizeMatMulNBits({
    k,
    n,
    bits,
    blockSize,
    b: b.data as Uint8Array,
    bDims: [n, kb, blob],
    scales: f32(s, OP, "scales"),
    zeroPoints: zp ? zp.data as Uint8Array : null,
  });
  const y = matMul(a, makeTensor(DataType.FLOAT, [k, n], w), OP);
  if (!bias) return [y];
  const bv = f32(bias, OP, "bias"), yd = y.data as Float32Array;
  for (let i = 0; i < yd.length; i++) yd[i] = Math.fround(yd[i]! + bv[i % n]!);
  return [y];
};

/** Kernels for the `com.microsoft` domain, by op type. */
export const msOps: Record<string, OpKernel> = { [OP]: matMulNBits };
