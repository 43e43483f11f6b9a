/**
 * The scale search of Outlier Suppression+ (arXiv 2304.09145, the released "fast and stable" scheme,
 * METHODS.md section 1): a grid over a clipping threshold t from T0 = max |shifted activation| down to a
 * lower bound; for each t the channel scales are s_j = max(1, max(cmax_j, -cmin_j) / t), the activation
 * (X - z) / s is fake-quantized per tensor and each consumer weight diag(s) W per output channel, and the
 * loss is the mean squared error of the consumers' outputs against float. The t with the smallest loss wins.
 * Pure numerics on typed arrays: the pass (os_plus.ts) gathers the data and folds the result.
 * @module
 */
import { computeQParams } from "../../quant/qparams.ts";
import { roundHalfEven } from "../../quant/round.ts";

/** One consumer weight in MatMul layout: `rows` = channels C, `cols` = outputs, row-major [C, cols]. */
export interface SearchWeight {
  data: Float32Array;
  cols: number;
}

/** Inputs of {@link searchMigrationScale}. */
export interface ScaleSearchInput {
  /** Shifted activation tokens X - z, row-major [tokens, channels]. */
  x: Float32Array;
  /** Number of channels C. */
  channels: number;
  /** Per-channel minimum of the shifted activation over the calibration set (length C). */
  cmin: Float32Array;
  /** Per-channel maximum of the shifted activation over the calibration set (length C). */
  cmax: Float32Array;
  /** Consumer weights (MatMul layout [C, out]); the loss sums over all of them. */
  weights: readonly SearchWeight[];
}

/** Options of {@link searchMigrationScale}. */
export interface ScaleSearchOptions {
  /** Weight bits (symmetric, per output channel, narrow range). @default 8 */
  weightBits?: number;
  /** Activation bits (per tensor). @default 8 */
  activationBits?: number;
  /** Symmetric signed activations instead of asymmetric unsigned (as the QDQ pass). @default false */
  activationSymmetric?: boolean;
  /** Smallest threshold of the grid (1.0 for LayerNorm, 0.1 for RMSNorm in the paper). @default 1 */
  lowerBound?: number;
  /** Grid steps; the paper uses max(100, T0 / 0.5). @default max(100, floor(T0 / 0.5)) */
  steps?: number;
  /** Moment loss only: output columns (evenly strided) its weight and bias terms use. @default 128 */
  maxColumns?: number;
  /**
   * Search the grid coarse-to-fine: every k-th point first (k = ceil(steps / coarse)), then the points within
   * k of the best one at stride ceil(k / 5), and so on down to stride 1. 0 evaluates every point (the
   * released code). @default 0
   */
  coarse?: number;
}

/**
 * @internal Minimise `at(t)` over the grid t_i = t0 - (t0 - end) i / steps, i = 0..steps (every point, or
 * coarse-to-fine). The shift-only loss is the loss at t0 (i = 0), always evaluated.
 */
export function gridSearch(
  t0: number,
  end: number,
  steps: number,
  coarse: number,
  at: (t: number) => { scale: Float32Array; loss: number },
): ScaleSearchResult {
  const tOf = (i: number) => t0 - (t0 - end) * i / steps;
  const n = end === t0 ? 0 : steps;
  const memo = new Map<number, { t: number; scale: Float32Array; loss: number }>();
  const evalAt = (i: number) => {
    let r = memo.get(i);
    if (!r) {
      const t = tOf(i);
      r = t > 0 ? { t, ...at(t) } : { t, scale: new Float32Array(0), loss: Infinity };
      memo.set(i, r);
    }
    return r;
  };
  let best = evalAt(0);
  const take = (i: number) => {
    const r = evalAt(i);
    if (r.loss < best.loss) best = r;
  };
  const bestIndex = () => [...memo].find(([, r]) => r === best)![0];
  // Coarse-to-fine: `coarse` points over the whole grid, then around the best point at a stride 5x finer,
  // and so on down to stride 1 (about coarse + 10 points per level instead of every point).
  let k = coarse > 0 ? Math.max(1, Math.ceil(n / coarse)) : 1;
  for (let i = k; i <= n; i += k) take(i);
  if (k > 1) take(n);
  while (k > 1) {
    const next = Math.max(1, Math.ceil(k / 5));
    const b = bestIndex();
    for (let i = Math.max(0, b - k + next); i <= Math.min(n, b + k - next); i += next) take(i);
    k = next;
  }
  return {
    t: best.t,
    t0,
    scale: best.scale,
    loss: best.loss,
    lossShiftOnly: memo.get(0)!.loss,
    evaluated: [...memo.values()].filter((r) => r.t > 0).length,
    points: [...memo.values()].filter((r) => r.t > 0).map(({ t, loss }) => ({ t, loss })),
  };
}

