/**
 * WebGPU DenseShift shift-GEMM (`shiftkit.ShiftMatMul`): float activations multiply by a power-of-two
 * weight with an exponent add (ldexp), int8 activations with an integer left shift and an int32
 * accumulator. CPU oracles: `shiftMatMul` and `shiftMatMulInteger` of quant/dense_shift.ts. The integer
 * accumulator is exact; the float path equals the reference bit for bit whenever the reference's partial
 * sums are float32-exact (every case of tests/ops/ShiftMatMul.json) and is otherwise within float32
 * summation error (see {@linkcode shiftMatMulTolerance}).
 * @module
 */

import { unpackBits } from "../quant/bitpack.ts";
import { shiftAccumulatorBound, type ShiftWeight } from "../quant/dense_shift.ts";
import { pow2MaxExponent } from "../quant/pow2.ts";
import { DataType } from "../onnx/tensor.ts";
import { allocate, type DeviceTensor, type Encoded, encodeKernel, upload } from "./device_tensor.ts";
import { BufferScope, getGpu } from "./gpu.ts";
import { defineStruct } from "./wgsl.ts";

const PARAMS = defineStruct("Params", { M: "u32", N: "u32", K: "u32", pmax: "u32", hasBias: "u32" });

/** The two entry points: float32 or int8 activations. */
export type ShiftGemmVariant = "f32" | "i8";

/** Every variant key of this kernel. */
export const SHIFT_GEMM_VARIANT_KEYS: readonly string[] = ["shift_gemm:f32", "shift_gemm:i8"];

/** Options of {@linkcode encodeShiftGemm}. */
export interface ShiftGemmOptions {
  /** Bias `[N]` added after the product. @default undefined */
  bias?: Float32Array;
  /** Scale of int8 activations (integer path only). @default 1 */
  xScale?: number;
}

function shapes(x: DeviceTensor, w: ShiftWeight): { M: number; K: number; N: number } {
  if (w.shape.length !== 2 || w.axis !== 1) {
    throw new RangeError(`ShiftMatMul weight_shape must be [K, N] with alpha on axis 1, got [${w.shape}]`);
  }
  const [K, N] = w.shape as [number, number];
  if (x.dims[x.dims.length - 1] !== K) {
    throw new RangeError(`Cannot run ShiftMatMul: X shape [${x.dims}] does not end in K = ${K}`);
  }
  return { M: x.dims.slice(0, -1).reduce((a, b) => a * b, 1), K, N };
}

/**
 * Encode ShiftMatMul for X already on the GPU: float32 X takes the exponent-add path, int8 X the integer
 * shift path (outputs `[Y, acc]`).
 *
 * @param scope owner of the new buffers
 * @param x activations `[..., K]`, float32 or int8
 * @param w the packed weight (`shape = [K, N]`, `axis = 1`)
 * @param options bias and (integer path) activation scale
 * @returns the recorded op: Y float32 `[..., N]`, and for int8 X also acc int32 `[..., N]`
 * @throws {RangeError} on mismatched shapes, or (int8) an accumulator bound beyond int32
 */
export async function encodeShiftGemm(
  scope: BufferScope,
  x: DeviceTensor,
  w: ShiftWeight,
  options: ShiftGemmOptions = {},
): Promise<Encoded> {
  const { device } = await getGpu();
  const { M, K, N } = shapes(x, w);
  const variant: ShiftGemmVariant = x.dtype === DataType.FLOAT ? "f32" : "i8";
  if (variant === "i8") {
    const bound = shiftAccumulatorBound(w);
    if (bound > 2 ** 31 - 1) {
      throw new RangeError(
        `Cannot run integer ShiftMatMul: accumulator bound ${bound} exceeds int32 (2^31 - 1)`,
      );
    }
  }
  if (options.bias && options.bias.length !== N) {
    throw new RangeError(`Cannot run ShiftMatMul: bias has ${options.bias.length} values, expected N = ${N}`);
  }
  const codes = unpackBits(w.packed, w.bits, { count: K * N });
  const codesT = new Uint32Array(N * K);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) codesT[n * K + k] = codes[k * N + n]!;
  const xScale = options.xScale ?? 1;
  const alpha = variant === "f32" ? w.alpha.slice() : Float32Array.from(w.alpha, (a) => xScale * a);
  const outDims = [...x.dims.slice(0, -1), N];
  const y = allocate(scope, DataType.FLOAT, outDims);
  const acc = variant === "i8"
    ? allocate(scope, DataType.INT32, outDims)
    : allocate(scope, DataType.INT32, [1]);
  const run = await encodeKernel(device, {
    key: `shift_gemm:${variant}`,
    label: `shift_gemm_${variant}`,
    file: "shift_gemm.wgsl",
    includes: [],
    structs: [PARAMS.wgsl],
    entryPoint: `shift_gemm_${variant}`,
    buffers: [
      x.buffer,
      scope.storage(codesT, "codes"),
      scope.storage(alpha, "alpha"),
      scope.storage(options.bias?.slice() ?? new Float32Array(1), "bias"),
      y.buffer,
      acc.buffer,
      scope.uniform(PARAMS.pack({ M, N, K, pmax: pow2MaxExponent(w.bits), hasBias: options.bias ? 1 : 0 })),
    ],
    workgroups: [Math.ceil(N / 64), M],
  });
  return { run, outputs: variant === "i8" ? [y, acc] : [y] };
}

