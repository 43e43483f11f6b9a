/**
 * The GPTQ column loop (Frantar et al., arXiv 2210.17323, Alg. 1), shared by every quantizer that minimises
 * the layer-output error `‖XW − XŴ‖` on calibration data: weight-only GPTQ with group scales
 * ({@link ./weight_only.ts}) and ShiftAddLLM's BCQ ({@link ./shiftadd_gptq.ts}). The quantizer of a feature
 * row is a callback; this module owns the Hessian preparation (dead features, dampening, act-order,
 * Cholesky factor of `H⁻¹`), the error feedback within a block and the lazy batch update of later features.
 *
 * Layout is ONNX MatMul's: `W` is `K x N` row-major (`K` input features = the reduction axis, `N` outputs),
 * `Y = X W`. GPTQ's "columns" are the K feature rows of W here: row k (all N outputs) is quantized at once
 * and its scaled error is pushed onto the rows not yet quantized.
 *
 * Where WebAssembly SIMD is available the factor (Cholesky and triangular inverse of the damped Hessian) and
 * the lazy batch update run on the float64 kernels of {@link ./f64_kernels.ts}, every sum in the same order
 * as the JavaScript loops here, so both give bit-identical factors, weights and codes (`scalar: true` runs
 * the JavaScript loops: tests, bench/gptq_kernels.ts).
 * @module
 */

import { choleskyInverseUpperInPlace } from "./linalg.ts";
import { arenaMatrix } from "./f64_factor.ts";
import { F64Arena } from "./f64_kernels.ts";
import { GramAccumulator } from "./gram.ts";

/** A dense row-major matrix. */
export interface WeightMatrix {
  /** `rows * cols` entries, row-major. */
  data: Float32Array | Float64Array;
  /** Number of rows (K, input features). */
  rows: number;
  /** Number of columns (N, outputs). */
  cols: number;
}

/** Options for {@linkcode prepareGptq}. */
export interface GptqPrepareOptions {
  /**
   * Dampening added to `diag(H)`, as a fraction of its mean.
   * @default {0.01}
   */
  damp?: number;
  /**
   * Quantize features in order of decreasing `diag(H)` (GPTQ act-order).
   * @default {false}
   */
  actOrder?: boolean;
  /**
   * Reuse the factor (and order) across calls that share one `hessian` array (q/k/v projections read the
   * same input): pass the same cache to each. The hessian arrays must not be modified while it lives.
   * @default {undefined}
   */
  cache?: HessianCache;
  /**
   * Factor with the JavaScript loops even where the float64 WebAssembly kernels are available (the same
   * bits, slower: tests and benchmarks).
   * @default {false}
   */
  scalar?: boolean;
}

/** Prepared factors by hessian array identity (see `GptqPrepareOptions.cache`). */
export type HessianCache = WeakMap<Float64Array, Map<string, { perm: Int32Array; u: Float64Array }>>;

/** A prepared Hessian: the order features are quantized in and the factor errors are scaled by. */
export interface GptqPlan {
  /** `perm[i]`: the feature quantized i-th. */
  perm: Int32Array;
  /** Upper Cholesky factor of the damped (and permuted) `H⁻¹`, `K x K`; `null`: no error feedback. */
  u: Float64Array | null;
  /** Features with `H[k,k] = 0` (never active); their weights were zeroed. */
  dead: number;
}

/**
 * Prepare GPTQ: features with `H[k,k] = 0` get `H[k,k] = 1` and their weights in `w` are zeroed; `damp ·
 * mean(diag H)` is added to the diagonal; with act-order the features are ordered by `diag H` descending
 * (stable); `U` = upper Cholesky factor of the (permuted) `H⁻¹`. Without a hessian: identity order, no
 * feedback.
 *
 * @param w the weight, `K x N`, float64 (dead rows are zeroed in place)
 * @param K input features
 * @param N outputs
 * @param hessian `H = XᵀX / n_samples`, `K x K`, or `null`
 * @param options damp, actOrder
 * @returns the plan
 * @throws {TypeError} when the hessian has the wrong size
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { prepareGptq } from "./gptq.ts";
 * const w = new Float64Array([1, 2, 3, 4]);
 * const p = prepareGptq(w, 2, 2, new Float64Array([1, 0, 0, 0]), { actOrder: true });
 * assertEquals([p.dead, Array.from(p.perm), Array.from(w)], [1, [0, 1], [1, 2, 0, 0]]);
 * ```
 */
