/**
 * Dense float64 linear algebra for the GPTQ-style solvers (ShiftAddLLM, arXiv 2406.05981 §3; GPTQ,
 * arXiv 2210.17323 §4): Cholesky factorisation, inverse through it, the upper Cholesky factor of the
 * inverse, and triangular solves. Matrices are row-major `Float64Array`s; a square matrix's order is
 * `sqrt(length)`. Every inner loop runs along rows (contiguous memory), so a 1024x1024 factorisation
 * takes a fraction of a second and 4096x4096 stays practical. {@linkcode choleskyInverseUpperInPlace} on a
 * matrix from quant/f64_factor.ts's `arenaMatrix` (what GPTQ's `prepareGptq` allocates) runs on the
 * WebAssembly SIMD kernels there instead, with bit-identical results (6144x6144 in seconds, not minutes).
 * @module
 */
import { choleskyInverseUpperArena } from "./f64_factor.ts";
import { F64Arena } from "./f64_kernels.ts";

/**
 * Order of a square row-major matrix.
 *
 * @param a matrix data, `n * n` entries
 * @param name name used in the error message
 * @returns `n`
 * @throws {TypeError} when `a.length` is not a perfect square
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { squareOrder } from "./linalg.ts";
 * assertEquals(squareOrder(new Float64Array(9)), 3);
 * ```
 */
export function squareOrder(a: ArrayLike<number>, name = "matrix"): number {
  const n = Math.round(Math.sqrt(a.length));
  if (n * n !== a.length) {
    throw new TypeError(`Cannot use ${name} as a square matrix: it has ${a.length} entries, not n*n`);
  }
  return n;
}

/**
 * Lower Cholesky factor `L` of a symmetric positive-definite matrix (`A = L L^T`). Only the lower triangle
 * of `a` is read. Row-oriented (Cholesky–Banachiewicz): each entry is a dot product of two contiguous rows.
 *
 * @param a symmetric positive-definite matrix, row-major `n * n`
 * @returns `L`, row-major `n * n`, zero above the diagonal
 * @throws {RangeError} when `a` is not positive definite (a pivot is `<= 0` or not finite)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cholesky } from "./linalg.ts";
 * assertEquals(Array.from(cholesky(new Float64Array([4, 2, 2, 5]))), [2, 0, 1, 2]);
 * ```
 */
export function cholesky(a: Float64Array): Float64Array {
  const n = squareOrder(a, "Cholesky input");
  const l = Float64Array.from(a);
  choleskyInPlace(l, n);
  for (let i = 0; i < n; i++) l.fill(0, i * n + i + 1, (i + 1) * n);
  return l;
}

/**
 * {@link cholesky} overwriting the lower triangle of `a` (row `i` is final once computed: it reads only rows
 * above it and its own entries left of the ones being written). The upper triangle is left as it was.
 */
function choleskyInPlace(a: Float64Array, n: number): void {
  const l = a;
  const pivot = (i: number, s: number) => {
    if (!(s > 0) || !Number.isFinite(s)) {
      throw new RangeError(
        `Cannot factor a ${n}x${n} matrix by Cholesky: not positive definite (pivot ${i} is ${s})`,
      );
    }
    return Math.sqrt(s);
  };
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    // Entries (i, j) and (i, j+1) together: both dot products share the loads of row i. Each still
    // subtracts its terms for k = 0, 1, ... in order ((i, j+1) takes its k = j term once l[i, j] is known),
    // so the factor is bit-identical to one entry at a time.
    let j = 0;
    for (; j + 1 < i; j += 2) {
      const rj = j * n, rj1 = rj + n;
      let s0 = a[ri + j]!, s1 = a[ri + j + 1]!;
      for (let k = 0; k < j; k++) {
        const lik = l[ri + k]!;
        s0 -= lik * l[rj + k]!;
        s1 -= lik * l[rj1 + k]!;
      }
      const lij = s0 / l[rj + j]!;
      l[ri + j] = lij;
      s1 -= lij * l[rj1 + j]!;
      l[ri + j + 1] = s1 / l[rj1 + j + 1]!;
    }
    for (; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= l[ri + k]! * l[rj + k]!;
      l[ri + j] = i === j ? pivot(i, s) : s / l[rj + j]!;
    }
  }
}

