/**
 * Streaming Gram matrix H = X^T X / N of a linear layer's input (the Hessian proxy of GPTQ-style and
 * ShiftAddLLM-style weight quantizers), plus the per-feature mean of X (for bias correction).
 *
 * Rows arrive in batches; memory is O(k^2) whatever the number of rows. Accumulation is float64 (the
 * product of two float32 values is exact in float64, only the sums round). Only the upper triangle is
 * accumulated; rows are buffered into a float64 block of {@linkcode GRAM_BLOCK_ROWS} rows (in 4-feature panels,
 * the layout the WebAssembly kernel reads) so each entry of H is updated once per block with a 2x2
 * register-blocked dot product instead of once per row. Where WebAssembly SIMD is available the block is
 * folded by the 4x4 f64x2 micro-kernel of {@link ./wasm_gemm.ts} instead (upper-triangle 4x4 tiles; its fused
 * multiply-add form where every row came from a Float32Array, exact products making it bit-identical); every
 * entry is still the in-order float64 sum over the block's rows added once to the running sum, so both paths
 * give bit-identical H.
 * @module
 */
import { wasmGemm, wasmHeap } from "./wasm_gemm.ts";

/**
 * Rows buffered before they are folded into the Gram sum: each entry of H is the in-order float64 sum over
 * each block's rows, added block by block to the running sum.
 */
export const GRAM_BLOCK_ROWS = 64;
/** f64 per 4-feature panel of the pending block: {@linkcode GRAM_BLOCK_ROWS} rows of 4 features. */
const PANEL = GRAM_BLOCK_ROWS * 4;

/** Set while {@linkcode GramAccumulator.fromState} constructs: the constructor then allocates nothing. */
let adopting = false;

/**
 * Everything a {@linkcode GramAccumulator} holds, as plain data: what crosses to a worker thread and back
 * (passes/hessians.ts folds batches there), its buffers transferred rather than copied.
 */
export interface GramState {
  /** Row width. */
  k: number;
  /** Upper triangle (row-major k x k) of the running sum of x x^T. */
  sum: Float64Array;
  /** Column sums. */
  colSum: Float64Array;
  /** Pending rows in 4-feature panels (see the accumulator). */
  block: Float64Array;
  /** Rows accumulated, pending ones included. */
  count: number;
  /** Rows in `block` not yet folded. */
  pending: number;
  /** Whether a pending row came from a Float64Array. */
  pendingF64: boolean;
}

/**
 * Streaming accumulator of X^T X and of the column sums of X, for k-wide rows.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GramAccumulator } from "./gram.ts";
 * const g = new GramAccumulator(2);
 * g.add(new Float32Array([1, 2, 3, 4]), 2); // rows [1, 2] and [3, 4]
 * assertEquals(g.count, 2);
 * assertEquals(g.mean(), new Float64Array([5, 7, 7, 10])); // [[1+9, 2+12], [.., 4+16]] / 2
 * assertEquals(g.featureMean(), new Float64Array([2, 3]));
 * ```
 */
export class GramAccumulator {
  /** Row width (number of input features). */
  readonly k: number;
  #sum: Float64Array; // upper triangle (row-major k x k) of sum x x^T
  #colSum: Float64Array;
  #count = 0;
  // pending rows in 4-feature panels, the WASM kernel's operand layout: X[r, i] at
  // block[(i >> 2) * PANEL + 4 r + (i & 3)] (features past k stay 0)
  #block: Float64Array;
  #pending = 0;
  // whether a pending row came from a Float64Array (its products may not be exact in double: the fold then
  // takes the multiply-and-add kernel, wasm_gemm.ts)
  #pendingF64 = false;

