/**
 * The float32 GEMM kernel's WebAssembly memory, split in two: resident blocks at the bottom (packed constant
 * B operands, written once per model and read in place by every later call, instead of being copied into the
 * kernel memory on every call) and, above the highest resident block, the scratch area of the call in
 * progress (operand copies, packed A, the C block).
 *
 * A resident block lives as long as the object it is registered with (a `PackedB` in an `EvaluationCache`):
 * when that object is garbage collected, the block goes back to a free list that later allocations reuse
 * first-fit. WebAssembly memory never shrinks, so the memory stays at its high-water mark; the bytes held are
 * those the packed weights held in the JavaScript heap before.
 * @module
 */
import type { WasmGemmF32 } from "../../../quant/wasm_gemm_f32.ts";

/** Resident block granularity (bytes): 64, so a block starts on a cache line and a 16-byte vector boundary. */
const ALIGN = 64;

/** Resident blocks and the scratch area of one kernel memory. */
export class GemmMemory {
  readonly #w: WasmGemmF32;
  /** End of the highest resident block (bytes): the scratch area starts here. */
  #top = 0;
  /** Free resident ranges (bytes), by start. */
  #free: { at: number; bytes: number }[] = [];
  #view: Float32Array | undefined;
  readonly #registry = new FinalizationRegistry<{ at: number; bytes: number }>((b) =>
    this.free(b.at, b.bytes)
  );

  constructor(w: WasmGemmF32) {
    this.#w = w;
  }

  /** First byte of the scratch area (a multiple of 64). */
  get scratch(): number {
    return this.#top;
  }

  /** Bytes held by resident blocks, free ranges included (the scratch area's offset). */
  get residentBytes(): number {
    return this.#top;
  }

  /**
   * A resident block of `bytes` bytes, its byte offset; freed when `owner` is collected (or by {@link free}).
   * Reuses a free range where one fits, else raises the scratch start.
   */
  alloc(bytes: number, owner?: object): number {
    const size = Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
    let at = -1;
    const i = this.#free.findIndex((f) => f.bytes >= size);
    if (i >= 0) {
      const f = this.#free[i]!;
      at = f.at;
      if (f.bytes === size) this.#free.splice(i, 1);
      else f.at += size, f.bytes -= size;
    } else {
      at = this.#top;
      this.#top += size;
      this.heap(this.#top);
    }
    if (owner) this.#registry.register(owner, { at, bytes: size });
    return at;
  }

  /** Return a resident block (byte offset and the size asked for) to the free list. */
  free(at: number, bytes: number): void {
    const size = Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
    this.#free.push({ at, bytes: size });
    this.#free.sort((a, b) => a.at - b.at);
    // merge neighbours; a free range that ends at the top lowers it
    const merged: { at: number; bytes: number }[] = [];
    for (const f of this.#free) {
      const last = merged[merged.length - 1];
      if (last && last.at + last.bytes === f.at) last.bytes += f.bytes;
      else merged.push({ ...f });
    }
    const last = merged[merged.length - 1];
    if (last && last.at + last.bytes === this.#top) this.#top = last.at, merged.pop();
    this.#free = merged;
  }

  /** A Float32Array over the whole memory, grown to at least `bytes` bytes. */
  heap(bytes: number): Float32Array {
    const m = this.#w.memory, have = m.buffer.byteLength;
    if (bytes > have) m.grow(Math.ceil((bytes - have) / 65536));
    // one view per memory buffer (growing the memory replaces the buffer)
    if (this.#view?.buffer !== m.buffer) this.#view = new Float32Array(m.buffer);
    return this.#view;
  }
}
