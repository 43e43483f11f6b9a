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
 * walks the magnitudes in sorted order with one pointer per threshold and updates c1, c2 once per change.
 * The low-rank part is first rotated to its eigenbasis (Rayleigh-Ritz: `Q T Q^T = V diag(lambda) V^T`,
 * V = Q U with `T = U diag(lambda) U^T`), so that `L^T H L = sum_k d_k L_k^2 + sum_j lambda_j z_j^2` with
 * `z = V^T L`: a change costs O(1) for the diagonal part and one r-wide update of z, and each candidate an
 * O(r) sum, instead of re-encoding all K weights per candidate and O(K) per change on the full matrix. Per
 * channel: O(K log K) to sort, O(K r) to start each exponent cap, O(r) per level change and per candidate.
 * The sweep itself (quant/wasm_pow2_sweep.ts) runs on a WebAssembly SIMD kernel where available, with the
 * same float64 operations as its JavaScript definition (bit-identical results).
 * @module
 */
import type { LowRankDiag } from "./lowrank.ts";
import { symmetricEigen } from "./linalg.ts";
import {
  type Pow2AlphaOutputOptions,
  pow2ExponentCaps,
  type Pow2Fit,
  pow2GridFactors,
  pow2MaxExponent,
} from "./pow2.ts";
import { firstNonFinite32 } from "./finite.ts";
import { rowsTimes } from "./sym_product.ts";
import { pow2Sweeper } from "./wasm_pow2_sweep.ts";

/** The eigenbasis of an approximation's low-rank part: V (K x R row-major, R even) and lambda (R). */
interface RitzBasis {
  r: number;
  v: Float64Array;
  lam: Float64Array;
}

const bases = new WeakMap<LowRankDiag, RitzBasis>();

/**
 * `Q T Q^T` with `T = Q^T P` (P = Q T, Q orthonormal) as `V diag(lambda) V^T`, padded to an even width with
 * a zero column (lambda 0). Memoized per approximation (layers on the same inputs share one).
 */
function ritzBasis(m: LowRankDiag): RitzBasis {
  const hit = bases.get(m);
  if (hit) return hit;
  const { k, rank: r, q: Q, p: P } = m;
  const R = r + (r & 1);
  const v = new Float64Array(k * R), lam = new Float64Array(R);
  if (r > 0 && m.lambda) {
    // already the eigenbasis (the exact rank-K decomposition): V = Q, lambda as given
    lam.set(m.lambda);
    for (let x = 0; x < k; x++) for (let j = 0; j < r; j++) v[x * R + j] = Q[x * r + j]!;
  } else if (r > 0) {
    // T = Q^T P and Q U as products on the WebAssembly kernel (quant/sym_product.ts `rowsTimes`: each entry
    // the in-order sum over x, resp. i, from +0, as the loops `t_ij += Q_xi P_xj`, `s += Q_xi U_ij` add up).
    const qt = new Float64Array(r * k);
    for (let x = 0; x < k; x++) for (let i = 0; i < r; i++) qt[i * k + x] = Q[x * r + i]!;
    const t = rowsTimes(qt, P, r);
    for (let i = 0; i < r; i++) {
      for (let j = i + 1; j < r; j++) t[i * r + j] = t[j * r + i] = (t[i * r + j]! + t[j * r + i]!) / 2;
    }
    const { values, vectors: u } = symmetricEigen(t);
    lam.set(values);
    const qu = rowsTimes(Q, u, r);
    for (let x = 0; x < k; x++) for (let j = 0; j < r; j++) v[x * R + j] = qu[x * r + j]!;
  }
  const b = { r: R, v, lam };
  bases.set(m, b);
  return b;
}

/**
 * A stable LSD radix sort of K float32 magnitudes (bit patterns with the sign cleared, which order like the
 * values) with their feature index: ties keep feature order. Returns a function sorting one row of the bit
 * patterns from `off`; its two results are reused buffers (valid until the next call).
 */
