/**
 * Streaming range observers for calibration (memory independent of the number of samples), and the one
 * entry point that turns an observer into a clipping range for a calibrator kind (METHODS.md section 0:
 * min-max, percentile, entropy, MSE). The histogram observer lives in histogram.ts.
 * @module
 */

import { type ClipSearchOptions, HistogramObserver } from "./histogram.ts";

export { HistogramObserver } from "./histogram.ts";
export type { ClipSearchOptions, HistogramMode, HistogramObserverOptions } from "./histogram.ts";

/** Calibration method: how a range is derived from observed data. */
export type CalibratorKind = "minmax" | "percentile" | "entropy" | "mse";

/** Options of {@linkcode MinMaxObserver}. */
export interface MinMaxObserverOptions {
  /** Axis to keep (per-channel), negative counts from the end; omit for per-tensor. @default undefined */
  axis?: number;
}

/**
 * Running minimum and maximum, per tensor or per channel along any axis of an N-d tensor.
 * NaN is ignored; infinities are kept.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MinMaxObserver } from "./observers.ts";
 * const o = new MinMaxObserver({ axis: 1 });
 * o.observe(new Float32Array([1, -2, 3, 4, 5, -6]), [1, 2, 3]); // channels [1, -2, 3], [4, 5, -6]
 * assertEquals([o.mins, o.maxs], [new Float32Array([-2, -6]), new Float32Array([3, 5])]);
 * assertEquals(o.range(), [-6, 5]);
 * ```
 */
export class MinMaxObserver {
  /** Axis kept per channel, or undefined for per-tensor. */
  readonly axis: number | undefined;
  #mins: Float32Array | undefined;
  #maxs: Float32Array | undefined;
  #count = 0;

  /** @param options axis for per-channel observation */
  constructor(options: MinMaxObserverOptions = {}) {
    if (options.axis !== undefined && !Number.isInteger(options.axis)) {
      throw new TypeError(`Cannot create a min-max observer: axis must be an integer, got ${options.axis}`);
    }
    this.axis = options.axis;
    if (this.axis === undefined) {
      this.#mins = new Float32Array([Infinity]);
      this.#maxs = new Float32Array([-Infinity]);
    }
  }

  /** Number of values observed (NaN included). */
  get count(): number {
    return this.#count;
  }

