/**
 * Layer discovery and calibration statistics of the DenseShift pass (passes/denseshift/dense_shift.ts): which nodes are
 * converted (channel-major weight rows, bias, Conv geometry) and how a batch of a layer's input becomes rows
 * of its Gram matrix / mean (Conv: im2col patches at a bounded number of sampled output positions).
 * @module
 */
import type { Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, type Tensor } from "../../onnx/tensor.ts";
import type { DenseShiftLayer } from "./dense_shift.ts";
import { weightInput } from "../qdq/insert_qdq.ts";

/** A layer to convert: channel-major weight rows and the geometry needed for calibration. */
export interface Target {
  node: Node;
  kind: "conv" | "matmul" | "gemm" | "convT";
  /** `[nOut, fanIn]` channel-major rows (Gemm: alpha folded in). */
  rows: Float32Array;
  nOut: number;
  fanIn: number;
  groups: number;
  /** Bias `[nOut]` (Gemm: beta * C), or null. */
  bias: Float32Array | null;
  /** Conv geometry (kernel, strides, dilations, pad begin, auto_pad). */
  conv?: ConvGeom;
  reason?: string;
}

export interface ConvGeom {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

const dec = new TextDecoder();

export function convGeom(node: Node, wDims: readonly number[]): ConvGeom {
  const a = node.a, sp = wDims.length - 2;
  const kernel = a.ints("kernel_shape", wDims.slice(2));
  return {
    kernel,
    strides: a.ints("strides", new Array(sp).fill(1)),
    dilations: a.ints("dilations", new Array(sp).fill(1)),
    pads: a.ints("pads", new Array(2 * sp).fill(0)),
    autoPad: node.attrs.has("auto_pad")
      ? dec.decode(node.attrs.get("auto_pad")!.value as Uint8Array)
      : "NOTSET",
  };
}

/** Output size and begin padding of one spatial axis (ONNX Conv, auto_pad included). */
function axisGeom(g: ConvGeom, i: number, sp: number, size: number): [number, number] {
  const k = (g.kernel[i]! - 1) * g.dilations[i]! + 1, s = g.strides[i]!;
  if (g.autoPad === "SAME_UPPER" || g.autoPad === "SAME_LOWER") {
    const out = Math.ceil(size / s);
    const total = Math.max(0, (out - 1) * s + k - size);
    return [out, g.autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2)];
  }
  const [pb, pe] = g.autoPad === "VALID" ? [0, 0] : [g.pads[i]!, g.pads[i + sp]!];
  return [Math.floor((size + pb + pe - k) / s) + 1, pb];
}

