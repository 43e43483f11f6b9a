/**
 * WebAssembly SIMD float64 kernels for the GPTQ-style solvers: one primitive, the ordered multi-term row
 * update `D[r, c] -= Σ_t C[r, t] · S[t, c]` (terms subtracted one at a time, in order of t), on which
 * {@link ./f64_factor.ts} builds GPTQ's factorisations (Cholesky factor and triangular inverse, each about
 * n³/6 multiply-adds) and {@link ./gptq.ts} its lazy batch update. Vectors run across independent outputs (the columns c of a row, 2 per
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
const I32_OR = 0x72, F64_NE = 0x62;
/** f64.load (8-byte alignment hint) at a constant offset. */
const f64Load = (off: number) => [0x2b, 3, ...uleb(off)];
/** v128.load / store with an 8-byte alignment hint (rows of odd length are only 8-byte aligned). */
const vLoad = (off: number) => simdOp(0x00, 3, ...uleb(off));
const vStore = (off: number) => simdOp(0x0b, 3, ...uleb(off));
/** v128.load64_zero / v128.store64_lane 0: one double in lane 0 (the column tail). */
const vLoad1 = (off: number) => simdOp(0x5d, 3, ...uleb(off));
const vStore1 = (off: number) => [...simdOp(0x5b, 3, ...uleb(off)), 0];

// Parameters (i32, byte addresses and strides): T 0, ncols 1, G 2 (row groups), dst 3, dstS 4, coef 5, coefR 6,
// coefT 7, coefG 8 (between row groups), src 9, srcS 10, srcP 11 (between 4-column panels: S[t, c] at src +
// t·srcS + (c >> 2)·srcP + (c & 3)·8), flags 12 (bit 1: terms with a zero coefficient skipped).
// Locals (i32): c 13 (byte column), t 14, sp 15, cp 16, a 17, end 18, g 19, dg 20, cg 21.
const P_T = 0, P_NC = 1, P_G = 2, P_DST = 3, P_DS = 4, P_COEF = 5, P_CR = 6, P_CT = 7, P_CG = 8;
const P_SRC = 9, P_SS = 10, P_SP = 11, P_FL = 12, NPARAMS = 13;
const L_C = 13, L_T = 14, L_SP = 15, L_CP = 16, L_A = 17, L_END = 18, L_G = 19, L_DG = 20, L_CG = 21, V0 = 22;

/**
 * The body of `msub` for groups of `R` rows and chunks of `V` f64x2 vectors (2V columns), then a tail of one
 * column at a time. Per chunk, every row group in turn: its accumulators loaded from D, the terms
 * subtracted in order, stored back. Locals v128: accumulators `R·V` from V0, then `V` source vectors, then
 * the coefficient.
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
    emit(i32c(0), set(L_G), get(P_DST), get(L_C), I32_ADD, set(L_DG), get(P_COEF), set(L_CG));
    emit(LOOP); // row groups
    emit(get(L_DG), set(L_A));
    for (let r = 0; r < R; r++) {
      for (let v = 0; v < vs; v++) emit(get(L_A), load(16 * v), set(acc(r, v)));
      if (r < R - 1) emit(get(L_A), get(P_DS), I32_ADD, set(L_A));
    }
    emit(BLOCK, get(P_T), I32_EQZ, brIf(0), i32c(0), set(L_T));
    // sp = src + (c >> 5) · srcP + (c & 31)
    emit(get(P_SRC), get(L_C), i32c(5), I32_SHR_U, get(P_SP), I32_MUL, I32_ADD);
    emit(get(L_C), i32c(31), I32_AND, I32_ADD, set(L_SP), get(L_CG), set(L_CP));
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
    emit(get(L_DG), set(L_A));
    for (let r = 0; r < R; r++) {
      for (let v = 0; v < vs; v++) emit(get(L_A), get(acc(r, v)), store(16 * v));
      if (r < R - 1) emit(get(L_A), get(P_DS), I32_ADD, set(L_A));
    }
    // next row group
    emit(get(L_DG), get(P_DS), i32c(R), I32_MUL, I32_ADD, set(L_DG));
    emit(get(L_CG), get(P_CG), I32_ADD, set(L_CG));
    emit(get(L_G), i32c(1), I32_ADD, tee(L_G), get(P_G), I32_LT_U, brIf(0), END);
    emit(get(L_C), i32c(bytes), I32_ADD, set(L_C), br(0), END, END);
  };
  chunk(2 * V, vLoad, vStore);
  chunk(1, vLoad1, vStore1);
  emit(END);
  return [...vec([[9, I32], [R * V + V + 1, V128]]), ...code];
}
const f64c0 = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];

/** A module importing `env.memory` and exporting `msub4` (4 rows, 4 columns per chunk), `msub1`, `msub1p`. */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const funcs = [
    { name: "msub4", body: msubBody(4, 2, false) },
    { name: "msub1", body: msubBody(1, 8, true) }, // row-major sources: 16 columns per chunk
    { name: "msub1p", body: msubBody(1, 2, true) }, // sources in 4-column panels: 4 columns per chunk
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, ...vec(new Array(NPARAMS).fill([I32])), 0]])),
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, 0x00, 0x00]])),
    ...section(3, vec(funcs.map(() => [0]))),
    ...section(7, vec(funcs.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(funcs.map((f) => [...uleb(f.body.length), ...f.body]))),
  ]);
}

