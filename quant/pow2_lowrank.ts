/**
 * Output-error alpha search for DenseShift power-of-two weights on a diagonal-plus-low-rank approximation
 * of the layer's input Gram / covariance matrix (quant/lowrank.ts); quant/pow2.ts has the codes, the grid
 * and the full-matrix search {@linkcode pow2AlphaOutput}, which this one equals when the matrix is exactly
 * diagonal plus rank r.
 *
 * The output error of one channel for a candidate alpha is `(w - alpha L)^T H (w - alpha L)`, L the
 * linear-nearest levels in units of alpha; with `c1 = L^T H w` and `c2 = L^T H L` it is
 * `w^T H w - 2 alpha c1 + alpha^2 c2`. Along the ascending grid each weight changes level only where a
 * decision threshold `1.5 alpha 2^p` passes its magnitude (about once per searched octave), so the search
 * walks the magnitudes in sorted order with one pointer per threshold and updates c1, c2 once per change:
 * O(1) for the diagonal part and O(r) for the low-rank part (`(H L)_k = d_k L_k + P_k . Q^T L`), instead of
 * re-encoding all K weights per candidate and O(K) per change on the full matrix. Per channel: O(K log K)
 * to sort, O(K r) to start each exponent cap, O(r) per level change and O(q) per candidate.
 * @module
 */
import type { LowRankDiag } from "./lowrank.ts";
import {
  pow2AlphaGrid,
  type Pow2AlphaOutputOptions,
  pow2ExponentCaps,
  type Pow2Fit,
  pow2MaxExponent,
  pow2RowMaxAlpha,
  pow2Thresholds,
} from "./pow2.ts";

/**
 * Output-error-optimal alpha per channel on `H = diag(d) + Q P^T` ({@linkcode LowRankDiag}): the same
 * candidates (grid, exponent caps of the widths minBits..bits) and objective as {@linkcode pow2AlphaOutput}
 * on that H, evaluated incrementally (see the module doc); the first (smallest) candidate wins exact ties in
 * both, and the two agree except where two candidates' errors differ by float round-off. Codes stay
 * linear-nearest.
 *
 * @param weights `[nOut, fanIn]` row-major, finite
 * @param metric the approximation of H (order fanIn; rank 0 for a diagonal H)
 * @param options `bits`, `stepsPerOctave`, `octaves`, `minBits`
 * @returns per channel the alpha and the exponent cap to encode with
 * @throws {RangeError} on a non-finite weight, a fan-in that does not divide the weights, or bad bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2AlphaOutput } from "./pow2.ts";
 * import { pow2AlphaLowRank } from "./pow2_lowrank.ts";
 * const w = new Float32Array([0.1, -0.2, 0.3, -0.05]);
 * const diag = new Float64Array([1, 4, 0.5, 2]);
 * const H = new Float64Array(16);
 * diag.forEach((v, i) => (H[i * 4 + i] = v));
 * const metric = { k: 4, rank: 0, diag, q: new Float64Array(0), p: new Float64Array(0) };
 * assertEquals(pow2AlphaLowRank(w, metric, { bits: 4 }).alpha, pow2AlphaOutput(w, H, { bits: 4 }).alpha);
 * ```
 */