/** Result of {@link searchMigrationScale}. */
export interface ScaleSearchResult {
  /** The chosen threshold. */
  t: number;
  /** T0: the largest |shifted activation| (the first grid point, where every s_j = 1). */
  t0: number;
  /** Per-channel scales s (length C, each >= 1). */
  scale: Float32Array;
  /** Loss (output MSE) at the chosen t. */
  loss: number;
  /** Loss at t = T0 (shift only, no scaling). */
  lossShiftOnly: number;
  /** Grid points evaluated. */
  evaluated: number;
  /** Every evaluated grid point with its loss, in evaluation order. */
  points: { t: number; loss: number }[];
}

/**
 * The OS+ channel scales for a threshold: s_j = max(1, max(cmax_j, -cmin_j) / t), so that every shifted
 * channel divided by its scale lies within [-t, t] and channels already inside are left alone.
 *
 * @param cmin per-channel minima of the shifted activation
 * @param cmax per-channel maxima of the shifted activation
 * @param t the clipping threshold (> 0)
 * @returns the scales (length C, each >= 1)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { migrationScales } from "./os_plus_search.ts";
 * assertEquals(migrationScales(Float32Array.of(-1, -8), Float32Array.of(4, 2), 2), Float32Array.of(2, 4));
 * ```
 */
export function migrationScales(cmin: Float32Array, cmax: Float32Array, t: number): Float32Array {
  const s = new Float32Array(cmin.length);
  for (let j = 0; j < s.length; j++) s[j] = Math.max(1, Math.max(cmax[j]!, -cmin[j]!) / t);
  return s;
}

/** Fake-quantize a [C, cols] weight per output column (symmetric, narrow range) after scaling row j by s_j. */
function fakeQuantWeight(w: SearchWeight, s: Float32Array, bits: number, out: Float32Array): void {
  const C = s.length, O = w.cols, d = w.data;
  const qmax = 2 ** (bits - 1) - 1;
  const colMax = new Float32Array(O);
  for (let j = 0; j < C; j++) {
    const sj = s[j]!, base = j * O;
    for (let k = 0; k < O; k++) {
      const v = Math.abs(d[base + k]! * sj);
      if (v > colMax[k]!) colMax[k] = v;
    }
  }
  const scale = new Float32Array(O);
  for (let k = 0; k < O; k++) scale[k] = colMax[k]! > 0 ? Math.fround(colMax[k]! / qmax) : 1;
  for (let j = 0; j < C; j++) {
    const sj = s[j]!, base = j * O;
    for (let k = 0; k < O; k++) {
      const sc = scale[k]!;
      let q = roundHalfEven(Math.fround(d[base + k]! * sj) / sc);
      q = q > qmax ? qmax : q < -qmax ? -qmax : q;
      out[base + k] = q * sc;
    }
  }
}

/**
 * Sum of squared differences between [N, C] x [C, O] and `ref` [N, O]. Four rows at a time with float64
 * accumulators (each weight row is loaded once per four tokens); N must be a multiple of 4.
 */
function sumSquaredError(
  x: Float32Array,
  n: number,
  c: number,
  w: Float32Array,
  o: number,
  ref: Float32Array,
): number {
  const a0 = new Float64Array(o),
    a1 = new Float64Array(o),
    a2 = new Float64Array(o),
    a3 = new Float64Array(o);
  let sse = 0;
  for (let i = 0; i < n; i += 4) {
    a0.fill(0), a1.fill(0), a2.fill(0), a3.fill(0);
    const b0 = i * c, b1 = b0 + c, b2 = b1 + c, b3 = b2 + c;
    for (let k = 0; k < c; k++) {
      const x0 = x[b0 + k]!, x1 = x[b1 + k]!, x2 = x[b2 + k]!, x3 = x[b3 + k]!;
      const wb = k * o;
      for (let j = 0; j < o; j++) {
        const ww = w[wb + j]!;
        a0[j] = a0[j]! + x0 * ww,
          a1[j] = a1[j]! + x1 * ww,
          a2[j] = a2[j]! + x2 * ww,
          a3[j] = a3[j]! + x3 * ww;
      }
    }
    const r0 = i * o, r1 = r0 + o, r2 = r1 + o, r3 = r2 + o;
    for (let j = 0; j < o; j++) {
      const e0 = a0[j]! - ref[r0 + j]!,
        e1 = a1[j]! - ref[r1 + j]!,
        e2 = a2[j]! - ref[r2 + j]!,
        e3 = a3[j]! - ref[r3 + j]!;
      sse += e0 * e0 + e1 * e1 + e2 * e2 + e3 * e3;
    }
  }
  return sse;
}

/** [N, C] x [C, O] in float64, stored as float32. */
function matmul(x: Float32Array, n: number, c: number, w: Float32Array, o: number): Float32Array {
  const y = new Float32Array(n * o), acc = new Float64Array(o);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    const xb = i * c;
    for (let k = 0; k < c; k++) {
      const a = x[xb + k]!;
      if (a === 0) continue;
      const wb = k * o;
      for (let j = 0; j < o; j++) acc[j] = acc[j]! + a * w[wb + j]!;
    }
    y.set(acc, i * o);
  }
  return y;
}

