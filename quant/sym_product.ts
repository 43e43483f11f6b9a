/**
 * Rows times a symmetric matrix, `R = V M` (row n of R is `M v_n`), in float64: the batched form of the
 * quadratic forms `v^T M v` and `v^T M w` that the DenseShift conversion evaluates for every output channel
 * (energy rescale, closed-form alpha, output-noise estimate). One K x K matrix against n rows costs
 * n K^2 multiply-adds; where WebAssembly SIMD is available they run on the f64x2 micro-kernel of
 * quant/wasm_gemm.ts (several times the scalar loop), each entry summed over j = 0..K-1 in order, so both
 * paths give bit-identical results.
 * @module
 */
import { wasmGemm, wasmHeap } from "./wasm_gemm.ts";

/**
 * `R[n, i] = sum_j v[n, j] M[j, i]` for `n` rows of v (M symmetric, so this is `M v_n`).
 *
 * @param m `K x K` row-major (read as `M[j, i]`; for a symmetric M that is M v)
 * @param v `n x K` row-major rows (float32 or float64)
 * @param options `scalar`: force the JavaScript loop (tests)
 * @returns `n x K` row-major float64
 * @throws {RangeError} if the lengths do not fit a K x K matrix and rows of K
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { symmetricProduct } from "./sym_product.ts";
 * const m = new Float64Array([2, 1, 1, 3]);
 * assertEquals(symmetricProduct(m, new Float32Array([1, 0, 1, 1])), new Float64Array([2, 1, 3, 4]));
 * ```
 */
export function symmetricProduct(
  m: Float64Array,
  v: Float32Array | Float64Array,
  options: { scalar?: boolean } = {},
): Float64Array {
  const k = Math.round(Math.sqrt(m.length));
  if (k * k !== m.length || k === 0 || v.length % k !== 0) {
    throw new RangeError(`Cannot multiply by a symmetric matrix: ${m.length} entries and ${v.length} values`);
  }
  const n = v.length / k;
  const out = new Float64Array(n * k);
  if (n === 0) return out;
  if (wasmGemm && !options.scalar) {
    // Rows in chunks of 256: the kernel's memory (which never shrinks) stays near 256 K + 2 MiB doubles.
    for (let r0 = 0; r0 < n; r0 += 256) {
      const r1 = Math.min(n, r0 + 256);
      wasmProduct(m, v.subarray(r0 * k, r1 * k), k, r1 - r0, out.subarray(r0 * k, r1 * k));
    }
    return out;
  }
  for (let r = 0; r < n; r++) {
    const vo = r * k;
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += v[vo + j]! * m[j * k + i]!;
      out[vo + i] = s;
    }
  }
  return out;
}

/** The WebAssembly path: A = 4-row panels of v, B = 4-column panels of M, in column blocks. */
function wasmProduct(
  m: Float64Array,
  v: Float32Array | Float64Array,
  k: number,
  n: number,
  out: Float64Array,
): Float64Array {
  const w = wasmGemm!;
  const nq = (k + 3) >> 2, np = (n + 3) >> 2;
  // B panels per column block: about 2 MiB of M at a time, at least one panel.
  const qb = Math.max(1, Math.min(nq, Math.floor(65536 / k)));
  const aBytes = np * k * 32, bBase = aBytes, cBase = bBase + qb * k * 32;
  const H = wasmHeap(w, cBase + qb * 128);
  // A panels: H[p * k * 4 + j * 4 + r] = v[4p + r, j], zero rows past n.
  if (n & 3) H.fill(0, (np - 1) * k * 4, np * k * 4);
  for (let r = 0; r < n; r++) {
    const dst = (r >> 2) * k * 4 + (r & 3), src = r * k;
    for (let j = 0; j < k; j++) H[dst + j * 4] = v[src + j]!;
  }
  const b8 = bBase >> 3, c8 = cBase >> 3;
  for (let q0 = 0; q0 < nq; q0 += qb) {
    const nqb = Math.min(qb, nq - q0), i0 = q0 * 4, nc = Math.min(nqb * 4, k - i0), rs = nqb * 4;
    // B panels: H[b8 + q * k * 4 + j * 4 + c] = M[j, 4 (q0 + q) + c], zero columns past k.
    for (let q = 0; q < nqb; q++) {
      const base = b8 + q * k * 4;
      for (let c = 0; c < 4; c++) {
        const i = i0 + 4 * q + c;
        if (i < k) { for (let j = 0; j < k; j++) H[base + j * 4 + c] = m[j * k + i]!; }
        else for (let j = 0; j < k; j++) H[base + j * 4 + c] = 0;
      }
    }
    for (let p = 0; p < np; p++) {
      w.panel(p * k * 32, bBase, cBase, k, nqb, rs * 8);
      const r0 = p * 4, nr = Math.min(4, n - r0);
      for (let r = 0; r < nr; r++) {
        const src = c8 + r * rs, dst = (r0 + r) * k + i0;
        for (let i = 0; i < nc; i++) out[dst + i] = H[src + i]!;
      }
    }
  }
  return out;
}
