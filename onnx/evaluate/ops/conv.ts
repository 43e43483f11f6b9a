/**
 * Conv (grouped and depthwise, 1-D and 2-D, pads / auto_pad, strides, dilations) as im2col + blocked GEMM,
 * and ConvTranspose as GEMM + col2im.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, type Tensor } from "../../tensor.ts";
import type { OpKernel } from "../registry.ts";
import { gemmView } from "./_gemm.ts";
import { gemmF64 } from "./_gemm_f64.ts";
import { as4d, lift, windowGeometry } from "./_geom.ts";
import { f32, req, shapeStr } from "./_util.ts";

/** Options of {@link conv}. */
export interface ConvOptions {
  /**
   * Accumulate in double, rounded once to float32 (the former GEMM, `_gemm_f64.ts`): the arithmetic of the
   * `shiftkit.ShiftConv` CPU oracle. Otherwise in float32 like every Conv (`_gemm.ts`).
   * @default {false}
   */
  float64?: boolean;
}

/** Float32 convolution, NCHW / NCL. */
export function conv(
  x: Tensor,
  w: Tensor,
  b: Tensor | undefined,
  attrs0: Attrs,
  options: ConvOptions = {},
): Tensor {
  const X = f32(x, "Conv", "X"), W = f32(w, "Conv", "W");
  const [N, C, H, Wd] = as4d(x.dims, "Conv");
  const rank = x.dims.length - 2;
  const M = w.dims[0]!, group = attrs0.int("group", 1);
  const { attrs, kernel } = lift(attrs0, rank, attrs0.ints("kernel_shape", w.dims.slice(2)));
  const [kh, kw] = kernel as [number, number];
  const Cg = C / group, Mg = M / group;
  if (!Number.isInteger(Cg) || !Number.isInteger(Mg) || w.dims[1] !== Cg) {
    throw new RangeError(
      `Conv: input ${shapeStr(x.dims)}, weight ${shapeStr(w.dims)} and group ${group} do not agree`,
    );
  }
  const g = windowGeometry([H, Wd], kernel, attrs, "Conv");
  const [oh, ow] = g.outSize as [number, number];
  const [sh, sw] = g.strides as [number, number], [dh, dw] = g.dilations as [number, number];
  const [ph, pw] = g.padBegin as [number, number];
  const outDims = rank === 2 ? [N, M, oh, ow] : [N, M, ow];
  const out = makeTensor(DataType.FLOAT, outDims);
  const O = out.data as Float32Array;
  const K = Cg * kh * kw, P = oh * ow;
  if (Cg === 1 && Mg === 1) {
    depthwise(X, W, O, N, C, H, Wd, kh, kw, oh, ow, g.strides, g.dilations, g.padBegin);
    if (b) addBias(O, f32(b, "Conv", "B"), N, M, P);
    return out;
  }
  // a 1x1 kernel with stride 1 and no padding reads the input as it is: the GEMM packs it directly
  const direct = kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && oh === H &&
    ow === Wd;
  // otherwise im2col runs on blocks of whole output rows of about 64 Ki column elements, so the columns and
  // their packed copy stay in cache instead of streaming K * P values through memory
  const rowsPer = direct ? oh : Math.max(1, Math.min(oh, Math.floor(65536 / Math.max(1, K * ow))));
  const col = direct ? X : new Float32Array(K * rowsPer * ow);
  const mm = options.float64 ? gemmF64 : gemmView;
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < group; gi++) {
      const xOff = (n * C + gi * Cg) * H * Wd;
      const cOff = (n * M + gi * Mg) * P;
      const wv = { data: W, off: gi * Mg * K, rs: K, cs: 1 };
      if (direct) {
        mm(Mg, wv, { data: X, off: xOff, rs: P, cs: 1 }, K, P, O, cOff, P);
        continue;
      }
      for (let oy0 = 0; oy0 < oh; oy0 += rowsPer) {
        const oy1 = Math.min(oh, oy0 + rowsPer), pb = (oy1 - oy0) * ow;
        im2col(X, xOff, Cg, H, Wd, kh, kw, oy0, oy1, ow, sh, sw, ph, pw, dh, dw, col);
        mm(Mg, wv, { data: col, off: 0, rs: pb, cs: 1 }, K, pb, O, cOff + oy0 * ow, P);
      }
    }
  }
  if (b) addBias(O, f32(b, "Conv", "B"), N, M, P);
  return out;
}