/** @internal The consumer weights side by side: one [C, sum of cols] matrix (per-column quantization is unaffected). */
export function concatWeights(weights: readonly SearchWeight[], C: number): SearchWeight {
  if (weights.length === 1) return weights[0]!;
  const cols = weights.reduce((a, w) => a + w.cols, 0);
  const data = new Float32Array(C * cols);
  let off = 0;
  for (const w of weights) {
    for (let j = 0; j < C; j++) data.set(w.data.subarray(j * w.cols, (j + 1) * w.cols), j * cols + off);
    off += w.cols;
  }
  return { data, cols };
}

/**
 * Search the OS+ channel scales for one norm -> linear site.
 *
 * The activation range of the quantizer at each grid point is the calibration set's min/max of the
 * transformed activation, [min_j cmin_j / s_j, max_j cmax_j / s_j] (what the min-max calibrator will see
 * after folding), so the search and the final quantization agree.
 *
 * @param input shifted activation tokens, per-channel ranges and consumer weights
 * @param options bit widths, grid lower bound and steps
 * @returns the chosen threshold and scales, with the losses
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { searchMigrationScale } from "./os_plus_search.ts";
 * // 2 channels, channel 1 is a 100x outlier: the search scales it down
 * const x = new Float32Array(64).map((_, i) => (i % 2 ? 100 : 1) * Math.sin(i));
 * const r = searchMigrationScale({
 *   x, channels: 2, cmin: new Float32Array([-1, -100]), cmax: new Float32Array([1, 100]),
 *   weights: [{ data: new Float32Array([1, 0.5, 0.01, 0.02]), cols: 2 }],
 * }, { activationBits: 4, weightBits: 8 });
 * assert(r.scale[1]! > 1 && r.loss <= r.lossShiftOnly);
 * ```
 */
export function searchMigrationScale(
  input: ScaleSearchInput,
  options: ScaleSearchOptions = {},
): ScaleSearchResult {
  const { x, channels: C, cmin, cmax, weights } = input;
  if (cmin.length !== C || cmax.length !== C) {
    throw new RangeError(`OS+ search: ${cmin.length}/${cmax.length} channel ranges for ${C} channels`);
  }
  if (x.length % C !== 0) throw new RangeError(`OS+ search: ${x.length} activation values are not [N, ${C}]`);
  for (const w of weights) {
    if (w.data.length !== C * w.cols) {
      throw new RangeError(
        `OS+ search: a consumer weight has ${w.data.length} values, expected ${C} x ${w.cols}`,
      );
    }
  }
  const N = x.length / C;
  if (N === 0 || weights.length === 0) {
    throw new RangeError("OS+ search: no activation tokens or no consumer weights");
  }
  // Zero rows pad the tokens to a multiple of 4: they quantize to exactly 0 and add no error.
  const Np = Math.ceil(N / 4) * 4;
  const xs = new Float32Array(Np * C);
  xs.set(x);
  const w = concatWeights(weights, C);
  const wBits = options.weightBits ?? 8, aBits = options.activationBits ?? 8;
  const sym = options.activationSymmetric ?? false;
  const lb = options.lowerBound ?? 1;
  let t0 = 0;
  for (let j = 0; j < C; j++) t0 = Math.max(t0, cmax[j]!, -cmin[j]!);
  const steps = Math.max(1, options.steps ?? Math.max(100, Math.floor(t0 / 0.5)));

  const ref = matmul(xs, Np, C, w.data, w.cols);
  const wq = new Float32Array(w.data.length);
  const xq = new Float32Array(xs.length);
  const count = N * w.cols;

  const lossAt = (s: Float32Array): number => {
    let lo = 0, hi = 0;
    for (let j = 0; j < C; j++) {
      lo = Math.min(lo, cmin[j]! / s[j]!);
      hi = Math.max(hi, cmax[j]! / s[j]!);
    }
    const p = computeQParams(lo, hi, { bits: aBits, signed: sym, symmetric: sym });
    const inv = new Float32Array(C);
    for (let j = 0; j < C; j++) inv[j] = 1 / s[j]!;
    for (let i = 0; i < xs.length; i++) {
      let q = roundHalfEven(Math.fround(xs[i]! * inv[i % C]!) / p.scale) + p.zeroPoint;
      q = q < p.qmin ? p.qmin : q > p.qmax ? p.qmax : q;
      xq[i] = (q - p.zeroPoint) * p.scale;
    }
    fakeQuantWeight(w, s, wBits, wq);
    return sumSquaredError(xq, Np, C, wq, w.cols, ref) / count;
  };

  return gridSearch(t0, Math.min(lb, t0), steps, options.coarse ?? 0, (t) => {
    const s = migrationScales(cmin, cmax, t);
    return { scale: s, loss: lossAt(s) };
  });
}
