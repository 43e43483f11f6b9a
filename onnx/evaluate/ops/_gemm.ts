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
  gemmAny(M, a, bp, undefined, bp.K, bp.N, C, cOff, ldc, accumulate, bias);
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
  if (!memory) return gemm(M, a, packB(b, K, N), C, cOff, ldc, false, bias);
  gemmAny(M, a, undefined, b, K, N, C, cOff, ldc, false, bias);
}

/** Floats from the first to the last element of an R x C strided view, rounded up to 4 (16 bytes). */
function spanOf(v: View, R: number, Cc: number): number {
  return (Math.ceil(((R - 1) * v.rs + (Cc - 1) * v.cs + 1) / 4) * 4);
}

function gemmAny(
  M: number,
  a: View,
  bp: PackedB | undefined,
  bv: View | undefined,
  K: number,
  N: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
  accumulate: boolean,
  bias?: Float32Array,
): void {
  if (M <= 0 || N <= 0) return;
  const nq = Math.ceil(N / NR), ldw = nq * NR;
  const pb = Math.max(1, Math.min(Math.ceil(M / MR), Math.floor(A_BLOCK_BYTES / Math.max(1, K * MR * 4))));
  const w = wasmGemmF32;
  const aFloats = pb * K * MR, cFloats = pb * MR * ldw;
  if (!w || !memory) {
    const H = new Float32Array(aFloats + cFloats);
    for (let i0 = 0; i0 < M; i0 += pb * MR) {
      const mb = Math.min(pb * MR, M - i0), np = Math.ceil(mb / MR);
      packA(a, i0, mb, K, H, 0);
      gemmF32Scalar(H, 0, bp!.data!, 0, H, aFloats, K, np, nq, ldw);
      copyOut(H, aFloats, ldw, mb, N, C, cOff + i0 * ldc, ldc, accumulate, bias);
    }
    return;
  }
  // scratch (floats, from the resident blocks' end S): packed B (unless resident) | B source span (unpacked B
  // only) | A source span | A panels | C block (rows of exactly N floats, see wasm_gemm_f32.ts, + 8 floats of
  // slack) | bias row
  const S = memory.scratch / 4, bFloats = bp?.at !== undefined ? 0 : nq * K * NR;
  const bSpan = bv && K > 0 ? spanOf(bv, K, N) : 0, aSpan = K > 0 ? spanOf(a, M, K) : 0;
  const bSrc = S + bFloats, aSrc = bSrc + bSpan, aBase = aSrc + aSpan, cBase = aBase + aFloats;
  // the bias row is added to the C block in WebAssembly (f32x4.add: the same rounding)
  const biasBase = Math.ceil((cBase + pb * MR * N + 8) / 4) * 4, wasmBias = bias !== undefined && !accumulate;
  const H = memory.heap((biasBase + (wasmBias ? N : 0)) * 4);
  if (wasmBias) H.set(bias!.subarray(0, N), biasBase);
  const bAt = bp?.at ?? S * 4; // byte offset of the B panels
  if (bp) { if (bp.at === undefined) H.set(bp.data!, S); }
  else if (bSpan) {
    H.set(bv!.data.subarray(bv!.off, bv!.off + Math.min(bSpan, bv!.data.length - bv!.off)), bSrc);
    if (N % NR) H.fill(0, S + (nq - 1) * K * NR, S + nq * K * NR);
    w.pack(bSrc * 4, S * 4, N, K, bv!.cs * 4, bv!.rs * 4, NR);
  }
  if (aSpan) H.set(a.data.subarray(a.off, a.off + Math.min(aSpan, a.data.length - a.off)), aSrc);
  for (let i0 = 0; i0 < M; i0 += pb * MR) {
    const mb = Math.min(pb * MR, M - i0), np = Math.ceil(mb / MR);
    if (mb % MR) H.fill(0, aBase + (np - 1) * K * MR, aBase + np * K * MR);
    if (K > 0) w.pack((aSrc + i0 * a.rs) * 4, aBase * 4, mb, K, a.rs * 4, a.cs * 4, MR);
    w.gemm(aBase * 4, bAt, cBase * 4, K, np, nq, N * 4);
    if (wasmBias) w.addRows(cBase * 4, biasBase * 4, mb, N, N * 4);
    copyOut(H, cBase, N, mb, N, C, cOff + i0 * ldc, ldc, accumulate, wasmBias ? undefined : bias);
  }
}

/** Rows of the C block (leading dimension ldw at H[base]) into C, plus the bias row where there is one. */
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
  bias: Float32Array | undefined,
): void {
  if (bias) {
    for (let r = 0; r < mb; r++) {
      const src = base + r * ldw, dst = cOff + r * ldc;
      if (accumulate) {
        for (let j = 0; j < N; j++) C[dst + j] = C[dst + j]! + Math.fround(H[src + j]! + bias[j]!);
      } else for (let j = 0; j < N; j++) C[dst + j] = H[src + j]! + bias[j]!;
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
