/**
 * WebAssembly SIMD float32 GEMM micro-kernel of the CPU evaluator (onnx/evaluate/ops/_gemm.ts), assembled
 * here from its opcodes (no build step, no binary file).
 *
 * Arithmetic (the contract {@link gemmF32Scalar} restates in JavaScript, bit for bit): every output
 * `C[i, j]` starts at +0 and adds the float32 products `A[i, k] * B[k, j]` for k = 0..K-1 in that order,
 * each product and each sum rounded to float32 (f32x4.mul then f32x4.add: no fused multiply-add, whose
 * availability would change the bits from machine to machine). The order depends neither on the tiling nor
 * on how many rows or columns one call covers, so a result is the same whatever the blocking or a future
 * split over threads. This is float32 accumulation, like onnxruntime's MLAS kernels (which sum in a
 * different order, with FMA): the error against the exact sum is bounded by `gamma(K) * sum_k |A[i,k] B[k,j]|`
 * with `gamma(K) = K u / (1 - K u)`, u = 2^-24 (each product rounds once, each of the K - 1 sums once).
 *
 * Layout: A is packed in panels of {@link MR} rows (panel p: `A[MR p + r, k]` at float `p*K*MR + k*MR + r`),
 * B in panels of {@link NR} = 8 columns (panel q: `B[k, 8q + c]` at float `q*K*8 + k*8 + c`), zero-padded.
 * `gemm(ap, bp, cp, K, np, nq, ldc)` computes the `MR np x 8 nq` block from the `np` A panels at byte `ap` and
 * the `nq` B panels at byte `bp` into rows of `ldc` bytes at byte `cp`. Each MR x 8 tile keeps its 2 MR
 * accumulators (f32x4) in registers over the whole K; B panels are the outer loop, so one (K x 8) B panel
 * stays in L1 while every A panel streams past it. The B panels run last to first and the rows of a panel
 * in order, so `ldc` may be the true row length N (a compact C, copied out in one piece): the padding
 * columns that a tile writes past column N land in the next row's first columns, which panel 0, written
 * last, or the next row's own store then overwrites (the caller leaves 8 floats of slack after the block).
 *
 * The kernel has a memory of its own (not the one of {@link ./wasm_gemm.ts}, which the Gram accumulator
 * lays out as it likes), so the evaluator can keep packed weights in it between calls.
 * @module
 */

import {
  BLOCK,
  br,
  brIf,
  ELSE,
  emitter,
  END,
  F32_ADD,
  F32_MUL,
  f32Load,
  f32Store,
  F32X4_ADD,
  F32X4_MUL,
  get,
  I32,
  I32_ADD,
  I32_AND,
  I32_EQ,
  I32_EQZ,
  I32_GE_U,
  I32_GT_U,
  I32_LT_U,
  I32_MUL,
  I32_SHL,
  I32_SHR_U,
  I32_SUB,
  i32c,
  IF,
  load32Splat,
  LOOP,
  moduleOf,
  SELECT,
  set,
  tee,
  V128,
  V128_ZERO,
  v128Load,
  v128Store,
  vec,
} from "./_wasm_asm.ts";

/**
 * Rows per A panel (and per micro-tile). 2 MR accumulators + 2 B vectors + 1 broadcast must fit the 16 SIMD
 * registers V8 allocates on x64 (one is its scratch register): 6 rows spill (35 GFLOP/s here), 5 rows run at
 * about 50 GFLOP/s, 4 rows at 47 with a k loop that is not unrolled (one Zen 5 core, 128-bit vectors; a loop
 * of register-only f32x4 mul + add reaches 72 GFLOP/s there, so the loads and loop overhead are the limit).
 */
export const MR = 5;
/** Columns per B panel (and per micro-tile): two f32x4 vectors. */
export const NR = 8;
/**
 * k steps per iteration of the kernel's inner loop (unrolled; K % KU steps follow one by one): the loop's
 * pointer and counter updates and its branch once per KU steps raise the 5x8 kernel from about 50 to about
 * 59 GFLOP/s on the repository models' shapes with 4 steps, 60-61 with 8.
 */
const KU_LOG2 = 3, KU = 1 << KU_LOG2;

