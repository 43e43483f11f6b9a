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

import { symmetricProduct } from "./sym_product.ts";

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
}

/** Options of {@linkcode lowRankPlusDiagonal}. */
export interface LowRankOptions {
  /**
   * Rank r of the low-rank part (capped at K).
   * @default 8
   */
  rank?: number;
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
export function lowRankPlusDiagonal(a: Float64Array, options: LowRankOptions = {}): LowRankDiag {
  const k = Math.round(Math.sqrt(a.length));
  if (k * k !== a.length || k === 0) {
    throw new RangeError(`Cannot approximate a matrix of ${a.length} entries: not K x K`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new RangeError(`Cannot approximate a matrix: entry ${i} is ${a[i]}`);
  }
  const target = options.diag ?? Float64Array.from({ length: k }, (_, i) => a[i * k + i]!);
  if (target.length !== k) {
    throw new RangeError(`Cannot approximate a ${k} x ${k} matrix with a diagonal of ${target.length}`);
  }
  const r = Math.max(0, Math.min(options.rank ?? 8, k));
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
  for (let it = 0; it < iters && rank > 0; it++) {
    multiply(a, q, z, k, rank);
    [q] = [z.slice(0, k * rank)];
    rank = orthonormalize(q, k, rank);
  }
  // T = Q^T A Q, P = Q T (row-major K x r outputs).
  const aq = new Float64Array(k * rank);
  multiply(a, q, aq, k, rank);
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

/** `out[:, j] = A q[:, j]` for column-major K x r blocks (A symmetric: the rows of quant/sym_product.ts). */
function multiply(a: Float64Array, q: Float64Array, out: Float64Array, k: number, r: number): void {
  out.set(symmetricProduct(a, q.subarray(0, k * r)));
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