/**
 * Inverse of a lower-triangular matrix (itself lower triangular). Row `i` of the inverse is built as a
 * linear combination of the rows above it, so the inner loop is an axpy over contiguous memory.
 *
 * @param l lower-triangular matrix with a non-zero diagonal, row-major `n * n`
 * @returns `L^-1`, row-major `n * n`
 * @throws {RangeError} when a diagonal entry is zero
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { invertLower } from "./linalg.ts";
 * assertEquals(Array.from(invertLower(new Float64Array([2, 0, 1, 4]))), [0.5, 0, -0.125, 0.25]);
 * ```
 */
export function invertLower(l: Float64Array): Float64Array {
  const n = squareOrder(l, "lower-triangular matrix");
  const inv = Float64Array.from(l);
  invertLowerInPlace(inv, n);
  return inv;
}

/**
 * {@link invertLower} overwriting `a` row by row: row `i` of the inverse needs the inverse's rows above it
 * (already written) and row `i` of `L` (still there until it is written). Only the lower triangle of `a` is
 * read; the upper one is zeroed.
 */
function invertLowerInPlace(a: Float64Array, n: number): void {
  const l = a, inv = a;
  const acc = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const d = l[ri + i]!;
    if (d === 0) throw new RangeError(`Cannot invert a triangular matrix: diagonal entry ${i} is zero`);
    acc.fill(0, 0, i);
    // sum_{k<i} L[i,k] * Linv[k, 0..k], two rows k, k+1 per sweep over acc: each acc[j] still adds its
    // terms for k in order (zero coefficients skipped as before), so the sums are bit-identical.
    let k = 0;
    for (; k + 1 < i; k += 2) {
      const c0 = l[ri + k]!, c1 = l[ri + k + 1]!;
      const rk = k * n, rk1 = rk + n;
      if (c0 !== 0 && c1 !== 0) {
        for (let j = 0; j <= k; j++) acc[j] = acc[j]! + c0 * inv[rk + j]! + c1 * inv[rk1 + j]!;
        acc[k + 1]! += c1 * inv[rk1 + k + 1]!;
      } else if (c0 !== 0) {
        for (let j = 0; j <= k; j++) acc[j]! += c0 * inv[rk + j]!;
      } else if (c1 !== 0) {
        for (let j = 0; j <= k + 1; j++) acc[j]! += c1 * inv[rk1 + j]!;
      }
    }
    for (; k < i; k++) {
      const c = l[ri + k]!;
      if (c === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) acc[j]! += c * inv[rk + j]!;
    }
    for (let j = 0; j < i; j++) inv[ri + j] = (0 - acc[j]!) / d; // 0 - x: no negative zeros
    inv[ri + i] = 1 / d;
    inv.fill(0, ri + i + 1, ri + n);
  }
}

/**
 * Inverse of a symmetric positive-definite matrix through its Cholesky factor: `A^-1 = L^-T L^-1`.
 *
 * @param a symmetric positive-definite matrix, row-major `n * n`
 * @returns `A^-1`, row-major `n * n`, exactly symmetric
 * @throws {RangeError} when `a` is not positive definite
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { choleskyInverse } from "./linalg.ts";
 * assertEquals(Array.from(choleskyInverse(new Float64Array([4, 0, 0, 16]))), [0.25, 0, 0, 0.0625]);
 * ```
 */
