/**
 * Storage of the `shiftkit.ShiftAddMatMul` op (docs/ops/shiftadd.md): BCQ codes as bit planes and
 * power-of-two alphas as int8 exponents plus a sign bitmask. This file is the one definition of the layout;
 * the evaluator, the ONNX function body and the WGSL kernel read it from here and from the spec.
 *
 * - `planes` uint8 `[q, N, ceil(K/8)]`: bit `b` (LSB-first, `(byte >> b) & 1`) of byte `j` of plane `i`,
 *   row `n` is the code of input feature `8j + b` for output `n`; 1 ⇒ `B = +1`, 0 ⇒ `B = −1`. Padding bits
 *   (features `>= K` in the last byte) are 0.
 * - `alpha_exp` int8 `[q, N, G, T]`: exponents of alpha `(i, n, g)`'s terms, strictly decreasing, each
 *   `-127..127` and `>= first − 23`; unused slots (always trailing) hold `-128`.
 * - `alpha_sign` uint8 `[q, N, G]`: bit `t` set ⇔ term `t` is negative; bits of unused slots are 0.
 * - `alpha(i, n, g) = Σ_t (−1)^sign_t · 2^exp_t`, exact in float32.
 * @module
 */

import { POT_EXP_MAX, POT_EXP_MIN, POT_EXP_NONE, POT_SPAN } from "./bcq.ts";

/** BCQ codes and alpha terms as the quantizer produces them (see quant/shiftadd_gptq.ts). */
export interface ShiftAddCodes {
  /** K, input features. */
  rows: number;
  /** N, outputs. */
  cols: number;
  /** q, binary planes (1..8). */
  bits: number;
  /** Input features per alpha group: a multiple of 8, or `>= K` (one group). */
  groupSize: number;
  /** T, term slots per alpha (1..8). */
  terms: number;
  /** Alpha granularity. */
  mode: "accuracy" | "latency";
  /** `codes[k*N + n]`, bit i = 1 ⇔ B_i(k, n) = +1. */
  codes: Uint8Array;
  /** `[q, N, G, T]` exponents, -128 = no term. */
  alphaExp: Int8Array;
  /** `[q, N, G, T]` signs: +1, -1, or 0 for no term. */
  alphaSign: Int8Array;
}

/** The op's weight-side inputs and attributes. */
export interface ShiftAddPacked {
  /** K, input features (`ceil(K/8)` bytes per plane row). */
  k: number;
  /** N, outputs. */
  n: number;
  /** Attribute `bits` (q). */
  bits: number;
  /** Attribute `group_size`. */
  groupSize: number;
  /** Attribute `terms` (T). */
  terms: number;
  /** Attribute `mode`. */
  mode: "accuracy" | "latency";
  /** Input `planes`, uint8 `[q, N, ceil(K/8)]`. */
  planes: Uint8Array;
  /** Input `alpha_exp`, int8 `[q, N, G, T]`. */
  alphaExp: Int8Array;
  /** Input `alpha_sign`, uint8 `[q, N, G]`. */
  alphaSign: Uint8Array;
}

/**
 * Number of alpha groups `G = ceil(K / group_size)`, checking the spec's rule that a group boundary falls
 * on a byte boundary (group_size a multiple of 8, or one group).
 *
 * @param k K
 * @param groupSize group_size (>= 1)
 * @returns G
 * @throws {RangeError} when group_size is < 1, or not a multiple of 8 while `< K`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddGroups } from "./shiftadd_pack.ts";
 * assertEquals([shiftAddGroups(20, 8), shiftAddGroups(13, 13), shiftAddGroups(13, 64)], [3, 1, 1]);
 * ```
 */
export function shiftAddGroups(k: number, groupSize: number): number {
  if (!Number.isInteger(groupSize) || groupSize < 1 || (groupSize < k && groupSize % 8 !== 0)) {
    throw new RangeError(`ShiftAddMatMul group_size must be a multiple of 8 or >= K=${k}, got ${groupSize}`);
  }
  return Math.ceil(k / groupSize);
}

