/**
 * The evaluator's former double-precision GEMM, kept for the CPU oracle of `shiftkit.ShiftConv`
 * (`dense_shift.ts`), which the WebGPU validation compares its kernel against: that oracle's numbers must not
 * move with the float32 GEMM of `_gemm.ts`. C[M,N] = A[M,K] * B[K,N]: both operands packed into 4-wide panels
 * of doubles, a 4x4 micro-kernel (WebAssembly f64x2, `quant/wasm_gemm.ts`, or the same arithmetic in
 * JavaScript) sums each output over k = 0..K-1 in order in double, rounded once to float32 on store: the
 * correctly ordered double sum, independent of the tiling.
 * @module
 */
import { wasmGemm, wasmHeap } from "../../../quant/wasm_gemm.ts";
import type { View } from "./_gemm.ts";

/** B packed into 4-column panels of doubles: panel q holds `B[k, 4q + c]` at `q * K * 4 + k * 4 + c`. */
interface PackedB64 {
  data: Float64Array;
  K: number;
  N: number;
}

function packB64(b: View, K: number, N: number): PackedB64 {
  const nq = (N + 3) >> 2;
  const out = new Float64Array(nq * K * 4);
  const { data, off, rs, cs } = b;
  for (let q = 0; q < nq; q++) {
    const base = q * K * 4;
    const c0 = q * 4, cn = Math.min(4, N - c0);
    for (let k = 0; k < K; k++) {
      const src = off + k * rs + c0 * cs, dst = base + k * 4;
      for (let c = 0; c < cn; c++) out[dst + c] = data[src + c * cs]!;
    }
  }
  return { data: out, K, N };
}

const MC = 64; // rows per block of packed A

/**
 * C = A * B in double precision, rounded once to float32, C row-major with leading dimension `ldc` at
 * offset `cOff`, B [K, N] a strided view.
 */
export function gemmF64(
  M: number,
  a: View,
  b: View,
  K: number,
  N: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  gemm64(M, a, packB64(b, K, N), C, cOff, ldc);
}

function gemm64(
  M: number,
  a: View,
  bp: PackedB64,
  C: Float32Array,
  cOff: number,
  ldc: number,
  accumulate = false,
): void {
  if (wasmGemm && M > 0 && bp.N > 0) return gemmWasm(M, a, bp, C, cOff, ldc, accumulate);
  const { K, N } = bp;
  const B = bp.data;
  const nq = (N + 3) >> 2;
  const Ap = new Float64Array(Math.min(MC, M + 3) * K + 4 * K);
  const { data: A, off: aOff, rs: ars, cs: acs } = a;
  for (let i0 = 0; i0 < M; i0 += MC) {
    const mb = Math.min(MC, M - i0);
    const np = (mb + 3) >> 2;
    // pack this block of A into 4-row panels: Ap[p * K * 4 + k * 4 + r] = A[i0 + 4p + r, k]
    Ap.fill(0, 0, np * K * 4);
    for (let r = 0; r < mb; r++) {
      const p = r >> 2, rr = r & 3;
      const src = aOff + (i0 + r) * ars, dst = p * K * 4 + rr;
      for (let k = 0; k < K; k++) Ap[dst + k * 4] = A[src + k * acs]!;
    }
    for (let q = 0; q < nq; q++) {
      const bBase = q * K * 4;
      const j0 = q * 4, nc = Math.min(4, N - j0);
      for (let p = 0; p < np; p++) {
        const aBase = p * K * 4;
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let k = 0, ai = aBase, bi = bBase; k < K; k++, ai += 4, bi += 4) {
          const a0 = Ap[ai]!, a1 = Ap[ai + 1]!, a2 = Ap[ai + 2]!, a3 = Ap[ai + 3]!;
          const b0 = B[bi]!, b1 = B[bi + 1]!, b2 = B[bi + 2]!, b3 = B[bi + 3]!;
          c00 += a0 * b0, c01 += a0 * b1, c02 += a0 * b2, c03 += a0 * b3;
          c10 += a1 * b0, c11 += a1 * b1, c12 += a1 * b2, c13 += a1 * b3;
          c20 += a2 * b0, c21 += a2 * b1, c22 += a2 * b2, c23 += a2 * b3;
          c30 += a3 * b0, c31 += a3 * b1, c32 += a3 * b2, c33 += a3 * b3;
        }
        const r0 = i0 + p * 4, nr = Math.min(4, M - r0), d0 = cOff + r0 * ldc + j0;
        store(C, d0, nc, accumulate, c00, c01, c02, c03);
        if (nr > 1) store(C, d0 + ldc, nc, accumulate, c10, c11, c12, c13);
        if (nr > 2) store(C, d0 + 2 * ldc, nc, accumulate, c20, c21, c22, c23);
        if (nr > 3) store(C, d0 + 3 * ldc, nc, accumulate, c30, c31, c32, c33);
      }
    }
  }
}