export function prepareGptq(
  w: Float64Array,
  K: number,
  N: number,
  hessian: Float64Array | null,
  options: GptqPrepareOptions = {},
): GptqPlan {
  const perm = Int32Array.from({ length: K }, (_, i) => i);
  if (!hessian) return { perm, u: null, dead: 0 };
  if (hessian.length !== K * K) {
    throw new TypeError(
      `Cannot prepare GPTQ for K = ${K}: hessian has ${hessian.length} entries, not ${K * K}`,
    );
  }
  const damp = options.damp ?? 0.01;
  let dead = 0;
  for (let k = 0; k < K; k++) {
    if (hessian[k * K + k] === 0) {
      w.fill(0, k * N, (k + 1) * N);
      dead++;
    }
  }
  const key = `${damp},${options.actOrder === true}`;
  const hit = options.cache?.get(hessian)?.get(key);
  if (hit) return { perm: hit.perm, u: hit.u, dead };
  const made = factor(hessian, K, damp, options.actOrder === true, options.scalar === true);
  if (options.cache) {
    let m = options.cache.get(hessian);
    if (!m) options.cache.set(hessian, m = new Map());
    m.set(key, made);
  }
  return { ...made, dead };
}

/** Damped, optionally act-ordered upper Cholesky factor of `H⁻¹` (dead features get `H[k,k] = 1`). */
function factor(
  hessian: Float64Array,
  K: number,
  damp: number,
  actOrder: boolean,
  scalar: boolean,
): { perm: Int32Array; u: Float64Array } {
  // In a WebAssembly arena where available: the factorisation then runs on the SIMD kernels, in place.
  const matrix = () => (scalar ? undefined : arenaMatrix(K)) ?? new Float64Array(K * K);
  const h = matrix();
  h.set(hessian);
  let meanDiag = 0;
  for (let k = 0; k < K; k++) {
    if (h[k * K + k] === 0) h[k * K + k] = 1;
    meanDiag += h[k * K + k]! / K;
  }
  for (let k = 0; k < K; k++) h[k * K + k]! += damp * meanDiag;
  if (!actOrder) {
    return { perm: Int32Array.from({ length: K }, (_, i) => i), u: choleskyInverseUpperInPlace(h) };
  }
  // Stable sort by diag(H) descending (dead features, now 1, keep their relative order).
  const order = Int32Array.from(
    Array.from({ length: K }, (_, i) => i).sort((a, b) => h[b * K + b]! - h[a * K + a]! || a - b),
  );
  const hp = matrix();
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) hp[i * K + j] = h[order[i]! * K + order[j]!]!;
  return { perm: order, u: choleskyInverseUpperInPlace(hp) };
}

/**
 * Quantize one feature row: read `w[k*N .. k*N+N)` (already error-updated) and write the dequantized values
 * `Ŵ[k, :]` into `deq[k*N ..]`. Called once per feature, in plan order; may read other rows of `w` (e.g. to
 * fit the scales of a group when its first feature comes up).
 */
export type QuantizeRow = (k: number, w: Float64Array, deq: Float32Array) => void;

/** Options for {@linkcode runGptq}. */
export interface GptqRunOptions {
  /**
   * Features per block (lazy batch update).
   * @default {128}
   */
  blockSize?: number;
  /** Called after each block with the number of features done and the total K. */
  onProgress?: (done: number, total: number) => void;
  /**
   * The lazy batch update in JavaScript even where the float64 WebAssembly kernels are available (the same
   * bits, slower: tests and benchmarks).
   * @default {false}
   */
  scalar?: boolean;
}

