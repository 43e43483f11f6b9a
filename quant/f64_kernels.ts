/**
 * WebAssembly SIMD float64 kernels for the GPTQ-style solvers: one primitive, the ordered multi-term row
 * update `D[r, c] -= Σ_t C[r, t] · S[t, c]` (terms subtracted one at a time, in order of t), and the two
 * factorisations built on it ({@link choleskyInverseUpperArena}: Cholesky factor and triangular inverse,
 * each about n³/6 multiply-adds). Vectors run across independent outputs (the columns c of a row, 2 per
 * f64x2 lane pair, 4 rows sharing each load of S): every output still takes its terms one at a time in the
 * same order, with a separate multiply and subtract (no fused multiply-add), so the results are
 * bit-identical to the scalar JavaScript loops of linalg.ts and gptq.ts.
 *
 * Operands live in an {@linkcode F64Arena}: a WebAssembly memory of fixed size (never grown, so views of it
 * stay valid) with the kernels instantiated on it. An arena is garbage like any buffer once its views are
 * dropped. Where WebAssembly SIMD is unavailable {@linkcode F64Arena.create} returns undefined and callers
 * keep their JavaScript loops.
 * @module
 */

import {
  BLOCK,
  br,
  brIf,
  emitter,
  END,
  get,
  I32,
  I32_ADD,
  I32_AND,
  I32_EQZ,
  I32_LT_U,
  I32_MUL,
  I32_SHR_U,
  I32_SUB,
  i32c,
  IF,
  load64Splat,
  LOOP,
  set,
  simdOp,
  tee,
  uleb,
  V128,
  vec,
} from "./_wasm_asm.ts";

const F64X2_SUB = simdOp(0xf1), F64X2_MUL = simdOp(0xf2);
const I32_OR = 0x72, I32_GE_U = 0x4f, F64_NE = 0x62;
/** f64.load (8-byte alignment hint) at a constant offset. */
const f64Load = (off: number) => [0x2b, 3, ...uleb(off)];
/** v128.load / store with an 8-byte alignment hint (rows of odd length are only 8-byte aligned). */
const vLoad = (off: number) => simdOp(0x00, 3, ...uleb(off));
const vStore = (off: number) => simdOp(0x0b, 3, ...uleb(off));
/** v128.load64_zero / v128.store64_lane 0: one double in lane 0 (the column tail). */
const vLoad1 = (off: number) => simdOp(0x5d, 3, ...uleb(off));
const vStore1 = (off: number) => [...simdOp(0x5b, 3, ...uleb(off)), 0];

// Parameters (i32, byte addresses and strides): T 0, ncols 1, dst 2, dstS 3, coef 4, coefR 5, coefT 6,
// src 7, srcS 8, flags 9 (bit 0 tri: terms t < c0 skipped for a chunk starting at column c0; bit 1 skip:
// terms with a zero coefficient skipped). Locals: c 10 (byte column), t 11, sp 12, cp 13, a 14, end 15.
const P_T = 0, P_NC = 1, P_DST = 2, P_DS = 3, P_COEF = 4, P_CR = 5, P_CT = 6, P_SRC = 7, P_SS = 8, P_FL = 9;
const L_C = 10, L_T = 11, L_SP = 12, L_CP = 13, L_A = 14, L_END = 15, V0 = 16;

/**
 * The body of `msub` for `R` rows and chunks of `V` f64x2 vectors (2V columns), then a tail of one column
 * at a time. Locals v128: accumulators `R·V` from V0, then `V` source vectors, then the coefficient.
 */