/** Find the weighted layers; returns targets and the nodes left in float (with a reason). */
export function plan(
  model: Model,
  exclude: ReadonlySet<string>,
): { targets: Target[]; skipped: DenseShiftLayer[] } {
  const targets: Target[] = [];
  const skipped: DenseShiftLayer[] = [];
  for (const node of model.graph.nodes) {
    const w = weightInput(node);
    if (!w) continue;
    const wt = node.inputs[w.index]!.const!;
    const x = node.inputs[0];
    const n = wt.data.length;
    const skip = (reason: string) =>
      skipped.push({ node: node.name, op: node.opType, kind: "float", reason, weights: n, bytes: 4 * n });
    if (exclude.has(node.name) || node.outputs.some((o) => exclude.has(o.name))) {
      skip("excluded");
      continue;
    }
    if (wt.dtype !== DataType.FLOAT) {
      skip(`weight is ${wt.dtype}, not float32`);
      continue;
    }
    if (!x || x.isConst || (x.type?.elemType ?? DataType.FLOAT) !== DataType.FLOAT) {
      skip("input is not a float activation");
      continue;
    }
    const W = wt.data as Float32Array;
    const constBias = (
      v: Value | null | undefined,
      size: number,
      scale = 1,
    ): Float32Array | null | undefined => {
      if (!v) return null;
      const t = v.const;
      if (!t || t.dtype !== DataType.FLOAT || (t.data.length !== size && t.data.length !== 1)) {
        return undefined;
      }
      const d = t.data as Float32Array;
      return Float32Array.from({ length: size }, (_, i) => scale * d[d.length === 1 ? 0 : i]!);
    };
    if (isOp(node, Op.Conv)) {
      const groups = node.a.int("group", 1), nOut = wt.dims[0]!;
      if (wt.dims.length < 3 || wt.dims.length > 4) {
        skip(`Conv with ${wt.dims.length - 2} spatial axes`);
        continue;
      }
      const bias = constBias(node.inputs[2], nOut);
      if (bias === undefined) {
        skip("bias is not a constant [Cout]");
        continue;
      }
      targets.push({
        node,
        kind: "conv",
        rows: W,
        nOut,
        fanIn: n / nOut,
        groups,
        bias,
        conv: convGeom(node, wt.dims),
      });
    } else if (isOp(node, Op.ConvTranspose)) {
      targets.push({
        node,
        kind: "convT",
        rows: W,
        nOut: 0,
        fanIn: 0,
        groups: 1,
        bias: null,
        reason: "ConvTranspose",
      });
    } else if (wt.dims.length !== 2) {
      skip(`weight of rank ${wt.dims.length}`);
    } else if (isOp(node, Op.Gemm) && node.a.int("transA", 0) !== 0) {
      skip("Gemm with transA");
    } else {
      const gemm = isOp(node, Op.Gemm);
      const transB = gemm && node.a.int("transB", 0) !== 0;
      const [K, N] = transB ? [wt.dims[1]!, wt.dims[0]!] : [wt.dims[0]!, wt.dims[1]!];
      const scale = gemm ? node.a.float("alpha", 1) : 1;
      const bias = gemm ? constBias(node.inputs[2], N, node.a.float("beta", 1)) : null;
      if (bias === undefined) {
        skip("Gemm C is not a constant [N] or scalar");
        continue;
      }
      const rows = new Float32Array(n);
      if (transB) { for (let i = 0; i < n; i++) rows[i] = scale * W[i]!; }
      else {
        // [K, N] -> [N, K] in 32 x 32 tiles (both sides stay in cache)
        for (let k0 = 0; k0 < K; k0 += 32) {
          for (let j0 = 0; j0 < N; j0 += 32) {
            for (let k = k0; k < Math.min(K, k0 + 32); k++) {
              for (let j = j0; j < Math.min(N, j0 + 32); j++) rows[j * K + k] = scale * W[k * N + j]!;
            }
          }
        }
      }
      targets.push({ node, kind: gemm ? "gemm" : "matmul", rows, nOut: N, fanIn: K, groups: 1, bias });
    }
  }
  return { targets, skipped };
}

/**
 * The inverse of {@linkcode plan}'s row layout: channel-major `[nOut, fanIn]` rows back to the weight
 * tensor's own layout (Conv: the same; MatMul `[K, N]` and Gemm: transposed as stored, Gemm's alpha divided
 * out again).
 */
export function rowsToWeight(t: Target, rows: Float32Array): Float32Array {
  if (t.kind === "conv" || t.kind === "convT") return Float32Array.from(rows);
  const { nOut, fanIn } = t;
  const gemm = t.kind === "gemm";
  const transB = gemm && t.node.a.int("transB", 0) !== 0;
  const scale = gemm ? t.node.a.float("alpha", 1) : 1;
  const out = new Float32Array(rows.length);
  for (let j = 0; j < nOut; j++) {
    for (let k = 0; k < fanIn; k++) out[transB ? j * fanIn + k : k * nOut + j] = rows[j * fanIn + k]! / scale;
  }
  return out;
}

/** Deterministic sample of `m` of `total` positions (all when total <= m). */
function samplePositions(total: number, m: number, seed: number): Int32Array {
  if (total <= m) return Int32Array.from({ length: total }, (_, i) => i);
  const off = ((seed * 2654435761) >>> 0) / 2 ** 32;
  return Int32Array.from({ length: m }, (_, i) => Math.min(total - 1, Math.floor(((i + off) * total) / m)));
}

/**
 * Rows of one group of a layer's input: `n` rows of the layer's (per-group) fan-in, taken from `samples`
 * calibration samples (Conv: one sample's sampled positions; Gemm / MatMul: a whole batch).
 */
export type RowSink = (group: number, rows: Float32Array, n: number, samples: number) => void;

/**
 * Feed one batch of a layer's input to `sink` as rows of its fan-in (Conv: im2col patches at up to
 * `positions` sampled output positions per sample, per group; Gemm / MatMul: the rows of X).
 */
