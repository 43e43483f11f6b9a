/**
 * Error metrics between a reference signal and its quantized approximation. All accumulate in float64
 * and accept any `ArrayLike<number>` (Float32Array, Float64Array, plain arrays). Both arguments must have
 * the same length (RangeError otherwise). A NaN anywhere makes the result NaN.
 *
 * Zero signals (documented per function) follow the limit that keeps comparisons meaningful: identical
 * signals are perfect (SQNR +Infinity, cosine 1, relative error 0) even when both are all zeros.
 * @module
 */

function checkLengths(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot compute ${what}: lengths differ (${a.length} vs ${b.length})`);
  }
}

/**
 * Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - test)^2).
 * No noise gives +Infinity (also for two all-zero signals); noise on an all-zero reference gives -Infinity.
 *
 * @param reference the exact signal
 * @param test the approximation
 * @returns SQNR in decibels
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { sqnrDb } from "./error_metrics.ts";
 * // signal power 1+4 = 5, noise power 0.05^2 * 2 = 0.005: ratio 1000 -> 30 dB
 * assertAlmostEquals(sqnrDb([1, 2], [1.05, 1.95]), 30, 1e-9);
 * ```
 */
export function sqnrDb(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  checkLengths("SQNR", reference, test);
  if (reference instanceof Float32Array && test instanceof Float32Array) return sqnrDbF32(reference, test);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const d = r - test[i]!;
    signal += r * r;
    noise += d * d;
  }
  return sqnrFromSums(signal, noise);
}

/** Decibels of signal over noise power: NaN if either sum is, Infinity without noise. */
function sqnrFromSums(signal: number, noise: number): number {
  if (Number.isNaN(signal) || Number.isNaN(noise)) return NaN;
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}

/** {@link sqnrDb} over two Float32Arrays: the same sums in the same order, element reads V8 keeps monomorphic. */
function sqnrDbF32(reference: Float32Array, test: Float32Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const d = r - test[i]!;
    signal += r * r;
    noise += d * d;
  }
  return sqnrFromSums(signal, noise);
}

/**
 * Cosine similarity a.b / (|a| |b|). Two all-zero vectors give 1 (identical); exactly one all-zero
 * vector gives 0.
 *
 * @param a first vector
 * @param b second vector
 * @returns a value in [-1, 1]
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { cosineSimilarity } from "./error_metrics.ts";
 * assertAlmostEquals(cosineSimilarity([1, 0], [1, 1]), Math.SQRT1_2, 1e-15);
 * ```
 */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkLengths("cosine similarity", a, b);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (Number.isNaN(dot)) return NaN;
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  // Clamp: rounding can push |cos| a hair above 1 for parallel vectors.
  return Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)));
}

/**
 * Relative L2 error ||test - reference|| / ||reference||. An all-zero reference gives 0 when `test` is
 * also all zero, else +Infinity.
 *
 * @param test the approximation
 * @param reference the exact signal
 * @returns the relative error (0 = exact)
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { relativeL2 } from "./error_metrics.ts";
 * assertAlmostEquals(relativeL2([3, 4.5], [3, 4]), 0.1, 1e-15); // 0.5 / 5
 * ```
 */
export function relativeL2(test: ArrayLike<number>, reference: ArrayLike<number>): number {
  checkLengths("relative L2 error", test, reference);
  let num = 0;
  let den = 0;
  for (let i = 0; i < test.length; i++) {
    const r = reference[i]!;
    const d = test[i]! - r;
    num += d * d;
    den += r * r;
  }
  if (Number.isNaN(num) || Number.isNaN(den)) return NaN;
  if (num === 0) return 0;
  return Math.sqrt(num) / Math.sqrt(den);
}

/**
 * Largest absolute element-wise difference max |a - b| (0 for empty inputs).
 *
 * @param a first array
 * @param b second array
 * @returns the maximum absolute error
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { maxAbsError } from "./error_metrics.ts";
 * assertEquals(maxAbsError([1, -2, 3], [1.5, 1, 3]), 3);
 * ```
 */
export function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkLengths("max abs error", a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > m) m = d;
    else if (d !== d) return NaN;
  }
  return m;
}