function msubBody(R: number, V: number, skip: boolean): number[] {
  const { code, emit } = emitter();
  const acc = (r: number, v: number) => V0 + r * V + v;
  const S = V0 + R * V, CV = S + V;
  emit(i32c(0), set(L_C), get(P_NC), i32c(3), 0x74, /* shl */ set(L_END));
  const chunk = (w: number, load: (o: number) => number[], store: (o: number) => number[]) => {
    const vs = w === 1 ? 1 : V; // vectors per chunk (the tail: one double in lane 0)
    const bytes = w === 1 ? 8 : 16 * V;
    // while (c + bytes <= end)
    emit(BLOCK, LOOP);
    emit(get(L_C), i32c(bytes), I32_ADD, get(L_END), 0x4b, /* gt_u */ brIf(1));
    // accumulators from dst
    emit(get(P_DST), get(L_C), I32_ADD, set(L_A));
    for (let r = 0; r < R; r++) {
      for (let v = 0; v < vs; v++) emit(get(L_A), load(16 * v), set(acc(r, v)));
      if (r < R - 1) emit(get(L_A), get(P_DS), I32_ADD, set(L_A));
    }
    // t = tri ? c0 : 0
    emit(
      get(P_FL),
      i32c(1),
      I32_AND,
      IF,
      get(L_C),
      i32c(3),
      I32_SHR_U,
      set(L_T),
      ELSE_,
      i32c(0),
      set(L_T),
      END,
    );
    emit(BLOCK, get(L_T), get(P_T), I32_GE_U, brIf(0));
    emit(get(P_SRC), get(L_T), get(P_SS), I32_MUL, I32_ADD, get(L_C), I32_ADD, set(L_SP));
    emit(get(P_COEF), get(L_T), get(P_CT), I32_MUL, I32_ADD, set(L_CP));
    emit(LOOP);
    if (R > 1) { for (let v = 0; v < vs; v++) emit(get(L_SP), load(16 * v), set(S + v)); }
    for (let r = 0; r < R; r++) {
      if (skip) {
        // if (!(flags & 2) || coef != 0)
        emit(get(P_FL), i32c(2), I32_AND, I32_EQZ, get(L_CP), f64Load(0), f64c0, F64_NE, I32_OR, IF);
      }
      emit(get(L_CP), load64Splat(0), set(CV));
      for (let v = 0; v < vs; v++) {
        emit(get(acc(r, v)), get(CV));
        if (R > 1) emit(get(S + v));
        else emit(get(L_SP), load(16 * v));
        emit(F64X2_MUL, F64X2_SUB, set(acc(r, v)));
      }
      if (skip) emit(END);
      if (r < R - 1) emit(get(L_CP), get(P_CR), I32_ADD, set(L_CP));
    }
    if (R > 1) emit(get(L_CP), get(P_CR), i32c(R - 1), I32_MUL, I32_SUB, set(L_CP));
    emit(get(L_SP), get(P_SS), I32_ADD, set(L_SP), get(L_CP), get(P_CT), I32_ADD, set(L_CP));
    emit(get(L_T), i32c(1), I32_ADD, tee(L_T), get(P_T), I32_LT_U, brIf(0), END, END);
    // accumulators back to dst
    emit(get(P_DST), get(L_C), I32_ADD, set(L_A));
    for (let r = 0; r < R; r++) {
      for (let v = 0; v < vs; v++) emit(get(L_A), get(acc(r, v)), store(16 * v));
      if (r < R - 1) emit(get(L_A), get(P_DS), I32_ADD, set(L_A));
    }
    emit(get(L_C), i32c(bytes), I32_ADD, set(L_C), br(0), END, END);
  };
  chunk(2 * V, vLoad, vStore);
  chunk(1, vLoad1, vStore1);
  emit(END);
  return [...vec([[6, I32], [R * V + V + 1, V128]]), ...code];
}
const ELSE_ = 0x05;
const f64c0 = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];

/** A module importing `env.memory` and exporting `msub4` (4 rows, 4 columns per chunk) and `msub1`. */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const funcs = [{ name: "msub4", body: msubBody(4, 2, false) }, {
    name: "msub1",
    body: msubBody(1, 8, true),
  }];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(new Array(10).fill([I32])), 0]])),
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, 0x00, 0x00]])),
    ...section(3, vec(funcs.map(() => [0]))),
    ...section(7, vec(funcs.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(funcs.map((f) => [...uleb(f.body.length), ...f.body]))),
  ]);
}

