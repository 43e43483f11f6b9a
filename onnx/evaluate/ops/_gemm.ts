/**
 * Blocked single-precision GEMM for MatMul, Gemm, Conv and ConvTranspose: C[M,N] = A[M,K] * B[K,N], with
 * float32 accumulation like onnxruntime. A is packed into 5-row panels and B into 8-column panels (any
 * strides, so transposes cost nothing extra), and a 5x8 micro-kernel (WebAssembly SIMD f32x4,
 * `quant/wasm_gemm_f32.ts`; the same arithmetic in JavaScript where SIMD is unavailable, identical bits) sums
 * each output over k = 0..K-1 in order, every product and sum rounded to float32. The order is fixed, so the
 * result does not depend on the blocking; its error against the exact dot product is at most
 * `gamma(K) * sum_k |a_k b_k|`, `gamma(K) = K 2^-24 / (1 - K 2^-24)` (onnxruntime's own float32 sums obey the
 * same bound in another order, so the two differ by at most twice it). Rows of A go through the kernel in
 * blocks of about 192 KiB of packed A, which stay in L2 while the B panels stream past.
 *
 * Constant B operands of a cached model are packed once into the kernel's WebAssembly memory and read there
 * in place ({@link residentB}, `_gemm_memory.ts`). {@link gemmBatch} runs a batch of products (attention's
 * heads, read through any strides) from one copy of each operand, stores each into any layout of rows, and
 * applies an {@link Epilogue} (bias, mask, scale, residual, element-wise product) to the C block in
 * WebAssembly with the rounding of the separate ops.
 * @module
 */
import { gemmF32Scalar, MR, NR, wasmGemmF32 } from "../../../quant/wasm_gemm_f32.ts";
import { GemmMemory } from "./_gemm_memory.ts";

/** A strided 2-D view: element (r, c) is `data[off + r * rs + c * cs]`. */
export interface View {
  data: Float32Array;
  off: number;
  rs: number;
  cs: number;
}

/**
 * B packed into {@link NR}-column panels: panel q holds `B[k, NR q + c]` at `q*K*NR + k*NR + c`, zero-padded.
 * The panels are in `data`, or (`at`, from {@link residentB}) in the kernel's WebAssembly memory from byte
 * `at`, where every call reads them in place.
 */
export interface PackedB {
  data?: Float32Array;
  at?: number;
  K: number;
  N: number;
}

/** The kernel memory: resident packed operands below, each call's scratch area above. */
const memory = wasmGemmF32 && new GemmMemory(wasmGemmF32);

/**
 * B packed once into the kernel memory, where it stays until the returned object is garbage collected (a
 * weight of a cached model: no copy per call). Without WebAssembly, {@link packB}.
 */
export function residentB(b: View, K: number, N: number): PackedB {
  const p = packB(b, K, N);
  if (!memory) return p;
  const r: PackedB = { K, N };
  r.at = memory.alloc(p.data!.byteLength, r);
  memory.heap(r.at + p.data!.byteLength).set(p.data!, r.at / 4);
  return r;
}

/** Pack B [K, N] for {@link gemm}. */
export function packB(b: View, K: number, N: number): PackedB {
  const nq = Math.ceil(N / NR);
  const out = new Float32Array(nq * K * NR);
  const { data, off, rs, cs } = b;
  for (let q = 0; q < nq; q++) {
    const base = q * K * NR;
    const c0 = q * NR, cn = Math.min(NR, N - c0);
    if (cs === 1 && cn === NR) {
      for (let k = 0; k < K; k++) {
        out.set(data.subarray(off + k * rs + c0, off + k * rs + c0 + NR), base + k * NR);
      }
      continue;
    }
    for (let k = 0; k < K; k++) {
      const src = off + k * rs + c0 * cs, dst = base + k * NR;
      for (let c = 0; c < cn; c++) out[dst + c] = data[src + c * cs]!;
    }
  }
  return { data: out, K, N };
}

/**
 * Packed B operands kept across evaluations, by source array and view. Only constant operands (initializers)
 * go in: the cache is valid as long as their data is not modified (see `EvaluateOptions.cache`).
 */
export type PackCache = WeakMap<Float32Array, Map<string, PackedB>>;

/** {@link packB} through a cache (plain packB when `cache` is undefined). */
export function packBCached(cache: PackCache | undefined, b: View, K: number, N: number): PackedB {
  if (!cache) return packB(b, K, N);
  let byView = cache.get(b.data);
  if (!byView) cache.set(b.data, byView = new Map());
  const key = `${b.off},${b.rs},${b.cs},${K},${N}`;
  let p = byView.get(key);
  if (!p) byView.set(key, p = residentB(b, K, N));
  return p;
}