export function choleskyInverse(a: Float64Array): Float64Array {
  const n = squareOrder(a, "Cholesky input");
  const li = invertLower(cholesky(a));
  const out = new Float64Array(n * n);
  // (A^-1)[i,j] = sum_{k >= max(i,j)} Li[k,i] Li[k,j]: rank-1 updates by row k of Li, lower triangle only.
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const c = li[rk + i]!;
      if (c === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) out[ri + j]! += c * li[rk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j]!;
  return out;
}

/**
 * Upper Cholesky factor `U` of the inverse, `A^-1 = U^T U`: what GPTQ calls
 * `cholesky(cholesky_inverse(cholesky(H)), upper=True)`. Computed with one factorisation and one triangular
 * inverse instead of three factorisations: with `J` the order-reversal permutation, factor
 * `J A J = L' L'^T`; then `A = U1 U1^T` with `U1 = J L' J` upper, so `A^-1 = U1^-T U1^-1` and
 * `U = U1^-1 = J L'^-1 J` (unique, since its diagonal is positive).
 *
 * @param a symmetric positive-definite matrix, row-major `n * n`
 * @returns `U`, upper triangular with a positive diagonal, row-major `n * n`
 * @throws {RangeError} when `a` is not positive definite
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { choleskyInverseUpper } from "./linalg.ts";
 * // A = [[2,1],[1,2]], A^-1 = [[2,-1],[-1,2]]/3 = U^T U
 * const u = choleskyInverseUpper(new Float64Array([2, 1, 1, 2]));
 * assertAlmostEquals(u[0]! * u[0]!, 2 / 3, 1e-12);
 * assertAlmostEquals(u[2]!, 0, 0);
 * ```
 */
export function choleskyInverseUpper(a: Float64Array): Float64Array {
  return choleskyInverseUpperInPlace(Float64Array.from(a));
}

/**
 * {@link choleskyInverseUpper} in the memory of `a` (one `n x n` buffer instead of four: what keeps GPTQ on
 * a 6144-wide layer within one Hessian's size of extra memory). `a` is overwritten by `U` and returned.
 *
 * @param a symmetric positive-definite matrix, row-major `n * n`; overwritten
 * @returns `a`, now `U`
 * @throws {RangeError} when `a` is not positive definite
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { choleskyInverseUpper, choleskyInverseUpperInPlace } from "./linalg.ts";
 * const a = new Float64Array([4, 2, 2, 5]);
 * assertEquals(choleskyInverseUpperInPlace(Float64Array.from(a)), choleskyInverseUpper(a));
 * ```
 */
export function choleskyInverseUpperInPlace(a: Float64Array): Float64Array {
  const n = squareOrder(a, "Cholesky input");
  // A matrix from arenaMatrix() runs on the WebAssembly SIMD kernels (the same bits, several times faster).
  if (F64Arena.of(a)) return choleskyInverseUpperArena(a);
  a.reverse(); // J A J
  choleskyInPlace(a, n);
  invertLowerInPlace(a, n); // L'^-1, upper triangle zeroed
  a.reverse(); // J L'^-1 J: upper triangular
  return a;
}

/** Options for {@linkcode solveTriangular}. */
export interface SolveTriangularOptions {
  /**
   * Whether `t` is lower triangular (else upper). Only that triangle of `t` is read.
   * @default {true}
   */
  lower?: boolean;
  /**
   * Solve `t^T x = b` instead of `t x = b`.
   * @default {false}
   */
  transpose?: boolean;
}

/**
 * Solve a triangular system `t x = b` (or `t^T x = b`) by substitution, for one or many right-hand sides.
 * `b` holds `n` rows of `m = b.length / n` right-hand-side columns (row-major); a vector is `m = 1`.
 *
 * @param t triangular matrix, row-major `n * n`
 * @param b right-hand sides, `n * m` (not modified)
 * @param options which triangle, transposed or not
 * @returns `x`, `n * m`
 * @throws {TypeError} when `b.length` is not a multiple of `n`
 * @throws {RangeError} when a diagonal entry is zero
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { solveTriangular } from "./linalg.ts";
 * const l = new Float64Array([2, 0, 1, 4]);
 * assertEquals(Array.from(solveTriangular(l, new Float64Array([2, 9]))), [1, 2]);
 * assertEquals(Array.from(solveTriangular(l, new Float64Array([4, 8]), { transpose: true })), [1, 2]);
 * ```
 */