/**
 * For output rows oy0 <= oy < oy1: col[(ci*kh + ky)*kw + kx, (oy - oy0)*ow + ox] =
 * X[ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw] (0 in the padding).
 * A function of its own so V8 optimises the hot loop independently of the GEMM driver.
 */
function im2col(
  X: Float32Array,
  xOff: number,
  Cg: number,
  H: number,
  W: number,
  kh: number,
  kw: number,
  oy0: number,
  oy1: number,
  ow: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  dh: number,
  dw: number,
  col: Float32Array,
): void {
  const P = (oy1 - oy0) * ow;
  for (let ci = 0; ci < Cg; ci++) {
    const xBase = xOff + ci * H * W;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const row = ((ci * kh + ky) * kw + kx) * P;
        // output columns whose input column is inside the image: ox in [lo, hi)
        const off = kx * dw - pw;
        const lo = Math.min(ow, Math.max(0, Math.ceil(-off / sw)));
        const hi = Math.max(lo, Math.min(ow, Math.floor((W - 1 - off) / sw) + 1));
        for (let oy = oy0; oy < oy1; oy++) {
          const iy = oy * sh - ph + ky * dh, dst = row + (oy - oy0) * ow;
          if (iy < 0 || iy >= H) {
            col.fill(0, dst, dst + ow);
            continue;
          }
          const src = xBase + iy * W + off;
          for (let ox = 0; ox < lo; ox++) col[dst + ox] = 0;
          if (sw === 1) col.set(X.subarray(src + lo, src + hi), dst + lo);
          else for (let ox = lo; ox < hi; ox++) col[dst + ox] = X[src + ox * sw]!;
          for (let ox = hi; ox < ow; ox++) col[dst + ox] = 0;
        }
      }
    }
  }
}

/**
 * Depthwise convolution (one input and one output channel per group): a direct loop, no GEMM. Each output
 * row is accumulated in double over (ky, kx) in that order, one kernel tap at a time across the whole row
 * (taps that fall in the padding are skipped, not multiplied by zero), and rounded once to float32.
 */
function depthwise(
  X: Float32Array,
  W: Float32Array,
  O: Float32Array,
  N: number,
  C: number,
  H: number,
  Wd: number,
  kh: number,
  kw: number,
  oh: number,
  ow: number,
  s: number[],
  d: number[],
  p: number[],
): void {
  const [sh, sw] = s as [number, number], [dh, dw] = d as [number, number], [ph, pw] = p as [number, number];
  // per kernel column: input column offset and the output columns [lo, hi) whose input is in the image
  const offs = new Int32Array(kw), los = new Int32Array(kw), his = new Int32Array(kw);
  for (let kx = 0; kx < kw; kx++) {
    const off = kx * dw - pw;
    const lo = Math.min(ow, Math.max(0, Math.ceil(-off / sw)));
    offs[kx] = off;
    los[kx] = lo;
    his[kx] = Math.max(lo, Math.min(ow, Math.floor((Wd - 1 - off) / sw) + 1));
  }
  const acc = new Float64Array(ow);
  for (let nc = 0; nc < N * C; nc++) {
    const xb = nc * H * Wd, ob = nc * oh * ow, wb = (nc % C) * kh * kw;
    for (let oy = 0; oy < oh; oy++) {
      acc.fill(0);
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - ph + ky * dh;
        if (iy < 0 || iy >= H) continue;
        const xr = xb + iy * Wd, wr = wb + ky * kw;
        for (let kx = 0; kx < kw; kx++) {
          const w = W[wr + kx]!, src = xr + offs[kx]!, lo = los[kx]!, hi = his[kx]!;
          if (sw === 1) { for (let ox = lo; ox < hi; ox++) acc[ox] = acc[ox]! + w * X[src + ox]!; }
          else for (let ox = lo; ox < hi; ox++) acc[ox] = acc[ox]! + w * X[src + ox * sw]!;
        }
      }
      const orow = ob + oy * ow;
      for (let ox = 0; ox < ow; ox++) O[orow + ox] = acc[ox]!;
    }
  }
}

function addBias(O: Float32Array, B: Float32Array, N: number, M: number, P: number): void {
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const bv = B[m]!, base = (n * M + m) * P;
      for (let p = 0; p < P; p++) O[base + p] = O[base + p]! + bv;
    }
  }
}