/** Bytes of packed A per kernel call: the block of A panels stays in L2 while the B panels pass over it. */
const A_BLOCK_BYTES = 192 * 1024;

/**
 * What happens to the float32 product before it is stored, with the rounding of the separate op: an Add of a
 * bias row or matrix (`fl(P + add)`), a Mul by a scalar (`fl(P * mul)`) or by a matrix (`fl(P * mulBy)`),
 * one of them.
 */
export interface Epilogue {
  /** Added: one row of N floats, or (with `addMatrix`) an M x N matrix, the same for every batch element. */
  add?: Float32Array;
  /** `add` holds M rows of N floats (row i at i N). @default {false} */
  addMatrix?: boolean;
  /** Multiplied by this float32 scalar. */
  mul?: number;
  /** Multiplied element by element by this M x N matrix, the same for every batch element. */
  mulBy?: Float32Array;
  /**
   * The matrix (`add` with `addMatrix`, or `mulBy`) holds every batch element's own M x N block, element i's
   * from float i M N (a residual of the output's own shape). @default {false}
   */
  full?: boolean;
  /** A further step, applied to this step's float32 result. */
  then?: Epilogue;
}

/** The steps of an epilogue chain that do something. */
function stepsOf(epi: Epilogue | undefined): Epilogue[] {
  const out: Epilogue[] = [];
  for (let e = epi; e; e = e.then) if (e.add || e.mulBy || e.mul !== undefined) out.push(e);
  return out;
}

/** Floats of a step's operand for one batch element (M rows), and whether it is a matrix. */
function stepShape(e: Epilogue, M: number, N: number): [number, boolean] {
  const matrix = e.add ? e.addMatrix === true : e.mulBy !== undefined;
  return [matrix ? M * N : e.add ? N : 1, matrix];
}

/** A batch of strided M x K (A) or K x N (B) operands: element i starts at `offs[i]` of `data`. */
export interface BatchOperand {
  data: Float32Array;
  rs: number;
  cs: number;
  offs: ArrayLike<number>;
}

/**
 * C = A * B (or C += A * B with `accumulate`, the product rounded to float32 first), C row-major with
 * leading dimension `ldc` at offset `cOff`, B packed by {@link packB}. Every output is the float32 sum of its
 * K products in k order (see quant/wasm_gemm_f32.ts): the result does not depend on the blocking. With
 * `bias` (N values), `C[i, j] = fl(fl(A B)[i, j] + bias[j])`: the float32 product plus the bias, rounded
 * again, exactly what a separate Add computes.
 */
export function gemm(
  M: number,
  a: View,
  bp: PackedB,
  C: Float32Array,
  cOff: number,
  ldc: number,
  accumulate = false,
  bias?: Float32Array,
): void {
  const av = { data: a.data, rs: a.rs, cs: a.cs, offs: [a.off] };
  gemmBatch(1, M, bp.K, bp.N, av, bp, C, [cOff], ldc, bias ? { add: bias } : {}, accumulate);
}

/**
 * {@link gemm} with B [K, N] as a strided view, packed on the fly (in WebAssembly where available): for
 * operands used once (activations, im2col columns), where a packed copy is not worth keeping.
 */
export function gemmView(
  M: number,
  a: View,
  b: View,
  K: number,
  N: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
  bias?: Float32Array,
): void {
  const av = { data: a.data, rs: a.rs, cs: a.cs, offs: [a.off] };
  const bv = { data: b.data, rs: b.rs, cs: b.cs, offs: [b.off] };
  gemmBatch(1, M, K, N, av, bv, C, [cOff], ldc, bias ? { add: bias } : {});
}

/** Floats from the first to the last element of an R x C strided view, rounded up to 4 (16 bytes). */
function spanOf(v: { rs: number; cs: number }, R: number, Cc: number): number {
  return (Math.ceil(((R - 1) * v.rs + (Cc - 1) * v.cs + 1) / 4) * 4);
}

/** The lowest offset of a batch and the floats from it past the highest element. */
function extentOf(v: BatchOperand, nb: number, R: number, Cc: number): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < nb; i++) lo = Math.min(lo, v.offs[i]!), hi = Math.max(hi, v.offs[i]!);
  return [lo, hi - lo + spanOf(v, R, Cc)];
}