type Msub = (
  T: number,
  ncols: number,
  dst: number,
  dstS: number,
  coef: number,
  coefR: number,
  coefT: number,
  src: number,
  srcS: number,
  flags: number,
) => void;

const compiled: WebAssembly.Module | undefined = (() => {
  try {
    return new WebAssembly.Module(moduleBytes());
  } catch {
    return undefined; // no SIMD: callers keep their JavaScript loops
  }
})();

/** Whether the float64 WebAssembly SIMD kernels are available in this engine. */
export const f64KernelsAvailable: boolean = compiled !== undefined;

/** Options for {@linkcode F64Arena.msub}. */
export interface MsubOptions {
  /**
   * Source row `t` is zero right of column `t` (a lower-triangular source): for a chunk of columns starting
   * at `c0` the terms `t < c0` are skipped. Exact no-ops unless a destination entry is `-0`.
   * @default {false}
   */
  lowerSource?: boolean;
  /**
   * Skip the terms whose coefficient is zero (as the JavaScript loops that test `c !== 0` do: subtracting
   * `0 · s` would turn a `-0` destination into `+0`).
   * @default {false}
   */
  skipZeros?: boolean;
}

const arenas = new WeakMap<ArrayBufferLike, F64Arena>();

/**
 * A fixed-size float64 buffer in its own WebAssembly memory, with the kernels bound to it. Offsets and
 * strides are in doubles, relative to {@linkcode F64Arena.f64}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { F64Arena } from "./f64_kernels.ts";
 * const a = F64Arena.create(8);
 * if (a) {
 *   a.f64.set([10, 20, 1, 2, 3, 4, 2, 3]); // dst row [10, 20]; src rows [1, 2], [3, 4]; coefs [2, 3]
 *   a.msub(1, 2, 2, 0, 2, 6, 0, 1, 2, 2); // dst -= 2 · [1, 2] then 3 · [3, 4]
 *   assertEquals(Array.from(a.f64.subarray(0, 2)), [-1, 4]);
 * }
 * ```
 */
export class F64Arena {
  /** The whole arena as doubles (its length is the size asked for, rounded up to whole pages). */
  readonly f64: Float64Array;
  #msub4: Msub;
  #msub1: Msub;

  private constructor(memory: WebAssembly.Memory) {
    const inst = new WebAssembly.Instance(compiled!, { env: { memory } });
    this.#msub4 = inst.exports.msub4 as Msub;
    this.#msub1 = inst.exports.msub1 as Msub;
    this.f64 = new Float64Array(memory.buffer);
    arenas.set(memory.buffer, this);
  }

  /**
   * An arena of at least `doubles` doubles (zero-filled), or undefined without WebAssembly SIMD.
   *
   * @param doubles size
   * @returns the arena
   * @throws {RangeError} above 4 GiB (the 32-bit address space)
   */
  static create(doubles: number): F64Arena | undefined {
    if (!compiled) return undefined;
    const pages = Math.max(1, Math.ceil((doubles * 8) / 65536));
    if (pages > 65536) {
      throw new RangeError(`Cannot create a float64 arena of ${doubles} doubles: above 4 GiB`);
    }
    return new F64Arena(new WebAssembly.Memory({ initial: pages, maximum: pages }));
  }

  /**
   * The arena whose memory holds `a`, if any.
   *
   * @param a a view
   * @returns its arena or undefined
   */
  static of(a: Float64Array): F64Arena | undefined {
    return arenas.get(a.buffer);
  }