// params: ap 0, bp 1, cp 2, K 3, np 4, nq 5, ldc 6; i32 locals: p 7, q 8, k 9, a 10, b 11, c 12, bq 13;
// v128 locals: acc 14.. (row r: columns 0-3 at 14 + 2r, 4-7 at 15 + 2r), then b0, b1, av
function body(mr: number): number[] {
  const ACC = 14, B0 = ACC + 2 * mr, B1 = B0 + 1, AV = B1 + 1;
  const { code: c, emit } = emitter();
  // B panels last to first: bq = bp + (nq - 1) K 32, cp += (nq - 1) 32; q = nq
  emit(get(1), get(5), i32c(1), I32_SUB, tee(8), get(3), I32_MUL, i32c(5), I32_SHL, I32_ADD, set(13));
  emit(get(2), get(8), i32c(5), I32_SHL, I32_ADD, set(2), get(5), set(8));
  emit(BLOCK, get(8), I32_EQZ, brIf(0), LOOP); // for each B panel
  emit(get(0), set(10), get(2), set(12), i32c(0), set(7)); // a = ap, c = column block start, p = 0
  emit(BLOCK, get(4), I32_EQZ, brIf(0), LOOP); // for each A panel
  emit(V128_ZERO);
  for (let i = 0; i < 2 * mr - 1; i++) emit(tee(ACC + i));
  emit(set(ACC + 2 * mr - 1));
  // one k step: the B row (2 vectors), then per row r: acc += splat(A[r, k]) * B (mul, then add)
  const step = (u: number) => {
    emit(get(11), v128Load(32 * u), set(B0), get(11), v128Load(32 * u + 16), set(B1));
    for (let r = 0; r < mr; r++) {
      emit(get(10), load32Splat((u * mr + r) * 4), set(AV));
      emit(get(ACC + 2 * r), get(AV), get(B0), F32X4_MUL, F32X4_ADD, set(ACC + 2 * r));
      emit(get(ACC + 2 * r + 1), get(AV), get(B1), F32X4_MUL, F32X4_ADD, set(ACC + 2 * r + 1));
    }
  };
  // b = bq, k = K / KU: KU steps per iteration (the loop overhead once per KU steps), then K % KU single steps;
  // the k order is the same either way
  emit(get(13), set(11), get(3), i32c(KU_LOG2), I32_SHR_U, set(9));
  emit(BLOCK, get(9), I32_EQZ, brIf(0), LOOP);
  for (let u = 0; u < KU; u++) step(u);
  emit(get(10), i32c(KU * mr * 4), I32_ADD, set(10), get(11), i32c(KU * 32), I32_ADD, set(11));
  emit(get(9), i32c(1), I32_SUB, tee(9), brIf(0), END, END);
  emit(get(3), i32c(KU - 1), I32_AND, set(9));
  emit(BLOCK, get(9), I32_EQZ, brIf(0), LOOP);
  step(0);
  emit(get(10), i32c(mr * 4), I32_ADD, set(10), get(11), i32c(32), I32_ADD, set(11));
  emit(get(9), i32c(1), I32_SUB, tee(9), brIf(0), END, END);
  // store the tile's rows; c moves on to the next tile's first row
  for (let r = 0; r < mr; r++) {
    emit(get(12), get(ACC + 2 * r), v128Store(0), get(12), get(ACC + 2 * r + 1), v128Store(16));
    emit(get(12), get(6), I32_ADD, set(12));
  }
  emit(get(7), i32c(1), I32_ADD, tee(7), get(4), I32_LT_U, brIf(0), END, END);
  // previous B panel: bq -= K 32, column block start -= 32 bytes
  emit(get(13), get(3), i32c(5), I32_SHL, I32_SUB, set(13), get(2), i32c(32), I32_SUB, set(2));
  emit(get(8), i32c(1), I32_SUB, tee(8), brIf(0), END, END, END);
  return [...vec([[7, I32], [2 * mr + 3, V128]]), ...c];
}

