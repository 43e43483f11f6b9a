/**
 * MaxPool (with optional Indices output), AveragePool (count_include_pad, ceil_mode, dilations) and the
 * global pools. 1-D pools run as 2-D with height 1.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { as4d, lift, windowGeometry } from "./_geom.ts";
import { f32, req } from "./_util.ts";

function pool(x: Tensor, attrs0: Attrs, op: "MaxPool" | "AveragePool", wantIdx: boolean): Tensor[] {
  const X = f32(x, op, "X");
  const [N, C, H, W] = as4d(x.dims, op);
  const rank = x.dims.length - 2;
  const { attrs, kernel } = lift(attrs0, rank, attrs0.ints("kernel_shape"));
  const g = windowGeometry([H, W], kernel, attrs, op);
  const [oh, ow] = g.outSize as [number, number], [kh, kw] = kernel as [number, number];
  const [sh, sw] = g.strides as [number, number], [dh, dw] = g.dilations as [number, number];
  const [ph, pw] = g.padBegin as [number, number], [peh, pew] = g.padEnd as [number, number];
  const includePad = attrs.int("count_include_pad", 0) === 1;
  const colMajor = attrs.int("storage_order", 0) === 1;
  const dims = rank === 2 ? [N, C, oh, ow] : [N, C, ow];
  const out = makeTensor(DataType.FLOAT, dims), O = out.data as Float32Array;
  const idxT = wantIdx ? makeTensor(DataType.INT64, dims) : undefined;
  const I = idxT?.data as BigInt64Array | undefined;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - pw;
        const o = (nc * oh + oy) * ow + ox;
        if (op === "MaxPool") {
          let best = -Infinity, bi = -1;
          for (let ky = 0; ky < kh; ky++) {
            const iy = y0 + ky * dh;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = x0 + kx * dw;
              if (ix < 0 || ix >= W) continue;
              const v = X[base + iy * W + ix]!;
              if (v > best || bi < 0) {
                best = v;
                bi = colMajor ? base + ix * H + iy : base + iy * W + ix;
              }
            }
          }
          O[o] = best;
          if (I) I[o] = BigInt(bi);
        } else {
          let sum = 0, cnt = 0, padCnt = 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = y0 + ky * dh;
            if (iy >= H + peh) break;
            for (let kx = 0; kx < kw; kx++) {
              const ix = x0 + kx * dw;
              if (ix >= W + pew) break;
              padCnt++;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              sum += X[base + iy * W + ix]!;
              cnt++;
            }
          }
          O[o] = sum / (includePad ? padCnt : cnt);
        }
      }
    }
  }
  return idxT ? [out, idxT] : [out];
}

function globalPool(x: Tensor, op: string, max: boolean): Tensor {
  const X = f32(x, op, "X");
  const N = x.dims[0]!, C = x.dims[1]!, P = sizeOf(x.dims.slice(2));
  const out = makeTensor(DataType.FLOAT, x.dims.map((d, i) => (i < 2 ? d : 1)));
  const O = out.data as Float32Array;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * P;
    let acc = max ? -Infinity : 0;
    for (let p = 0; p < P; p++) acc = max ? Math.max(acc, X[base + p]!) : acc + X[base + p]!;
    O[nc] = max ? acc : acc / P;
  }
  return out;
}

/** Pooling kernels for the default domain. */
export const poolOps: Record<string, OpKernel> = {
  MaxPool: (inputs, attrs, ctx: OpContext) =>
    pool(req(inputs, 0, "MaxPool"), attrs, "MaxPool", (ctx.numOutputs ?? 1) > 1),
  AveragePool: (inputs, attrs) => pool(req(inputs, 0, "AveragePool"), attrs, "AveragePool", false),
  GlobalAveragePool: (
    inputs,
  ) => [globalPool(req(inputs, 0, "GlobalAveragePool"), "GlobalAveragePool", false)],
  GlobalMaxPool: (inputs) => [globalPool(req(inputs, 0, "GlobalMaxPool"), "GlobalMaxPool", true)],
};
