/**
 * WebGPU `shiftkit.ShiftConv` (DenseShift, docs/ops/denseshift.md): a direct 1-D / 2-D convolution whose
 * weights are zero-free power-of-two codes, each product an exponent add (`ldexp`), scaled by the channel's
 * alpha at the end. Oracle: `decodeShiftWeight` (quant/dense_shift.ts) + the CPU evaluator's Conv; the two
 * agree within the float32 summation bound of kernels/float_tolerance.ts.
 * @module
 */

import { unpackBits } from "../quant/bitpack.ts";
import type { ShiftWeight } from "../quant/dense_shift.ts";
import { convGeometry, type ConvIntegerOptions } from "../quant/int_gemm.ts";
import { pow2MaxExponent } from "../quant/pow2.ts";
import { DataType } from "../onnx/tensor.ts";
import { allocate, type DeviceTensor, type Encoded, encodeKernel, grid1d, upload } from "./device_tensor.ts";
import { BufferScope, getGpu } from "./gpu.ts";
import { defineStruct } from "./wgsl.ts";

const PARAMS = defineStruct("Params", {
  N: "u32",
  C: "u32",
  H: "u32",
  W: "u32",
  Cout: "u32",
  Cg: "u32",
  KH: "u32",
  KW: "u32",
  OH: "u32",
  OW: "u32",
  group: "u32",
  strideH: "u32",
  strideW: "u32",
  padT: "u32",
  padL: "u32",
  dilH: "u32",
  dilW: "u32",
  pmax: "u32",
  hasBias: "u32",
});

/** Variant key of the ShiftConv kernel. */
export const SHIFT_CONV_VARIANT_KEY = "shift_conv";

/** Conv attributes of a ShiftConv node (ONNX Conv's, for 1-D or 2-D). */
export interface ShiftConvAttributes {
  /** Pads, `[begin..., end...]`. @default zeros */
  pads?: readonly number[];
  /** Strides. @default ones */
  strides?: readonly number[];
  /** Dilations. @default ones */
  dilations?: readonly number[];
  /** Groups. @default 1 */
  group?: number;
  /** auto_pad. @default "NOTSET" */
  autoPad?: "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER";
  /** Bias `[Cout]`. @default undefined */
  bias?: Float32Array;
}

/** Lift a 1-D convolution to 2-D (H = 1); 2-D passes through. */
function as2d(x: readonly number[], w: readonly number[], a: ShiftConvAttributes) {
  if (x.length === 4 && w.length === 4) return { x, w, a };
  if (x.length !== 3 || w.length !== 3) {
    throw new RangeError(`ShiftConv on the GPU covers 1-D and 2-D convolutions, got X [${x}] and W [${w}]`);
  }
  const one = (v: readonly number[] | undefined, d: number) => [d, ...(v ?? [d])];
  return {
    x: [x[0]!, x[1]!, 1, x[2]!],
    w: [w[0]!, w[1]!, 1, w[2]!],
    a: {
      ...a,
      pads: a.pads ? [0, a.pads[0]!, 0, a.pads[1]!] : [0, 0, 0, 0],
      strides: one(a.strides, 1),
      dilations: one(a.dilations, 1),
    },
  };
}

/**
 * Encode ShiftConv on a float32 device tensor.
 *
 * @param scope owner of the new buffers
 * @param x input `[N, Cin, (H,) W]`, float32
 * @param w the packed weight (axis 0 = output channel)
 * @param attrs Conv attributes and bias
 * @returns the recorded op and its float32 output
 * @throws {RangeError} on ranks or attributes the kernel does not cover
 */
