/**
 * GPTQ's factor of the damped Hessian on the float64 kernels of {@link ./f64_kernels.ts}: the upper Cholesky
 * factor of the inverse, `U` with `H⁻¹ = Uᵀ U` (linalg.ts's `choleskyInverseUpperInPlace`, which dispatches
 * here for a matrix from {@linkcode arenaMatrix}), bit-identical to the JavaScript loops. The Cholesky factor
 * and the triangular inverse go 64 rows at a time: the terms of the rows above the group in packed chunks of
 * 256 (contiguous loads, each serving 4 rows), then those within the group, each entry's terms in order.
 * @module
 */
import { F64Arena } from "./f64_kernels.ts";

/** Rows per group of the blocked factorisations, and terms per packed chunk. */
const GROUP = 64, TCHUNK = 256;

/**
 * A square `n x n` matrix in a fresh arena with room for {@linkcode choleskyInverseUpperArena}'s scratch, or
 * undefined without WebAssembly SIMD.
 *
 * @param n order
 * @returns the matrix view (zero-filled), `n * n` doubles at offset 0 of its arena
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { arenaMatrix } from "./f64_factor.ts";
 * const m = arenaMatrix(3);
 * if (m) assertEquals(m.length, 9);
 * ```
 */
export function arenaMatrix(n: number): Float64Array | undefined {
  const arena = F64Arena.create(n * n + scratchDoubles(n));
  return arena?.f64.subarray(0, n * n);
}

/** Scratch after the matrix: a packed chunk of TCHUNK source rows, and GROUP rows of L. */
const scratchDoubles = (n: number) => TCHUNK * (n + 4) + GROUP * n + 16;

/** In-place transpose of a square row-major block of `n x n` between its two triangles (tiled). */
function copyTriangle(a: Float64Array, n: number, lowerToUpper: boolean): void {
  const B = 64;
  for (let i0 = 0; i0 < n; i0 += B) {
    const i1 = Math.min(n, i0 + B);
    for (let j0 = 0; j0 <= i0; j0 += B) {
      const j1 = Math.min(n, j0 + B);
      for (let i = i0; i < i1; i++) {
        const jEnd = Math.min(j1, i);
        if (lowerToUpper) { for (let j = j0; j < jEnd; j++) a[j * n + i] = a[i * n + j]!; }
        else for (let j = j0; j < jEnd; j++) a[i * n + j] = a[j * n + i]!;
      }
    }
  }
}

/**
 * Pack rows `t0 .. t0+T-1`, columns `c0 .. c0+nc-1` of the row-major `n`-wide matrix into 4-column panels at
 * `at`: `P[q][t][i] = a[t0 + t, c0 + 4q + i]` (a short last panel padded with zeros).
 */
function pack(f: Float64Array, n: number, t0: number, T: number, c0: number, nc: number, at: number): void {
  const panel = 4 * T;
  for (let t = 0; t < T; t++) {
    const row = (t0 + t) * n + c0, base = at + 4 * t;
    let c = 0;
    for (; c + 4 <= nc; c += 4) {
      const d = base + (c >> 2) * panel;
      f[d] = f[row + c]!;
      f[d + 1] = f[row + c + 1]!;
      f[d + 2] = f[row + c + 2]!;
      f[d + 3] = f[row + c + 3]!;
    }
    if (c < nc) {
      const d = base + (c >> 2) * panel;
      for (let i = 0; i < 4; i++) f[d + i] = c + i < nc ? f[row + c + i]! : 0;
    }
  }
}

/**
 * linalg.ts's `choleskyInverseUpperInPlace` on the kernels, bit-identical to it: `a` (from
 * {@linkcode arenaMatrix}) is overwritten by the upper Cholesky factor `U` of `a⁻¹` (`a⁻¹ = Uᵀ U`), read from
 * its lower triangle. With `J` the order reversal: factor `J a J = L Lᵀ`, then `U = J L⁻¹ J`.
 *
 * The factor is computed as `Lᵀ` in the upper triangle, row `j` of `Lᵀ` (column `j` of L) as
 * `a[j, j..] − Σ_{k<j} L[j,k] · Lᵀ[k, j..]` in order of k, then divided by the pivot: the same sums as the
 * row-oriented JavaScript loop. The inverse is built row by row in the lower triangle as
 * `−Σ_k L[i,k] · L⁻¹[k, ..] / L[i,i]` in order of k. Both go 64 rows at a time: the terms of the rows
 * above the group in packed chunks of 256 (contiguous loads, each serving 4 rows), then those within it.
 * Finite entries assumed (a zero term `c · 0` is skipped where the JavaScript loop never forms it).
 *
 * @param a symmetric positive-definite `n x n` matrix at offset 0 of its arena; overwritten
 * @returns `a`, now `U`
 * @throws {TypeError} when `a` is not an arena matrix
 * @throws {RangeError} when `a` is not positive definite
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { arenaMatrix, choleskyInverseUpperArena } from "./f64_factor.ts";
 * const a = arenaMatrix(2);
 * if (a) {
 *   a.set([4, 0, 0, 16]);
 *   assertEquals(Array.from(choleskyInverseUpperArena(a)), [0.5, 0, 0, 0.25]); // U with UᵀU = a⁻¹
 * }
 * ```
 */