/**
 * ShiftMatMul with float32 activations on WebGPU (exponent-add path), same signature as `shiftMatMul`.
 *
 * @param x X float32 `[..., K]`
 * @param w packed weight `[K, N]`
 * @param options bias
 * @returns Y float32 `[..., N]`
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodePow2 } from "../quant/pow2.ts";
 * import { packShiftWeight } from "../quant/dense_shift.ts";
 * import { shiftMatMulGpu } from "./shift_gemm.ts";
 * const codes = encodePow2([2, -0.5], 0.5);
 * const w = packShiftWeight(codes, { alpha: new Float32Array([0.5]), bits: 3, shape: [2, 1], axis: 1 });
 * const y = await shiftMatMulGpu({ data: new Float32Array([1, 4]), shape: [1, 2] }, w, { bias: new Float32Array([1]) });
 * assertEquals(y.data, new Float32Array([1]));
 * ```
 */
export async function shiftMatMulGpu(
  x: { data: Float32Array; shape: readonly number[] },
  w: ShiftWeight,
  options: Pick<ShiftGemmOptions, "bias"> = {},
): Promise<{ data: Float32Array; shape: number[] }> {
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const enc = await encodeShiftGemm(
    scope,
    upload(scope, { dtype: DataType.FLOAT, dims: x.shape, data: x.data }),
    w,
    options,
  );
  device.queue.submit([enc.run()]);
  const y = enc.outputs[0]!;
  const n = y.dims.reduce((a, b) => a * b, 1);
  return { data: new Float32Array(await scope.read(y.buffer, n * 4)), shape: [...y.dims] };
}

/**
 * ShiftMatMul with int8 activations on WebGPU (integer shift path), same signature and bits as
 * `shiftMatMulInteger`.
 *
 * @param x int8 `[..., K]`
 * @param w packed weight `[K, N]`
 * @param options activation scale
 * @returns acc (int32, exact) and y (float32), both `[..., N]`
 * @throws {RangeError} when the accumulator bound exceeds int32
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftWeight } from "../quant/dense_shift.ts";
 * import { shiftMatMulIntegerGpu } from "./shift_gemm.ts";
 * const w = packShiftWeight(new Uint8Array([3, 5]), { alpha: new Float32Array([0.25]), bits: 3, shape: [2, 1], axis: 1 });
 * const r = await shiftMatMulIntegerGpu({ data: new Int8Array([3, -7]), shape: [1, 2] }, w, { xScale: 0.5 });
 * assertEquals([...r.acc, ...r.y], [38, 4.75]);
 * ```
 */
export async function shiftMatMulIntegerGpu(
  x: { data: Int8Array; shape: readonly number[] },
  w: ShiftWeight,
  options: Pick<ShiftGemmOptions, "xScale"> = {},
): Promise<{ acc: Int32Array; y: Float32Array; shape: number[] }> {
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const enc = await encodeShiftGemm(
    scope,
    upload(scope, { dtype: DataType.INT8, dims: x.shape, data: x.data }),
    w,
    options,
  );
  device.queue.submit([enc.run()]);
  const [y, acc] = enc.outputs as [DeviceTensor, DeviceTensor];
  const n = y.dims.reduce((a, b) => a * b, 1);
  return {
    y: new Float32Array(await scope.read(y.buffer, n * 4)),
    acc: new Int32Array(await scope.read(acc.buffer, n * 4)),
    shape: [...y.dims],
  };
}

/**
 * Tolerance of the float path against `shiftMatMul` (float64 sum rounded once): the standard float32
 * summation bound `(K + 2) * 2^-24 * sum_k |x_k * w_kn|` plus the bias rounding, per output.
 *
 * @param x X float32 `[M, K]` data
 * @param w decoded weight `[K, N]`
 * @param k K
 * @returns the absolute tolerance per output `[M][N]`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftMatMulTolerance } from "./shift_gemm.ts";
 * assertEquals(shiftMatMulTolerance(new Float32Array([1, 1]), new Float32Array([2, 2]), 2)[0], 4 * 4 * 2 ** -24);
 * ```
 */
export function shiftMatMulTolerance(x: Float32Array, w: Float32Array, k: number): Float64Array {
  const m = x.length / k, n = w.length / k;
  const out = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += Math.abs(x[r * k + i]! * w[i * n + j]!);
      out[r * n + j] = (k + 2) * 2 ** -24 * s;
    }
  }
  return out;
}