  /**
   * `D[r, c] -= C[r, t] · S[t, c]` for `t = 0 .. T-1` in order, for `rows` destination rows and `ncols`
   * columns: entry `D[r, c]` at `f64[dst + r·dstStride + c]`, `C[r, t]` at `f64[coef + r·coefRowStride +
   * t·coefTermStride]`, `S[t, c]` at `f64[src + t·srcStride + c]`. Each entry is `d = d − c·s` per term
   * (multiply, then subtract), as `d -= c * s` in JavaScript. Destination rows must not overlap the source
   * rows or coefficients.
   *
   * @param rows destination rows
   * @param T terms
   * @param ncols columns
   * @param dst offset of `D[0, 0]`
   * @param dstStride between destination rows
   * @param coef offset of `C[0, 0]`
   * @param coefRowStride between coefficient rows
   * @param coefTermStride between the coefficients of successive terms
   * @param src offset of `S[0, 0]`
   * @param srcStride between source rows
   * @param options lowerSource, skipZeros
   */
  msub(
    rows: number,
    T: number,
    ncols: number,
    dst: number,
    dstStride: number,
    coef: number,
    coefRowStride: number,
    coefTermStride: number,
    src: number,
    srcStride: number,
    options: MsubOptions = {},
  ): void {
    if (rows <= 0 || T <= 0 || ncols <= 0) return;
    const flags = (options.lowerSource ? 1 : 0) | (options.skipZeros ? 2 : 0);
    let r = 0;
    if (!options.skipZeros) {
      for (; r + 4 <= rows; r += 4) {
        this.#msub4(
          T,
          ncols,
          8 * (dst + r * dstStride),
          8 * dstStride,
          8 * (coef + r * coefRowStride),
          8 * coefRowStride,
          8 * coefTermStride,
          8 * src,
          8 * srcStride,
          flags,
        );
      }
    }
    for (; r < rows; r++) {
      this.#msub1(
        T,
        ncols,
        8 * (dst + r * dstStride),
        8 * dstStride,
        8 * (coef + r * coefRowStride),
        8 * coefRowStride,
        8 * coefTermStride,
        8 * src,
        8 * srcStride,
        flags,
      );
    }
  }
}

/**
 * A square `n x n` matrix in a fresh arena with room for {@linkcode choleskyInverseUpperArena}'s scratch, or
 * undefined without WebAssembly SIMD.
 *
 * @param n order
 * @returns the matrix view (zero-filled), `n * n` doubles at offset 0 of its arena
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { arenaMatrix } from "./f64_kernels.ts";
 * const m = arenaMatrix(3);
 * if (m) assertEquals(m.length, 9);
 * ```
 */
export function arenaMatrix(n: number): Float64Array | undefined {
  const arena = F64Arena.create(n * n + 4 * n + 8);
  return arena?.f64.subarray(0, n * n);
}

/** In-place transpose of a square row-major block of `n x n` between its two triangles (tiled). */
function copyTriangle(a: Float64Array, n: number, lowerToUpper: boolean): void {
  const B = 64;
  for (let i0 = 0; i0 < n; i0 += B) {
    const i1 = Math.min(n, i0 + B);
    for (let j0 = 0; j0 <= i0; j0 += B) {
      const j1 = Math.min(n, j0 + B);
      for (let i = i0; i < i1; i++) {
        const jEnd = Math.min(j1, i);
        if (lowerToUpper) { for (let j = j0; j < jEnd; j++) a[j * n + i] = a[i * n + j]!; }
        else for (let j = j0; j < jEnd; j++) a[i * n + j] = a[j * n + i]!;
      }
    }
  }
}

/**
 * linalg.ts's `choleskyInverseUpperInPlace` on the kernels, bit-identical to it: `a` (from
 * {@linkcode arenaMatrix}) is overwritten by the upper Cholesky factor `U` of `a⁻¹` (`a⁻¹ = Uᵀ U`), read from
 * its lower triangle. With `J` the order reversal: factor `J a J = L Lᵀ`, then `U = J L⁻¹ J`.
 *
 * The factor is computed as `Lᵀ` in the upper triangle, row `j` of `Lᵀ` (column `j` of L) as
 * `a[j, j..] − Σ_{k<j} L[j,k] · Lᵀ[k, j..]` in order of k, then divided by the pivot: the same sums as the
 * row-oriented JavaScript loop, 4 rows sharing each load. The inverse is built row by row in the lower
 * triangle as `−Σ_k L[i,k] · L⁻¹[k, ..] / L[i,i]`, 4 rows at a time, in order of k.
 *
 * @param a symmetric positive-definite `n x n` matrix at offset 0 of its arena; overwritten
 * @returns `a`, now `U`
 * @throws {TypeError} when `a` is not an arena matrix
 * @throws {RangeError} when `a` is not positive definite
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { arenaMatrix, choleskyInverseUpperArena } from "./f64_kernels.ts";
 * const a = arenaMatrix(2);
 * if (a) {
 *   a.set([4, 0, 0, 16]);
 *   assertEquals(Array.from(choleskyInverseUpperArena(a)), [0.25, 0, 0, 0.5]);
 * }
 * ```
 */
