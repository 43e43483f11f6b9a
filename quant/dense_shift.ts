/**
 * Reference semantics of the DenseShift ops `shiftkit.ShiftMatMul` and `shiftkit.ShiftConv` (domain
 * `shiftkit`, version 1; spec: docs/ops/denseshift.md). The weight of both is a {@linkcode ShiftWeight}:
 * N-bit codes `(signBit << (N-1)) | p` (quant/pow2.ts) packed LSB-first (quant/bitpack.ts) in the row-major
 * order of `weight_shape`, and one float32 alpha per output channel. Its decoded value is
 * `alpha[c] * (1 - 2 * signBit) * 2^p`, exactly (a power-of-two multiple of a float32).
 *
 * - ShiftMatMul: `Y = X @ W_hat (+ bias)`, `W_hat` `[K, N]` (ONNX MatMul's B layout), alpha on axis 1.
 * - ShiftConv: `Y = Conv(X, W_hat, bias)` with ONNX Conv's attributes; `W_hat` `[Cout, Cin/group, ...kernel]`,
 *   alpha on axis 0. Only the weight decode lives here; the evaluator composes it with its own Conv.
 * @module
 */

import { packBits, packedByteLength, unpackBits } from "./bitpack.ts";
import { pow2Level, pow2MaxExponent } from "./pow2.ts";

/** A packed DenseShift weight: the `codes` and `alpha` inputs and the `bits` / `weight_shape` attributes. */
export interface ShiftWeight {
  /** Codes packed LSB-first, `ceil(prod(shape) * bits / 8)` bytes, in the row-major order of `shape`. */
  packed: Uint8Array;
  /** One float32 alpha per output channel (`shape[axis]` of them), each finite and >= 0. */
  alpha: Float32Array;
  /** Code width N, 1..8. */
  bits: number;
  /** `weight_shape`: `[K, N]` for ShiftMatMul, `[Cout, Cin/group, ...kernel]` for ShiftConv. */
  shape: readonly number[];
  /** Output-channel axis of `shape`: 1 for ShiftMatMul, 0 for ShiftConv. */
  axis: number;
}

/** A float32 tensor: row-major data and its shape. */
export interface Float32Tensor {
  /** Row-major values. */
  data: Float32Array;
  /** Dimensions. */
  shape: readonly number[];
}

/** An int8 tensor: row-major data and its shape. */
export interface Int8Tensor {
  /** Row-major values. */
  data: Int8Array;
  /** Dimensions. */
  shape: readonly number[];
}

/** Validate a ShiftWeight; returns [count, inner] where inner = prod(shape[axis+1:]). */
function checkWeight(w: ShiftWeight, what: string): [number, number] {
  pow2MaxExponent(w.bits);
  if (!w.shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new RangeError(`Cannot ${what}: weight_shape [${w.shape}] must hold positive integers`);
  }
  if (!Number.isInteger(w.axis) || w.axis < 0 || w.axis >= w.shape.length) {
    throw new RangeError(`Cannot ${what}: channel axis ${w.axis} is outside weight_shape [${w.shape}]`);
  }
  if (w.alpha.length !== w.shape[w.axis]) {
    throw new RangeError(
      `Cannot ${what}: alpha has ${w.alpha.length} values, expected ${
        w.shape[w.axis]
      } (weight_shape [${w.shape}] axis ${w.axis})`,
    );
  }
  for (let c = 0; c < w.alpha.length; c++) {
    if (!(w.alpha[c]! >= 0) || w.alpha[c] === Infinity) {
      throw new RangeError(`Cannot ${what}: alpha[${c}] = ${w.alpha[c]} is not finite and >= 0`);
    }
  }
  const count = w.shape.reduce((a, b) => a * b, 1);
  const need = packedByteLength(count, w.bits);
  if (w.packed.length !== need) {
    throw new RangeError(
      `Cannot ${what}: packed codes have ${w.packed.length} bytes, expected ${need} (${count} codes of ${w.bits} bits)`,
    );
  }
  return [count, w.shape.slice(w.axis + 1).reduce((a, b) => a * b, 1)];
}