function magnitudeSorter(k: number): (bits: Uint32Array, off: number) => [Uint32Array, Int32Array] {
  const hit = sorters.get(k);
  if (hit) return hit;
  const sorter = k <= 32 ? insertionSorter(k) : radixSorter(k);
  if (sorters.size > 64) sorters.clear();
  sorters.set(k, sorter);
  return sorter;
}

/** Sorters by K (their buffers are reused: one sort at a time). */
const sorters = new Map<number, (bits: Uint32Array, off: number) => [Uint32Array, Int32Array]>();

/**
 * The same order as the radix sort for short rows (a depthwise group's 9 or 25 weights), where clearing its
 * 1024 digit counters costs more than the sort: a stable insertion sort of the bit patterns.
 */
function insertionSorter(k: number): (bits: Uint32Array, off: number) => [Uint32Array, Int32Array] {
  const ka = new Uint32Array(k), ia = new Int32Array(k);
  return (bits, off) => {
    for (let x = 0; x < k; x++) {
      const b = bits[off + x]! & 0x7fffffff;
      let i = x;
      while (i > 0 && ka[i - 1]! > b) ka[i] = ka[i - 1]!, ia[i] = ia[i - 1]!, i--;
      ka[i] = b, ia[i] = x;
    }
    return [ka, ia];
  };
}

/** The LSD radix sort (see {@linkcode magnitudeSorter}). */
function radixSorter(k: number): (bits: Uint32Array, off: number) => [Uint32Array, Int32Array] {
  const ka = new Uint32Array(k), kb = new Uint32Array(k), ia = new Int32Array(k), ib = new Int32Array(k);
  const count = new Int32Array(4 * 256);
  return (bits, off) => {
    count.fill(0);
    for (let x = 0; x < k; x++) {
      const b = bits[off + x]! & 0x7fffffff;
      ka[x] = b, ia[x] = x;
      count[b & 255]!++;
      count[256 + ((b >>> 8) & 255)]!++;
      count[512 + ((b >>> 16) & 255)]!++;
      count[768 + (b >>> 24)]!++;
    }
    let src = ka, dst = kb, si = ia, di = ib;
    for (let pass = 0, sh = 0; pass < 4; pass++, sh += 8) {
      const base = pass * 256;
      if (count[base + ((src[0]! >>> sh) & 255)] === k) continue; // one digit value: order unchanged
      for (let b = 0, s = 0; b < 256; b++) {
        const c = count[base + b]!;
        count[base + b] = s;
        s += c;
      }
      for (let i = 0; i < k; i++) {
        const v = src[i]!, at = count[base + ((v >>> sh) & 255)]!++;
        dst[at] = v, di[at] = si[i]!;
      }
      [src, dst, si, di] = [dst, src, di, si];
    }
    return [src, si];
  };
}

