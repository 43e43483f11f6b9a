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
  return product(m, v, k, k, options.scalar === true);
}

/**
 * Rows times a matrix, `R = V B` for `n` rows of K and a `K x C` matrix B, in float64: each entry the in-order
 * sum over j = 0..K-1 of `v[n, j] B[j, c]`, on the WebAssembly SIMD kernel where available (bit-identical to
 * the scalar loop, as {@linkcode symmetricProduct}).
 *
 * @param v `n x K` row-major rows (float32 or float64)
 * @param b `K x C` row-major
 * @param cols C
 * @param options `scalar`: force the JavaScript loop (tests)
 * @returns `n x C` row-major float64
 * @throws {RangeError} if the lengths do not fit
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rowsTimes } from "./sym_product.ts";
 * // [1, 2] times [[1, 0, 2], [3, 1, 0]]
 * assertEquals(rowsTimes(new Float32Array([1, 2]), new Float64Array([1, 0, 2, 3, 1, 0]), 3), new Float64Array([7, 2, 2]));
 * ```
 */
export function rowsTimes(
  v: Float32Array | Float64Array,
  b: Float64Array,
  cols: number,
  options: { scalar?: boolean } = {},
): Float64Array {
  const k = cols > 0 ? b.length / cols : 0;
  if (!Number.isInteger(k) || k === 0 || v.length % k !== 0) {
    throw new RangeError(
      `Cannot multiply rows by a matrix: ${b.length} entries in ${cols} columns, ${v.length} values`,
    );
  }
  return product(b, v, k, cols, options.scalar === true);
}

/**
 * `Y = start + V B` for `n` rows of K and a `K x C` matrix B, float32 operands (every product exact in
 * double): each output starts at `start[c]` and adds `v[n, j] B[j, c]` for j = 0..K-1 in order, in float64,
 * on the WebAssembly SIMD kernel where available (its fused form: one rounding per step, which is what the
 * exact product and the add give), bit-identical to the scalar loop.
 *
 * @param v `n x K` row-major rows
 * @param b `K x C` row-major
 * @param cols C
 * @param start C starting values (a bias)
 * @param options `scalar`: force the JavaScript loop (tests)
 * @returns `n x C` row-major float64
 * @throws {RangeError} if the lengths do not fit
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { affineRows } from "./sym_product.ts";
 * // 0.5 + [1, 2] times [[1, 0], [3, 1]]
 * const y = affineRows(new Float32Array([1, 2]), new Float32Array([1, 0, 3, 1]), 2, new Float64Array([0.5, 0.5]));
 * assertEquals(y, new Float64Array([7.5, 2.5]));
 * ```
 */
export function affineRows(
  v: Float32Array,
  b: Float32Array,
  cols: number,
  start: Float64Array,
  options: { scalar?: boolean } = {},
): Float64Array {
  const k = cols > 0 ? b.length / cols : 0;
  if (!Number.isInteger(k) || k === 0 || v.length % k !== 0 || start.length !== cols) {
    throw new RangeError(
      `Cannot take start + rows times a matrix: ${b.length} entries in ${cols} columns, ${v.length} values, ${start.length} starts`,
    );
  }
  return product(b, v, k, cols, options.scalar === true, start);
}

/**
 * `V B` for rows of k and a k x c matrix B (row-major), either path; with `start`, `start + V B` with each
 * output's sum starting at `start[i]` (then the products must be exact in double: float32 values).
 */
function product(
  b: Float32Array | Float64Array,
  v: Float32Array | Float64Array,
  k: number,
  c: number,
  scalar: boolean,
  start?: Float64Array,
): Float64Array {
  const n = v.length / k;
  const out = new Float64Array(n * c);
  if (n === 0) return out;
  // Tiny products (a depthwise group's 9 x 9) cost less in the loop below than the kernel's packing and call.
  if (wasmGemm && !scalar && n * k * c >= 2048) {
    // Rows in chunks of 256: the kernel's memory (which never shrinks) stays near 256 K + 2 MiB doubles.
    for (let r0 = 0; r0 < n; r0 += 256) {
      const r1 = Math.min(n, r0 + 256);
      wasmProduct(b, v.subarray(r0 * k, r1 * k), k, c, r1 - r0, out.subarray(r0 * c, r1 * c), start);
    }
    return out;
  }
  for (let r = 0; r < n; r++) {
    const vo = r * k, oo = r * c;
    for (let i = 0; i < c; i++) {
      let s = start ? start[i]! : 0;
      for (let j = 0; j < k; j++) s += v[vo + j]! * b[j * c + i]!;
      out[oo + i] = s;
    }
  }
  return out;
}

/** The WebAssembly path: A = 4-row panels of v, B = 4-column panels of the k x c matrix, in column blocks. */
function wasmProduct(
  m: Float32Array | Float64Array,
  v: Float32Array | Float64Array,
  k: number,
  c: number,
  n: number,
  out: Float64Array,
  start?: Float64Array,
): Float64Array {
  const w = wasmGemm!;
  const nq = (c + 3) >> 2, np = (n + 3) >> 2;
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
    const nqb = Math.min(qb, nq - q0), i0 = q0 * 4, nc = Math.min(nqb * 4, c - i0), rs = nqb * 4;
    // B panels: H[b8 + q * k * 4 + j * 4 + cc] = M[j, 4 (q0 + q) + cc], zero columns past c.
    for (let q = 0; q < nqb; q++) {
      const base = b8 + q * k * 4;
      for (let cc = 0; cc < 4; cc++) {
        const i = i0 + 4 * q + cc;
        if (i < c) { for (let j = 0; j < k; j++) H[base + j * 4 + cc] = m[j * c + i]!; }
        else for (let j = 0; j < k; j++) H[base + j * 4 + cc] = 0;
      }
    }
    for (let p = 0; p < np; p++) {
      if (start) {
        // each output starts at its start value (every row of the 4-row tile block)
        for (let r = 0; r < 4; r++) {
          const dst = c8 + r * rs;
          for (let i = 0; i < nc; i++) H[dst + i] = start[i0 + i]!;
        }
        w.exactPanelAdd(p * k * 32, bBase, cBase, k, nqb, rs * 8);
      } else w.panel(p * k * 32, bBase, cBase, k, nqb, rs * 8);
      const r0 = p * 4, nr = Math.min(4, n - r0);
      for (let r = 0; r < nr; r++) {
        const src = c8 + r * rs, dst = (r0 + r) * c + i0;
        for (let i = 0; i < nc; i++) out[dst + i] = H[src + i]!;
      }
    }
  }
  return out;
}
