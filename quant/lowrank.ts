/**
 * Diagonal-plus-low-rank approximations of a symmetric positive semi-definite matrix (a layer's input Gram
 * or covariance matrix): `A ~ diag(d) + Q T Q^T`, Q a K x r orthonormal basis of A's dominant subspace
 * (orthogonal / subspace iteration, Golub & Van Loan section 8.2.4) and `T = Q^T A Q`, with the diagonal
 * corrected so that the approximation's diagonal is exactly the given one.
 *
 * Why: quadratic forms `v^T A v` cost O(K^2) on the full matrix and O(K r) here, and a rank-one change of v
 * updates them in O(r) instead of O(K): the DenseShift alpha search (quant/pow2_lowrank.ts) evaluates dozens
 * of candidates per channel. Input covariances of CNN and transformer layers are dominated by a few
 * directions (the smooth-image / patch-mean directions of im2col patches, the few massive feature dimensions
 * after a LayerNorm) on top of per-feature variances; a diagonal alone misses them.
 * @module
 */

import { firstNonFinite32, firstNonFinite64 } from "./finite.ts";
import { symmetricEigen } from "./linalg.ts";
import { symmetricProduct } from "./sym_product.ts";
import { wasmGemm, wasmHeap } from "./wasm_gemm.ts";

/**
 * A covariance given by its rows instead of as a matrix: `A = X^T X / count - mean mean^T` (no mean: the
 * Gram `X^T X / count`). Products `A v = X^T (X v) / count - mean (mean . v)` cost `2 m K` per vector instead
 * of `K^2`, and forming A (`m K^2 / 2`) is skipped: cheaper whenever `m K / 2 + (iterations + 1) K r` exceeds
 * `2 (iterations + 1) m r` (wide layers: K above about 36 r at the default 8 iterations).
 */
export interface RowsCovariance {
  /** Row width K. */
  k: number;
  /** `count x K` row-major rows (at least count * K values), finite. */
  rows: Float32Array;
  /** Number of rows m. */
  count: number;
  /** Mean to subtract (K entries), or none. */
  mean?: Float64Array;
}

/** `A ~ diag(diag) + Q T Q^T` with `P = Q T` kept for O(r) updates. */
export interface LowRankDiag {
  /** Matrix order K. */
  k: number;
  /** Rank r (columns of Q; 0: the matrix is diagonal). */
  rank: number;
  /** Diagonal part, K non-negative entries. */
  diag: Float64Array;
  /** Q, `K x r` row-major (row i: the r basis coordinates of feature i), orthonormal columns. */
  q: Float64Array;
  /** P = Q T, `K x r` row-major. */
  p: Float64Array;
  /**
   * Set when Q's columns are eigenvectors of the low-rank part and T is diagonal with these r entries
   * (the exact decomposition {@linkcode lowRankPlusDiagonal} takes when the rank covers the order): the
   * alpha search then needs no Rayleigh-Ritz rotation of its own.
   */
  lambda?: Float64Array;
}

/** Options of {@linkcode lowRankPlusDiagonal}. */
export interface LowRankOptions {
  /**
   * Rank r of the low-rank part (capped at K).
   * @default 8
   */
  rank?: number;
  /**
   * A dense matrix asked for rank K or more gets its exact eigendecomposition (one Jacobi
   * eigendecomposition, directions with eigenvalue <= 1e-12 of the largest dropped) instead of the
   * iterations: the same matrix up to round-off, several times cheaper for small K.
   * @default false
   */
  exactWhenFull?: boolean;
  /**
   * Subspace iterations (each one K^2 r multiply-adds).
   * @default 8
   */
  iterations?: number;
  /**
   * The diagonal the approximation must have (e.g. E[x_k^2] over more rows than A was estimated on);
   * entries where the low-rank part already exceeds it get 0.
   * @default the diagonal of A
   */
  diag?: ArrayLike<number>;
}