/**
 * Build a {@linkcode ShiftWeight} from channel-major codes (quant/pow2.ts layout `[nOut, rest]`): moves the
 * channel axis to `spec.axis` of `spec.shape` (for ShiftMatMul, `[N, K]` codes become `[K, N]`) and packs.
 *
 * @param codes channel-major codes `[shape[axis], prod(other dims)]`, the other dims in `shape` order
 * @param spec `alpha`, `bits`, `shape` (weight_shape) and channel `axis` of the weight to build
 * @returns the packed weight
 * @throws {RangeError} if the sizes disagree or a code does not fit in `bits` bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftWeight } from "./dense_shift.ts";
 * // ShiftMatMul weight [K=2, N=3] from codes [N=3, K=2] (3-bit codes fill 18 bits = 3 bytes).
 * const w = packShiftWeight(new Uint8Array([1, 2, 3, 4, 5, 6]), {
 *   alpha: new Float32Array([1, 1, 1]), bits: 3, shape: [2, 3], axis: 1,
 * });
 * assertEquals(w.packed.length, 3);
 * ```
 */
export function packShiftWeight(codes: Uint8Array, spec: Omit<ShiftWeight, "packed">): ShiftWeight {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (codes.length !== count) {
    throw new RangeError(
      `Cannot pack a shift weight: ${codes.length} codes for weight_shape [${spec.shape}]`,
    );
  }
  const channels = spec.shape[spec.axis] ?? 0;
  const inner = spec.shape.slice(spec.axis + 1).reduce((a, b) => a * b, 1);
  const outer = count / (channels * inner);
  const ordered = new Uint8Array(count);
  // Channel-major index (c, o, i) -> row-major index of shape (o, c, i).
  for (let c = 0; c < channels; c++) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        ordered[(o * channels + c) * inner + i] = codes[(c * outer + o) * inner + i]!;
      }
    }
  }
  const weight = { ...spec, packed: packBits(ordered, spec.bits) };
  checkWeight(weight, "pack a shift weight");
  return weight;
}

/**
 * Decode a packed DenseShift weight to float32, in the row-major order of `weight.shape`:
 * `W_hat[idx] = alpha[idx[axis]] * (1 - 2 * signBit) * 2^p` for code `(signBit << (N-1)) | p`. Exact.
 * This is the whole weight path of ShiftConv: `ShiftConv(X, codes, alpha, B) = Conv(X, W_hat, B)` with the
 * Conv attributes (strides, pads, dilations, group, kernel_shape, auto_pad) carried unchanged.
 *
 * @param weight the packed weight
 * @returns `W_hat`, `prod(shape)` values
 * @throws {RangeError} if the weight is malformed (sizes, alpha, bits)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeShiftWeight } from "./dense_shift.ts";
 * // ShiftConv weight [Cout=2, 1, 1, 2], 3 bits, codes [1, 4 | 3, 0] packed LSB-first: 1 | 4 << 3 | 3 << 6 = 0xe1, 0x00.
 * const w = decodeShiftWeight({
 *   packed: new Uint8Array([0xe1, 0x00]), alpha: new Float32Array([0.5, 2]), bits: 3, shape: [2, 1, 1, 2], axis: 0,
 * });
 * assertEquals(w, new Float32Array([1, -0.5, 16, 2]));
 * ```
 */
export function decodeShiftWeight(weight: ShiftWeight): Float32Array {
  const [count, inner] = checkWeight(weight, "decode a shift weight");
  const codes = unpackBits(weight.packed, weight.bits, { count });
  const levels = Array.from({ length: 2 ** weight.bits }, (_, c) => pow2Level(c, weight.bits));
  const channels = weight.alpha.length;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = weight.alpha[Math.floor(i / inner) % channels]! * levels[codes[i]!]!;
  }
  return out;
}

