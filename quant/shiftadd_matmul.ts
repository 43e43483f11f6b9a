/**
 * Reference semantics of `shiftkit.ShiftAddMatMul` (docs/ops/shiftadd.md), computed the LUT way of
 * ShiftAddLLM's kernel (arXiv 2406.05981 §3.1, after LUT-GEMM): for every 8 consecutive activations, a
 * 256-entry table of all ±1 sums; each packed weight byte indexes it. The float32 operation order below is
 * the spec's; a kernel that follows it agrees bit for bit.
 * @module
 */

import { shiftAddAlphas, shiftAddGroups, type ShiftAddPacked } from "./shiftadd_pack.ts";

/** A float32 tensor as quant/ sees it. */
export interface Float32Tensor {
  /** Row-major data. */
  data: Float32Array;
  /** Shape. */
  dims: readonly number[];
}

/**
 * The 256-entry ±1 sum table of 8 activations, float32, in the spec's order:
 * `LUT[b] = (((s_0 + s_1) + s_2) + … + s_7)` with `s_t = (b >> t) & 1 ? x_t : −x_t`, each `+` rounded to
 * float32 (round half to even).
 *
 * @param x8 the 8 activations (missing ones are 0)
 * @param out destination, 256 entries
 * @returns `out`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildLut } from "./shiftadd_matmul.ts";
 * const lut = buildLut([1, 2, 0, 0, 0, 0, 0, 0]);
 * assertEquals([lut[0], lut[1], lut[2], lut[3]], [-3, -1, 1, 3]);
 * ```
 */
export function buildLut(x8: ArrayLike<number>, out: Float32Array = new Float32Array(256)): Float32Array {
  const x0 = Math.fround(x8[0] ?? 0);
  for (let b = 0; b < 256; b++) {
    let v = b & 1 ? x0 : -x0;
    for (let t = 1; t < 8; t++) {
      const xt = x8[t] ?? 0;
      v = Math.fround(v + ((b >> t) & 1 ? xt : -xt));
    }
    out[b] = v;
  }
  return out;
}

/**
 * `Y = X @ Ŵ` for `X` float32 `[..., K]`, computed by table lookups. Per row of X and output n, in float32
 * with each operation rounded:
 *
 * ```
 * y = 0
 * for i in 0..q-1:                         // planes, most significant alpha first
 *   for g in 0..G-1:                       // groups of input features
 *     s = 0
 *     for j in bytes of group g, ascending: s = s + LUT_j[planes[i, n, j]]
 *     y = y + alpha(i, n, g) * s           // product rounded, then sum rounded (no fused multiply-add)
 * ```
 *
 * @param x activations, last dim K
 * @param packed the op's weight tensors and attributes
 * @returns Y, float32 `[..., N]`
 * @throws {RangeError} when X's last dim is not the packed K
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddMatMulRef } from "./shiftadd_matmul.ts";
 * // K = 2, N = 1, q = 1, alpha = 0.5, codes (+1, -1): y = 0.5 * (x0 - x1).
 * const p = { k: 2, n: 1, bits: 1, groupSize: 2, terms: 1, mode: "accuracy" as const,
 *   planes: new Uint8Array([0b01]), alphaExp: new Int8Array([-1]), alphaTerms: new Uint8Array(0) };
 * const y = shiftAddMatMulRef({ data: new Float32Array([3, 1, 2, 6]), dims: [2, 2] }, p);
 * assertEquals([Array.from(y.data), y.dims], [[1, -2], [2, 1]]);
 * ```
 */
export function shiftAddMatMulRef(x: Float32Tensor, packed: ShiftAddPacked): Float32Tensor {
  const { k: K, n: N, bits: q } = packed;
  const dims = x.dims;
  if (dims.length < 1 || dims[dims.length - 1] !== K) {
    throw new RangeError(`ShiftAddMatMul expects X [..., ${K}], got [${dims.join(", ")}]`);
  }
  const G = shiftAddGroups(K, packed.groupSize);
  const J = Math.ceil(K / 8);
  const rows = K === 0 ? 0 : x.data.length / K;
  const alphas = shiftAddAlphas(packed);
  // Byte range of each group: group g covers features [g*gs, min(K, (g+1)*gs)), gs a multiple of 8 or >= K.
  const byteStart = Int32Array.from(
    { length: G + 1 },
    (_, g) => Math.min(J, Math.ceil((g * packed.groupSize) / 8)),
  );
  const y = new Float32Array(rows * N);
  const lut = new Float32Array(J * 256);
  const x8 = new Float32Array(8);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < J; j++) {
      x8.fill(0);
      for (let t = 0; t < 8 && 8 * j + t < K; t++) x8[t] = x.data[r * K + 8 * j + t]!;
      buildLut(x8, lut.subarray(j * 256, (j + 1) * 256));
    }
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let i = 0; i < q; i++) {
        const row = (i * N + n) * J;
        for (let g = 0; g < G; g++) {
          let s = 0;
          for (let j = byteStart[g]!; j < byteStart[g + 1]!; j++) {
            s = Math.fround(s + lut[j * 256 + packed.planes[row + j]!]!);
          }
          acc = Math.fround(acc + Math.fround(alphas[(i * N + n) * G + g]! * s));
        }
      }
      y[r * N + n] = acc;
    }
  }
  return { data: y, dims: [...dims.slice(0, -1), N] };
}

/**
 * The spec's tolerance for an implementation that sums in another order (or fuses multiply-adds):
 * `|y − y_ref| <= 2 · (9 + ceil(gs/8) + q·G) · 2^-24 · Σ_k |x_k| · Σ_i |alpha_i(n, g(k))|`, per output.
 * Twice the standard forward-error bound of the reference's own summation tree (≤ 7 adds in a table entry,
 * ≤ ceil(gs/8) per group, 1 product, ≤ q·G in the accumulator).
 *
 * @param x activations, last dim K
 * @param packed the op's weight tensors and attributes
 * @returns the absolute tolerance for each element of Y
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddTolerance } from "./shiftadd_matmul.ts";
 * const p = { k: 2, n: 1, bits: 1, groupSize: 2, terms: 1, mode: "accuracy" as const,
 *   planes: new Uint8Array([0b01]), alphaExp: new Int8Array([-1]), alphaTerms: new Uint8Array(0) };
 * const tol = shiftAddTolerance({ data: new Float32Array([3, 1]), dims: [1, 2] }, p);
 * assertEquals(tol[0], 2 * (9 + 1 + 1) * 2 ** -24 * 4 * 0.5);
 * ```
 */
export function shiftAddTolerance(x: Float32Tensor, packed: ShiftAddPacked): Float64Array {
  const { k: K, n: N, bits: q } = packed;
  const G = shiftAddGroups(K, packed.groupSize);
  const alphas = shiftAddAlphas(packed);
  const rows = x.data.length / K;
  const factor = 2 * (9 + Math.ceil(Math.min(packed.groupSize, K) / 8) + q * G) * 2 ** -24;
  const out = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) {
      let m = 0;
      for (let k = 0; k < K; k++) {
        const g = Math.floor(k / packed.groupSize);
        let a = 0;
        for (let i = 0; i < q; i++) a += Math.abs(alphas[(i * N + n) * G + g]!);
        m += Math.abs(x.data[r * K + k]!) * a;
      }
      out[r * N + n] = factor * m;
    }
  }
  return out;
}