/**
 * Approximate a symmetric PSD matrix by its dominant rank-r part plus a diagonal (see the module doc).
 *
 * @param a `K x K` row-major, symmetric (only `A v` products are taken, read as rows of A)
 * @param options rank, iterations, target diagonal
 * @returns the approximation
 * @throws {RangeError} if `a` is not square or holds a non-finite value
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { lowRankPlusDiagonal, lowRankQuad } from "./lowrank.ts";
 * // u u^T + diag(0, 0, 3) with u = (1, 2, 0): the dominant direction is u, the rest is diagonal, so rank 1
 * // reproduces it once the iterations have converged (eigenvalues 5 and 3: the error shrinks by 3/5 each).
 * const a = new Float64Array([1, 2, 0, 2, 4, 0, 0, 0, 3]);
 * const m = lowRankPlusDiagonal(a, { rank: 1, iterations: 80 });
 * assertAlmostEquals(lowRankQuad(m, [1, -1, 3]), 1 + 27, 1e-9); // (u . v)^2 + 3 v_2^2
 * ```
 */
export function lowRankPlusDiagonal(
  a: Float64Array | RowsCovariance,
  options: LowRankOptions = {},
): LowRankDiag {
  const dense = a instanceof Float64Array;
  const k = dense ? Math.round(Math.sqrt(a.length)) : a.k;
  if (dense && (k * k !== a.length || k === 0)) {
    throw new RangeError(`Cannot approximate a matrix of ${a.length} entries: not K x K`);
  }
  if (
    !dense && (!(k > 0) || !(a.count > 0) || a.rows.length < a.count * k || (a.mean && a.mean.length !== k))
  ) {
    throw new RangeError(
      `Cannot approximate a covariance of ${a.count} rows of ${k} from ${a.rows.length} values and a mean of ${a.mean?.length}`,
    );
  }
  const values = dense ? a : a.rows.subarray(0, a.count * k);
  const bad = dense ? firstNonFinite64(a) : firstNonFinite32(values as Float32Array);
  if (bad >= 0) {
    throw new RangeError(
      `Cannot approximate a ${dense ? "matrix" : "covariance"}: entry ${bad} is ${values[bad]}`,
    );
  }
  if (!dense && !options.diag) {
    throw new TypeError("Cannot approximate a covariance given by rows without its target diagonal");
  }
  const target = options.diag ?? Float64Array.from({ length: k }, (_, i) => (a as Float64Array)[i * k + i]!);
  if (target.length !== k) {
    throw new RangeError(`Cannot approximate a ${k} x ${k} matrix with a diagonal of ${target.length}`);
  }
  const r = Math.max(0, Math.min(options.rank ?? 8, k));
  if (dense && r === k && options.exactWhenFull) return exactDecomposition(a, k, target);
  const iters = options.iterations ?? 8;
  // Q: column-major working copy (r columns of K), deterministic start.
  let q = new Float64Array(k * r);
  let seed = 12345;
  for (let i = 0; i < q.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    q[i] = seed / 2 ** 32 - 0.5;
  }
  let rank = orthonormalize(q, k, r);
  const z = new Float64Array(k * r);
  const multiply = dense ? denseProduct(a) : rowsProduct(a);
  for (let it = 0; it < iters && rank > 0; it++) {
    multiply(q, z, rank);
    [q] = [z.slice(0, k * rank)];
    rank = orthonormalize(q, k, rank);
  }
  // T = Q^T A Q, P = Q T (row-major K x r outputs).
  const aq = new Float64Array(k * rank);
  multiply(q, aq, rank);
  const t = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++) {
    for (let j = 0; j < rank; j++) {
      let s = 0;
      for (let x = 0; x < k; x++) s += q[i * k + x]! * aq[j * k + x]!;
      t[i * rank + j] = s;
    }
  }
  for (let i = 0; i < rank; i++) {
    for (let j = i + 1; j < rank; j++) {
      t[i * rank + j] = t[j * rank + i] = (t[i * rank + j]! + t[j * rank + i]!) / 2;
    }
  }
  const qr = new Float64Array(k * rank), pr = new Float64Array(k * rank);
  const diag = new Float64Array(k);
  for (let x = 0; x < k; x++) {
    let lr = 0;
    for (let j = 0; j < rank; j++) {
      qr[x * rank + j] = q[j * k + x]!;
      let s = 0;
      for (let i = 0; i < rank; i++) s += q[i * k + x]! * t[i * rank + j]!;
      pr[x * rank + j] = s;
      lr += q[j * k + x]! * s;
    }
    diag[x] = Math.max(0, target[x]! - lr);
  }
  return { k, rank, diag, q: qr, p: pr };
}