  /**
   * @param k row width (number of input features), a positive integer
   * @param options `sum`: memory for the `k x k` sum (its first `k²` entries, zeroed here) instead of a new
   *   buffer, for a caller that has a dead buffer of that size at hand (GPTQ's factor after its loop)
   * @throws {RangeError} when k is not a positive integer or `sum` is shorter than `k²`
   */
  constructor(k: number, options: { sum?: Float64Array } = {}) {
    if (!Number.isInteger(k) || k < 1) {
      throw new RangeError(`Cannot create a Gram accumulator: k must be a positive integer, got ${k}`);
    }
    if (options.sum && options.sum.length < k * k) {
      throw new RangeError(
        `Cannot create a Gram accumulator of width ${k}: the given sum buffer has ${options.sum.length} entries, not ${
          k * k
        }`,
      );
    }
    this.k = k;
    if (adopting) { // GramAccumulator.fromState sets the buffers
      this.#sum = this.#colSum = this.#block = new Float64Array(0);
      return;
    }
    this.#sum = options.sum ? options.sum.subarray(0, k * k).fill(0) : new Float64Array(k * k);
    this.#colSum = new Float64Array(k);
    this.#block = new Float64Array(((k + 3) >> 2) * PANEL);
  }

  /** Number of rows accumulated so far. */
  get count(): number {
    return this.#count;
  }

  /**
   * Hand the accumulator over as {@linkcode GramState}: its own buffers, not copies, so this object is spent
   * (adding or asking throws) and {@linkcode GramAccumulator.fromState} continues it, here or in another thread,
   * with the same results as if it had gone on here.
   *
   * @returns the state
   * @throws {TypeError} when spent already
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { GramAccumulator } from "./gram.ts";
   * const a = new GramAccumulator(2), b = new GramAccumulator(2);
   * a.add(new Float32Array([1, 2]), 1);
   * b.add(new Float32Array([1, 2]), 1);
   * const c = GramAccumulator.fromState(structuredClone(a.toState()));
   * c.add(new Float32Array([3, 4]), 1);
   * b.add(new Float32Array([3, 4]), 1);
   * assertEquals(c.mean(), b.mean());
   * ```
   */
  toState(): GramState {
    if (this.#sum.length === 0) throw new TypeError("Cannot hand over the accumulator: it was spent");
    const state = {
      k: this.k,
      sum: this.#sum,
      colSum: this.#colSum,
      block: this.#block,
      count: this.#count,
      pending: this.#pending,
      pendingF64: this.#pendingF64,
    };
    this.#sum = new Float64Array(0);
    this.#block = new Float64Array(0);
    this.#count = 0;
    return state;
  }

  /**
   * The accumulator a {@linkcode GramAccumulator.toState} handed over, on the same buffers.
   *
   * @param s the state
   * @returns the accumulator
   * @throws {RangeError} when the buffers do not fit its width
   */
  static fromState(s: GramState): GramAccumulator {
    if (
      s.sum.length !== s.k * s.k || s.colSum.length !== s.k || s.block.length !== ((s.k + 3) >> 2) * PANEL ||
      !(s.pending >= 0 && s.pending < GRAM_BLOCK_ROWS && s.count >= s.pending)
    ) {
      throw new RangeError(`Cannot continue a Gram accumulator of width ${s.k} from these buffers`);
    }
    adopting = true;
    let a: GramAccumulator;
    try {
      a = new GramAccumulator(s.k);
    } finally {
      adopting = false;
    }
    a.#sum = s.sum;
    a.#colSum = s.colSum;
    a.#block = s.block;
    a.#count = s.count;
    a.#pending = s.pending;
    a.#pendingF64 = s.pendingF64;
    return a;
  }

  /**
   * Accumulate `nRows` contiguous k-wide rows.
   *
   * @param rows row-major data, at least `nRows * k` values
   * @param nRows number of rows to take from `rows`
   */
  add(rows: Float32Array | Float64Array, nRows: number): void {
    const k = this.k;
    if (!Number.isInteger(nRows) || nRows < 0 || nRows * k > rows.length) {
      throw new RangeError(
        `Cannot add rows: ${nRows} rows of width ${k} need ${nRows * k} values, got ${rows.length}`,
      );
    }
    if (this.#sum.length === 0) {
      throw new TypeError("Cannot add rows: the accumulator was spent (by takeMean or toState)");
    }
    const block = this.#block;
    const colSum = this.#colSum;
    if (nRows > 0 && rows instanceof Float64Array) this.#pendingF64 = true;
    for (let r = 0; r < nRows; r++) {
      const base = r * k;
      const at = 4 * this.#pending;
      for (let i = 0; i < k; i++) {
        const v = rows[base + i]!;
        block[(i >> 2) * PANEL + at + (i & 3)] = v;
        colSum[i] = colSum[i]! + v;
      }
      this.#count++;
      if (++this.#pending === GRAM_BLOCK_ROWS) {
        this.#flush();
        if (r + 1 < nRows && rows instanceof Float64Array) this.#pendingF64 = true;
      }
    }
  }

  /** Fold the pending block into the upper triangle of the sum. */
  #flush(): void {
    const n = this.#pending;
    if (n === 0) return;
    if (wasmGemm) return this.#flushWasm(n);
    const k = this.k;
    const b = this.#block;
    const s = this.#sum;
    // 2x2 micro-kernel over (i, i+1) x (j, j+1) with j >= i: four dot products share four loads per row.
    const feature = (i: number) => (i >> 2) * PANEL + (i & 3); // feature i of row 0; row r is 4 r further
    for (let i = 0; i < k; i += 2) {
      const i0 = feature(i);
      const twoRows = i + 1 < k;
      const i1 = twoRows ? i0 + 1 : i0; // i is even: i + 1 sits in the same panel
      for (let j = i; j < k; j += 2) {
        const j0 = feature(j);
        const twoCols = j + 1 < k;
        const j1 = twoCols ? j0 + 1 : j0;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (let r4 = 0; r4 < 4 * n; r4 += 4) {
          const a0 = b[i0 + r4]!, a1 = b[i1 + r4]!, c0 = b[j0 + r4]!, c1 = b[j1 + r4]!;
          s00 += a0 * c0;
          s01 += a0 * c1;
          s10 += a1 * c0;
          s11 += a1 * c1;
        }
        const at = i * k + j;
        s[at] = s[at]! + s00;
        if (twoCols) s[at + 1] = s[at + 1]! + s01;
        // (i+1, j) is below the diagonal when j === i: the upper triangle already has it as (i, i+1).
        if (twoRows && j > i) s[at + k] = s[at + k]! + s10;
        if (twoRows && twoCols) s[at + k + 1] = s[at + k + 1]! + s11;
      }
    }
    this.#pending = 0;
    this.#pendingF64 = false;
  }

