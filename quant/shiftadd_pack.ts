/**
 * Storage of the `shiftkit.ShiftAddMatMul` op (docs/ops/shiftadd.md): BCQ codes as bit planes and
 * power-of-two alphas in 16 bits each (T = 3 terms). This file is the one definition of the layout; the
 * evaluator, the ONNX function body and the WGSL kernel read it from here and from the spec.
 *
 * - `planes` uint8 `[q, N, ceil(K/8)]`: bit `b` (LSB-first, `(byte >> b) & 1`) of byte `j` of plane `i`,
 *   row `n` is the code of input feature `8j + b` for output `n`; 1 ⇒ `B = +1`, 0 ⇒ `B = −1`. Padding bits
 *   (features `>= K` in the last byte) are 0.
 * - `alpha_exp` int8 `[q, N, G]`: exponent `e0` of alpha `(i, n, g)`'s leading (positive) term in
 *   `-127..127`, or `-128` for alpha = 0.
 * - `alpha_terms` uint8 `[q, N, G, R]`, `R = ceil((T-1)/2)`: one nibble per further term `t = 1..T-1`,
 *   low nibble first: `0` = no term (and none after it), else bits 0-2 = `d` in 1..7 with
 *   `e_t = e_(t-1) − d`, bit 3 = the term's sign (1 = negative). Every `e_t >= max(-127, e0 − 23)`.
 * - `alpha(i, n, g) = 2^e0 + Σ_(t>=1) (−1)^sign_t · 2^e_t`, exact in float32.
 *
 * Why this encoding: BCQ alphas are non-negative (a negative one is the same level set with the plane
 * flipped), so the leading sign is implicit, and greedy power-of-two rounding stops once the next term would
 * lie more than 7 octaves below the previous one ({@linkcode POT_GAP_MAX}; it changes alpha by < 2^-7 of
 * the previous term). 8 + 4·(T−1) bits instead of 8·T + 8 (16 instead of 32 bits at T = 3).
 * @module
 */

import { POT_EXP_MAX, POT_EXP_MIN, POT_EXP_NONE, POT_GAP_MAX, POT_SPAN } from "./bcq.ts";

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
  /** `[q, N, G, T]` signs: +1, -1, or 0 for no term; the first term of a non-zero alpha is +1. */
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
  /** Input `alpha_exp`, int8 `[q, N, G]`: leading exponent, -128 for alpha = 0. */
  alphaExp: Int8Array;
  /** Input `alpha_terms`, uint8 `[q, N, G, R]` with `R = ceil((T-1)/2)`: one nibble per further term. */
  alphaTerms: Uint8Array;
}

/**
 * Bytes of `alpha_terms` per alpha, `R = ceil((T - 1) / 2)`.
 *
 * @param terms T (1..8)
 * @returns R
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddTermBytes } from "./shiftadd_pack.ts";
 * assertEquals([1, 2, 3, 4].map(shiftAddTermBytes), [0, 1, 1, 2]);
 * ```
 */
export function shiftAddTermBytes(terms: number): number {
  return Math.ceil((terms - 1) / 2);
}

/**
 * Stored bits per alpha: `8 + 8·R` (the leading exponent byte plus the term nibbles, padding included).
 *
 * @param terms T (1..8)
 * @returns bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddAlphaBits } from "./shiftadd_pack.ts";
 * assertEquals(shiftAddAlphaBits(3), 16);
 * ```
 */