/**
 * The rank-K case of {@linkcode lowRankPlusDiagonal}: no subspace to find, A itself is `V diag(lambda) V^T`
 * (one Jacobi eigendecomposition, quant/linalg.ts), so `Q = V`, `T = diag(lambda)`, `P = V diag(lambda)` and
 * the diagonal part is what is left of the target diagonal (0 up to round-off when the target is A's own).
 * Mathematically the matrix the iterations converge to, without the 8 subspace iterations and their
 * re-orthonormalizations (K^3 each: the cost of a depthwise Conv's thousands of 3x3 / 5x5 groups).
 */
function exactDecomposition(a: Float64Array, k: number, target: ArrayLike<number>): LowRankDiag {
  const { values, vectors } = k <= 64 ? tridiagonalEigen(a, k) : symmetricEigen(a);
  // Directions A does not have (eigenvalues at round-off level, or below 0 by round-off) are dropped, as
  // the iterations drop the columns that vanish.
  let top = 0;
  for (let j = 0; j < k; j++) top = Math.max(top, values[j]!);
  const keep: number[] = [];
  for (let j = 0; j < k; j++) if (values[j]! > 1e-12 * top) keep.push(j);
  const r = keep.length;
  const q = new Float64Array(k * r), p = new Float64Array(k * r), diag = new Float64Array(k);
  const lambda = Float64Array.from(keep, (j) => values[j]!);
  for (let x = 0; x < k; x++) {
    let lr = 0;
    for (let i = 0; i < r; i++) {
      const e = vectors[x * k + keep[i]!]!, s = e * lambda[i]!;
      q[x * r + i] = e;
      p[x * r + i] = s;
      lr += e * s;
    }
    diag[x] = Math.max(0, target[x]! - lr);
  }
  return { k, rank: r, diag, q, p, lambda };
}

/**
 * Eigenvalues and eigenvectors of a symmetric n x n matrix (row-major; `vectors[x n + j]` is entry x of
 * eigenvector j): Householder reduction to tridiagonal form, then the implicit QL iteration with the
 * transformations accumulated (Golub & Van Loan sections 8.3.1 and 8.3.5; the EISPACK tred2 / tql2 pair). About
 * 9 n^3 operations against the cyclic Jacobi's 40-50 n^3 (quant/linalg.ts `symmetricEigen`): the cost of the
 * thousands of small depthwise-group decompositions.
 *
 * @param a `n x n` row-major, symmetric
 * @param n the order
 * @returns the n eigenvalues (unsorted) and the eigenvectors as the columns of a row-major n x n matrix
 */
export function tridiagonalEigen(
  a: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const V = Float64Array.from(a.subarray(0, n * n)), d = new Float64Array(n), e = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]!;
  // Householder: V becomes the orthogonal transformation, d / e the tridiagonal matrix
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!, g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j]! * d[k]!;
          e[k] = e[k]! + V[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i]!;
    V[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1]! * V[k * n + j]!;
        for (let k = 0; k <= i; k++) V[k * n + j] = V[k * n + j]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j]!;
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
  // implicit QL on the tridiagonal matrix
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && !(Math.abs(e[m]!) <= eps * tst1)) m++;
    if (m > l) {
      for (let iter = 0; iter < 64; iter++) {
        let g = d[l]!, p = (d[l + 1]! - g) / (2 * e[l]!), r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          for (let k = 0; k < n; k++) {
            const vk1 = V[k * n + i + 1]!, vk = V[k * n + i]!;
            V[k * n + i + 1] = s * vk + c * vk1;
            V[k * n + i] = c * vk - s * vk1;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]!) > eps * tst1)) break;
      }
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  return { values: d, vectors: V };
}