/**
 * Run GPTQ's loop: per block of `blockSize` features (plan order), per feature k: `quantizeRow(k)`, `e = (w −
 * ŵ) / U[i,i]`, subtract `U[i,j] · e` from the later features j of the block; after the block subtract the
 * block's errors from all later features at once. With `plan.u = null` every row is quantized on its own
 * (round-to-nearest / the weight objective).
 *
 * @param w the weight, `K x N` float64, updated in place with the propagated errors
 * @param K input features
 * @param N outputs
 * @param plan from {@linkcode prepareGptq}
 * @param quantizeRow the row quantizer
 * @param options blockSize, onProgress
 * @returns `Ŵ`, `K x N` float32
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { prepareGptq, runGptq } from "./gptq.ts";
 * const w = new Float64Array([0.4, 1.6]);
 * const deq = runGptq(w, 2, 1, prepareGptq(w, 2, 1, null), (k, w, d) => { d[k] = Math.round(w[k]!); });
 * assertEquals(Array.from(deq), [0, 2]);
 * ```
 */
export function runGptq(
  w: Float64Array,
  K: number,
  N: number,
  plan: GptqPlan,
  quantizeRow: QuantizeRow,
  options: GptqRunOptions = {},
): Float32Array {
  const blockSize = options.blockSize ?? 128;
  if (!(blockSize >= 1)) throw new RangeError(`Cannot run GPTQ: blockSize must be >= 1, got ${blockSize}`);
  const { perm, u } = plan;
  const deq = new Float32Array(K * N);
  const bs = Math.min(blockSize, K);
  // The lazy batch update on the WebAssembly SIMD kernels where available: the block's errors live in the
  // arena, later rows are copied in LAZY_ROWS at a time with their coefficients, updated, copied back.
  const arena = u && K > bs && !options.scalar ? F64Arena.create(bs * N + LAZY_ROWS * (N + bs)) : undefined;
  const err = arena ? arena.f64.subarray(0, bs * N) : new Float64Array(bs * N);
  for (let b0 = 0; b0 < K; b0 += blockSize) {
    const b1 = Math.min(K, b0 + blockSize);
    for (let i = b0; i < b1; i++) {
      const k = perm[i]!;
      quantizeRow(k, w, deq);
      if (!u) continue;
      const rk = k * N, d = u[i * K + i]!, er = (i - b0) * N;
      for (let n = 0; n < N; n++) err[er + n] = (w[rk + n]! - deq[rk + n]!) / d;
      // Intra-block propagation onto the later features of the block (GPTQ Alg. 1, inner update).
      for (let j = i + 1; j < b1; j++) {
        const c = u[i * K + j]!;
        if (c === 0) continue;
        const rj = perm[j]! * N;
        for (let n = 0; n < N; n++) w[rj + n]! -= c * err[er + n]!;
      }
    }
    if (u && arena) lazyUpdateWasm(arena, w, K, N, perm, u, b0, b1, bs);
    else if (u) {
      // Lazy batch update of all later features: W[j] -= Σ_{i in block} U[i,j] · err_i, terms subtracted in
      // order of i. Two terms per sweep over the row (one load and store of W for both): the same
      // subtractions in the same order, so the same float64 results, at half the memory traffic.
      for (let j = b1; j < K; j++) {
        const rj = perm[j]! * N;
        let i = b0;
        for (; i + 1 < b1; i += 2) {
          const c0 = u[i * K + j]!, c1 = u[(i + 1) * K + j]!;
          const e0 = (i - b0) * N, e1 = e0 + N;
          if (c0 !== 0 && c1 !== 0) {
            for (let n = 0; n < N; n++) w[rj + n] = w[rj + n]! - c0 * err[e0 + n]! - c1 * err[e1 + n]!;
          } else if (c0 !== 0) {
            for (let n = 0; n < N; n++) w[rj + n]! -= c0 * err[e0 + n]!;
          } else if (c1 !== 0) {
            for (let n = 0; n < N; n++) w[rj + n]! -= c1 * err[e1 + n]!;
          }
        }
        if (i < b1) {
          const c = u[i * K + j]!, er = (i - b0) * N;
          if (c !== 0) { for (let n = 0; n < N; n++) w[rj + n]! -= c * err[er + n]!; }
        }
      }
    }
    options.onProgress?.(b1, K);
  }
  return deq;
}

