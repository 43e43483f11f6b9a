/**
 * Small checks shared by the data sources (private to runtime/).
 * @module
 */

/** The number of samples to use: `n`, or fewer with `maxSamples`. */
export function limitSamples(n: number, maxSamples: number | undefined): number {
  if (maxSamples === undefined) return n;
  if (!(Number.isInteger(maxSamples) && maxSamples >= 0)) {
    throw new RangeError(`maxSamples must be a non-negative integer, got ${maxSamples}`);
  }
  return Math.min(n, maxSamples);
}

/** Throw a RangeError unless `batchSize` is a positive integer. */
export function checkBatchSize(batchSize: number): void {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`Batch size must be a positive integer, got ${batchSize}`);
  }
}
