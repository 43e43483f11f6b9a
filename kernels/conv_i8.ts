/**
 * WebGPU int8 NCHW convolution (ONNX ConvInteger semantics), grouped and depthwise included, as explicit
 * im2col on the GPU followed by the batched, grouped int8 GEMM of gemm_i8. The CPU oracle is `convInteger`
 * in quant/int_gemm.ts.
 *
 * As a GEMM, group g of batch n computes `Y[n, g] = W_g [Mg, K] x cols(n, g) [K, oH*oW]` with
 * K = (C / group) * kH * kW: the weights are operand A (so a per-output-channel `w_zero_point` is a per-row
 * zero point), the im2col columns are operand B, and the output lands directly in NCHW order.
 * @module
 */

import { convGeometry, type ConvIntegerOptions, type IntTensor } from "../quant/int_gemm.ts";
import { encodeGemmI8, type GemmI8Variant, kernelZeroPoint, packI8 } from "./gemm_i8.ts";
import { BufferScope, encodeDispatch, getGpu, getPipeline } from "./gpu.ts";
import { defineStruct, loadWgsl, withPrelude } from "./wgsl.ts";

const PARAMS = defineStruct("Im2colParams", {
  C: "u32",
  H: "u32",
  W: "u32",
  Cg: "u32",
  KH: "u32",
  KW: "u32",
  OH: "u32",
  OW: "u32",
  strideH: "i32",
  strideW: "i32",
  dilH: "i32",
  dilW: "i32",
  padT: "i32",
  padL: "i32",
  G: "u32",
  K: "u32",
  Kw: "u32",
  fill: "u32",
  flip: "u32",
});

/** Variant key of the im2col pipeline (it has no override constants). */
export const IM2COL_VARIANT_KEY = "conv_i8:im2col";

/** Invocations per im2col workgroup (one per output pixel). */
const IM2COL_WG = 64;

/** Options of {@linkcode convI8}: the ConvInteger attributes and zero points, plus the GEMM kernel. */
export interface ConvI8Options extends ConvIntegerOptions {
  /**
   * GEMM kernel variant.
   * @default {"tiled"}
   */
  variant?: GemmI8Variant;
}

/**
 * The compiled im2col pipeline (cached).
 *
 * @returns the pipeline
 */
export async function im2colPipeline(): Promise<GPUComputePipeline> {
  return await getPipeline(IM2COL_VARIANT_KEY, async () => ({
    label: "conv_i8_im2col",
    code: withPrelude(await loadWgsl(new URL("./conv_i8.wgsl", import.meta.url)), PARAMS.wgsl),
    entryPoint: "im2col",
  }));
}

/**
 * ONNX ConvInteger on WebGPU (2-D, NCHW, any pads / strides / dilations / group), bit-exact with
 * `convInteger` of quant/int_gemm.ts.
 *
 * @param x X, dims `[N, C, H, W]`, int8 or uint8
 * @param w W, dims `[M, C / group, kH, kW]`, int8 or uint8
 * @param options attributes, zero points (w per output channel or scalar) and GEMM variant
 * @returns Y `[N, M, oH, oW]` (sizes from `convGeometry`)
 * @throws {RangeError} for inconsistent shapes, attributes or zero points
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { convI8 } from "./conv_i8.ts";
 * const x = { data: new Uint8Array([2, 3, 4, 5, 6, 7, 8, 9, 10]), dims: [1, 1, 3, 3] };
 * const w = { data: new Uint8Array([1, 1, 1, 1]), dims: [1, 1, 2, 2] };
 * const y = await convI8(x, w, { xZeroPoint: 1, pads: [1, 1, 1, 1] });
 * assertEquals([...y], [1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9]);
 * ```
 */
export async function convI8(x: IntTensor, w: IntTensor, options: ConvI8Options = {}): Promise<Int32Array> {
  const geo = convGeometry(x.dims, w.dims, options);
  if (!(x.data instanceof Int8Array || x.data instanceof Uint8Array)) {
    throw new TypeError("Cannot convolve: X data must be an Int8Array or Uint8Array");
  }
  const G = geo.group, Mg = geo.m / G, Cg = geo.c / G;
  const K = Cg * geo.kh * geo.kw, ohw = geo.oh * geo.ow, Z = geo.n * G;
  const zx = kernelZeroPoint("x_zero_point", options.xZeroPoint ?? 0, 1, x.data);
  const zw = kernelZeroPoint("w_zero_point", options.wZeroPoint ?? 0, geo.m, w.data);
  // W [M, Cg, kH, kW] is already [G][Mg][K] row-major: pack it as the A operand of all groups at once.
  const pw = packI8({ data: w.data, dims: [geo.m, K] });
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const xBytes = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.length);
  const cols = scope.storage(Z * ohw * pw.kw * 4, "im2col");
  const colSums = scope.storage(Z * ohw * 4, "colSums");
  const im2col = encodeDispatch(device, {
    pipeline: await im2colPipeline(),
    buffers: [
      scope.storage(xBytes.slice(), "X"),
      cols,
      colSums,
      scope.uniform(
        PARAMS.pack({
          C: geo.c,
          H: geo.h,
          W: geo.w,
          Cg,
          KH: geo.kh,
          KW: geo.kw,
          OH: geo.oh,
          OW: geo.ow,
          strideH: geo.strideH,
          strideW: geo.strideW,
          dilH: geo.dilH,
          dilW: geo.dilW,
          padT: geo.padT,
          padL: geo.padL,
          G,
          K,
          Kw: pw.kw,
          fill: zx.values[0]! & 0xff,
          flip: x.data instanceof Uint8Array ? 0x80 : 0,
        }),
        "im2col params",
      ),
    ],
    workgroups: [Math.ceil(ohw / IM2COL_WG), Z],
  });
  const y = scope.storage(Z * Mg * ohw * 4, "Y");
  const gemm = await encodeGemmI8(scope, {
    variant: options.variant ?? "tiled",
    m: Mg,
    n: ohw,
    k: K,
    kw: pw.kw,
    groups: G,
    batches: Z,
    a: scope.storage(pw.words, "W"),
    b: cols,
    sumA: scope.storage(pw.sums, "sumW"),
    sumB: colSums,
    zpA: scope.storage(zw.values, "zpW"),
    zpB: scope.storage(zx.values, "zpX"),
    aPerRow: zw.perRow,
    bPerColumn: false,
    c: y,
  });
  // Two command buffers in one submit run in order: the GEMM sees the finished im2col columns.
  device.queue.submit([im2col(), gemm()]);
  return new Int32Array(await scope.read(y, Z * Mg * ohw * 4));
}