/** Shapes of a MatMul X [..., K] @ W [K, N]: [rows, K, N, output shape]. */
function matMulShapes(xShape: readonly number[], length: number, w: ShiftWeight, what: string) {
  if (w.shape.length !== 2 || w.axis !== 1) {
    throw new RangeError(
      `Cannot ${what}: ShiftMatMul weight_shape must be [K, N] with alpha on axis 1, got [${w.shape}] axis ${w.axis}`,
    );
  }
  const [k, n] = w.shape as [number, number];
  const rows = xShape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (xShape.length < 1 || xShape[xShape.length - 1] !== k || rows * k !== length) {
    throw new RangeError(`Cannot ${what}: X shape [${xShape}] (${length} values) does not end in K = ${k}`);
  }
  // ONNX MatMul (numpy) semantics: a 1-D X [K] gives Y [N].
  return { rows, k, n, shape: [...xShape.slice(0, -1), n] };
}

/** Options of {@linkcode shiftMatMul}. */
export interface ShiftMatMulOptions {
  /**
   * Optional bias, float32 `[N]`, added after the product.
   * @default undefined (no bias)
   */
  bias?: Float32Array;
}

/**
 * Reference `shiftkit.ShiftMatMul`: `Y = X @ W_hat (+ bias)` for X float32 `[..., K]` and `W_hat` `[K, N]`
 * = {@linkcode decodeShiftWeight}. Each output sums the exact products `x * w_hat` in float64, rounds once
 * to float32, then adds the bias in float32 (as the function body's MatMul then Add). A float32 backend
 * differs only by its summation rounding; inputs whose partial sums are all float32-exact (the data-driven
 * cases) must give identical results everywhere.
 *
 * @param x X, float32 `[..., K]` (rank >= 1)
 * @param weight packed weight with `shape = [K, N]`, `axis = 1`
 * @param options `bias`
 * @returns Y, float32 `[..., N]`
 * @throws {RangeError} on malformed weight or mismatched shapes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodePow2 } from "./pow2.ts";
 * import { packShiftWeight, shiftMatMul } from "./dense_shift.ts";
 * // W [K=2, N=1] = [[2], [-0.5]] with alpha 0.5: codes [+4 (p=2), -1 (p=0)] in units of alpha.
 * const codes = encodePow2([2, -0.5], 0.5);
 * const weight = packShiftWeight(codes, { alpha: new Float32Array([0.5]), bits: 3, shape: [2, 1], axis: 1 });
 * const y = shiftMatMul({ data: new Float32Array([1, 4]), shape: [1, 2] }, weight, { bias: new Float32Array([1]) });
 * assertEquals(y, { data: new Float32Array([1]), shape: [1, 1] });
 * ```
 */
export function shiftMatMul(
  x: Float32Tensor,
  weight: ShiftWeight,
  options: ShiftMatMulOptions = {},
): Float32Tensor {
  const { rows, k, n, shape } = matMulShapes(x.shape, x.data.length, weight, "run ShiftMatMul");
  const w = decodeShiftWeight(weight);
  const bias = options.bias;
  if (bias !== undefined && bias.length !== n) {
    throw new RangeError(`Cannot run ShiftMatMul: bias has ${bias.length} values, expected N = ${n}`);
  }
  const out = new Float32Array(rows * n);
  const acc = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let i = 0; i < k; i++) {
      const xv = x.data[r * k + i]!;
      for (let j = 0; j < n; j++) acc[j]! += xv * w[i * n + j]!;
    }
    for (let j = 0; j < n; j++) {
      const y = Math.fround(acc[j]!);
      out[r * n + j] = bias === undefined ? y : y + bias[j]!;
    }
  }
  return { data: out, shape };
}

/**
 * Worst-case magnitude of the int32 accumulator of {@linkcode shiftMatMulInteger} over all int8 inputs:
 * `max_n sum_k 128 * 2^p[k, n]` (|x| <= 128). The integer path is defined only when this is <= 2^31 - 1.
 * A sufficient static condition is `K * 2^(pmax + 7) <= 2^31 - 1`, i.e. `K < 2^(24 - pmax)`: any K below
 * 2^21 at 3 bits (pmax 3), 2^17 at 4 bits (pmax 7), 2^9 at 5 bits (pmax 15), never at 6+ bits (pmax 31)
 * without checking the actual exponents.
 *
 * @param weight packed ShiftMatMul weight (`shape = [K, N]`, `axis = 1`)
 * @returns the bound (an exact integer below 2^53)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftWeight, shiftAccumulatorBound } from "./dense_shift.ts";
 * // K=2, N=1, 3-bit codes p = 3 and -p = 1: 128 * (8 + 2).
 * const w = packShiftWeight(new Uint8Array([3, 5]), { alpha: new Float32Array([1]), bits: 3, shape: [2, 1], axis: 1 });
 * assertEquals(shiftAccumulatorBound(w), 1280);
 * ```
 */