type Msub = (
  T: number,
  ncols: number,
  G: number,
  dst: number,
  dstS: number,
  coef: number,
  coefR: number,
  coefT: number,
  coefG: number,
  src: number,
  srcS: number,
  srcP: number,
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
   * Skip the terms whose coefficient is zero (as the JavaScript loops that test `c !== 0` do: subtracting
   * `0 · s` would turn a `-0` destination into `+0`).
   * @default {false}
   */
  skipZeros?: boolean;
  /**
   * Source in 4-column panels: `S[t, c]` at `src + t·srcStride + (c >> 2)·srcPanel + (c & 3)` (a packed
   * operand: `srcStride = 4`, `srcPanel = 4·T`). The default is row-major.
   * @default {4}
   */
  srcPanel?: number;
  /**
   * Coefficients in 4-row panels: `C[r, t]` at `coef + (r >> 2)·coefPanel + (r & 3)·coefRowStride +
   * t·coefTermStride`. The default is row-major.
   * @default {4 * coefRowStride}
   */
  coefPanel?: number;
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
  #msub1p: Msub;

  private constructor(memory: WebAssembly.Memory) {
    const inst = new WebAssembly.Instance(compiled!, { env: { memory } });
    this.#msub4 = inst.exports.msub4 as Msub;
    this.#msub1 = inst.exports.msub1 as Msub;
    this.#msub1p = inst.exports.msub1p as Msub;
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
   * columns: `D[r, c]` at `f64[dst + r·dstStride + c]`, `C[r, t]` at `f64[coef + r·coefRowStride +
   * t·coefTermStride]`, `S[t, c]` at `f64[src + t·srcStride + c]` (or in panels, see the options). Each
   * entry is `d = d − c·s` per term (a multiply, then a subtract), as `d -= c * s` in JavaScript. The
   * destination must not overlap the sources or coefficients. Rows go 4 at a time (each load of S serves
   * them all), columns 4 at a time, then one at a time.
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
   * @param options skipZeros, srcPanel, coefPanel
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
    const sp = 8 * (options.srcPanel ?? 4);
    const cpan = options.coefPanel ?? 4 * coefRowStride;
    const skip = options.skipZeros === true;
    const G = skip ? 0 : rows >> 2;
    if (G > 0) {
      this.#msub4(
        T,
        ncols,
        G,
        8 * dst,
        8 * dstStride,
        8 * coef,
        8 * coefRowStride,
        8 * coefTermStride,
        8 * cpan,
        8 * src,
        8 * srcStride,
        sp,
        0,
      );
    }
    const r0 = 4 * G;
    if (r0 === rows) return;
    // the remaining rows one at a time: consecutive rows of one coefficient panel are coefRowStride apart
    const one = sp === 32 ? this.#msub1 : this.#msub1p;
    for (let r = r0; r < rows;) {
      const inPanel = Math.min(rows - r, 4 - (r & 3));
      one(
        T,
        ncols,
        inPanel,
        8 * (dst + r * dstStride),
        8 * dstStride,
        8 * (coef + (r >> 2) * cpan + (r & 3) * coefRowStride),
        8 * coefRowStride,
        8 * coefTermStride,
        8 * coefRowStride,
        8 * src,
        8 * srcStride,
        sp,
        skip ? 2 : 0,
      );
      r += inPanel;
    }
  }
}

/**
 * Bytes of WebAssembly memory behind `a` when it is a view of an arena (0 otherwise): what dropping the
 * arena's last view returns to the system at the next garbage collection.
 *
 * @param a a view, or null
 * @returns the arena's size in bytes, or 0
 */
export function arenaBytes(a: Float64Array | null | undefined): number {
  return a && F64Arena.of(a) ? a.buffer.byteLength : 0;
}

/**
 * A full garbage collection where the engine exposes one (Deno `--v8-flags=--expose-gc`, as
 * bench/streaming.ts runs `quantize`); nothing otherwise. An arena's memory (a 6144-wide layer's factor:
 * 302 MB) goes back to the system only when the arena is collected, which V8 may put off for minutes: the
 * GPTQ quantizers call this once they drop a large factor, before the error statistics allocate theirs.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
