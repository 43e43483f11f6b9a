/**
 * Exact integer semantics of ONNX MatMulInteger (opset 10) and ConvInteger (opset 10) for 8-bit operands:
 * `Y = (A - a_zero_point) x (B - b_zero_point)` accumulated in int32. Accumulation wraps modulo 2^32 as a
 * two's-complement int32 does (onnxruntime and WGSL `i32` both wrap), so every backend that computes the same
 * sum modulo 2^32 agrees bit for bit. These functions are the CPU oracle of the WebGPU kernels in kernels/.
 * @module
 */

/** 8-bit integer storage accepted by the integer ops (ONNX `tensor(int8)` or `tensor(uint8)`). */
export type Int8Data = Int8Array | Uint8Array;

/** A dense 8-bit integer tensor: row-major `data` with `dims` (e.g. `[M, K]`, or `[N, C, H, W]`). */
export interface IntTensor {
  /** Elements in row-major (C) order. */
  readonly data: Int8Data;
  /** Shape; `data.length` must equal the product of `dims`. */
  readonly dims: readonly number[];
}

/** Zero points: one value for the whole tensor, or one per row / column / output channel. */
export type ZeroPoint = number | ArrayLike<number>;

/** Options of {@linkcode matMulInteger}. */
export interface MatMulIntegerOptions {
  /**
   * `a_zero_point`: a scalar, or one value per row of A (length M), in A's element range.
   * @default {0}
   */
  aZeroPoint?: ZeroPoint;
  /**
   * `b_zero_point`: a scalar, or one value per column of B (length N), in B's element range.
   * @default {0}
   */
  bZeroPoint?: ZeroPoint;
}

function elemRange(data: Int8Data): [number, number] {
  return data instanceof Int8Array ? [-128, 127] : [0, 255];
}

function checkTensor(name: string, t: IntTensor, rank: number): void {
  if (!(t.data instanceof Int8Array || t.data instanceof Uint8Array)) {
    throw new TypeError(`Cannot use ${name}: data must be an Int8Array or Uint8Array`);
  }
  if (t.dims.length !== rank) {
    throw new RangeError(`Cannot use ${name}: expected rank ${rank}, got dims [${t.dims.join(",")}]`);
  }
  let n = 1;
  for (const d of t.dims) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`Cannot use ${name}: bad dims [${t.dims.join(",")}]`);
    }
    n *= d;
  }
  if (n !== t.data.length) {
    throw new RangeError(
      `Cannot use ${name}: dims [${t.dims.join(",")}] need ${n} elements, got ${t.data.length}`,
    );
  }
}

/**
 * Expand a zero point to one value per index, checking its length and range.
 *
 * @param name the input name for messages
 * @param zp the zero point (scalar or array)
 * @param count the per-axis length an array zero point must have
 * @param data the tensor the zero point belongs to (its element type fixes the range)
 * @returns one zero point per index (length `count`)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { expandZeroPoint } from "./int_gemm.ts";
 * assertEquals([...expandZeroPoint("b_zero_point", 3, 2, new Int8Array(1))], [3, 3]);
 * ```
 */
export function expandZeroPoint(name: string, zp: ZeroPoint, count: number, data: Int8Data): Int32Array {
  const [lo, hi] = elemRange(data);
  const out = new Int32Array(count);
  if (typeof zp === "number") {
    out.fill(zp);
  } else if (zp.length === 1) {
    out.fill(zp[0]!);
  } else if (zp.length === count) {
    for (let i = 0; i < count; i++) out[i] = zp[i]!;
  } else {
    throw new RangeError(`Cannot use ${name}: expected a scalar or ${count} values, got ${zp.length}`);
  }
  const src = typeof zp === "number" ? [zp] : Array.from(zp);
  for (const v of src) {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new RangeError(`Cannot use ${name}: value ${v} is outside the element range [${lo}, ${hi}]`);
    }
  }
  return out;
}

/**
 * ONNX MatMulInteger for 2-D operands: `Y[m, n] = sum_k (A[m, k] - za[m]) * (B[k, n] - zb[n])` in int32
 * (wrapping modulo 2^32).
 *
 * @param a A, dims `[M, K]`, int8 or uint8
 * @param b B, dims `[K, N]`, int8 or uint8
 * @param options zero points
 * @returns Y, row-major `[M, N]`
 * @throws {RangeError} when shapes disagree or a zero point is out of range
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { matMulInteger } from "./int_gemm.ts";
 * const a = { data: new Uint8Array([11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]), dims: [4, 3] };
 * const b = { data: new Uint8Array([1, 4, 2, 5, 3, 6]), dims: [3, 2] };
 * // The example of the ONNX operator documentation.
 * const y = matMulInteger(a, b, { aZeroPoint: 12, bZeroPoint: 0 });
 * assertEquals([...y], [-38, -83, -44, -98, -50, -113, -56, -128]);
 * ```
 */
