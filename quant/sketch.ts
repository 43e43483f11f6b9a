/**
 * The "sketch" of a layer's inputs that a diagonal-plus-low-rank approximation (quant/lowrank.ts) is built
 * from: a subsample of its rows, kept as rows or folded into a Gram matrix, whichever the approximation is
 * cheaper from. Subspace iteration costs `K^2 r` per iteration on a Gram matrix, which itself costs
 * `m K^2 / 2` to form from m rows; on the rows it costs `2 m K r` per iteration and nothing to form. For the
 * wide inputs of a transformer's second MLP layer (K = 4 d) the rows win several-fold. Rows are held only
 * while they take at most twice the memory of the Gram matrix (`m <= 4 K` float32 rows against `K^2`
 * float64); past that they are folded into a {@link GramAccumulator} (the same sums as adding them there
 * directly).
 * @module
 */
import { GramAccumulator } from "./gram.ts";
import type { RowsCovariance } from "./lowrank.ts";

/** Options of {@linkcode SketchAccumulator}. */
export interface SketchOptions {
  /**
   * Rank r of the approximation that will be built from the sketch (the cost rule's r).
   * @default 8
   */
  rank?: number;
  /**
   * Subspace iterations of that approximation (quant/lowrank.ts; the cost rule's).
   * @default 8
   */
  iterations?: number;
}

/** A finished sketch: its rows, or its mean Gram matrix `X^T X / m`. */
export type Sketch = { rows: RowsCovariance } | { gram: Float64Array };

/**
 * Rows of one layer input's sketch, streamed in; {@linkcode SketchAccumulator.result} gives them as rows or
 * as the mean Gram matrix by the cost rule of the module doc.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { SketchAccumulator } from "./sketch.ts";
 * const wide = new SketchAccumulator(512);
 * wide.add(new Float32Array(512 * 10).fill(1), 10);
 * assert("rows" in wide.result()); // 10 rows of 512: the rows are the cheaper form
 * const narrow = new SketchAccumulator(2);
 * narrow.add(new Float32Array([1, 2, 3, 4]), 2);
 * assertEquals(narrow.result(), { gram: new Float64Array([5, 7, 7, 10]) });
 * ```
 */
export class SketchAccumulator {
  /** Row width K. */
  readonly k: number;
  #rank: number;
  #iterations: number;
  #buf: RowBuffer;

  /**
   * @param k row width, a positive integer
   * @param options rank and iterations of the approximation the sketch will serve
   */
  constructor(k: number, options: SketchOptions = {}) {
    if (!Number.isInteger(k) || k < 1) {
      throw new RangeError(`Cannot create a sketch accumulator: k must be a positive integer, got ${k}`);
    }
    this.k = k;
    this.#rank = options.rank ?? 8;
    this.#iterations = options.iterations ?? 8;
    this.#buf = new RowBuffer(k, 4 * k);
  }

  /** Rows added so far. */
  get count(): number {
    return this.#buf.total;
  }

  /**
   * Add `n` contiguous k-wide rows.
   *
   * @param rows row-major, at least `n * k` values
   * @param n number of rows
   */
  add(rows: Float32Array, n: number): void {
    this.#buf.add(rows, n);
  }

  /**
   * The sketch: its rows where the approximation is cheaper from them, else the mean Gram matrix.
   *
   * @returns rows (`mean` unset: the caller centres) or the Gram
   * @throws {RangeError} when no rows were added
   */
  result(): Sketch {
    const m = this.count, k = this.k, r = this.#rank, it = this.#iterations + 1, buf = this.#buf;
    if (m === 0) throw new RangeError("Cannot finish a sketch: no rows were added");
    if (!buf.gram && 2 * it * m * r < (m * k) / 2 + it * k * r) {
      return { rows: { k, rows: buf.rows.subarray(0, m * k), count: m } };
    }
    return { gram: buf.fold().mean() };
  }
}

/** Options of {@linkcode RowsOrGramAccumulator}. */
export interface RowsOrGramOptions {
  /** Rows kept as rows; the row past this folds them all into a Gram accumulator. */
  maxRows: number;
}

/** Every row of a layer input as the rows themselves, or folded into their Gram accumulator. */
export type RowsOrGram =
  | { rows: Float32Array; count: number; mean: Float64Array; secondMoment: Float64Array }
  | { gram: GramAccumulator };

