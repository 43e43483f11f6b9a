/**
 * Streaming histogram observer and the clipping-range searches that run on it (percentile, entropy, MSE).
 *
 * Range growth, exactly: the histogram covers [0, h) over |x| ("abs" mode) or [-h, h) ("signed" mode),
 * where h is always a power of two strictly above the largest |x| seen (signed mode: bins [a, b) above
 * 0 and (a, b] below, so folding at 0 gives exactly the |x| histogram). The bin count is fixed (a power of
 * two), so bin widths are powers of two and binning `floor(x * bins / h)` is exact. When a batch exceeds
 * h, h doubles k times and every run of 2^k old bins merges into one new bin (bin edges align exactly, so
 * no interpolation is needed). onnxruntime's HistogramCalibrater instead appends bins as the range grows;
 * this keeps memory fixed and makes the histogram identical however the data are split into batches. The
 * price: up to half of the bins can lie above max|x| (at worst 2x coarser bins than a histogram over
 * exactly [0, max|x|]). Non-finite values are skipped.
 * @module
 */

/** Which values the histogram counts. */
export type HistogramMode = "abs" | "signed";

/** Options of {@linkcode HistogramObserver}. */
export interface HistogramObserverOptions {
  /** Number of bins, a power of two >= 2. @default 2048 */
  bins?: number;
  /** `"abs"`: bins over |x| in [0, h); `"signed"`: bins over x in [-h, h). @default "abs" */
  mode?: HistogramMode;
}

/** Options of the entropy and MSE range searches. */
export interface ClipSearchOptions {
  /** Bit width the range will be quantized to. @default 8 */
  bits?: number;
  /**
   * Entropy only: quantized bins of the candidate distribution Q (TensorRT uses 128 for int8).
   * @default 2 ** (bits - 1)
   */
  quantizedBins?: number;
}

/**
 * Fixed-size histogram of a stream of tensors, with exact re-binning as the range grows.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HistogramObserver } from "./histogram.ts";
 * const h = new HistogramObserver({ bins: 8 });
 * h.observe(new Float32Array([0.5, -1.5, 3]));
 * assertEquals(h.edge, 4); // smallest power of two above max|x| = 3
 * assertEquals(h.histogram().counts, new Float64Array([0, 1, 0, 1, 0, 0, 1, 0])); // bins of width 0.5
 * assertEquals(h.percentileRange(100), [-1.5, 3]);
 * ```
 */
export class HistogramObserver {
  /** Number of bins. */
  readonly bins: number;
  /** Whether bins count |x| or x. */
  readonly mode: HistogramMode;
  #counts: Float64Array;
  #h = 0; // 0 until a non-zero value arrives: then all mass is in the zero bin
  #min = Infinity;
  #max = -Infinity;
  #count = 0;

  /** @param options bin count and mode */
  constructor(options: HistogramObserverOptions = {}) {
    const { bins = 2048, mode = "abs" } = options;
    if (!Number.isInteger(bins) || bins < 2 || bins > 2 ** 24 || (bins & (bins - 1)) !== 0) {
      throw new RangeError(
        `Cannot create a histogram observer: bins must be a power of two >= 2, got ${bins}`,
      );
    }
    if (mode !== "abs" && mode !== "signed") {
      throw new TypeError(`Cannot create a histogram observer: mode must be "abs" or "signed", got ${mode}`);
    }
    this.bins = bins;
    this.mode = mode;
    this.#counts = new Float64Array(bins);
  }

  /** Number of finite values observed. */
  get count(): number {
    return this.#count;
  }
  /** Smallest finite value observed (+Infinity before any). */
  get min(): number {
    return this.#min;
  }
  /** Largest finite value observed (-Infinity before any). */
  get max(): number {
    return this.#max;
  }
  /** Current range bound h (a power of two above max|x|, or 0 while every value seen was 0). */
  get edge(): number {
    return this.#h;
  }