  /**
   * {@link GramAccumulator.#flush} on the WebAssembly kernel: the block already holds the 4-feature panels
   * `P[q][r][c] = X[r, 4q + c]` (zero-padded), copied as they are (one copy for a full block), which serve as
   * both the A and the B operand; panel p against panels p.. gives the 4 x 4 tiles on and above the diagonal.
   * Rows that all came from Float32Arrays have exact products, so the fused kernel folds them (`exactPanel`,
   * bit-identical to the multiply-and-add one on such values).
   */
  #flushWasm(n: number): void {
    const w = wasmGemm!;
    const k = this.k, b = this.#block, s = this.#sum;
    const nq = (k + 3) >> 2, panel = n * 4; // f64 per panel
    const cBase = nq * panel * 8, rowBytes = nq * 4 * 8;
    const H = wasmHeap(w, cBase + 4 * rowBytes);
    if (n === GRAM_BLOCK_ROWS) H.set(b);
    else for (let q = 0; q < nq; q++) H.set(b.subarray(q * PANEL, q * PANEL + panel), q * panel);
    const c8 = cBase >> 3, rs8 = rowBytes >> 3;
    const kernel = this.#pendingF64 ? w.panel : w.exactPanel;
    for (let p = 0; p < nq; p++) {
      kernel(p * panel * 8, p * panel * 8, cBase, n, nq - p, rowBytes);
      for (let rr = 0; rr < 4; rr++) {
        const i = 4 * p + rr;
        if (i >= k) break;
        const src = c8 + rr * rs8 - 4 * p; // column j of the tile row sits at src + j
        for (let j = i; j < k; j++) s[i * k + j] = s[i * k + j]! + H[src + j]!;
      }
    }
    this.#pending = 0;
    this.#pendingF64 = false;
  }

  /**
   * Add another accumulator's rows into this one.
   *
   * @param other accumulator of the same width
   */
  merge(other: GramAccumulator): void {
    if (other.k !== this.k) {
      throw new RangeError(`Cannot merge Gram accumulators: widths differ (${this.k} vs ${other.k})`);
    }
    this.#flush();
    other.#flush();
    for (let i = 0; i < this.#sum.length; i++) this.#sum[i] = this.#sum[i]! + other.#sum[i]!;
    for (let i = 0; i < this.k; i++) this.#colSum[i] = this.#colSum[i]! + other.#colSum[i]!;
    this.#count += other.#count;
  }

  /**
   * H = X^T X / N, full symmetric k x k, row-major.
   *
   * @returns a new Float64Array of length k * k
   */
  mean(): Float64Array {
    this.#requireRows("mean Gram matrix");
    this.#flush();
    const k = this.k;
    const h = new Float64Array(k * k);
    const inv = 1 / this.#count;
    for (let i = 0; i < k; i++) {
      for (let j = i; j < k; j++) {
        const v = this.#sum[i * k + j]! * inv;
        h[i * k + j] = v;
        h[j * k + i] = v;
      }
    }
    return h;
  }

  /** Forget every row (the buffers are kept: what a caller accumulating many Grams of one width reuses). */
  reset(): void {
    if (this.#sum.length === 0) {
      throw new TypeError("Cannot reset: the accumulator was spent (by takeMean or toState)");
    }
    this.#sum.fill(0);
    this.#colSum.fill(0);
    this.#count = 0;
    this.#pending = 0;
    this.#pendingF64 = false;
  }

  /**
   * {@link GramAccumulator.mean} in the accumulator's own memory (one `k x k` buffer instead of two: a
   * 6144-wide layer input's Gram is 302 MB). The accumulator is spent: adding or asking again throws.
   *
   * @returns the accumulator's buffer, now H = X^T X / N, full symmetric
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { GramAccumulator } from "./gram.ts";
   * const g = new GramAccumulator(2);
   * g.add(new Float32Array([1, 2, 3, 4]), 2);
   * assertEquals(g.takeMean(), new Float64Array([5, 7, 7, 10]));
   * ```
   */
  takeMean(): Float64Array {
    this.#requireRows("mean Gram matrix");
    this.#flush();
    const k = this.k, h = this.#sum;
    const inv = 1 / this.#count;
    for (let i = 0; i < k; i++) {
      for (let j = i; j < k; j++) {
        const v = h[i * k + j]! * inv;
        h[i * k + j] = v;
        h[j * k + i] = v;
      }
    }
    this.#sum = new Float64Array(0);
    this.#block = new Float64Array(0);
    this.#count = 0;
    return h;
  }

  /**
   * `Σ_ij m[i,j] · (XᵀX / N)[i,j]` for a symmetric `m`, from the upper triangle (no `k x k` matrix built).
   *
   * @param m symmetric `k x k`, row-major
   * @returns the sum
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { GramAccumulator } from "./gram.ts";
   * const g = new GramAccumulator(2);
   * g.add(new Float32Array([1, 2, 3, 4]), 2); // mean [[5, 7], [7, 10]]
   * assertEquals(g.dotMean(new Float64Array([1, 1, 1, 0])), 19);
   * ```
   */
  dotMean(m: Float64Array): number {
    this.#requireRows("Gram product");
    this.#flush();
    const k = this.k, s = this.#sum;
    if (m.length !== k * k) {
      throw new RangeError(`Cannot take a Gram product: m has ${m.length} entries, not ${k * k}`);
    }
    let t = 0;
    for (let i = 0; i < k; i++) {
      t += m[i * k + i]! * s[i * k + i]!;
      let off = 0;
      for (let j = i + 1; j < k; j++) off += m[i * k + j]! * s[i * k + j]!;
      t += 2 * off;
    }
    return t / this.#count;
  }

  /**
   * Per-feature mean of X (column means).
   *
   * @returns a new Float64Array of length k
   */
  featureMean(): Float64Array {
    this.#requireRows("feature mean");
    return this.#colSum.map((v) => v / this.#count);
  }

  #requireRows(what: string): void {
    if (this.#count === 0) throw new RangeError(`Cannot compute the ${what}: no rows were added`);
  }
}