export function matMulInteger(a: IntTensor, b: IntTensor, options: MatMulIntegerOptions = {}): Int32Array {
  checkTensor("A", a, 2);
  checkTensor("B", b, 2);
  const [M, K] = a.dims as [number, number];
  const [K2, N] = b.dims as [number, number];
  if (K !== K2) throw new RangeError(`Cannot multiply A [${M},${K}] by B [${K2},${N}]: inner dims differ`);
  const za = expandZeroPoint("a_zero_point", options.aZeroPoint ?? 0, M, a.data);
  const zb = expandZeroPoint("b_zero_point", options.bZeroPoint ?? 0, N, b.data);
  // Shift once into int32 so the inner loop is a plain multiply-add; (a - za) fits in 9 bits.
  const bs = new Int32Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) bs[k * N + n] = b.data[k * N + n]! - zb[n]!;
  }
  const y = new Int32Array(M * N);
  const KB = 64; // K blocking keeps a 64-row panel of B hot in cache while sweeping rows of A.
  for (let k0 = 0; k0 < K; k0 += KB) {
    const k1 = Math.min(K, k0 + KB);
    for (let m = 0; m < M; m++) {
      const zam = za[m]!;
      const yo = m * N;
      for (let k = k0; k < k1; k++) {
        const av = a.data[m * K + k]! - zam;
        if (av === 0) continue;
        const bo = k * N;
        // Int32Array stores wrap modulo 2^32, the int32 accumulator semantics of the spec.
        for (let n = 0; n < N; n++) y[yo + n] = y[yo + n]! + av * bs[bo + n]!;
      }
    }
  }
  return y;
}

/** Options of {@linkcode convInteger}: the ConvInteger attributes and zero points. */
export interface ConvIntegerOptions {
  /**
   * `x_zero_point` (scalar), in X's element range. Padded positions contribute zero, as if padded with it.
   * @default {0}
   */
  xZeroPoint?: number;
  /**
   * `w_zero_point`: a scalar or one value per output channel, in W's element range.
   * @default {0}
   */
  wZeroPoint?: ZeroPoint;
  /**
   * `pads` as ONNX orders them: `[top, left, bottom, right]`. Ignored unless `autoPad` is "NOTSET".
   * @default {[0, 0, 0, 0]}
   */
  pads?: readonly number[];
  /**
   * `strides` `[sH, sW]`.
   * @default {[1, 1]}
   */
  strides?: readonly number[];
  /**
   * `dilations` `[dH, dW]`.
   * @default {[1, 1]}
   */
  dilations?: readonly number[];
  /**
   * `group`: input and output channels split into this many independent groups (C for depthwise).
   * @default {1}
   */
  group?: number;
  /**
   * `auto_pad`.
   * @default {"NOTSET"}
   */
  autoPad?: "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER";
}

/** Resolved 2-D convolution geometry (all attributes explicit). */
export interface ConvGeometry {
  /** Batch, input channels, input height and width. */
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  /** Output channels and kernel height, width. */
  readonly m: number;
  readonly kh: number;
  readonly kw: number;
  /** Groups. */
  readonly group: number;
  /** Pads top, left (the begin pads; end pads only change the output size). */
  readonly padT: number;
  readonly padL: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly dilH: number;
  readonly dilW: number;
  /** Output height and width. */
  readonly oh: number;
  readonly ow: number;
}

function pair(name: string, v: readonly number[] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  if (v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 1)) {
    throw new RangeError(`Cannot use ${name} [${v.join(",")}]: expected 2 positive integers`);
  }
  return [v[0]!, v[1]!];
}

/**
 * Resolve the geometry of a 2-D NCHW convolution (ONNX Conv / ConvInteger attribute rules, auto_pad included).
 *
 * @param xDims X dims `[N, C, H, W]`
 * @param wDims W dims `[M, C / group, kH, kW]`
 * @param options the attributes
 * @returns the resolved geometry with output size
 * @throws {RangeError} for inconsistent shapes or attributes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { convGeometry } from "./int_gemm.ts";
 * const g = convGeometry([1, 3, 5, 5], [8, 3, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2] });
 * assertEquals([g.oh, g.ow], [3, 3]);
 * ```
 */