/**
 * Pack quantizer output into the op's tensors.
 *
 * @param codes codes and alpha terms from `quantizeShiftAdd`
 * @returns planes, alpha_exp, alpha_sign and the attributes
 * @throws {RangeError} on an invalid group size, term encoding or array length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftAdd } from "./shiftadd_pack.ts";
 * // K = 3, N = 1, q = 1: codes +1, -1, +1 -> byte 0b101; alpha = 2^-1 - 2^-3.
 * const p = packShiftAdd({
 *   rows: 3, cols: 1, bits: 1, groupSize: 3, terms: 2, mode: "accuracy",
 *   codes: new Uint8Array([1, 0, 1]), alphaExp: new Int8Array([-1, -3]), alphaSign: new Int8Array([1, -1]),
 * });
 * assertEquals([p.planes[0], p.alphaSign[0]], [0b101, 0b10]);
 * ```
 */
export function packShiftAdd(codes: ShiftAddCodes): ShiftAddPacked {
  const { rows: K, cols: N, bits: q, terms: T } = codes;
  const G = shiftAddGroups(K, codes.groupSize);
  if (
    codes.codes.length !== K * N || codes.alphaExp.length !== q * N * G * T ||
    codes.alphaSign.length !== q * N * G * T
  ) {
    throw new RangeError(
      `Cannot pack ShiftAddMatMul K=${K} N=${N} q=${q} G=${G} T=${T}: codes ${codes.codes.length}, ` +
        `alphaExp ${codes.alphaExp.length}, alphaSign ${codes.alphaSign.length} entries`,
    );
  }
  const J = Math.ceil(K / 8);
  const planes = new Uint8Array(q * N * J);
  for (let k = 0; k < K; k++) {
    const j = k >> 3, b = k & 7;
    for (let n = 0; n < N; n++) {
      const c = codes.codes[k * N + n]!;
      for (let i = 0; i < q; i++) if ((c >> i) & 1) planes[(i * N + n) * J + j]! |= 1 << b;
    }
  }
  const alphaSign = new Uint8Array(q * N * G);
  for (let a = 0; a < q * N * G; a++) {
    for (let t = 0; t < T; t++) if (codes.alphaSign[a * T + t]! < 0) alphaSign[a]! |= 1 << t;
  }
  const packed: ShiftAddPacked = {
    k: K,
    n: N,
    bits: q,
    groupSize: codes.groupSize,
    terms: T,
    mode: codes.mode,
    planes,
    alphaExp: Int8Array.from(codes.alphaExp),
    alphaSign,
  };
  validateShiftAdd(packed);
  return packed;
}

/**
 * Check a packed op against the spec: shapes, term encoding (decreasing exponents in `-127..127` within a
 * 23-exponent span, trailing `-128` sentinels, no sign bits on unused slots), zero padding bits, and in
 * latency mode equal alphas within each block of 8 outputs.
 *
 * @param p packed op
 * @throws {RangeError} naming the first violation
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { validateShiftAdd } from "./shiftadd_pack.ts";
 * const p = { k: 8, n: 1, bits: 1, groupSize: 8, terms: 1, mode: "accuracy" as const,
 *   planes: new Uint8Array(1), alphaExp: new Int8Array([-128]), alphaSign: new Uint8Array([1]) };
 * assertThrows(() => validateShiftAdd(p), RangeError, "sign bit");
 * ```
 */