/**
 * `nb` products at once: C_i = A_i * B_i (+ the epilogue), A_i the M x K view of `a` at `a.offs[i]`, B_i the
 * K x N view of `b` at `b.offs[i]` or one packed B for all, C_i at `cOffs[i]` of C with leading dimension
 * `ldc` (rows of N contiguous floats; any layout of the batch elements, so an output Transpose costs
 * nothing). Each operand's data for the whole batch moves into the kernel memory once (attention's heads
 * read from one copy, whatever their strides); B views are packed once per distinct offset. The bits are
 * those of {@link gemm} on each element alone.
 */
export function gemmBatch(
  nb: number,
  M: number,
  K: number,
  N: number,
  a: BatchOperand,
  b: BatchOperand | PackedB,
  C: Float32Array,
  cOffs: ArrayLike<number>,
  ldc: number,
  epi: Epilogue = {},
  accumulate = false,
): void {
  if (M <= 0 || N <= 0 || nb <= 0) return;
  const nq = Math.ceil(N / NR), ldw = nq * NR;
  const pb = Math.max(1, Math.min(Math.ceil(M / MR), Math.floor(A_BLOCK_BYTES / Math.max(1, K * MR * 4))));
  const w = wasmGemmF32;
  const aFloats = pb * K * MR, cFloats = pb * MR * ldw;
  const packed = "offs" in b ? undefined : b, bv = "offs" in b ? b : undefined;
  if (!w || !memory || accumulate) {
    // JavaScript kernel (also for accumulate, which only tests and callers without WebAssembly use)
    const H = new Float32Array(aFloats + cFloats);
    let bp = packed, lastB = NaN;
    for (let i = 0; i < nb; i++) {
      if (bv && bv.offs[i] !== lastB) {
        bp = packB({ data: bv.data, off: bv.offs[i]!, rs: bv.rs, cs: bv.cs }, K, N), lastB = bv.offs[i]!;
      }
      if (bp!.at !== undefined) {
        bp = { ...bp!, data: memory!.heap(0).slice(bp!.at / 4, bp!.at / 4 + nq * K * NR) };
      }
      for (let i0 = 0; i0 < M; i0 += pb * MR) {
        const mb = Math.min(pb * MR, M - i0), np = Math.ceil(mb / MR);
        packA({ data: a.data, off: a.offs[i]!, rs: a.rs, cs: a.cs }, i0, mb, K, H, 0);
        gemmF32Scalar(H, 0, bp!.data!, 0, H, aFloats, K, np, nq, ldw);
        copyOut(H, aFloats, ldw, mb, N, C, cOffs[i]! + i0 * ldc, ldc, accumulate, epi, i * M + i0, i0);
      }
    }
    return;
  }
  // scratch (floats, from the resident blocks' end S): packed B (unless resident) | B source span (B views
  // only) | A source span | A panels | C block (rows of exactly N floats, see wasm_gemm_f32.ts, + 8 floats of
  // slack) | epilogue operand (bias row, bias matrix or scalar)
  const S = memory.scratch / 4, bFloats = packed?.at !== undefined ? 0 : nq * K * NR;
  const [bLo, bSpan] = bv && K > 0 ? extentOf(bv, nb, K, N) : [0, 0];
  const [aLo, aSpan] = K > 0 ? extentOf(a, nb, M, K) : [0, 0];
  const bSrc = S + bFloats, aSrc = bSrc + bSpan, aBase = aSrc + aSpan, cBase = aBase + aFloats;
  // each epilogue step's operand (a full matrix: every batch element's block)
  const steps = stepsOf(epi), eBases: number[] = [];
  let eEnd = Math.ceil((cBase + pb * MR * N + 8) / 4) * 4;
  for (const e of steps) {
    const [n, matrix] = stepShape(e, M, N);
    eBases.push(eEnd);
    eEnd += Math.ceil((matrix && e.full ? nb * n : n) / 4) * 4;
  }
  const H = memory.heap(eEnd * 4);
  steps.forEach((e, k) => {
    const [n, matrix] = stepShape(e, M, N), src = e.add ?? e.mulBy;
    if (src) H.set(src.subarray(0, matrix && e.full ? nb * n : n), eBases[k]!);
    else H[eBases[k]!] = e.mul!;
  });
  const bAt = packed?.at ?? S * 4; // byte offset of the B panels
  if (packed && packed.at === undefined) H.set(packed.data!, S);
  if (bSpan) H.set(bv!.data.subarray(bLo, Math.min(bLo + bSpan, bv!.data.length)), bSrc);
  if (aSpan) H.set(a.data.subarray(aLo, Math.min(aLo + aSpan, a.data.length)), aSrc);
  let lastB = NaN;
  for (let i = 0; i < nb; i++) {
    if (bv && bSpan && bv.offs[i] !== lastB) {
      if (N % NR) H.fill(0, S + (nq - 1) * K * NR, S + nq * K * NR);
      w.pack((bSrc + bv.offs[i]! - bLo) * 4, S * 4, N, K, bv.cs * 4, bv.rs * 4, NR);
      lastB = bv.offs[i]!;
    }
    const aAt = aSrc + a.offs[i]! - aLo;
    for (let i0 = 0; i0 < M; i0 += pb * MR) {
      const mb = Math.min(pb * MR, M - i0), np = Math.ceil(mb / MR);
      if (mb % MR) H.fill(0, aBase + (np - 1) * K * MR, aBase + np * K * MR);
      if (K > 0) w.pack((aAt + i0 * a.rs) * 4, aBase * 4, mb, K, a.rs * 4, a.cs * 4, MR);
      else H.fill(0, cBase, cBase + mb * N); // an empty sum is +0
      if (K > 0) w.gemm(aBase * 4, bAt, cBase * 4, K, np, nq, N * 4);
      steps.forEach((e, k) => {
        const [, matrix] = stepShape(e, M, N);
        const at = (eBases[k]! + (matrix ? ((e.full ? i * M : 0) + i0) * N : 0)) * 4;
        if (e.add) w.addRows(cBase * 4, at, mb, N, N * 4, matrix ? N * 4 : 0);
        else if (e.mulBy) w.mulMatRows(cBase * 4, at, mb, N, N * 4, N * 4);
        else w.mulRows(cBase * 4, at, mb, N, N * 4);
      });
      copyOut(H, cBase, N, mb, N, C, cOffs[i]! + i0 * ldc, ldc, false, {}, 0, 0);
    }
  }
}

