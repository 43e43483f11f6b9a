/**
 * Recycled float32 activation storage for the CPU evaluator. A fresh large Float32Array costs more than the
 * element-wise op that fills it (the pages are mapped and zeroed on first touch, then unmapped by the garbage
 * collector: about 1.2 ns per element here against 0.45 for an Add), so a graph evaluation hands the storage
 * of every float32 value whose last reader has run back to a pool, and `makeTensor` takes its float32
 * storage from there (zero-filled, as a new array would be) for the rest of the evaluation and, through an
 * `EvaluationCache`, for later evaluations of the same model.
 *
 * A buffer is recycled only when no live value holds it any more: storage is counted per ArrayBuffer, so
 * views that share it (a Reshape, an Identity, a subarray) keep it alive. Only storage allocated from the pool
 * during the evaluation is ever recycled: feeds, initializers, folded constants, the values of enclosing
 * scopes and graph outputs never are.
 * @module
 */
import { setFloatSource, type Tensor } from "../tensor.ts";

/** Tensors smaller than this many elements are allocated as usual (cheap, not worth tracking). */
const MIN_ELEMENTS = 1024;
/** Most bytes the pool keeps between evaluations; beyond it a returned buffer is left to the collector. */
const MAX_POOLED_BYTES = 512 * 1024 * 1024;

/** Free float32 buffers by length. */
export class FloatPool {
  #free = new Map<number, Float32Array[]>();
  #bytes = 0;

  /** Number of free buffers held. */
  get free(): number {
    let n = 0;
    for (const l of this.#free.values()) n += l.length;
    return n;
  }

  /**
   * A buffer of `n` elements from the pool, zero-filled unless `zero` is false (for a kernel that writes
   * every element), or undefined when none is free.
   */
  take(n: number, zero = true): Float32Array | undefined {
    const a = this.#free.get(n)?.pop();
    if (!a) return undefined;
    this.#bytes -= a.byteLength;
    return zero ? a.fill(0) : a;
  }

  /** Return a buffer no one uses any more. */
  give(a: Float32Array): void {
    if (this.#bytes + a.byteLength > MAX_POOLED_BYTES) return;
    let list = this.#free.get(a.length);
    if (!list) this.#free.set(a.length, list = []);
    list.push(a);
    this.#bytes += a.byteLength;
  }
}

/**
 * One graph evaluation's view of the pool: which buffers it allocated and how many live values hold each.
 * The evaluator calls {@link hold} for each output it stores, {@link release} for each value it drops and
 * {@link drop} for outputs it does not store; {@link run} installs the allocator around a kernel.
 */
export class PoolScope {
  readonly #pool: FloatPool;
  readonly #holders = new Map<ArrayBufferLike, number>();
  readonly #arrays = new Map<ArrayBufferLike, Float32Array>();
  #zero = true;
  readonly #alloc = (n: number): Float32Array | undefined => {
    if (n < MIN_ELEMENTS) return undefined;
    const a = this.#pool.take(n, this.#zero) ?? new Float32Array(n);
    this.#holders.set(a.buffer, 0);
    this.#arrays.set(a.buffer, a);
    return a;
  };

  constructor(pool: FloatPool) {
    this.#pool = pool;
  }

  /**
   * Run `f` with makeTensor's float32 storage coming from the pool (plain allocation when `pooled` is false);
   * `overwrites`: f writes every element of each tensor it allocates, so recycled storage is not zeroed first.
   */
  run<T>(pooled: boolean, f: () => T, overwrites = false): T {
    const prev = setFloatSource(pooled ? this.#alloc : undefined), zero = this.#zero;
    this.#zero = !overwrites;
    try {
      return f();
    } finally {
      setFloatSource(prev);
      this.#zero = zero;
    }
  }

  /** A live value now holds `t`. */
  hold(t: Tensor): void {
    const b = (t.data as { buffer?: ArrayBufferLike }).buffer;
    const n = b && this.#holders.get(b);
    if (n !== undefined && b) this.#holders.set(b, n + 1);
  }

  /** A live value holding `t` was dropped: recycle its storage if no other live value holds it. */
  release(t: Tensor): void {
    const b = (t.data as { buffer?: ArrayBufferLike }).buffer;
    const n = b && this.#holders.get(b);
    if (n === undefined || !b) return;
    if (n > 1) this.#holders.set(b, n - 1);
    else this.#recycle(b);
  }

  /** `t` was produced but not stored: recycle its storage if no live value holds it. */
  drop(t: Tensor): void {
    const b = (t.data as { buffer?: ArrayBufferLike }).buffer;
    if (b && this.#holders.get(b) === 0) this.#recycle(b);
  }

  #recycle(b: ArrayBufferLike): void {
    const a = this.#arrays.get(b)!;
    this.#holders.delete(b);
    this.#arrays.delete(b);
    this.#pool.give(a);
  }
}