export function choleskyInverseUpperArena(a: Float64Array): Float64Array {
  const arena = F64Arena.of(a);
  const n = Math.round(Math.sqrt(a.length));
  if (!arena || a.byteOffset !== 0 || n * n !== a.length || arena.f64.length < n * n + scratchDoubles(n)) {
    throw new TypeError("Cannot factor on the float64 kernels: the matrix is not from arenaMatrix()");
  }
  a.reverse(); // J a J
  copyTriangle(a, n, true); // its lower triangle, transposed into the upper one
  choleskyUpperRows(arena, n); // Lᵀ in the upper triangle
  copyTriangle(a, n, false); // L in the lower triangle
  invertLowerRows(arena, n); // L⁻¹, upper triangle zeroed
  a.reverse();
  return a;
}

/** Row j of `Lᵀ` in place of the upper triangle's row j (the lower triangle is overwritten with scratch). */
function choleskyUpperRows(arena: F64Arena, n: number): void {
  const f = arena.f64, pk = n * n;
  for (let g0 = 0; g0 < n; g0 += GROUP) {
    const RG = Math.min(GROUP, n - g0), M = n - g0;
    // terms k < g0 for rows g0 .. g0+RG-1, columns g0 .. n-1, in packed chunks; coefficient Lᵀ[k, g0 + r]
    // is the chunk's own column r
    for (let t0 = 0; t0 < g0; t0 += TCHUNK) {
      const T = Math.min(TCHUNK, g0 - t0);
      pack(f, n, t0, T, g0, M, pk);
      arena.msub(RG, T, M, g0 * n + g0, n, pk, 1, 4, pk, 4, { srcPanel: 4 * T, coefPanel: 4 * T });
    }
    for (let j0 = g0; j0 < g0 + RG; j0 += 4) {
      const R = Math.min(4, g0 + RG - j0);
      // terms k = g0 .. j0-1 (rows of this group, already final)
      arena.msub(R, j0 - g0, n - j0, j0 * n + j0, n, g0 * n + j0, 1, n, g0 * n + j0, n);
      for (let r = 0; r < R; r++) {
        const j = j0 + r, rj = j * n;
        // then the terms k = j0 .. j-1
        arena.msub(1, r, n - j, rj + j, n, j0 * n + j, 1, n, j0 * n + j, n);
        const s = f[rj + j]!;
        if (!(s > 0) || !Number.isFinite(s)) {
          throw new RangeError(
            `Cannot factor a ${n}x${n} matrix by Cholesky: not positive definite (pivot ${j} is ${s})`,
          );
        }
        const d = Math.sqrt(s);
        f[rj + j] = d;
        for (let i = j + 1; i < n; i++) f[rj + i] = f[rj + i]! / d;
      }
    }
  }
}

/** `L⁻¹` in place of the lower triangle of the arena's matrix (upper triangle zeroed), by groups of rows. */
function invertLowerRows(arena: F64Arena, n: number): void {
  const f = arena.f64, pk = n * n, sc = pk + TCHUNK * (n + 4); // packed chunk; the group's rows of L
  for (let g0 = 0; g0 < n; g0 += GROUP) {
    const RG = Math.min(GROUP, n - g0);
    for (let r = 0; r < RG; r++) {
      const i = g0 + r, ri = i * n;
      if (f[ri + i] === 0) {
        throw new RangeError(`Cannot invert a triangular matrix: diagonal entry ${i} is zero`);
      }
      f.copyWithin(sc + r * n, ri, ri + i + 1);
      f.fill(0, ri, ri + n);
    }
    // −Σ_{k < g0} L[i,k] · L⁻¹[k, ..] in chunks of k; row k of L⁻¹ is zero right of column k, so a chunk
    // [t0, t0 + T) only reaches the columns below t0 + T (the zero terms it leaves out are exact no-ops)
    for (let t0 = 0; t0 < g0; t0 += TCHUNK) {
      const T = Math.min(TCHUNK, g0 - t0), nc = t0 + T;
      pack(f, n, t0, T, 0, nc, pk);
      arena.msub(RG, T, nc, g0 * n, n, sc + t0, n, 1, pk, 4, { srcPanel: 4 * T });
    }
    for (let i0 = g0; i0 < g0 + RG; i0 += 4) {
      const R = Math.min(4, g0 + RG - i0);
      arena.msub(R, i0 - g0, i0, i0 * n, n, sc + (i0 - g0) * n + g0, n, 1, g0 * n, n);
      for (let r = 0; r < R; r++) {
        const i = i0 + r, ri = i * n, lr = sc + (i - g0) * n;
        arena.msub(1, r, i, ri, n, lr + i0, n, 1, i0 * n, n);
        const d = f[lr + i]!;
        for (let j = 0; j < i; j++) f[ri + j] = f[ri + j]! / d;
        f[ri + i] = 1 / d;
      }
    }
  }
}