// params: src 0, dst 1, I 2, J 3, si 4, sj 5, W 6 (strides in bytes); i32 locals: p0 7, wn 8, j 9, s 10,
// d 11, w 12, ps 13, pd 14, srcP 15, dstP 16, fast 17, full 18 (a whole panel of MR rows), si2 19, si3 20,
// si4 21 (multiples of si)
function packBody(): number[] {
  const { code: c, emit } = emitter();
  emit(
    get(4),
    i32c(1),
    I32_SHL,
    set(19),
    get(19),
    get(4),
    I32_ADD,
    set(20),
    get(19),
    i32c(1),
    I32_SHL,
    set(21),
  );
  emit(get(0), set(15), get(1), set(16), i32c(0), set(7));
  emit(BLOCK, LOOP);
  emit(get(7), get(2), I32_GE_U, brIf(1)); // every panel done
  // wn = min(W, I - p0); fast = (si == 4) & (wn == 8): a panel row is 32 contiguous bytes
  emit(get(6), get(2), get(7), I32_SUB, tee(8), get(8), get(6), I32_GT_U, SELECT, set(8));
  emit(get(4), i32c(4), I32_EQ, get(8), i32c(8), I32_EQ, I32_AND, set(17));
  emit(get(8), i32c(MR), I32_EQ, set(18));
  emit(i32c(0), set(9), get(15), set(10), get(16), set(11));
  emit(BLOCK, get(3), I32_EQZ, brIf(0), LOOP);
  emit(get(17), IF);
  emit(get(11), get(10), v128Load(0), v128Store(0), get(11), get(10), v128Load(16), v128Store(16));
  emit(ELSE, get(18), IF); // MR rows of any stride, unrolled (A panels)
  for (let r = 0; r < MR; r++) {
    emit(get(11), get(10));
    if (r > 0) emit(get(r === 1 ? 4 : 17 + r), I32_ADD);
    emit(f32Load(0), f32Store(4 * r));
  }
  emit(ELSE, get(10), set(13), get(11), set(14), get(8), set(12), LOOP);
  emit(get(14), get(13), f32Load(0), f32Store(0));
  emit(get(14), i32c(4), I32_ADD, set(14), get(13), get(4), I32_ADD, set(13));
  emit(get(12), i32c(1), I32_SUB, tee(12), brIf(0), END); // loop
  emit(END, END); // if, if
  emit(get(10), get(5), I32_ADD, set(10), get(11), get(6), i32c(4), I32_MUL, I32_ADD, set(11));
  emit(get(9), i32c(1), I32_ADD, tee(9), get(3), I32_LT_U, brIf(0), END, END);
  // next panel: srcP += W * si, dstP += J * W * 4, p0 += W
  emit(get(15), get(6), get(4), I32_MUL, I32_ADD, set(15));
  emit(get(16), get(3), get(6), I32_MUL, i32c(4), I32_MUL, I32_ADD, set(16));
  emit(get(7), get(6), I32_ADD, set(7), br(0), END, END, END);
  return [...vec([[15, I32]]), ...c];
}

// addRows / mulMatRows (op add / mul): params c 0, bias 1, rows 2, n4 3, ldc 4, bs 5 (bytes); i32 locals:
// j 6, pc 7, pb 8. mulRows (op scale): params c 0, s 1, rows 2, n4 3, ldc 4; i32 locals: j 5, pc 6, pb 7;
// v128 sv 8.
function rowsBody(op: "add" | "mul" | "scale"): number[] {
  const mul = op === "scale",
    VOP = op === "add" ? F32X4_ADD : F32X4_MUL,
    SOP = op === "add" ? F32_ADD : F32_MUL;
  const J = mul ? 5 : 6, PC = J + 1, PB = J + 2, SV = 8;
  const { code: c, emit } = emitter();
  if (mul) emit(get(1), load32Splat(0), set(SV));
  emit(BLOCK, get(2), I32_EQZ, brIf(0), LOOP);
  emit(get(0), set(PC), get(1), set(PB));
  // N / 4 quads, then the N % 4 floats left
  emit(BLOCK, get(3), i32c(2), I32_SHR_U, tee(J), I32_EQZ, brIf(0), LOOP);
  if (mul) emit(get(PC), get(PC), v128Load(0), get(SV), F32X4_MUL, v128Store(0));
  else emit(get(PC), get(PC), v128Load(0), get(PB), v128Load(0), VOP, v128Store(0));
  emit(get(PC), i32c(16), I32_ADD, set(PC), get(PB), i32c(16), I32_ADD, set(PB));
  emit(get(J), i32c(1), I32_SUB, tee(J), brIf(0), END, END);
  emit(BLOCK, get(3), i32c(3), I32_AND, tee(J), I32_EQZ, brIf(0), LOOP);
  if (mul) emit(get(PC), get(PC), f32Load(0), get(1), f32Load(0), F32_MUL, f32Store(0));
  else emit(get(PC), get(PC), f32Load(0), get(PB), f32Load(0), SOP, f32Store(0));
  emit(get(PC), i32c(4), I32_ADD, set(PC), get(PB), i32c(4), I32_ADD, set(PB));
  emit(get(J), i32c(1), I32_SUB, tee(J), brIf(0), END, END);
  emit(get(0), get(4), I32_ADD, set(0));
  if (!mul) emit(get(1), get(5), I32_ADD, set(1)); // the next bias row (bs = 0: the same row)
  emit(get(2), i32c(1), I32_SUB, tee(2), brIf(0), END, END, END);
  return [...vec(mul ? [[3, I32], [1, V128]] : [[3, I32]]), ...c];
}