/** `out[:, j] = A q[:, j]` for r column-major K-vectors. */
type Product = (q: Float64Array, out: Float64Array, r: number) => void;

/** {@link Product} of a dense symmetric A (its rows through quant/sym_product.ts). */
function denseProduct(a: Float64Array): Product {
  const k = Math.round(Math.sqrt(a.length));
  return (q, out, r) => out.set(symmetricProduct(a, q.subarray(0, k * r)));
}

/**
 * {@link Product} of a {@link RowsCovariance}: `Y = X Q` then `Z = X^T Y`, each entry an in-order float64 sum
 * (over k, then over the rows), then `Z / count - mean (mean^T Q)`. Where WebAssembly SIMD is available both
 * products run on the f64x2 micro-kernel of quant/wasm_gemm.ts with X packed once into its memory (as
 * 4-row panels for Y and as 4-feature panels for Z), the same sums in the same order as the JavaScript
 * loops, so both paths give bit-identical results. The packed X lives in the kernel's shared memory: the
 * returned product is valid only until anything else uses that kernel (lowRankPlusDiagonal calls it
 * synchronously, with nothing in between).
 */
function rowsProduct(c: RowsCovariance, options: { scalar?: boolean } = {}): Product {
  const { k, rows: X, count: m, mean } = c;
  const scale = (q: Float64Array, z: Float64Array, out: Float64Array, r: number) => {
    for (let j = 0; j < r; j++) {
      let mq = 0;
      if (mean) { for (let x = 0; x < k; x++) mq += mean[x]! * q[j * k + x]!; }
      for (let x = 0; x < k; x++) out[j * k + x] = z[j * k + x]! / m - (mean ? mean[x]! * mq : 0);
    }
  };
  const w = options.scalar ? undefined : wasmGemm;
  if (!w) {
    const y = new Float64Array(m), z = new Float64Array(k * 8);
    return (q, out, r) => {
      const zz = z.length >= k * r ? z : new Float64Array(k * r);
      for (let j = 0; j < r; j++) {
        for (let i = 0; i < m; i++) {
          let s = 0;
          for (let x = 0; x < k; x++) s += X[i * k + x]! * q[j * k + x]!;
          y[i] = s;
        }
        for (let x = 0; x < k; x++) {
          let s = 0;
          for (let i = 0; i < m; i++) s += X[i * k + x]! * y[i]!;
          zz[j * k + x] = s;
        }
      }
      scale(q, zz, out, r);
    };
  }
  // f64 offsets: A = X in 4-row panels (np of them, K steps of 4), B = X^T in 4-feature panels (nk, m steps
  // of 4); then per product the Q panels, the Y rows (m x 4nq), the Y panels and the Z rows (K x 4nq).
  const np = (m + 3) >> 2, nk = (k + 3) >> 2;
  const aOff = 0, bOff = np * k * 4, rest = bOff + nk * m * 4;
  let H = wasmHeap(w, rest * 8);
  H.fill(0, 0, rest);
  for (let i = 0; i < m; i++) {
    const ap = (i >> 2) * k * 4 + (i & 3), bp = bOff + i * 4;
    for (let x = 0; x < k; x++) {
      const v = X[i * k + x]!;
      H[ap + x * 4] = v;
      H[bp + (x >> 2) * m * 4 + (x & 3)] = v;
    }
  }
  return (q, out, r) => {
    const nq = (r + 3) >> 2, cols = nq * 4;
    const qOff = rest, yOff = qOff + nq * k * 4, ypOff = yOff + np * 4 * cols, zOff = ypOff + nq * m * 4;
    H = wasmHeap(w, (zOff + nk * 4 * cols) * 8);
    // Q panels: H[qOff + p k 4 + x 4 + c] = Q[x, 4p + c] (zero columns past r)
    H.fill(0, qOff, yOff);
    for (let j = 0; j < r; j++) {
      const base = qOff + (j >> 2) * k * 4 + (j & 3);
      for (let x = 0; x < k; x++) H[base + x * 4] = q[j * k + x]!;
    }
    for (let p = 0; p < np; p++) {
      w.panel((aOff + p * k * 4) * 8, qOff * 8, (yOff + p * 4 * cols) * 8, k, nq, cols * 8);
    }
    // Y panels: H[ypOff + p m 4 + i 4 + c] = Y[i, 4p + c] (rows past m are not read)
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < nq; p++) {
        const src = yOff + i * cols + p * 4, dst = ypOff + p * m * 4 + i * 4;
        H[dst] = H[src]!, H[dst + 1] = H[src + 1]!, H[dst + 2] = H[src + 2]!, H[dst + 3] = H[src + 3]!;
      }
    }
    for (let p = 0; p < nk; p++) {
      w.panel((bOff + p * m * 4) * 8, ypOff * 8, (zOff + p * 4 * cols) * 8, m, nq, cols * 8);
    }
    const z = new Float64Array(k * r);
    for (let x = 0; x < k; x++) for (let j = 0; j < r; j++) z[j * k + x] = H[zOff + x * cols + j]!;
    scale(q, z, out, r);
  };
}