/** Rows per batch of {@link lazyUpdateWasm}. */
const LAZY_ROWS = 64;

/**
 * The lazy batch update of features `b1..K-1` by the block `b0..b1-1` on the float64 kernels: `W[j] -=
 * Σ_i U[i,j] · err_i` in order of i, zero coefficients skipped, as the JavaScript loop (bit-identical). The
 * errors sit at offset 0 of the arena; rows go in batches, those with a zero coefficient one at a time.
 */
function lazyUpdateWasm(
  arena: F64Arena,
  w: Float64Array,
  K: number,
  N: number,
  perm: Int32Array,
  u: Float64Array,
  b0: number,
  b1: number,
  bs: number,
): void {
  const f = arena.f64, T = b1 - b0;
  const rowsAt = bs * N, coefAt = rowsAt + LAZY_ROWS * N;
  const slotRow = new Int32Array(LAZY_ROWS);
  for (let j0 = b1; j0 < K; j0 += LAZY_ROWS) {
    const R = Math.min(LAZY_ROWS, K - j0);
    // slots 0..front-1: rows without a zero coefficient; slots R-1 down to front: rows with one
    let front = 0, back = R;
    for (let j = j0; j < j0 + R; j++) {
      let zero = false;
      for (let t = 0; t < T; t++) if (u[(b0 + t) * K + j] === 0) zero = true;
      const s = zero ? --back : front++;
      slotRow[s] = perm[j]!;
      const c = coefAt + s * bs;
      for (let t = 0; t < T; t++) f[c + t] = u[(b0 + t) * K + j]!;
      f.set(w.subarray(perm[j]! * N, perm[j]! * N + N), rowsAt + s * N);
    }
    arena.msub(front, T, N, rowsAt, N, coefAt, bs, 1, 0, N);
    arena.msub(R - front, T, N, rowsAt + front * N, N, coefAt + front * bs, bs, 1, 0, N, { skipZeros: true });
    for (let s = 0; s < R; s++) w.set(f.subarray(rowsAt + s * N, rowsAt + s * N + N), slotRow[s]! * N);
  }
}

/** Relative errors of a quantized matrix. */
export interface QuantErrorStats {
  /** `‖W − Ŵ‖_F / ‖W‖_F`. */
  relWeightError: number;
  /** `sqrt(tr((W−Ŵ)ᵀ H (W−Ŵ)) / tr(Wᵀ H W))` with the given (undamped) H, i.e. `‖XW − XŴ‖_F / ‖XW‖_F` on
   * the calibration data; `NaN` without a hessian. */
  relOutputError: number;
  /** Features with `H[k,k] = 0` (never active): their weights are set to 0. */
  deadFeatures: number;
}

/**
 * Relative weight error and, with H, relative output error `sqrt(tr(EᵀHE)/tr(WᵀHW))`.
 *
 * @param w the original weight, `K x N`
 * @param deq `Ŵ`
 * @param h `H`, or null
 * @param K input features
 * @param N outputs
 * @param dead dead features (reported as is)
 * @returns the stats
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { quantErrorStats } from "./gptq.ts";
 * const s = quantErrorStats(new Float32Array([1, 0]), new Float32Array([0.5, 0]), new Float64Array([1, 0, 0, 1]), 2, 1, 0);
 * assertAlmostEquals(s.relOutputError, 0.5, 1e-12);
 * ```
 */