export function choleskyInverseUpperArena(a: Float64Array): Float64Array {
  const arena = F64Arena.of(a);
  const n = Math.round(Math.sqrt(a.length));
  if (!arena || a.byteOffset !== 0 || n * n !== a.length || arena.f64.length < n * n + 4 * n) {
    throw new TypeError("Cannot factor on the float64 kernels: the matrix is not from arenaMatrix()");
  }
  a.reverse(); // J a J
  copyTriangle(a, n, true); // its lower triangle, transposed into the upper one
  choleskyUpperRows(arena, a, n); // Lᵀ in the upper triangle
  copyTriangle(a, n, false); // L in the lower triangle
  invertLowerRows(arena, a, n); // L⁻¹, upper triangle zeroed
  a.reverse();
  return a;
}

/** Row j of `Lᵀ` in place of the upper triangle's row j (the lower triangle is overwritten with scratch). */
function choleskyUpperRows(arena: F64Arena, a: Float64Array, n: number): void {
  for (let j0 = 0; j0 < n; j0 += 4) {
    const R = Math.min(4, n - j0);
    // terms k < j0 for rows j0 .. j0+R-1, columns j0 .. n-1: coefficient Lᵀ[k, j0 + r]
    arena.msub(R, j0, n - j0, j0 * n + j0, n, j0, 1, n, j0, n);
    for (let r = 0; r < R; r++) {
      const j = j0 + r, rj = j * n;
      // then the terms k = j0 .. j-1 (rows of this group, already final)
      arena.msub(1, r, n - j, rj + j, n, j0 * n + j, 1, n, j0 * n + j, n);
      const s = a[rj + j]!;
      if (!(s > 0) || !Number.isFinite(s)) {
        throw new RangeError(
          `Cannot factor a ${n}x${n} matrix by Cholesky: not positive definite (pivot ${j} is ${s})`,
        );
      }
      const d = Math.sqrt(s);
      a[rj + j] = d;
      for (let i = j + 1; i < n; i++) a[rj + i] = a[rj + i]! / d;
    }
  }
}

/** `L⁻¹` in place of the lower triangle of `a` (upper triangle zeroed), 4 rows at a time. */
function invertLowerRows(arena: F64Arena, a: Float64Array, n: number): void {
  const sc = n * n; // scratch: the group's rows of L (4 x n)
  const f = arena.f64;
  for (let i0 = 0; i0 < n; i0 += 4) {
    const R = Math.min(4, n - i0);
    for (let r = 0; r < R; r++) {
      const i = i0 + r, ri = i * n;
      const d = a[ri + i]!;
      if (d === 0) throw new RangeError(`Cannot invert a triangular matrix: diagonal entry ${i} is zero`);
      f.set(a.subarray(ri, ri + i + 1), sc + r * n);
      a.fill(0, ri, ri + n);
    }
    // −Σ_{k < i0} L[i,k] · L⁻¹[k, ..] (row k of L⁻¹ is zero right of column k: lowerSource)
    arena.msub(R, i0, i0, i0 * n, n, sc, n, 1, 0, n, { lowerSource: true });
    for (let r = 0; r < R; r++) {
      const i = i0 + r, ri = i * n;
      arena.msub(1, r, i, ri, n, sc + r * n + i0, n, 1, i0 * n, n);
      const d = f[sc + r * n + i]!;
      for (let j = 0; j < i; j++) a[ri + j] = a[ri + j]! / d;
      a[ri + i] = 1 / d;
    }
  }
}
