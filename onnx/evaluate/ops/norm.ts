/**
 * Normalisations: BatchNormalization (inference form), LayerNormalization (opset 17, with Mean and
 * InvStdDev outputs) and InstanceNormalization. Statistics are accumulated in double precision.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpKernel } from "../registry.ts";
import { broadcastOffsets, f32, normAxis, req, shapeStr } from "./_util.ts";

function batchNorm(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const op = "BatchNormalization";
  const x = req(inputs, 0, op);
  const X = f32(x, op, "X");
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => f32(req(inputs, i, op), op, `input ${i}`));
  if (attrs.int("training_mode", 0) !== 0) throw new RangeError(`${op}: training_mode=1 is not supported`);
  const eps = attrs.float("epsilon", 1e-5);
  const N = x.dims[0] ?? 1, C = x.dims[1] ?? 1, P = sizeOf(x.dims.slice(2));
  if (scale!.length !== C) throw new RangeError(`${op}: ${scale!.length} scales for ${C} channels`);
  const out = makeTensor(DataType.FLOAT, x.dims), O = out.data as Float32Array;
  for (let c = 0; c < C; c++) {
    const a = scale![c]! / Math.sqrt(variance![c]! + Math.fround(eps));
    const b = bias![c]! - mean![c]! * a;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * P;
      for (let p = 0; p < P; p++) O[base + p] = X[base + p]! * a + b;
    }
  }
  return [out];
}

function layerNorm(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const op = "LayerNormalization";
  const x = req(inputs, 0, op), s = req(inputs, 1, op), b = inputs[2];
  const X = f32(x, op, "X"), S = f32(s, op, "Scale"), B = b ? f32(b, op, "B") : undefined;
  const axis = normAxis(attrs.int("axis", -1), x.dims.length, op);
  const eps = Math.fround(attrs.float("epsilon", 1e-5));
  const normDims = x.dims.slice(axis), D = sizeOf(normDims), R = sizeOf(x.dims.slice(0, axis));
  if (sizeOf(s.dims) > D || (b && sizeOf(b.dims) > D)) {
    throw new RangeError(`${op}: scale ${shapeStr(s.dims)} does not broadcast to ${shapeStr(normDims)}`);
  }
  const os = broadcastOffsets(s.dims, normDims), ob = b ? broadcastOffsets(b.dims, normDims) : null;
  const statDims = x.dims.map((d, i) => (i < axis ? d : 1));
  const out = makeTensor(DataType.FLOAT, x.dims), O = out.data as Float32Array;
  const meanT = makeTensor(DataType.FLOAT, statDims), invT = makeTensor(DataType.FLOAT, statDims);
  const Mn = meanT.data as Float32Array, Iv = invT.data as Float32Array;
  for (let r = 0; r < R; r++) {
    const base = r * D;
    let sum = 0;
    for (let i = 0; i < D; i++) sum += X[base + i]!;
    const mean = sum / D;
    let sq = 0;
    for (let i = 0; i < D; i++) {
      const d = X[base + i]! - mean;
      sq += d * d;
    }
    const inv = 1 / Math.sqrt(sq / D + eps);
    Mn[r] = mean;
    Iv[r] = inv;
    for (let i = 0; i < D; i++) {
      const y = (X[base + i]! - mean) * inv * S[os ? os[i]! : i]!;
      O[base + i] = B ? y + B[ob ? ob[i]! : i]! : y;
    }
  }
  return [out, meanT, invT];
}

function instanceNorm(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const op = "InstanceNormalization";
  const x = req(inputs, 0, op);
  const X = f32(x, op, "X"), S = f32(req(inputs, 1, op), op, "scale"), B = f32(req(inputs, 2, op), op, "B");
  const eps = attrs.float("epsilon", 1e-5);
  const N = x.dims[0]!, C = x.dims[1]!, P = sizeOf(x.dims.slice(2));
  const out = makeTensor(DataType.FLOAT, x.dims), O = out.data as Float32Array;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * P;
      let sum = 0;
      for (let p = 0; p < P; p++) sum += X[base + p]!;
      const mean = sum / P;
      let sq = 0;
      for (let p = 0; p < P; p++) sq += (X[base + p]! - mean) ** 2;
      const a = S[c]! / Math.sqrt(sq / P + Math.fround(eps)), b = B[c]!;
      for (let p = 0; p < P; p++) O[base + p] = (X[base + p]! - mean) * a + b;
    }
  }
  return [out];
}

/** Normalisation kernels for the default domain. */
export const normOps: Record<string, OpKernel> = {
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  InstanceNormalization: instanceNorm,
};
