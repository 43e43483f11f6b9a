/**
 * Normalisations: BatchNormalization (inference form), LayerNormalization (opset 17, with Mean and
 * InvStdDev outputs) and InstanceNormalization. Statistics are accumulated in double precision.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpKernel } from "../registry.ts";
import { broadcastOffsets, f32, normAxis, req, shapeStr } from "./_util.ts";
import { layerNormRowsF32 } from "./_norm_wasm.ts";

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
  // contiguous rows, unbroadcast scale and bias: WebAssembly, the same arithmetic and bits (_norm_wasm.ts)
  if (!os && !ob && layerNormRowsF32(X, O, R, D, eps, S, B, Mn, Iv)) return [out, meanT, invT];
  // Each row's sums run in order over i, in double; four rows at a time so that four independent addition
  // chains overlap (a sum is latency-bound), with the same bits as one row at a time.
  const mean = new Float64Array(4), inv = new Float64Array(4);
  for (let r0 = 0; r0 < R; r0 += 4) {
    const nr = Math.min(4, R - r0);
    if (nr === 4) rowStats4(X, r0 * D, D, eps, mean, inv);
    else for (let k = 0; k < nr; k++) rowStats1(X, (r0 + k) * D, D, eps, mean, inv, k);
    for (let k = 0; k < nr; k++) {
      if (!os && !ob && B) normRowPlain(X, O, (r0 + k) * D, D, mean[k]!, inv[k]!, S, B);
      else normRow(X, O, (r0 + k) * D, D, mean[k]!, inv[k]!, S, os, B, ob);
    }
    for (let k = 0; k < nr; k++) Mn[r0 + k] = mean[k]!, Iv[r0 + k] = inv[k]!;
  }
  return [out, meanT, invT];
}

function rowStats1(
  X: Float32Array,
  base: number,
  D: number,
  eps: number,
  mean: Float64Array,
  inv: Float64Array,
  k: number,
): void {
  let sum = 0;
  for (let i = 0; i < D; i++) sum += X[base + i]!;
  const m = sum / D;
  let sq = 0;
  for (let i = 0; i < D; i++) {
    const d = X[base + i]! - m;
    sq += d * d;
  }
  mean[k] = m;
  inv[k] = 1 / Math.sqrt(sq / D + eps);
}

function rowStats4(
  X: Float32Array,
  base: number,
  D: number,
  eps: number,
  mean: Float64Array,
  inv: Float64Array,
) {
  const b1 = base + D, b2 = b1 + D, b3 = b2 + D;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < D; i++) s0 += X[base + i]!, s1 += X[b1 + i]!, s2 += X[b2 + i]!, s3 += X[b3 + i]!;
  const m0 = s0 / D, m1 = s1 / D, m2 = s2 / D, m3 = s3 / D;
  let q0 = 0, q1 = 0, q2 = 0, q3 = 0;
  for (let i = 0; i < D; i++) {
    const d0 = X[base + i]! - m0, d1 = X[b1 + i]! - m1, d2 = X[b2 + i]! - m2, d3 = X[b3 + i]! - m3;
    q0 += d0 * d0, q1 += d1 * d1, q2 += d2 * d2, q3 += d3 * d3;
  }
  mean[0] = m0, mean[1] = m1, mean[2] = m2, mean[3] = m3;
  inv[0] = 1 / Math.sqrt(q0 / D + eps), inv[1] = 1 / Math.sqrt(q1 / D + eps);
  inv[2] = 1 / Math.sqrt(q2 / D + eps), inv[3] = 1 / Math.sqrt(q3 / D + eps);
}

/** {@link normRow} with a bias and no broadcast of scale or bias: the same arithmetic, a tighter loop. */
function normRowPlain(
  X: Float32Array,
  O: Float32Array,
  base: number,
  D: number,
  mean: number,
  inv: number,
  S: Float32Array,
  B: Float32Array,
): void {
  for (let i = 0; i < D; i++) O[base + i] = (X[base + i]! - mean) * inv * S[i]! + B[i]!;
}

function normRow(
  X: Float32Array,
  O: Float32Array,
  base: number,
  D: number,
  mean: number,
  inv: number,
  S: Float32Array,
  os: Int32Array | null,
  B: Float32Array | undefined,
  ob: Int32Array | null,
): void {
  for (let i = 0; i < D; i++) {
    const y = (X[base + i]! - mean) * inv * S[os ? os[i]! : i]!;
    O[base + i] = B ? y + B[ob ? ob[i]! : i]! : y;
  }
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