export function shiftAddAlphaBits(terms: number): number {
  return 8 + 8 * shiftAddTermBytes(terms);
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
 * @returns planes, alpha_exp, alpha_terms and the attributes
 * @throws {RangeError} on an invalid group size, an alpha the encoding cannot hold (a negative leading
 *   term, a gap of more than 7 between terms, unsorted terms) or an array length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packShiftAdd } from "./shiftadd_pack.ts";
 * // K = 3, N = 1, q = 1: codes +1, -1, +1 -> byte 0b101; alpha = 2^-1 - 2^-3: gap 2, negative -> 0b1010.
 * const p = packShiftAdd({
 *   rows: 3, cols: 1, bits: 1, groupSize: 3, terms: 2, mode: "accuracy",
 *   codes: new Uint8Array([1, 0, 1]), alphaExp: new Int8Array([-1, -3]), alphaSign: new Int8Array([1, -1]),
 * });
 * assertEquals([p.planes[0], p.alphaExp[0], p.alphaTerms[0]], [0b101, -1, 0b1010]);
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
  const R = shiftAddTermBytes(T);
  const alphaExp = new Int8Array(q * N * G).fill(POT_EXP_NONE);
  const alphaTerms = new Uint8Array(q * N * G * R);
  for (let a = 0; a < q * N * G; a++) {
    const e0 = codes.alphaExp[a * T]!;
    if (e0 === POT_EXP_NONE) continue;
    if (codes.alphaSign[a * T] !== 1) {
      throw new RangeError(`Cannot pack ShiftAddMatMul alpha ${a}: its leading term must be positive`);
    }
    alphaExp[a] = e0;
    let prev = e0;
    for (let t = 1; t < T; t++) {
      const e = codes.alphaExp[a * T + t]!;
      if (e === POT_EXP_NONE) break;
      const d = prev - e;
      if (d < 1 || d > POT_GAP_MAX) {
        throw new RangeError(
          `Cannot pack ShiftAddMatMul alpha ${a} term ${t}: exponent ${e} after ${prev} (gap must be 1..${POT_GAP_MAX})`,
        );
      }
      const nib = d | (codes.alphaSign[a * T + t]! < 0 ? 8 : 0);
      alphaTerms[a * R + ((t - 1) >> 1)]! |= nib << (4 * ((t - 1) & 1));
      prev = e;
    }
  }
  const packed: ShiftAddPacked = {
    k: K,
    n: N,
    bits: q,
    groupSize: codes.groupSize,
    terms: T,
    mode: codes.mode,
    planes,
    alphaExp,
    alphaTerms,
  };
  validateShiftAdd(packed);
  return packed;
}

/**
 * The alphas' terms in one-slot-per-term form: exponents `[q, N, G, T]` (`-128` = no term, trailing) and a
 * sign bitmask `[q, N, G]` (bit t set ⇔ term t negative). The WGSL kernel reads this form; it is computed
 * from the stored tensors without checking them (call {@linkcode validateShiftAdd} first).
 *
 * @param p packed op
 * @returns per-term exponents and sign masks
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddTerms } from "./shiftadd_pack.ts";
 * const p = { k: 8, n: 1, bits: 1, groupSize: 8, terms: 3, mode: "accuracy" as const,
 *   planes: new Uint8Array(1), alphaExp: new Int8Array([-1]), alphaTerms: new Uint8Array([0b1010]) };
 * const t = shiftAddTerms(p);
 * assertEquals([Array.from(t.exps), Array.from(t.signs)], [[-1, -3, -128], [0b10]]);
 * ```
 */
export function shiftAddTerms(p: ShiftAddPacked): { exps: Int8Array; signs: Uint8Array } {
  const T = p.terms, R = shiftAddTermBytes(T), A = p.alphaExp.length;
  const exps = new Int8Array(A * T).fill(POT_EXP_NONE);
  const signs = new Uint8Array(A);
  for (let a = 0; a < A; a++) {
    let e = p.alphaExp[a]!;
    if (e === POT_EXP_NONE) continue;
    exps[a * T] = e;
    for (let t = 1; t < T; t++) {
      const nib = (p.alphaTerms[a * R + ((t - 1) >> 1)]! >> (4 * ((t - 1) & 1))) & 15;
      if (nib === 0) break;
      e -= nib & 7;
      exps[a * T + t] = e;
      if (nib & 8) signs[a]! |= 1 << t;
    }
  }
  return { exps, signs };
}

/**
 * Check a packed op against the spec: shapes, alpha encoding (leading exponent in `-127..127` or `-128`,
 * term gaps 1..7, every exponent `>= max(-127, e0 − 23)`, no term after an empty nibble, zero padding
 * nibbles, nothing after alpha = 0), zero padding bits, and in latency mode equal alphas within each block
 * of 8 outputs.
 *
 * @param p packed op
 * @throws {RangeError} naming the first violation
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { validateShiftAdd } from "./shiftadd_pack.ts";
 * const p = { k: 8, n: 1, bits: 1, groupSize: 8, terms: 3, mode: "accuracy" as const,
 *   planes: new Uint8Array(1), alphaExp: new Int8Array([-1]), alphaTerms: new Uint8Array([0x10]) };
 * assertThrows(() => validateShiftAdd(p), RangeError, "after an empty");
 * ```
 */