export function shiftAccumulatorBound(weight: ShiftWeight): number {
  const [count] = checkWeight(weight, "bound a shift accumulator");
  const pmax = pow2MaxExponent(weight.bits);
  const codes = unpackBits(weight.packed, weight.bits, { count });
  const n = weight.shape[weight.shape.length - 1]!;
  const sums = new Float64Array(n);
  for (let i = 0; i < count; i++) sums[i % n]! += 128 * 2 ** (codes[i]! & pmax);
  return Math.max(0, ...sums);
}

/** Options of {@linkcode shiftMatMulInteger}. */
export interface ShiftMatMulIntegerOptions {
  /**
   * Scale s_x of the int8 activations (X = x * s_x, zero point 0).
   * @default 1
   */
  xScale?: number;
}

/**
 * Exact integer-activation ShiftMatMul: for int8 x (symmetric, scale s_x) the product with a level
 * `±2^p` is a left shift, so `acc[m, n] = sum_k s[k, n] * (x[m, k] << p[k, n])` in int32 with no multiply
 * and no rounding. The result is defined only if {@linkcode shiftAccumulatorBound} <= 2^31 - 1 (checked), so
 * no step overflows. Then `y = f32(f32(acc) * f32(s_x * alpha[n]))`, float32 operations only (what a WGSL
 * kernel computes). `y` equals {@linkcode shiftMatMul} on `X = x * s_x` up to float32 rounding; `acc` is the
 * exact integer every backend must reproduce.
 *
 * @param x int8 `[..., K]`
 * @param weight packed weight with `shape = [K, N]`, `axis = 1`
 * @param options `xScale`
 * @returns `acc` (int32) and `y` (float32), both `[..., N]`
 * @throws {RangeError} if the accumulator bound exceeds int32 or the shapes disagree
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftWeight, shiftMatMulInteger } from "./dense_shift.ts";
 * // W [K=2, N=1] levels [+8, -2] (codes 3, 5), alpha 0.25; x = [3, -7]: acc = 3 << 3 + 7 << 1 = 38.
 * const w = packShiftWeight(new Uint8Array([3, 5]), { alpha: new Float32Array([0.25]), bits: 3, shape: [2, 1], axis: 1 });
 * const r = shiftMatMulInteger({ data: new Int8Array([3, -7]), shape: [1, 2] }, w, { xScale: 0.5 });
 * assertEquals([...r.acc, ...r.y], [38, 4.75]);
 * ```
 */
export function shiftMatMulInteger(
  x: Int8Tensor,
  weight: ShiftWeight,
  options: ShiftMatMulIntegerOptions = {},
): { acc: Int32Array; y: Float32Array; shape: number[] } {
  const { rows, k, n, shape } = matMulShapes(x.shape, x.data.length, weight, "run integer ShiftMatMul");
  const bound = shiftAccumulatorBound(weight);
  if (bound > 2 ** 31 - 1) {
    throw new RangeError(
      `Cannot run integer ShiftMatMul: accumulator bound ${bound} exceeds int32 (2^31 - 1)`,
    );
  }
  const pmax = pow2MaxExponent(weight.bits);
  const codes = unpackBits(weight.packed, weight.bits, { count: k * n });
  const xScale = options.xScale ?? 1;
  const acc = new Int32Array(rows * n);
  const y = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < k; i++) {
        const c = codes[i * n + j]!;
        // p <= 23 here (128 * 2^p <= bound), so x << p is an exact int32 (two's complement left shift).
        const t = x.data[r * k + i]! << (c & pmax);
        s += c > pmax ? -t : t;
      }
      acc[r * n + j] = s;
      y[r * n + j] = Math.fround(s) * Math.fround(xScale * weight.alpha[j]!);
    }
  }
  return { acc, y, shape };
}