  /** Per-channel minima (length 1 per tensor; +Infinity where nothing was seen). */
  get mins(): Float32Array {
    return (this.#mins ?? new Float32Array(0)).slice();
  }

  /** Per-channel maxima (length 1 per tensor; -Infinity where nothing was seen). */
  get maxs(): Float32Array {
    return (this.#maxs ?? new Float32Array(0)).slice();
  }

  /**
   * Update with one tensor.
   *
   * @param x values, row-major
   * @param dims shape of `x`; required per channel (`dims[axis]` must stay the same across calls)
   */
  observe(x: ArrayLike<number>, dims?: readonly number[]): void {
    if (this.axis === undefined) {
      let lo = this.#mins![0]!;
      let hi = this.#maxs![0]!;
      if (x instanceof Float32Array) {
        [lo, hi] = minMaxF32(x, lo, hi);
      } else {
        for (let i = 0; i < x.length; i++) {
          const v = x[i]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      this.#mins![0] = lo;
      this.#maxs![0] = hi;
      this.#count += x.length;
      return;
    }
    if (dims === undefined) throw new TypeError("Cannot observe per channel: dims are required");
    const rank = dims.length;
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    if (axis < 0 || axis >= rank) {
      throw new RangeError(`Cannot observe per channel: axis ${this.axis} is out of range for rank ${rank}`);
    }
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== x.length) throw new RangeError(`Cannot observe: ${x.length} values, dims [${dims}] need ${n}`);
    const channels = dims[axis]!;
    if (this.#mins === undefined) {
      this.#mins = new Float32Array(channels).fill(Infinity);
      this.#maxs = new Float32Array(channels).fill(-Infinity);
    } else if (this.#mins.length !== channels) {
      throw new RangeError(
        `Cannot observe per channel: dims[${axis}] = ${channels}, earlier tensors had ${this.#mins.length}`,
      );
    }
    const mins = this.#mins;
    const maxs = this.#maxs!;
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    for (let start = 0, c = 0; start < n; start += inner, c = (c + 1) % channels) {
      let lo = mins[c]!;
      let hi = maxs[c]!;
      for (let i = start; i < start + inner; i++) {
        const v = x[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      mins[c] = lo;
      maxs[c] = hi;
    }
    this.#count += n;
  }

  /**
   * Overall `[min, max]` (across channels).
   *
   * @returns the observed range
   */
  range(): [number, number] {
    const mins = this.#mins ?? new Float32Array(0);
    const maxs = this.#maxs ?? new Float32Array(0);
    let lo = Infinity;
    let hi = -Infinity;
    for (let c = 0; c < mins.length; c++) {
      lo = Math.min(lo, mins[c]!);
      hi = Math.max(hi, maxs[c]!);
    }
    if (!(lo <= hi)) throw new RangeError("Cannot compute the min-max range: no values were observed");
    return [lo, hi];
  }
}

/** Options of {@linkcode rangeFromObserver}. */
export interface RangeOptions extends ClipSearchOptions {
  /** Percentile for `"percentile"`. @default 99.99 */
  percentile?: number;
}

/**
 * Clipping range `[lo, hi]` for a calibrator kind. `"minmax"` works with both observers; the other kinds
 * need a {@linkcode HistogramObserver}.
 *
 * @param observer the observer fed with calibration data
 * @param kind calibration method
 * @param options percentile, bits, quantizedBins
 * @returns `[lo, hi]` within the observed range
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HistogramObserver, rangeFromObserver } from "./observers.ts";
 * const h = new HistogramObserver();
 * h.observe(new Float32Array(1000).map((_, i) => (i === 999 ? 100 : (i % 10) / 10)));
 * assertEquals(rangeFromObserver(h, "minmax"), [0, 100]);
 * const [, hi] = rangeFromObserver(h, "percentile", { percentile: 99 });
 * assertEquals(hi < 1, true); // the outlier is clipped
 * ```
 */
export function rangeFromObserver(
  observer: MinMaxObserver | HistogramObserver,
  kind: CalibratorKind,
  options: RangeOptions = {},
): [number, number] {
  if (kind === "minmax") {
    if (observer instanceof MinMaxObserver) return observer.range();
    if (observer.count === 0) {
      throw new RangeError("Cannot compute the min-max range: no values were observed");
    }
    return [observer.min, observer.max];
  }
  if (!(observer instanceof HistogramObserver)) {
    throw new TypeError(`Cannot compute a ${kind} range: it needs a HistogramObserver, got a MinMaxObserver`);
  }
  switch (kind) {
    case "percentile":
      return observer.percentileRange(options.percentile ?? 99.99);
    case "entropy":
      return observer.entropyRange(options);
    case "mse":
      return observer.mseRange(options);
    default:
      throw new TypeError(`Cannot compute a range: unknown calibrator kind "${kind as string}"`);
  }
}

/**
 * Min and max of a float32 array, folded into `[lo, hi]`: one element type per loop keeps V8's access
 * monomorphic, four lanes shorten the compare chains. NaN is skipped, as in the generic loop.
 */
function minMaxF32(x: Float32Array, lo: number, hi: number): [number, number] {
  let l0 = lo, l1 = lo, l2 = lo, l3 = lo, h0 = hi, h1 = hi, h2 = hi, h3 = hi;
  const n = x.length, n4 = n - (n & 3);
  for (let i = 0; i < n4; i += 4) {
    const a = x[i]!, b = x[i + 1]!, c = x[i + 2]!, d = x[i + 3]!;
    if (a < l0) l0 = a;
    if (a > h0) h0 = a;
    if (b < l1) l1 = b;
    if (b > h1) h1 = b;
    if (c < l2) l2 = c;
    if (c > h2) h2 = c;
    if (d < l3) l3 = d;
    if (d > h3) h3 = d;
  }
  for (let i = n4; i < n; i++) {
    const v = x[i]!;
    if (v < l0) l0 = v;
    if (v > h0) h0 = v;
  }
  return [Math.min(l0, l1, l2, l3), Math.max(h0, h1, h2, h3)];
}
