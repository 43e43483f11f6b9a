/**
 * Storage layouts of group-quantized weights ({@link ./weight_only.ts}) for onnxruntime's
 * `com.microsoft.MatMulNBits` (docs/ContribOperators.md of onnxruntime, and the tensors its
 * `MatMulNBitsQuantizer` writes) and for standard blocked `DequantizeLinear` (opset 21). One place for the
 * packing, reused by the weight-only pass and by transformers.js-style `q4` exports.
 *
 * MatMulNBits (`Y = A · Ŵ (+ bias)`, `Ŵ` = `K x N`):
 * - `B`: uint8 `[N, k_blocks, blob_size]`, `k_blocks = ceil(K / block_size)`, `blob_size = block_size · bits
 *   / 8`; column n's codes along K, packed as one LSB-first bit stream per block (4 bits: low nibble first;
 *   quant/bitpack.ts). K is padded to `k_blocks · block_size` with the block's zero-point code.
 * - `scales`: float32 `[N · k_blocks]` (n-major), as the quantizer writes it.
 * - `zero_points` (optional; default `2^(bits−1)`): uint8 `[N · ceil(k_blocks · bits / 8)]`, each column's
 *   k_blocks zero points packed as one LSB-first bit stream, padded to a whole byte per column.
 * - `Ŵ[k, n] = (code − zp) · scale` in float32.
 *
 * Blocked DequantizeLinear (`axis = 0`, `block_size` along K): codes as a `[K, N]` INT4 (symmetric, code −
 * `2^(bits−1)`, no zero point) or UINT4 tensor with UINT4 zero points for bits <= 4, INT8/UINT8 above;
 * scales `[k_blocks, N]`. Same `Ŵ`.
 * @module
 */

import { packBits, unpackBits } from "./bitpack.ts";

/** What the packers need of a group-quantized matrix (a {@link ./weight_only.ts} `BlockQuantized` fits). */
export interface GroupCodes {
  /** K. */
  rows: number;
  /** N. */
  cols: number;
  /** Code width, 2..8. */
  bits: number;
  /** Input features per group. */
  groupSize: number;
  /** No zero points stored (all are `2^(bits−1)`). */
  symmetric: boolean;
  /** `codes[k*N + n]`, unsigned. */
  codes: Uint8Array;
  /** `scales[n*G + g]`. */
  scales: Float32Array;
  /** `zeroPoints[n*G + g]`. */
  zeroPoints: Uint8Array;
}

/** MatMulNBits' tensors and attributes. */
export interface MatMulNBitsPacked {
  /** Attributes `K`, `N`, `bits`, `block_size`. */
  k: number;
  n: number;
  bits: number;
  blockSize: number;
  /** `B`, `[N, k_blocks, blob_size]`. */
  b: Uint8Array;
  bDims: [number, number, number];
  /** `scales`, `[N · k_blocks]`. */
  scales: Float32Array;
  /** `zero_points`, `[N · ceil(k_blocks · bits / 8)]`; `null` when symmetric. */
  zeroPoints: Uint8Array | null;
}

/**
 * Pack group codes into MatMulNBits' `B`, `scales` and `zero_points` (see the module doc).
 *
 * @param q the codes; `groupSize` becomes `block_size`
 * @returns the tensors and attributes
 * @throws {RangeError} when bits are outside 2..8 or `groupSize · bits` is not a whole number of bytes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packMatMulNBits } from "./matmul_nbits.ts";
 * // K = 2, N = 1, 4 bits, block 2: codes 1, 2 -> one byte 0x21 (low nibble first).
 * const p = packMatMulNBits({ rows: 2, cols: 1, bits: 4, groupSize: 2, symmetric: false,
 *   codes: new Uint8Array([1, 2]), scales: new Float32Array([0.5]), zeroPoints: new Uint8Array([3]) });
 * assertEquals([Array.from(p.b), p.bDims, Array.from(p.zeroPoints!)], [[0x21], [1, 1, 1], [3]]);
 * ```
 */
export function packMatMulNBits(q: GroupCodes): MatMulNBitsPacked {
  const { rows: K, cols: N, bits, groupSize: bs } = q;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) {
    throw new RangeError(`Cannot pack MatMulNBits: bits must be 2..8, got ${bits}`);
  }
  if ((bs * bits) % 8 !== 0) {
    throw new RangeError(
      `Cannot pack MatMulNBits: block_size ${bs} x ${bits} bits is not a whole number of bytes`,
    );
  }
  const kb = Math.ceil(K / bs), blob = (bs * bits) / 8;
  const b = new Uint8Array(N * kb * blob);
  const col = new Uint8Array(bs);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < kb; g++) {
      const k0 = g * bs, k1 = Math.min(K, k0 + bs);
      col.fill(q.zeroPoints[n * kb + g]!);
      for (let k = k0; k < k1; k++) col[k - k0] = q.codes[k * N + n]!;
      b.set(packBits(col, bits), (n * kb + g) * blob);
    }
  }
  let zeroPoints: Uint8Array | null = null;
  if (!q.symmetric) {
    const per = Math.ceil((kb * bits) / 8);
    zeroPoints = new Uint8Array(N * per);
    for (let n = 0; n < N; n++) {
      zeroPoints.set(packBits(q.zeroPoints.subarray(n * kb, (n + 1) * kb), bits), n * per);
    }
  }
  return {
    k: K,
    n: N,
    bits,
    blockSize: bs,
    b,
    bDims: [N, kb, blob],
    scales: Float32Array.from(q.scales),
    zeroPoints,
  };
}