  /**
   * Add a batch of values (any shape, flattened).
   *
   * @param x values; NaN and infinities are skipped
   */
  observe(x: ArrayLike<number>): void {
    let amax = 0;
    let lo = this.#min;
    let hi = this.#max;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v - v !== 0) continue; // NaN or +-Infinity
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      const a = v < 0 ? -v : v;
      if (a > amax) amax = a;
    }
    if (amax >= this.#h && amax > 0) this.#grow(amax);
    const n = this.bins;
    const c = this.#counts;
    const h = this.#h;
    const abs = this.mode === "abs";
    const mul = h === 0 ? 0 : abs ? n / h : n / (2 * h); // a power of two: x * mul is exact
    const off = abs ? 0 : n / 2;
    let seen = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v - v !== 0) continue;
      // Negative values use bins (a, b] so that the signed histogram is the mirror of the |x| one.
      const idx = v >= 0
        ? off + Math.floor(v * mul)
        : abs
        ? Math.floor(-v * mul)
        : off - 1 - Math.floor(-v * mul);
      c[idx] = c[idx]! + 1;
      seen++;
    }
    this.#count += seen;
    this.#min = lo;
    this.#max = hi;
  }

  /** Raise h to the smallest power of two above `amax`, merging 2^k old bins per new bin. */
  #grow(amax: number): void {
    let h = 2 ** Math.floor(Math.log2(amax));
    while (h > amax) h /= 2;
    while (h <= amax) h *= 2;
    if (this.#h > 0) {
      const f = h / this.#h;
      const n = this.bins;
      const old = this.#counts;
      const next = new Float64Array(n);
      // abs: old bin i -> floor(i / f); signed: old bin i -> floor((i + (f - 1) n / 2) / f) (edges align).
      const shift = this.mode === "abs" ? 0 : (f - 1) * (n / 2);
      for (let i = 0; i < n; i++) {
        if (old[i] !== 0) {
          const j = Math.floor((i + shift) / f);
          next[j] = next[j]! + old[i]!;
        }
      }
      this.#counts = next;
    } // h === 0: only the zero bin is populated, and it stays the zero bin.
    this.#h = h;
  }

  /**
   * A copy of the bin counts with the covered interval.
   *
   * @returns counts, and the interval [lo, hi) they cover
   */
  histogram(): { counts: Float64Array; lo: number; hi: number } {
    return { counts: this.#counts.slice(), lo: this.mode === "abs" ? 0 : -this.#h, hi: this.#h };
  }

  /**
   * Histogram of |x| over [0, h): the counts themselves in "abs" mode, the signed histogram folded at 0
   * (exact, 0 is a bin edge) in "signed" mode.
   *
   * @returns counts and bin width
   */
  absHistogram(): { counts: Float64Array; width: number } {
    const n = this.bins;
    if (this.mode === "abs") return { counts: this.#counts.slice(), width: this.#h / n };
    const half = n / 2;
    const counts = new Float64Array(half);
    for (let j = 0; j < half; j++) counts[j] = this.#counts[half + j]! + this.#counts[half - 1 - j]!;
    return { counts, width: this.#h / half };
  }

  #requireData(what: string): void {
    if (this.#count === 0) throw new RangeError(`Cannot compute the ${what} range: no values were observed`);
  }

  /** Symmetric threshold t applied to the observed range: [max(min, -t), min(max, t)]. */
  #clip(t: number): [number, number] {
    return [Math.max(this.#min, -t), Math.min(this.#max, t)];
  }

  /**
   * Percentile clipping. "abs" mode: t = upper edge of the bin where the CDF of |x| reaches
   * `percentile`%, range [-t, t] intersected with [min, max]. "signed" mode: (100 - percentile) / 2 % is
   * cut from each tail (onnxruntime's asymmetric rule), using the outer edges of the crossing bins.
   *
   * @param percentile in (0, 100], e.g. 99.99
   * @returns `[lo, hi]` within the observed [min, max]
   */
  percentileRange(percentile = 99.99): [number, number] {
    this.#requireData("percentile");
    if (!(percentile > 0 && percentile <= 100)) {
      throw new RangeError(
        `Cannot compute the percentile range: percentile must be in (0, 100], got ${percentile}`,
      );
    }
    const c = this.#counts;
    const n = this.bins;
    const total = this.#count;
    if (this.mode === "abs") {
      const target = (percentile / 100) * total;
      let cum = 0;
      let i = 0;
      for (; i < n - 1; i++) if ((cum += c[i]!) >= target) break;
      return this.#clip(((i + 1) * this.#h) / n);
    }
    const cut = ((100 - percentile) / 200) * total;
    const w = (2 * this.#h) / n;
    let cum = 0;
    let left = 0;
    for (; left < n - 1; left++) if ((cum += c[left]!) > cut) break;
    cum = 0;
    let right = n - 1;
    for (; right > 0; right--) if ((cum += c[right]!) > cut) break;
    return [Math.max(this.#min, -this.#h + left * w), Math.min(this.#max, -this.#h + (right + 1) * w)];
  }

  /**
   * Entropy calibration (TensorRT, Migacz 2017 "8-bit Inference with TensorRT"): over the |x| histogram,
   * for each candidate i >= quantizedBins keep bins [0, i) with the outliers added to bin i-1 (P), merge
   * bins [0, i) into `quantizedBins` groups and spread each group's mass evenly over its non-empty bins
   * (Q), and pick the i minimising KL(P || Q). Threshold t = i * width. Differences from onnxruntime: the
   * last group absorbs the remainder bins in Q too, and a bin with p > 0 but q = 0 gets q = 1e-10 instead
   * of count smoothing.
   *
   * @param options bits, quantizedBins
   * @returns `[lo, hi]` = [-t, t] within the observed [min, max]
   */
  entropyRange(options: ClipSearchOptions = {}): [number, number] {
    this.#requireData("entropy");
    const bits = checkBits(options.bits);
    const nq = options.quantizedBins ?? 2 ** (bits - 1);
    if (!Number.isInteger(nq) || nq < 1) {
      throw new RangeError(
        `Cannot compute the entropy range: quantizedBins must be a positive integer, got ${nq}`,
      );
    }
    const { counts, width } = this.absHistogram();
    const end = lastNonEmpty(counts) + 1;
    if (end <= nq) return this.#clip(end * width);
    let best = Infinity;
    let bestI = end;
    const p = new Float64Array(end);
    const q = new Float64Array(end);
    let outliers = 0;
    for (let j = end - 1; j >= nq; j--) outliers += counts[j]!;
    for (let i = nq; i <= end; i++) {
      // outliers = sum(counts[i:end])
      if (i > nq) outliers -= counts[i - 1]!;
      const kl = klForCandidate(counts, i, nq, outliers, p, q);
      if (kl < best) {
        best = kl;
        bestI = i;
      }
    }
    return this.#clip(bestI * width);
  }

  /**
   * MSE-optimal clipping: the threshold t (a bin edge) minimising the expected squared error of
   * quantizing to `bits`, with each bin's mass spread uniformly over the bin. The grid is symmetric signed
   * (levels k t / (2^(bits-1) - 1)) or, when no negative value was observed, unsigned
   * (levels k t / (2^bits - 1)), matching computeQParams. Rounding error within [0, t] is integrated
   * exactly over the sawtooth; clipping error above t is (|x| - t)^2.
   *
   * @param options bits
   * @returns `[lo, hi]` = [-t, t] within the observed [min, max]
   */
  mseRange(options: ClipSearchOptions = {}): [number, number] {
    this.#requireData("MSE");
    const bits = checkBits(options.bits);
    const levels = this.#min >= 0 ? 2 ** bits - 1 : 2 ** (bits - 1) - 1;
    const { counts, width } = this.absHistogram();
    const end = lastNonEmpty(counts) + 1;
    if (end === 0) return [this.#min, this.#max];
    let best = Infinity;
    let bestI = end;
    for (let i = 1; i <= end; i++) {
      const t = i * width;
      const mse = expectedMse(counts, end, width, t, t / levels);
      if (mse < best) {
        best = mse;
        bestI = i;
      }
    }
    return this.#clip(bestI * width);
  }
}

function checkBits(bits = 8): number {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
    throw new RangeError(`Cannot search a clipping range: bits must be an integer in 2..16, got ${bits}`);
  }
  return bits;
}

function lastNonEmpty(c: Float64Array): number {
  let j = c.length - 1;
  while (j >= 0 && c[j] === 0) j--;
  return j;
}

/** KL(P || Q) for candidate i (see entropyRange); p, q are scratch arrays of length >= i. */
function klForCandidate(
  c: Float64Array,
  i: number,
  nq: number,
  outliers: number,
  p: Float64Array,
  q: Float64Array,
): number {
  let pTotal = 0;
  for (let j = 0; j < i; j++) p[j] = c[j]!;
  p[i - 1] = p[i - 1]! + outliers;
  const merged = Math.floor(i / nq);
  let qTotal = 0;
  for (let g = 0; g < nq; g++) {
    const start = g * merged;
    const stop = g === nq - 1 ? i : start + merged;
    let mass = 0;
    let nonEmpty = 0;
    for (let j = start; j < stop; j++) {
      mass += c[j]!;
      if (p[j] !== 0) nonEmpty++;
    }
    const each = nonEmpty === 0 ? 0 : mass / nonEmpty;
    for (let j = start; j < stop; j++) q[j] = p[j] !== 0 ? each : 0;
    qTotal += mass;
  }
  for (let j = 0; j < i; j++) pTotal += p[j]!;
  let kl = 0;
  for (let j = 0; j < i; j++) {
    const pj = p[j]! / pTotal;
    if (pj === 0) continue;
    const qj = qTotal === 0 ? 0 : q[j]! / qTotal;
    kl += pj * Math.log(pj / (qj > 0 ? qj : 1e-10));
  }
  return kl;
}

/**
 * Expected squared error (times the count) of quantizing |x| with step s and threshold t, each bin
 * [j w, (j + 1) w) holding its count uniformly.
 */
function expectedMse(c: Float64Array, end: number, w: number, t: number, s: number): number {
  let total = 0;
  for (let j = 0; j < end; j++) {
    const n = c[j]!;
    if (n === 0) continue;
    const a = j * w;
    const b = a + w;
    let integral = 0;
    if (a < t) integral += sawtoothIntegral(a, Math.min(b, t), s);
    if (b > t) {
      const lo = Math.max(a, t) - t;
      integral += ((b - t) ** 3 - lo ** 3) / 3;
    }
    total += (n * integral) / w;
  }
  return total;
}

/** Integral over [a, b] of (u - s round(u / s))^2: whole periods contribute s^3 / 12 each. */
function sawtoothIntegral(a: number, b: number, s: number): number {
  const ya = a + s / 2;
  const yb = b + s / 2;
  const ma = Math.floor(ya / s);
  const mb = Math.floor(yb / s);
  const part = (r: number) => ((r - s / 2) ** 3 + (s / 2) ** 3) / 3;
  return ((mb - ma) * s ** 3) / 12 + part(yb - mb * s) - part(ya - ma * s);
}