/** Float32 transposed convolution, NCHW / NCL: GEMM into columns, then col2im scatter-add. */
export function convTranspose(x: Tensor, w: Tensor, b: Tensor | undefined, attrs0: Attrs): Tensor {
  const X = f32(x, "ConvTranspose", "X"), W = f32(w, "ConvTranspose", "W");
  const [N, C, H, Wd] = as4d(x.dims, "ConvTranspose");
  const rank = x.dims.length - 2;
  const group = attrs0.int("group", 1);
  const { attrs, kernel } = lift(attrs0, rank, attrs0.ints("kernel_shape", w.dims.slice(2)));
  const [kh, kw] = kernel as [number, number];
  const Cg = C / group, Mg = w.dims[1]!, M = Mg * group;
  if (w.dims[0] !== C || !Number.isInteger(Cg)) {
    throw new RangeError(
      `ConvTranspose: input ${shapeStr(x.dims)}, weight ${shapeStr(w.dims)} and group ${group} do not agree`,
    );
  }
  const strides = attrs.ints("strides", [1, 1]), dil = attrs.ints("dilations", [1, 1]);
  const outPad = attrs.ints("output_padding", [0, 0]);
  const autoPad = attrs.string("auto_pad", "NOTSET");
  let pads = attrs.ints("pads", [0, 0, 0, 0]);
  const inS = [H, Wd], outS = [0, 0];
  const outShape = attrs.has("output_shape") ? attrs.ints("output_shape") : undefined;
  for (let i = 0; i < 2; i++) {
    const full = strides[i]! * (inS[i]! - 1) + outPad[i]! + (kernel[i]! - 1) * dil[i]! + 1;
    if (outShape || autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      const target = outShape ? outShape[outShape.length - 2 + i]! : inS[i]! * strides[i]!;
      const total = full - target, half = Math.floor(total / 2);
      // ONNX ConvTranspose: SAME_UPPER puts the smaller half first
      const pb = autoPad === "SAME_UPPER" ? half : total - half;
      pads = [...pads];
      pads[i] = pb;
      pads[i + 2] = total - pb;
      outS[i] = target;
    } else outS[i] = full - pads[i]! - pads[i + 2]!;
  }
  const [oh, ow] = outS as [number, number], [sh, sw] = strides as [number, number];
  const [dh, dw] = dil as [number, number], ph = pads[0]!, pw = pads[1]!;
  const out = makeTensor(DataType.FLOAT, rank === 2 ? [N, M, oh, ow] : [N, M, ow]);
  const O = out.data as Float32Array;
  const KK = Mg * kh * kw, P = H * Wd;
  const col = new Float32Array(KK * P);
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < group; gi++) {
      // col[(co*kh + ky)*kw + kx, p] = sum_ci W[gi*Cg + ci, co, ky, kx] * X[n, gi*Cg + ci, p]
      const xb = { data: X, off: (n * C + gi * Cg) * P, rs: P, cs: 1 };
      gemmView(KK, { data: W, off: gi * Cg * KK, rs: 1, cs: KK }, xb, Cg, P, col, 0, P);
      for (let co = 0; co < Mg; co++) {
        const yBase = (n * M + gi * Mg + co) * oh * ow;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const row = ((co * kh + ky) * kw + kx) * P;
            for (let iy = 0; iy < H; iy++) {
              const oy = iy * sh - ph + ky * dh;
              if (oy < 0 || oy >= oh) continue;
              const dst = yBase + oy * ow, src = row + iy * Wd;
              for (let ix = 0; ix < Wd; ix++) {
                const ox = ix * sw - pw + kx * dw;
                if (ox >= 0 && ox < ow) O[dst + ox] = O[dst + ox]! + col[src + ix]!;
              }
            }
          }
        }
      }
    }
  }
  if (b) addBias(O, f32(b, "ConvTranspose", "B"), N, M, oh * ow);
  return out;
}

/** Conv and ConvTranspose kernels for the default domain. */
export const convOps: Record<string, OpKernel> = {
  Conv: (inputs, attrs) => [conv(req(inputs, 0, "Conv"), req(inputs, 1, "Conv"), inputs[2], attrs)],
  ConvTranspose: (inputs, attrs) => [
    convTranspose(req(inputs, 0, "ConvTranspose"), req(inputs, 1, "ConvTranspose"), inputs[2], attrs),
  ],
};