/** {@link gemm} on the WebAssembly kernel: B, A and a tile buffer laid out in its memory. */
function gemmWasm(
  M: number,
  a: View,
  bp: PackedB64,
  C: Float32Array,
  cOff: number,
  ldc: number,
  accumulate: boolean,
): void {
  const w = wasmGemm!;
  const { K, N } = bp;
  const nq = (N + 3) >> 2, np = (M + 3) >> 2;
  // panels of B per column block: about 256 KiB of B, at least one panel
  const qb = Math.max(1, Math.min(nq, Math.floor(8192 / Math.max(1, K))));
  const bBytes = nq * K * 32, aBase = bBytes, cBase = aBase + np * K * 32;
  const H = wasmHeap(w, cBase + qb * 128);
  H.set(bp.data, 0);
  // pack A into 4-row panels: H[aBase/8 + p * K * 4 + k * 4 + r] = A[4p + r, k], zero rows past M
  const { data: A, off: aOff, rs: ars, cs: acs } = a;
  const a8 = aBase >> 3;
  if (M & 3) H.fill(0, a8 + (np - 1) * K * 4, a8 + np * K * 4);
  for (let r = 0; r < M; r++) {
    const src = aOff + r * ars, dst = a8 + (r >> 2) * K * 4 + (r & 3);
    for (let k = 0; k < K; k++) H[dst + k * 4] = A[src + k * acs]!;
  }
  const c8 = cBase >> 3;
  for (let q0 = 0; q0 < nq; q0 += qb) {
    const nqb = Math.min(qb, nq - q0), j0 = q0 * 4, nc = Math.min(nqb * 4, N - j0), rs = nqb * 4;
    for (let p = 0; p < np; p++) {
      w.panel(aBase + p * K * 32, q0 * K * 32, cBase, K, nqb, rs * 8);
      const r0 = p * 4, nr = Math.min(4, M - r0);
      for (let r = 0; r < nr; r++) {
        const src = c8 + r * rs, dst = cOff + (r0 + r) * ldc + j0;
        if (accumulate) { for (let j = 0; j < nc; j++) C[dst + j] = C[dst + j]! + H[src + j]!; }
        else for (let j = 0; j < nc; j++) C[dst + j] = H[src + j]!;
      }
    }
  }
}

function store(
  C: Float32Array,
  d: number,
  nc: number,
  acc: boolean,
  v0: number,
  v1: number,
  v2: number,
  v3: number,
): void {
  if (acc) {
    C[d] = C[d]! + v0;
    if (nc > 1) C[d + 1] = C[d + 1]! + v1;
    if (nc > 2) C[d + 2] = C[d + 2]! + v2;
    if (nc > 3) C[d + 3] = C[d + 3]! + v3;
  } else {
    C[d] = v0;
    if (nc > 1) C[d + 1] = v1;
    if (nc > 2) C[d + 2] = v2;
    if (nc > 3) C[d + 3] = v3;
  }
}