/**
 * Every row of a layer's input, kept as rows while there are at most `maxRows` of them, else folded into a
 * {@link GramAccumulator} (fed the same rows in the same order, so its Gram and mean are bit-identical to
 * one fed directly). A Gram of K features from m rows costs `m K^2 / 2` to form and `K^2` per product with
 * it; the m rows cost nothing to keep and `2 m K` per product: where a Conv's sampled patches are fewer
 * than its fan-in (a 3x3 Conv of 256 channels on a 10 x 8 map: 640 rows of 2304), the rows hold the same
 * statistics (the Gram `X^T X / m` is exact either way) at a fraction of the cost.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { RowsOrGramAccumulator } from "./sketch.ts";
 * const a = new RowsOrGramAccumulator(3, { maxRows: 2 });
 * a.add(new Float32Array([1, 2, 3, 3, 2, 1]), 2);
 * const r = a.result();
 * assert("rows" in r);
 * assertEquals(r.mean, new Float64Array([2, 2, 2]));
 * a.add(new Float32Array([0, 0, 0]), 1); // a third row: folded into the Gram
 * assert("gram" in a.result());
 * ```
 */
export class RowsOrGramAccumulator {
  /** Row width K. */
  readonly k: number;
  #buf: RowBuffer;

  /**
   * @param k row width, a positive integer
   * @param options how many rows stay rows
   */
  constructor(k: number, options: RowsOrGramOptions) {
    if (!Number.isInteger(k) || k < 1) {
      throw new RangeError(
        `Cannot create a rows-or-Gram accumulator: k must be a positive integer, got ${k}`,
      );
    }
    this.k = k;
    this.#buf = new RowBuffer(k, Math.max(0, Math.floor(options.maxRows)));
  }

  /** Rows added so far. */
  get count(): number {
    return this.#buf.total;
  }

  /**
   * Add `n` contiguous k-wide rows.
   *
   * @param rows row-major, at least `n * k` values
   * @param n number of rows
   */
  add(rows: Float32Array, n: number): void {
    this.#buf.add(rows, n);
  }

  /**
   * The rows (with their per-feature mean and second moment E[x_k^2], each an in-order float64 sum over
   * the rows) or the Gram accumulator they were folded into.
   *
   * @returns rows or Gram
   * @throws {RangeError} when no rows were added
   */
  result(): RowsOrGram {
    const buf = this.#buf;
    if (buf.gram) return { gram: buf.gram };
    const m = buf.count, k = this.k, x = buf.rows;
    if (m === 0) throw new RangeError("Cannot finish a rows-or-Gram accumulator: no rows were added");
    const sum = new Float64Array(k), sq = new Float64Array(k);
    for (let i = 0; i < m; i++) {
      for (let j = 0, o = i * k; j < k; j++) {
        const v = x[o + j]!;
        sum[j] = sum[j]! + v;
        sq[j] = sq[j]! + v * v;
      }
    }
    return {
      rows: x.subarray(0, m * k),
      count: m,
      mean: sum.map((v) => v / m),
      secondMoment: sq.map((v) => v / m),
    };
  }
}

/**
 * Rows kept as rows while there are at most `maxRows` of them; the row past that folds them all, in order,
 * into a Gram accumulator that takes every later row (0: a Gram from the start).
 */
class RowBuffer {
  rows = new Float32Array(0);
  /** Rows held as rows (0 once folded). */
  count = 0;
  gram: GramAccumulator | undefined;

  constructor(readonly k: number, readonly maxRows: number) {
    if (maxRows === 0) this.gram = new GramAccumulator(k);
  }

  /** Rows added so far. */
  get total(): number {
    return this.gram?.count ?? this.count;
  }

  add(rows: Float32Array, n: number): void {
    const k = this.k;
    if (!Number.isInteger(n) || n < 0 || n * k > rows.length) {
      throw new RangeError(
        `Cannot add rows: ${n} rows of width ${k} need ${n * k} values, got ${rows.length}`,
      );
    }
    if (this.gram) return this.gram.add(rows, n);
    if (this.count + n > this.maxRows) return this.fold().add(rows, n);
    const need = (this.count + n) * k;
    if (need > this.rows.length) {
      const grown = new Float32Array(Math.min(this.maxRows * k, Math.max(need, 2 * this.rows.length)));
      grown.set(this.rows.subarray(0, this.count * k));
      this.rows = grown;
    }
    this.rows.set(rows.subarray(0, n * k), this.count * k);
    this.count += n;
  }

  /** Fold the rows into the Gram accumulator (once) and return it. */
  fold(): GramAccumulator {
    if (this.gram) return this.gram;
    this.gram = new GramAccumulator(this.k);
    if (this.count > 0) this.gram.add(this.rows, this.count);
    this.rows = new Float32Array(0);
    this.count = 0;
    return this.gram;
  }
}