/**
 * `A Q` for r column-major K-vectors, A given by rows (the product {@linkcode lowRankPlusDiagonal} iterates
 * with; exported for tests of its two paths).
 *
 * @param c the covariance
 * @param q `K x r` column-major
 * @param r number of vectors
 * @param options `scalar`: force the JavaScript loops
 * @returns `K x r` column-major
 */
export function rowsCovarianceProduct(
  c: RowsCovariance,
  q: Float64Array,
  r: number,
  options: { scalar?: boolean } = {},
): Float64Array {
  const out = new Float64Array(c.k * r);
  rowsProduct(c, options)(q, out, r);
  return out;
}

/**
 * Modified Gram-Schmidt on the r column-major columns of q, in place; columns that vanish (A has lower
 * rank) are dropped and the rest moved down. Returns the number of columns kept.
 */
function orthonormalize(q: Float64Array, k: number, r: number): number {
  let kept = 0;
  for (let j = 0; j < r; j++) {
    const c = j * k, dst = kept * k;
    let before = 0;
    for (let x = 0; x < k; x++) before += q[c + x]! ** 2;
    for (let i = 0; i < kept; i++) {
      let d = 0;
      for (let x = 0; x < k; x++) d += q[i * k + x]! * q[c + x]!;
      for (let x = 0; x < k; x++) q[c + x]! -= d * q[i * k + x]!;
    }
    let n = 0;
    for (let x = 0; x < k; x++) n += q[c + x]! ** 2;
    if (!(n > 1e-20 * before) || n === 0) continue;
    const s = 1 / Math.sqrt(n);
    for (let x = 0; x < k; x++) q[dst + x] = q[c + x]! * s;
    kept++;
  }
  return kept;
}

/**
 * `v^T A v` on the approximation: `sum_k d_k v_k^2 + (Q^T v)^T (P^T v)`, O(K r).
 *
 * @param m the approximation
 * @param v a K-vector
 * @returns the quadratic form
 */
export function lowRankQuad(m: LowRankDiag, v: ArrayLike<number>): number {
  const { k, rank, diag, q, p } = m;
  let s = 0;
  for (let x = 0; x < k; x++) s += diag[x]! * v[x]! * v[x]!;
  for (let j = 0; j < rank; j++) {
    let zq = 0, zp = 0;
    for (let x = 0; x < k; x++) zq += q[x * rank + j]! * v[x]!, zp += p[x * rank + j]! * v[x]!;
    s += zq * zp;
  }
  return s;
}

/**
 * The approximation as a dense `K x K` matrix (for tests and for the full-matrix searches).
 *
 * @param m the approximation
 * @returns row-major K x K
 */
export function lowRankDense(m: LowRankDiag): Float64Array {
  const { k, rank, diag, q, p } = m;
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let x = 0; x < k; x++) {
      let s = 0;
      for (let j = 0; j < rank; j++) s += q[i * rank + j]! * p[x * rank + j]!;
      out[i * k + x] = s;
    }
    out[i * k + i]! += diag[i]!;
  }
  return out;
}