/**
 * Rows of the C block (leading dimension ldw at H[base]) into C, the epilogue applied where there is one
 * (row r of the block is row i0 + r of its batch element's product, row g0 + r of a full matrix).
 */
function copyOut(
  H: Float32Array,
  base: number,
  ldw: number,
  mb: number,
  N: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
  accumulate: boolean,
  epi: Epilogue,
  g0: number,
  i0: number,
): void {
  const steps = stepsOf(epi);
  if (steps.length) {
    const f = Math.fround;
    for (let r = 0; r < mb; r++) {
      const src = base + r * ldw, dst = cOff + r * ldc;
      for (let j = 0; j < N; j++) {
        let v = H[src + j]!;
        for (const e of steps) {
          const matrix = e.add ? e.addMatrix === true : e.mulBy !== undefined;
          const at = matrix ? ((e.full ? g0 : i0) + r) * N + j : j;
          v = e.add ? f(v + e.add[at]!) : e.mulBy ? f(v * e.mulBy[at]!) : f(v * e.mul!);
        }
        C[dst + j] = accumulate ? C[dst + j]! + v : v;
      }
    }
    return;
  }
  if (!accumulate && ldc === N && ldw === N) {
    C.set(H.subarray(base, base + mb * N), cOff);
    return;
  }
  for (let r = 0; r < mb; r++) {
    const src = base + r * ldw, dst = cOff + r * ldc;
    if (accumulate) { for (let j = 0; j < N; j++) C[dst + j] = C[dst + j]! + H[src + j]!; }
    else if (N >= 128) C.set(H.subarray(src, src + N), dst);
    else for (let j = 0; j < N; j++) C[dst + j] = H[src + j]!; // short rows: no subarray per row
  }
}

/** Rows i0..i0+mb-1 of A into MR-row panels at `H[base + p*K*MR + k*MR + r]`, zero rows past mb. */
function packA(a: View, i0: number, mb: number, K: number, H: Float32Array, base: number): void {
  const { data: A, off, rs, cs } = a;
  const np = Math.ceil(mb / MR);
  if (mb % MR) H.fill(0, base + (np - 1) * K * MR, base + np * K * MR);
  for (let r = 0; r < mb; r++) {
    const src = off + (i0 + r) * rs, dst = base + Math.floor(r / MR) * K * MR + (r % MR);
    if (cs === 1) { for (let k = 0; k < K; k++) H[dst + k * MR] = A[src + k]!; }
    else for (let k = 0; k < K; k++) H[dst + k * MR] = A[src + k * cs]!;
  }
}