export function pow2AlphaLowRank(
  weights: Float32Array,
  metric: LowRankDiag,
  options: Pow2AlphaOutputOptions = {},
): Pow2Fit {
  const bits = options.bits ?? 3;
  const pmax = pow2MaxExponent(bits);
  const caps = pow2ExponentCaps(bits, options.minBits, "low-rank output-error alphas");
  const { k: fanIn, rank: r, diag: d, q: Q, p: P } = metric;
  if (fanIn === 0 || weights.length % fanIn !== 0 || fanIn > 2 ** 22) {
    throw new RangeError(
      `Cannot search low-rank output-error alphas: ${weights.length} weights do not split into rows of ${fanIn}`,
    );
  }
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i]!)) {
      throw new RangeError(
        `Cannot search low-rank output-error alphas: weight ${i} = ${weights[i]} is not finite`,
      );
    }
  }
  const nOut = weights.length / fanIn;
  const alpha = new Float32Array(nOut);
  const maxExponent = new Uint8Array(nOut).fill(pmax);
  // Per-channel scratch: sorted magnitudes and their feature index, H w, levels, exponents, Q^T L.
  const keys = new Float64Array(fanIn), mag = new Float64Array(fanIn), idx = new Int32Array(fanIn);
  const hw = new Float64Array(fanIn), level = new Float64Array(fanIn), exp = new Int32Array(fanIn);
  const qw = new Float64Array(r), z = new Float64Array(r);
  const hkk = new Float64Array(fanIn); // H_kk = d_k + Q_k . P_k
  for (let x = 0; x < fanIn; x++) {
    let s = d[x]!;
    for (let j = 0; j < r; j++) s += Q[x * r + j]! * P[x * r + j]!;
    hkk[x] = s;
  }
  const thr = new Float64Array(pmax), ptr = new Int32Array(pmax);
  const u32 = new Uint32Array(1), f32 = new Float32Array(u32.buffer);
  for (let n = 0; n < nOut; n++) {
    const off = n * fanIn;
    if (pow2RowMaxAlpha(weights, off, fanIn, pmax) === 0) continue; // all-zero row: alpha 0 is exact
    // Sort magnitudes with their index: the float32 bit pattern of |w| (31 bits, ordered like the value)
    // times 2^22 plus the index is an integer below 2^53, exact in float64, so a numeric sort orders both.
    for (let x = 0; x < fanIn; x++) {
      f32[0] = Math.abs(weights[off + x]!);
      keys[x] = u32[0]! * 4194304 + x;
    }
    keys.sort();
    for (let i = 0; i < fanIn; i++) {
      const hi = Math.floor(keys[i]! / 4194304);
      idx[i] = keys[i]! - hi * 4194304;
      u32[0] = hi;
      mag[i] = f32[0]!;
    }
    // H w = d * w + P (Q^T w).
    qw.fill(0);
    for (let x = 0; x < fanIn; x++) {
      const v = weights[off + x]!;
      for (let j = 0; j < r; j++) qw[j]! += Q[x * r + j]! * v;
    }
    let wHw = 0;
    for (let x = 0; x < fanIn; x++) {
      let s = d[x]! * weights[off + x]!;
      for (let j = 0; j < r; j++) s += P[x * r + j]! * qw[j]!;
      hw[x] = s;
      wHw += weights[off + x]! * s;
    }
    let best = 0, bestCap = pmax, bestErr = Infinity;
    for (const q of caps) {
      const grid = pow2AlphaGrid(pow2RowMaxAlpha(weights, off, fanIn, q), options);
      let c1 = 0, c2 = 0;
      for (let g = 0; g < grid.length; g++) {
        const a = grid[g]!;
        pow2Thresholds(a, q, thr);
        if (g === 0) {
          // Start: ptr[p] = number of magnitudes <= thr[p]; exponent of sorted i = #{p : ptr[p] <= i}.
          let i = 0;
          for (let p = 0; p < q; p++) {
            while (i < fanIn && mag[i]! <= thr[p]!) exp[i++] = p;
            ptr[p] = i;
          }
          while (i < fanIn) exp[i++] = q;
          z.fill(0);
          c1 = 0;
          for (let s = 0; s < fanIn; s++) {
            const x = idx[s]!, m = 2 ** exp[s]!;
            const l = weights[off + x]! < 0 ? -m : m;
            level[x] = l;
            c1 += l * hw[x]!;
            for (let j = 0; j < r; j++) z[j]! += Q[x * r + j]! * l;
          }
          c2 = 0;
          for (let x = 0; x < fanIn; x++) {
            let s = d[x]! * level[x]!;
            for (let j = 0; j < r; j++) s += P[x * r + j]! * z[j]!;
            c2 += level[x]! * s;
          }
        } else {
          // Thresholds rose: magnitudes now <= thr[p] drop one exponent (from p + 1 to p).
          for (let p = 0; p < q; p++) {
            const t = thr[p]!;
            let i = ptr[p]!;
            while (i < fanIn && mag[i]! <= t) {
              const x = idx[i]!, e = --exp[i]!;
              const delta = weights[off + x]! < 0 ? 2 ** e : -(2 ** e); // level change, signed
              // (H L)_x from z = Q^T L before the change, then z moves by delta Q_x (one pass over r).
              let hl = d[x]! * level[x]!;
              for (let j = 0, o = x * r; j < r; j++, o++) {
                const zj = z[j]!;
                hl += P[o]! * zj;
                z[j] = zj + delta * Q[o]!;
              }
              c1 += delta * hw[x]!;
              c2 += delta * (2 * hl + delta * hkk[x]!);
              level[x] = level[x]! + delta;
              i++;
            }
            ptr[p] = i;
          }
        }
        const e = wHw - 2 * a * c1 + a * a * c2;
        if (e < bestErr) [best, bestCap, bestErr] = [a, q, e];
      }
    }
    alpha[n] = best;
    maxExponent[n] = bestCap;
  }
  return { alpha, maxExponent };
}