export async function encodeShiftConv(
  scope: BufferScope,
  x: DeviceTensor,
  w: ShiftWeight,
  attrs: ShiftConvAttributes = {},
): Promise<Encoded> {
  if (x.dtype !== DataType.FLOAT) throw new TypeError("ShiftConv on the GPU takes float32 X");
  if (w.axis !== 0) throw new RangeError(`ShiftConv weight must have alpha on axis 0, got ${w.axis}`);
  const { device } = await getGpu();
  const d2 = as2d(x.dims, w.shape, attrs);
  const opts: ConvIntegerOptions = {
    pads: d2.a.pads ?? [0, 0, 0, 0],
    strides: d2.a.strides ?? [1, 1],
    dilations: d2.a.dilations ?? [1, 1],
    group: d2.a.group ?? 1,
    ...(d2.a.autoPad ? { autoPad: d2.a.autoPad } : {}),
  };
  const geo = convGeometry(d2.x, d2.w, opts);
  const count = w.shape.reduce((a, b) => a * b, 1);
  const codes = Uint32Array.from(unpackBits(w.packed, w.bits, { count }));
  if (attrs.bias && attrs.bias.length !== geo.m) {
    throw new RangeError(`ShiftConv bias has ${attrs.bias.length} values, expected ${geo.m}`);
  }
  const outDims = x.dims.length === 3 ? [geo.n, geo.m, geo.ow] : [geo.n, geo.m, geo.oh, geo.ow];
  const y = allocate(scope, DataType.FLOAT, outDims);
  const total = geo.n * geo.m * geo.oh * geo.ow;
  const run = await encodeKernel(device, {
    key: SHIFT_CONV_VARIANT_KEY,
    label: "shift_conv",
    file: "shift_conv.wgsl",
    includes: [],
    structs: [PARAMS.wgsl],
    entryPoint: "shift_conv",
    buffers: [
      x.buffer,
      scope.storage(codes, "codes"),
      scope.storage(w.alpha.slice(), "alpha"),
      scope.storage(attrs.bias?.slice() ?? new Float32Array(1), "bias"),
      y.buffer,
      scope.uniform(PARAMS.pack({
        N: geo.n,
        C: geo.c,
        H: geo.h,
        W: geo.w,
        Cout: geo.m,
        Cg: geo.c / geo.group,
        KH: geo.kh,
        KW: geo.kw,
        OH: geo.oh,
        OW: geo.ow,
        group: geo.group,
        strideH: geo.strideH,
        strideW: geo.strideW,
        padT: geo.padT,
        padL: geo.padL,
        dilH: geo.dilH,
        dilW: geo.dilW,
        pmax: pow2MaxExponent(w.bits),
        hasBias: attrs.bias ? 1 : 0,
      })),
    ],
    workgroups: grid1d(total, 64, device.limits.maxComputeWorkgroupsPerDimension),
  });
  return { run, outputs: [y] };
}

/**
 * ShiftConv on WebGPU, host in and out.
 *
 * @param x input data and shape
 * @param w the packed weight
 * @param attrs Conv attributes and bias
 * @returns output data and shape
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftWeight } from "../quant/dense_shift.ts";
 * import { shiftConvGpu } from "./shift_conv.ts";
 * // one 1x1 filter of 3 bits: code 1 = +2^1, alpha 0.5 -> weight 1
 * const w = packShiftWeight(new Uint8Array([1]), { alpha: new Float32Array([0.5]), bits: 3, shape: [1, 1, 1, 1], axis: 0 });
 * const y = await shiftConvGpu({ data: new Float32Array([1, 2, 3, 4]), shape: [1, 1, 2, 2] }, w);
 * assertEquals([...y.data], [1, 2, 3, 4]);
 * ```
 */
export async function shiftConvGpu(
  x: { data: Float32Array; shape: readonly number[] },
  w: ShiftWeight,
  attrs: ShiftConvAttributes = {},
): Promise<{ data: Float32Array; shape: number[] }> {
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const enc = await encodeShiftConv(
    scope,
    upload(scope, { dtype: DataType.FLOAT, dims: x.shape, data: x.data }),
    w,
    attrs,
  );
  device.queue.submit([enc.run()]);
  const y = enc.outputs[0]!;
  const n = y.dims.reduce((a, b) => a * b, 1);
  return { data: new Float32Array(await scope.read(y.buffer, n * 4)), shape: [...y.dims] };
}