export function solveTriangular(
  t: Float64Array,
  b: Float64Array,
  options: SolveTriangularOptions = {},
): Float64Array {
  const n = squareOrder(t, "triangular matrix");
  if (n === 0 || b.length % n !== 0) {
    throw new TypeError(
      `Cannot solve a ${n}x${n} triangular system: right-hand side has ${b.length} entries`,
    );
  }
  const m = b.length / n;
  const x = Float64Array.from(b);
  // Effective triangle of the operator actually applied (transposing swaps lower and upper).
  const lower = (options.lower ?? true) !== (options.transpose ?? false);
  const tr = options.transpose ?? false;
  // t(i, k): entry of the applied operator.
  const at = tr ? (i: number, k: number) => t[k * n + i]! : (i: number, k: number) => t[i * n + k]!;
  const order = lower ? (i: number) => i : (i: number) => n - 1 - i;
  for (let s = 0; s < n; s++) {
    const i = order(s);
    const ri = i * m;
    // Subtract the already solved rows (row axpys, contiguous).
    for (let r = 0; r < s; r++) {
      const k = order(r);
      const c = at(i, k);
      if (c === 0) continue;
      const rk = k * m;
      for (let j = 0; j < m; j++) x[ri + j]! -= c * x[rk + j]!;
    }
    const d = at(i, i);
    if (d === 0) throw new RangeError(`Cannot solve a triangular system: diagonal entry ${i} is zero`);
    for (let j = 0; j < m; j++) x[ri + j]! /= d;
  }
  return x;
}

/**
 * Eigen-decomposition `A = V diag(values) V^T` of a small symmetric matrix by cyclic Jacobi rotations
 * (Golub & Van Loan, section 8.5.2): sweeps over every off-diagonal pair until their sum of squares falls below
 * `1e-30` of the matrix's, at most 64 sweeps. Meant for the r x r matrices (r <= 64) of a low-rank
 * approximation (quant/lowrank.ts), O(r^3) per sweep. Only the upper triangle is read.
 *
 * @param a symmetric matrix, row-major `n * n`
 * @returns eigenvalues (unordered) and the eigenvectors as the columns of `vectors` (row-major `n * n`)
 * @throws {RangeError} when an entry is not finite
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { symmetricEigen } from "./linalg.ts";
 * const { values } = symmetricEigen(new Float64Array([2, 1, 1, 2]));
 * assertAlmostEquals(Math.min(...values), 1, 1e-12);
 * assertAlmostEquals(Math.max(...values), 3, 1e-12);
 * ```
 */
export function symmetricEigen(a: Float64Array): { values: Float64Array; vectors: Float64Array } {
  const n = squareOrder(a, "eigen-decomposition input");
  const m = new Float64Array(n * n), v = new Float64Array(n * n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    v[i * n + i] = 1;
    for (let j = i; j < n; j++) {
      const x = a[i * n + j]!;
      if (!Number.isFinite(x)) {
        throw new RangeError(`Cannot eigen-decompose: entry (${i}, ${j}) = ${x} is not finite`);
      }
      m[i * n + j] = m[j * n + i] = x;
      total += (i === j ? 1 : 2) * x * x;
    }
  }
  for (let sweep = 0; sweep < 64; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i * n + j]! ** 2;
    if (!(off > 1e-30 * total)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        // rotation angle zeroing m[p][q] (the smaller root of t^2 + 2 theta t - 1 = 0)
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!, mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!, mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]!), vectors: v };
}