/**
 * Output-error-optimal alpha per channel on `H = diag(d) + Q P^T` ({@linkcode LowRankDiag}): the same
 * candidates (grid, exponent caps of the widths minBits..bits) and objective as {@linkcode pow2AlphaOutput}
 * on that H, evaluated incrementally (see the module doc); the first (smallest) candidate wins exact ties in
 * both, and the two agree except where two candidates' errors differ by float round-off. Codes stay
 * linear-nearest.
 *
 * @param weights `[nOut, fanIn]` row-major, finite
 * @param metric the approximation of H (order fanIn; rank 0 for a diagonal H)
 * @param options `bits`, `stepsPerOctave`, `octaves`, `minBits`; `scalar`: force the JavaScript sweep (tests)
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
  options: Pow2AlphaOutputOptions & { scalar?: boolean } = {},
): Pow2Fit {
  const bits = options.bits ?? 3;
  const pmax = pow2MaxExponent(bits);
  const caps = pow2ExponentCaps(bits, options.minBits, "low-rank output-error alphas");
  const { k: fanIn, diag: d } = metric;
  if (fanIn === 0 || weights.length % fanIn !== 0 || fanIn > 2 ** 22) {
    throw new RangeError(
      `Cannot search low-rank output-error alphas: ${weights.length} weights do not split into rows of ${fanIn}`,
    );
  }
  const bad = firstNonFinite32(weights);
  if (bad >= 0) {
    throw new RangeError(
      `Cannot search low-rank output-error alphas: weight ${bad} = ${weights[bad]} is not finite`,
    );
  }
  const nOut = weights.length / fanIn;
  const alpha = new Float32Array(nOut);
  const maxExponent = new Uint8Array(nOut).fill(pmax);
  if (nOut === 0) return { alpha, maxExponent };
  const { r, v, lam } = ritzBasis(metric);
  // V^T w of every channel in one product (each entry the in-order sum over the K features, as the loop
  // `y_j += V_xj w_x` adds it up; WebAssembly SIMD kernel where available), before the sweeper's views.
  const vw = r > 0 && !options.scalar ? rowsTimes(weights, v, r) : undefined;
  const factors = pow2GridFactors(options);
  const sw = pow2Sweeper({ k: fanIn, r, g: factors.length, q: pmax }, options.scalar ? { scalar: true } : {});
  const A = sw.arrays;
  const { sgn, mag, idx, hw } = A;
  A.v.set(v), A.lam.set(lam), A.d.set(d.subarray(0, fanIn));
  const y = new Float64Array(r);
  const sorter = magnitudeSorter(fanIn);
  const bits32 = new Uint32Array(weights.buffer, weights.byteOffset, weights.length);
  const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
  for (let n = 0; n < nOut; n++) {
    const off = n * fanIn;
    // sign -1 exactly where w < 0 (sign bit set, magnitude not zero: -0 gets +1), without a branch on the
    // data (random signs mispredict half the time)
    for (let x = 0; x < fanIn; x++) {
      const b = bits32[off + x]!;
      sgn[x] = 1 - 2 * ((b >>> 31) & (((b & 0x7fffffff) + 0x7fffffff) >>> 31));
    }
    // magnitudes ascending (ties in feature order), as float32 bit patterns
    const [keys, order] = sorter(bits32, off);
    for (let i = 0; i < fanIn; i++) {
      u32[0] = keys[i]!;
      mag[i] = f32[0]!;
      idx[i] = order[i]!;
    }
    const rowMax = mag[fanIn - 1]!; // max |w|: pow2RowMaxAlpha's centre is fround(rowMax / 2^q)
    if (rowMax === 0) continue; // all-zero row: alpha 0 is exact
    // H w = d * w + V (lambda * (V^T w)).
    if (vw) {
      for (let j = 0; j < r; j++) y[j] = vw[n * r + j]! * lam[j]!;
    } else {
      y.fill(0);
      for (let x = 0; x < fanIn; x++) {
        const wx = weights[off + x]!;
        for (let j = 0; j < r; j++) y[j]! += v[x * r + j]! * wx;
      }
      for (let j = 0; j < r; j++) y[j]! *= lam[j]!;
    }
    let wHw = 0;
    for (let x = 0; x < fanIn; x++) {
      const wx = weights[off + x]!;
      let s = d[x]! * wx;
      for (let j = 0, o = x * r; j < r; j++) s += v[o + j]! * y[j]!;
      hw[x] = s;
      wHw += wx * s;
    }
    let best = 0, bestCap = pmax, bestErr = Infinity;
    for (const q of caps) {
      // pow2AlphaGrid's candidates, written in place
      const center = Math.fround(rowMax / 2 ** q);
      let g = 0;
      for (let i = 0; i < factors.length; i++) {
        const a = Math.fround(center * factors[i]!);
        if (a > 0 && Number.isFinite(a)) A.alpha[g++] = a;
      }
      sw.run(q, g, wHw);
      for (let i = 0; i < g; i++) {
        const e = A.err[i]!;
        if (e < bestErr) best = A.alpha[i]!, bestCap = q, bestErr = e;
      }
    }
    alpha[n] = best;
    maxExponent[n] = bestCap;
  }
  return { alpha, maxExponent };
}