export function accumulate(t: Target, x: Tensor, positions: number, batch: number, sink: RowSink): void {
  const X = x.data as Float32Array;
  if (t.kind !== "conv") {
    const n = X.length / t.fanIn;
    sink(0, X, n, x.dims.length >= 3 ? x.dims[0]! : n);
    return;
  }
  const g = t.conv!, sp = g.kernel.length;
  const [N, C] = [x.dims[0]!, x.dims[1]!];
  const H = sp === 2 ? x.dims[2]! : 1, W = x.dims[sp + 1]!;
  const kh = sp === 2 ? g.kernel[0]! : 1, kw = g.kernel[sp - 1]!;
  const [oh, ph] = sp === 2 ? axisGeom(g, 0, sp, H) : [1, 0];
  const [ow, pw] = axisGeom(g, sp - 1, sp, W);
  const [sh, dh] = sp === 2 ? [g.strides[0]!, g.dilations[0]!] : [1, 1];
  const [sw, dw] = [g.strides[sp - 1]!, g.dilations[sp - 1]!];
  const Cg = C / t.groups, taps = kh * kw, K = Cg * taps, HW = H * W;
  for (let n = 0; n < N; n++) {
    const pos = samplePositions(oh * ow, positions, batch * 131 + n);
    const m = pos.length;
    // Per sampled position and kernel tap: the offset of the input pixel in a channel plane, or -1 where
    // the tap falls in the padding (the same for every channel and group).
    const src = new Int32Array(m * taps);
    for (let r = 0; r < m; r++) {
      const oy = Math.floor(pos[r]! / ow), ox = pos[r]! % ow;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - ph + ky * dh;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw - pw + kx * dw;
          src[r * taps + ky * kw + kx] = iy >= 0 && iy < H && ix >= 0 && ix < W ? iy * W + ix : -1;
        }
      }
    }
    const patch = new Float32Array(m * K);
    for (let gi = 0; gi < t.groups; gi++) {
      const plane0 = (n * C + gi * Cg) * HW;
      if (taps === 1) {
        // 1x1: row r holds channel ci's pixel at src[r]
        for (let r = 0; r < m; r++) {
          const o = src[r]!, row = r * K;
          if (o < 0) patch.fill(0, row, row + K);
          else for (let ci = 0, b = plane0 + o; ci < Cg; ci++, b += HW) patch[row + ci] = X[b]!;
        }
      } else {
        let at = 0;
        for (let r = 0; r < m; r++) {
          const s0 = r * taps;
          for (let ci = 0, base = plane0; ci < Cg; ci++, base += HW) {
            for (let tp = 0; tp < taps; tp++, at++) {
              const o = src[s0 + tp]!;
              patch[at] = o < 0 ? 0 : X[base + o]!;
            }
          }
        }
      }
      sink(gi, patch, m, 1);
    }
  }
}

/**
 * Streaming mean of k-wide rows (the mean input of a layer, for bias correction) and, with `squares`, the
 * per-feature second moments E[x_k^2] (the diagonal of the Gram matrix, for the diagonal alpha search).
 */
export class RowMean {
  readonly sum: Float64Array;
  readonly sumSq: Float64Array | undefined;
  count = 0;
  constructor(k: number, squares = false) {
    this.sum = new Float64Array(k);
    this.sumSq = squares ? new Float64Array(k) : undefined;
  }
  add(rows: Float32Array, n: number): void {
    const k = this.sum.length, sum = this.sum, sq = this.sumSq;
    if (sq) {
      // Four rows per sweep over the features: each feature's sums still add the rows in order (the same
      // float64 operations as one row at a time), with a quarter of the loads and stores of the sums.
      let o = 0;
      for (const e = (n - (n & 3)) * k; o < e; o += 4 * k) {
        for (let i = 0; i < k; i++) {
          const a = rows[o + i]!, b = rows[o + k + i]!, c = rows[o + 2 * k + i]!, d = rows[o + 3 * k + i]!;
          sum[i] = sum[i]! + a + b + c + d;
          sq[i] = sq[i]! + a * a + b * b + c * c + d * d;
        }
      }
      for (; o < n * k; o += k) {
        for (let i = 0; i < k; i++) {
          const v = rows[o + i]!;
          sum[i] = sum[i]! + v;
          sq[i] = sq[i]! + v * v;
        }
      }
    } else {
      let o = 0;
      for (const e = (n - (n & 3)) * k; o < e; o += 4 * k) {
        for (let i = 0; i < k; i++) {
          sum[i] = sum[i]! + rows[o + i]! + rows[o + k + i]! + rows[o + 2 * k + i]! + rows[o + 3 * k + i]!;
        }
      }
      for (; o < n * k; o += k) for (let i = 0; i < k; i++) sum[i] = sum[i]! + rows[o + i]!;
    }
    this.count += n;
  }
  mean(): Float64Array {
    return this.sum.map((v) => v / Math.max(this.count, 1));
  }
  /** E[x_k^2] (requires `squares`). */
  secondMoment(): Float64Array {
    return this.sumSq!.map((v) => v / Math.max(this.count, 1));
  }
}