/** The instantiated float32 kernel and its memory. */
export interface WasmGemmF32 {
  memory: WebAssembly.Memory;
  gemm: (ap: number, bp: number, cp: number, K: number, np: number, nq: number, ldc: number) => void;
  /**
   * Pack a strided matrix X (I x J, element (i, j) at byte `src + i*si + j*sj`) into panels of W along i:
   * `X[i, j]` to float `(i / W) * J * W + j * W + i % W` from byte `dst`. Padding of a last partial panel
   * is not written (the caller zeroes it). The panels of A are X = A (i = row, j = k, W = MR), of B
   * X = B^T (i = column, j = k, W = NR).
   */
  pack: (src: number, dst: number, I: number, J: number, si: number, sj: number, W: number) => void;
  /**
   * Add `N` floats to each of `rows` rows of `N` floats (stride `ldc` bytes) at `c`: row r gets those at byte
   * `bias + r * bs` (`bs` = 0: one bias row for all), `f32x4.add`, the rounding of a separate Add.
   */
  addRows: (c: number, bias: number, rows: number, N: number, ldc: number, bs: number) => void;
  /** Multiply `rows` rows of `N` floats (stride `ldc` bytes) at `c` by the float at byte `s` (rounded). */
  mulRows: (c: number, s: number, rows: number, N: number, ldc: number) => void;
  /** {@link addRows} with `f32x4.mul`: row r times the `N` floats at byte `m + r * ms`, element by element. */
  mulMatRows: (c: number, m: number, rows: number, N: number, ldc: number, ms: number) => void;
}

function instantiate(): WasmGemmF32 | undefined {
  try {
    const bytes = moduleOf([
      { name: "gemm", params: 7, body: body(MR) },
      { name: "pack", params: 7, body: packBody() },
      { name: "addRows", params: 6, body: rowsBody("add") },
      { name: "mulRows", params: 5, body: rowsBody("scale") },
      { name: "mulMatRows", params: 6, body: rowsBody("mul") },
    ]);
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as WasmGemmF32;
  } catch {
    return undefined; // no SIMD support: the JavaScript kernel runs instead
  }
}

/** The shared float32 kernel instance (single-threaded: one GEMM runs at a time), or undefined without SIMD. */
export const wasmGemmF32: WasmGemmF32 | undefined = instantiate();

/**
 * The kernel's arithmetic in JavaScript, on the same packed layout (the fallback where WebAssembly SIMD is
 * unavailable, and the definition the kernel is tested against): `C` receives the `MR np x 8 nq` block, row
 * stride `ldc` floats, from float offset `cOff`. Gives the same bits as the kernel: a float32 product or sum
 * computed in double and rounded once is the correctly rounded float32 result (53 >= 2 * 24 + 2).
 *
 * @param A packed A panels, from float offset `aOff`
 * @param B packed B panels, from float offset `bOff`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gemmF32Scalar, MR, NR } from "./wasm_gemm_f32.ts";
 * // one panel each, K = 1: A[r, 0] = r, B[0, c] = c
 * const A = Float32Array.from({ length: MR }, (_, r) => r);
 * const B = Float32Array.from({ length: NR }, (_, c) => c);
 * const C = new Float32Array(MR * NR);
 * gemmF32Scalar(A, 0, B, 0, C, 0, 1, 1, 1, NR);
 * assertEquals(C[2 * NR + 3], 6);
 * ```
 */
export function gemmF32Scalar(
  A: Float32Array,
  aOff: number,
  B: Float32Array,
  bOff: number,
  C: Float32Array,
  cOff: number,
  K: number,
  np: number,
  nq: number,
  ldc: number,
): void {
  const f = Math.fround;
  for (let q = 0; q < nq; q++) {
    const bq = bOff + q * K * NR;
    for (let p = 0; p < np; p++) {
      const ap = aOff + p * K * MR;
      for (let r = 0; r < MR; r++) {
        for (let j = 0; j < NR; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s = f(s + f(A[ap + k * MR + r]! * B[bq + k * NR + j]!));
          C[cOff + (p * MR + r) * ldc + q * NR + j] = s;
        }
      }
    }
  }
}