export function validateShiftAdd(p: ShiftAddPacked): void {
  const { k: K, n: N, bits: q, terms: T } = p;
  if (!Number.isInteger(q) || q < 1 || q > 8 || !Number.isInteger(T) || T < 1 || T > 8) {
    throw new RangeError(`ShiftAddMatMul bits and terms must be in 1..8, got ${q} and ${T}`);
  }
  const G = shiftAddGroups(K, p.groupSize);
  const J = Math.ceil(K / 8), R = shiftAddTermBytes(T);
  if (
    p.planes.length !== q * N * J || p.alphaExp.length !== q * N * G || p.alphaTerms.length !== q * N * G * R
  ) {
    throw new RangeError(
      `ShiftAddMatMul K=${K} N=${N} q=${q} G=${G} T=${T}: planes ${p.planes.length} (want ${q * N * J}), ` +
        `alpha_exp ${p.alphaExp.length} (want ${q * N * G}), alpha_terms ${p.alphaTerms.length} (want ${
          q * N * G * R
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
    const e0 = p.alphaExp[a]!;
    let e = e0, ended = e0 === POT_EXP_NONE;
    for (let t = 1; t < 2 * R + 1; t++) {
      const nib = (p.alphaTerms[a * R + ((t - 1) >> 1)]! >> (4 * ((t - 1) & 1))) & 15;
      if (nib === 0) {
        ended = true;
        continue;
      }
      if (ended || t >= T) {
        throw new RangeError(
          `ShiftAddMatMul alpha ${a} term ${t}: nibble ${nib} after an empty term, a zero alpha or past terms`,
        );
      }
      e -= nib & 7;
      if ((nib & 7) === 0 || e < POT_EXP_MIN || e < e0 - POT_SPAN) {
        throw new RangeError(
          `ShiftAddMatMul alpha ${a} term ${t}: nibble ${nib} gives exponent ${e} after leading ${e0}`,
        );
      }
    }
    if (e0 !== POT_EXP_NONE && (e0 < POT_EXP_MIN || e0 > POT_EXP_MAX)) {
      throw new RangeError(`ShiftAddMatMul alpha ${a}: leading exponent ${e0} out of range`);
    }
  }
  if (p.mode === "latency") {
    for (let i = 0; i < q; i++) {
      for (let n = 0; n < N; n++) {
        const b = n & ~7;
        for (let g = 0; g < G; g++) {
          const x = (i * N + n) * G + g, y = (i * N + b) * G + g;
          let same = p.alphaExp[x] === p.alphaExp[y];
          for (let r = 0; r < R; r++) same &&= p.alphaTerms[x * R + r] === p.alphaTerms[y * R + r];
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
 * The alphas as float32 values, `[q, N, G]`: `2^e0 + Σ_t (−1)^sign_t · 2^e_t` (exact).
 *
 * @param p packed op
 * @returns alpha values
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddAlphas } from "./shiftadd_pack.ts";
 * const p = { k: 8, n: 1, bits: 1, groupSize: 8, terms: 2, mode: "accuracy" as const,
 *   planes: new Uint8Array(1), alphaExp: new Int8Array([-1]), alphaTerms: new Uint8Array([0b1010]) };
 * assertEquals(Array.from(shiftAddAlphas(p)), [0.375]);
 * ```
 */
export function shiftAddAlphas(p: ShiftAddPacked): Float32Array {
  const T = p.terms;
  const { exps, signs } = shiftAddTerms(p);
  const out = new Float32Array(p.alphaExp.length);
  for (let a = 0; a < out.length; a++) {
    let v = 0;
    for (let t = 0; t < T; t++) {
      const e = exps[a * T + t]!;
      if (e !== POT_EXP_NONE) v += ((signs[a]! >> t) & 1 ? -1 : 1) * 2 ** e;
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
 *   planes: new Uint8Array([0b01, 0b11]), alphaExp: new Int8Array([0, -1]), alphaTerms: new Uint8Array(0) };
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