export function validateShiftAdd(p: ShiftAddPacked): void {
  const { k: K, n: N, bits: q, terms: T } = p;
  if (!Number.isInteger(q) || q < 1 || q > 8 || !Number.isInteger(T) || T < 1 || T > 8) {
    throw new RangeError(`ShiftAddMatMul bits and terms must be in 1..8, got ${q} and ${T}`);
  }
  const G = shiftAddGroups(K, p.groupSize);
  const J = Math.ceil(K / 8);
  if (
    p.planes.length !== q * N * J || p.alphaExp.length !== q * N * G * T || p.alphaSign.length !== q * N * G
  ) {
    throw new RangeError(
      `ShiftAddMatMul K=${K} N=${N} q=${q} G=${G} T=${T}: planes ${p.planes.length} (want ${q * N * J}), ` +
        `alpha_exp ${p.alphaExp.length} (want ${q * N * G * T}), alpha_sign ${p.alphaSign.length} (want ${
          q * N * G
        })`,
    );
  }
  const pad = K % 8 === 0 ? 0 : (0xff << (K % 8)) & 0xff;
  if (pad) {
    for (let r = 0; r < q * N; r++) {
      if (p.planes[r * J + J - 1]! & pad) {
        throw new RangeError(`ShiftAddMatMul planes row ${r}: padding bits set`);
      }
    }
  }
  for (let a = 0; a < q * N * G; a++) {
    let used = 0;
    for (let t = 0; t < T; t++) {
      const e = p.alphaExp[a * T + t]!;
      if (e === POT_EXP_NONE) continue;
      const first = p.alphaExp[a * T]!;
      if (
        used !== t || e < POT_EXP_MIN || e > POT_EXP_MAX ||
        (t > 0 && (e >= p.alphaExp[a * T + t - 1]! || e < first - POT_SPAN))
      ) {
        throw new RangeError(`ShiftAddMatMul alpha ${a} term ${t}: exponent ${e} breaks the term encoding`);
      }
      used++;
    }
    if (p.alphaSign[a]! >> used) {
      throw new RangeError(`ShiftAddMatMul alpha ${a}: sign bit set on an unused term`);
    }
  }
  if (p.mode === "latency") {
    for (let i = 0; i < q; i++) {
      for (let n = 0; n < N; n++) {
        const b = n & ~7;
        for (let g = 0; g < G; g++) {
          const x = (i * N + n) * G + g, y = (i * N + b) * G + g;
          let same = p.alphaSign[x] === p.alphaSign[y];
          for (let t = 0; t < T; t++) same &&= p.alphaExp[x * T + t] === p.alphaExp[y * T + t];
          if (!same) {
            throw new RangeError(
              `ShiftAddMatMul latency mode: alpha (${i}, ${n}, ${g}) differs from output ${b}`,
            );
          }
        }
      }
    }
  } else if (p.mode !== "accuracy") {
    throw new RangeError(`ShiftAddMatMul mode must be "accuracy" or "latency", got "${p.mode}"`);
  }
}

/**
 * The alphas as float32 values, `[q, N, G]`: `Σ_t (−1)^sign_t · 2^exp_t` (exact).
 *
 * @param p packed op
 * @returns alpha values
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddAlphas } from "./shiftadd_pack.ts";
 * const p = { k: 8, n: 1, bits: 1, groupSize: 8, terms: 2, mode: "accuracy" as const,
 *   planes: new Uint8Array(1), alphaExp: new Int8Array([-1, -3]), alphaSign: new Uint8Array([0b10]) };
 * assertEquals(Array.from(shiftAddAlphas(p)), [0.375]);
 * ```
 */
export function shiftAddAlphas(p: ShiftAddPacked): Float32Array {
  const T = p.terms;
  const out = new Float32Array(p.alphaSign.length);
  for (let a = 0; a < out.length; a++) {
    let v = 0;
    for (let t = 0; t < T; t++) {
      const e = p.alphaExp[a * T + t]!;
      if (e !== POT_EXP_NONE) v += ((p.alphaSign[a]! >> t) & 1 ? -1 : 1) * 2 ** e;
    }
    out[a] = v;
  }
  return out;
}

/**
 * Dequantize: `Ŵ[k, n] = Σ_i α_i(n, g(k)) · B_i(k, n)`, summed in float64 over i ascending, then rounded
 * once to float32. `K x N` row-major (ONNX MatMul layout).
 *
 * @param p packed op
 * @returns Ŵ, `K * N` float32
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { unpackShiftAdd } from "./shiftadd_pack.ts";
 * // q = 2, alphas 1 and 0.5, K = 2, N = 1: feature 0 codes (+,+), feature 1 codes (-,+).
 * const p = { k: 2, n: 1, bits: 2, groupSize: 2, terms: 1, mode: "accuracy" as const,
 *   planes: new Uint8Array([0b01, 0b11]), alphaExp: new Int8Array([0, -1]), alphaSign: new Uint8Array(2) };
 * assertEquals(Array.from(unpackShiftAdd(p)), [1.5, -0.5]);
 * ```
 */
export function unpackShiftAdd(p: ShiftAddPacked): Float32Array {
  const { k: K, n: N, bits: q } = p;
  const G = shiftAddGroups(K, p.groupSize);
  const J = Math.ceil(K / 8);
  const alphas = shiftAddAlphas(p);
  const w = new Float32Array(K * N);
  for (let k = 0; k < K; k++) {
    const g = Math.floor(k / p.groupSize), j = k >> 3, b = k & 7;
    for (let n = 0; n < N; n++) {
      let v = 0;
      for (let i = 0; i < q; i++) {
        const a = alphas[(i * N + n) * G + g]!;
        v += (p.planes[(i * N + n) * J + j]! >> b) & 1 ? a : -a;
      }
      w[k * N + n] = v;
    }
  }
  return w;
}