export function quantErrorStats(
  w: Float32Array | Float64Array,
  deq: Float32Array,
  h: Float64Array | null,
  K: number,
  N: number,
  dead: number,
): QuantErrorStats {
  let num = 0, den = 0;
  for (let i = 0; i < w.length; i++) {
    num += (w[i]! - deq[i]!) ** 2;
    den += w[i]! ** 2;
  }
  const relWeightError = den > 0 ? Math.sqrt(num / den) : 0;
  if (!h) return { relWeightError, relOutputError: NaN, deadFeatures: dead };
  // E = W − Ŵ is formed entry by entry where quadTraces reads it (the same float64 values, no K x N copies)
  const [te, tw] = quadTraces(h, w, deq, K, N);
  return { relWeightError, relOutputError: Math.sqrt(te / Math.max(tw, 1e-300)), deadFeatures: dead };
}

/**
 * `[tr(Eᵀ H E), tr(Wᵀ H W)]` for `K x N` matrices `E = W − Ŵ` and `W`, as `Σ_{k,j} H[k,j] (M Mᵀ)[k,j]`, with `M Mᵀ` from the
 * Gram accumulator (its WASM SIMD kernel) over the N columns of M. Above 1024 features the K features are
 * split in 4 blocks and `M Mᵀ` is built one pair of blocks at a time (each diagonal block counted once), in
 * buffers allocated once: a quarter of the memory (a 6144-wide layer: 190 MB instead of 600 MB) for 1.5x the
 * work.
 */
function quadTraces(
  h: Float64Array,
  w: Float32Array | Float64Array,
  deq: Float32Array,
  K: number,
  N: number,
): [number, number] {
  const nb = K > 1024 ? 4 : 1, B = Math.ceil(K / nb);
  const k2 = nb === 1 ? K : 2 * B; // features per pair; a short last block is zero-padded
  const cols = new Float64Array(N * k2); // Mᵀ on the pair's features: column n of M is row n
  const mask = new Float64Array(k2 * k2); // H on the counted entries of the pair, 0 elsewhere
  const g = new GramAccumulator(k2);
  const idx = new Int32Array(k2);
  const traces: [number, number] = [0, 0];
  const pair = (I: number, J: number, counted: (a: number, b: number) => boolean) => {
    // idx[a]: the feature at slot a (-1 for padding); slots 0..B-1 from block I, B..2B-1 from block J.
    for (let a = 0; a < k2; a++) {
      const f = nb === 1 ? a : a < B ? I * B + a : J * B + a - B;
      idx[a] = f < K ? f : -1;
    }
    mask.fill(0);
    for (let a = 0; a < k2; a++) {
      if (idx[a]! < 0) continue;
      for (let b = 0; b < k2; b++) {
        if (idx[b]! >= 0 && counted(a, b)) mask[a * k2 + b] = h[idx[a]! * K + idx[b]!]!;
      }
    }
    [true, false].forEach((isE, t) => {
      for (let a = 0; a < k2; a++) {
        const f = idx[a]!;
        if (f < 0) { for (let n = 0; n < N; n++) cols[n * k2 + a] = 0; }
        else if (isE) { for (let n = 0; n < N; n++) cols[n * k2 + a] = w[f * N + n]! - deq[f * N + n]!; }
        else for (let n = 0; n < N; n++) cols[n * k2 + a] = w[f * N + n]!;
      }
      g.reset();
      g.add(cols, N);
      traces[t]! += g.dotMean(mask) * N; // Σ H ∘ (M Mᵀ) over the counted entries, from the upper triangle
    });
  };
  if (nb === 1) pair(0, 0, () => true);
  else {
    for (let I = 0; I < nb; I++) {
      for (let J = I + 1; J < nb; J++) {
        // Off-diagonal blocks always; block I's own square in its first pair (0, 1), block J's in (0, J).
        pair(I, J, (a, b) => {
          const inI = a < B, inJ = b < B;
          if (inI !== inJ) return true;
          return inI ? I === 0 && J === 1 : I === 0;
        });
      }
    }
  }
  return traces;
}