/**
 * `Ŵ` (`K x N`, float32) from MatMulNBits' tensors: the reference semantics of the op, used by tests and
 * the CPU evaluator.
 *
 * @param p the packed tensors and attributes
 * @returns `Ŵ[k*N + n] = (code − zp) · scale`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dequantizeMatMulNBits } from "./matmul_nbits.ts";
 * const w = dequantizeMatMulNBits({ k: 2, n: 1, bits: 4, blockSize: 2, b: new Uint8Array([0x21]),
 *   bDims: [1, 1, 1], scales: new Float32Array([0.5]), zeroPoints: null });
 * assertEquals(Array.from(w), [-3.5, -3]);
 * ```
 */
export function dequantizeMatMulNBits(p: MatMulNBitsPacked): Float32Array {
  const { k: K, n: N, bits, blockSize: bs } = p;
  const kb = Math.ceil(K / bs), blob = (bs * bits) / 8, half = 2 ** (bits - 1);
  const per = Math.ceil((kb * bits) / 8);
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    const zps = p.zeroPoints
      ? unpackBits(p.zeroPoints.subarray(n * per, (n + 1) * per), bits, { count: kb })
      : null;
    for (let g = 0; g < kb; g++) {
      const codes = unpackBits(p.b.subarray((n * kb + g) * blob, (n * kb + g + 1) * blob), bits, {
        count: bs,
      });
      const s = p.scales[n * kb + g]!, zp = zps ? zps[g]! : half;
      for (let k = g * bs; k < Math.min(K, (g + 1) * bs); k++) {
        out[k * N + n] = Math.fround((codes[k - g * bs]! - zp) * s);
      }
    }
  }
  return out;
}

/** Blocked DequantizeLinear tensors (unpacked, one element per entry; the codec packs INT4/UINT4). */
export interface BlockedDqTensors {
  /** Storage type of codes and zero points. */
  type: "int4" | "uint4" | "int8" | "uint8";
  /** Codes `[K, N]`: signed (`code − 2^(bits−1)`) for int types, else unsigned. */
  codes: Int8Array | Uint8Array;
  /** `[k_blocks, N]`. */
  scales: Float32Array;
  /** `[k_blocks, N]`, or null (symmetric). */
  zeroPoints: Uint8Array | null;
  /** `block_size` attribute. */
  blockSize: number;
}

/**
 * Lay group codes out for `DequantizeLinear(codes, scales, zero_points, axis = 0, block_size)` (opset 21).
 * Bits 2..4 are stored in 4-bit types (ONNX has no narrower one at opset 21), 5..8 in 8-bit types.
 *
 * @param q the codes
 * @returns the tensors
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { blockedDequantizeLinear } from "./matmul_nbits.ts";
 * const t = blockedDequantizeLinear({ rows: 2, cols: 1, bits: 3, groupSize: 2, symmetric: true,
 *   codes: new Uint8Array([0, 7]), scales: new Float32Array([1]), zeroPoints: new Uint8Array([4]) });
 * assertEquals([t.type, Array.from(t.codes)], ["int4", [-4, 3]]);
 * ```
 */
export function blockedDequantizeLinear(q: GroupCodes): BlockedDqTensors {
  const { rows: K, cols: N, bits, groupSize: bs } = q;
  const kb = Math.ceil(K / bs), half = 2 ** (bits - 1);
  const narrow = bits <= 4;
  const scales = new Float32Array(kb * N);
  for (let n = 0; n < N; n++) for (let g = 0; g < kb; g++) scales[g * N + n] = q.scales[n * kb + g]!;
  if (q.symmetric) {
    const codes = Int8Array.from(q.codes, (c) => c - half);
    return { type: narrow ? "int4" : "int8", codes, scales, zeroPoints: null, blockSize: bs };
  }
  const zeroPoints = new Uint8Array(kb * N);
  for (let n = 0; n < N; n++) for (let g = 0; g < kb; g++) zeroPoints[g * N + n] = q.zeroPoints[n * kb + g]!;
  return {
    type: narrow ? "uint4" : "uint8",
    codes: Uint8Array.from(q.codes),
    scales,
    zeroPoints,
    blockSize: bs,
  };
}