export function convGeometry(
  xDims: readonly number[],
  wDims: readonly number[],
  options: ConvIntegerOptions = {},
): ConvGeometry {
  if (xDims.length !== 4 || wDims.length !== 4) {
    throw new RangeError(
      `Cannot convolve: expected 4-D X and W, got [${xDims.join(",")}] and [${wDims.join(",")}]`,
    );
  }
  const [n, c, h, w] = xDims as [number, number, number, number];
  const [m, cg, kh, kw] = wDims as [number, number, number, number];
  const group = options.group ?? 1;
  if (!Number.isInteger(group) || group < 1 || c % group !== 0 || m % group !== 0 || cg !== c / group) {
    throw new RangeError(
      `Cannot convolve X [${xDims.join(",")}] with W [${
        wDims.join(",")
      }] in ${group} groups: channels disagree`,
    );
  }
  const [strideH, strideW] = pair("strides", options.strides, 1);
  const [dilH, dilW] = pair("dilations", options.dilations, 1);
  const ekh = (kh - 1) * dilH + 1, ekw = (kw - 1) * dilW + 1;
  const autoPad = options.autoPad ?? "NOTSET";
  let padT = 0, padL = 0, padB = 0, padR = 0;
  if (autoPad === "NOTSET") {
    const p = options.pads ?? [0, 0, 0, 0];
    if (p.length !== 4 || !p.every((x) => Number.isInteger(x) && x >= 0)) {
      throw new RangeError(`Cannot use pads [${p.join(",")}]: expected 4 non-negative integers`);
    }
    [padT, padL, padB, padR] = p as [number, number, number, number];
  } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const total = (size: number, s: number, ek: number) =>
      Math.max(0, (Math.ceil(size / s) - 1) * s + ek - size);
    const th = total(h, strideH, ekh), tw = total(w, strideW, ekw);
    const lower = autoPad === "SAME_LOWER";
    padT = lower ? Math.ceil(th / 2) : Math.floor(th / 2);
    padL = lower ? Math.ceil(tw / 2) : Math.floor(tw / 2);
    padB = th - padT;
    padR = tw - padL;
  } else if (autoPad !== "VALID") {
    throw new RangeError(`Cannot use auto_pad "${autoPad}"`);
  }
  const oh = Math.floor((h + padT + padB - ekh) / strideH) + 1;
  const ow = Math.floor((w + padL + padR - ekw) / strideW) + 1;
  if (oh < 1 || ow < 1) {
    throw new RangeError(`Cannot convolve: output size ${oh}x${ow} is empty for X [${xDims.join(",")}]`);
  }
  return { n, c, h, w, m, kh, kw, group, padT, padL, strideH, strideW, dilH, dilW, oh, ow };
}

/**
 * ONNX ConvInteger for 2-D NCHW operands, grouped and depthwise included:
 * `Y = conv(X - x_zero_point, W - w_zero_point)` with zero padding after the shift, accumulated in int32.
 *
 * @param x X, dims `[N, C, H, W]`, int8 or uint8
 * @param w W, dims `[M, C / group, kH, kW]`, int8 or uint8
 * @param options attributes and zero points
 * @returns Y, row-major `[N, M, oH, oW]` (see {@linkcode convGeometry} for the output size)
 * @throws {RangeError} for inconsistent shapes, attributes or zero points
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { convInteger } from "./int_gemm.ts";
 * // The example of the ONNX operator documentation: 3x3 input, 2x2 ones kernel, pad 1, x_zero_point 1.
 * const x = { data: new Uint8Array([2, 3, 4, 5, 6, 7, 8, 9, 10]), dims: [1, 1, 3, 3] };
 * const w = { data: new Uint8Array([1, 1, 1, 1]), dims: [1, 1, 2, 2] };
 * const y = convInteger(x, w, { xZeroPoint: 1, pads: [1, 1, 1, 1] });
 * assertEquals([...y], [1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9]);
 * ```
 */
export function convInteger(x: IntTensor, w: IntTensor, options: ConvIntegerOptions = {}): Int32Array {
  checkTensor("X", x, 4);
  checkTensor("W", w, 4);
  const g = convGeometry(x.dims, w.dims, options);
  const zx = expandZeroPoint("x_zero_point", options.xZeroPoint ?? 0, 1, x.data)[0]!;
  const zw = expandZeroPoint("w_zero_point", options.wZeroPoint ?? 0, g.m, w.data);
  const cg = g.c / g.group, mg = g.m / g.group;
  const hw = g.h * g.w, ohw = g.oh * g.ow, kk = g.kh * g.kw;
  const xs = new Int32Array(x.data.length);
  for (let i = 0; i < xs.length; i++) xs[i] = x.data[i]! - zx;
  const y = new Int32Array(g.n * g.m * ohw);
  for (let b = 0; b < g.n; b++) {
    for (let oc = 0; oc < g.m; oc++) {
      const grp = Math.floor(oc / mg);
      const yo = (b * g.m + oc) * ohw;
      for (let ic = 0; ic < cg; ic++) {
        const xo = (b * g.c + grp * cg + ic) * hw;
        for (let i = 0; i < g.kh; i++) {
          for (let j = 0; j < g.kw; j++) {
            const wv = w.data[(oc * cg + ic) * kk + i * g.kw + j]! - zw[oc]!;
            if (wv === 0) continue;
            for (let oy = 0; oy < g.oh; oy++) {
              const iy = oy * g.strideH - g.padT + i * g.dilH;
              if (iy < 0 || iy >= g.h) continue; // padded row: (zx - zx) contributes 0
              const xr = xo + iy * g.w, yr = yo + oy * g.ow;
              for (let ox = 0; ox < g.ow; ox++) {
                const ix = ox * g.strideW - g.padL + j * g.dilW;
                if (ix >= 0 && ix < g.w) y[yr + ox] = y[yr + ox]! + wv * xs[xr + ix]!;
              }
            }
          }
        }
      }
    }
  }
  return y;
}
