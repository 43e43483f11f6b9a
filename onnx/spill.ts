/**
 * Tensors spilled to disk (issue 17, item 3): a converting pass that emits a layer's codes, scales and zero
 * points hands them here once the layer is done, and they leave memory for one scratch file; each spilled
 * initializer then holds only its element type, dims and a {@link ByteRange} of that file (`Value.constRange`).
 * So the resident set of a per-layer conversion stays one layer's working set instead of growing by every
 * layer emitted so far.
 *
 * What reads a spilled tensor afterwards never needs it whole: shape inference, `storedBytes` and the
 * storage account read element types and dims (`Value.constInfo`); the finite check reads float tensors by
 * range (api/_finite.ts); `saveModel` copies each range into the external data file by chunks (onnx/io.ts),
 * switching external data on by itself for a model holding spilled tensors. `Value.const` still decodes one
 * (and keeps it, as for lazily loaded weights), so every other consumer works unchanged, at the memory cost
 * of what it touches.
 *
 * The scratch file (onnx/_fs.ts `openScratch`) is unlinked as soon as it is created where the platform
 * allows it (POSIX): its bytes live only as long as this process holds it open, so neither a failure, a
 * signal nor a kill leaves a file behind, and no half-written file is ever visible. Close it with
 * {@link TensorSpill.close} (or {@link releaseSpilled}) once the model has been saved.
 * @module
 */
import type { ByteRange, Model, Value } from "./ir.ts";
import { openScratch, type ScratchFile } from "./_fs.ts";
import { tensorBytes, tensorFromProto } from "./tensor_proto.ts";

/** Tensors from this many bytes on are spilled by default (smaller ones cost more in bookkeeping). */
export const DEFAULT_SPILL_THRESHOLD = 4096;

/** Options of {@linkcode TensorSpill}. */
export interface SpillOptions {
  /** Folder of the scratch file. @default the OS temp folder */
  dir?: string;
  /** Smallest tensor spilled, bytes. @default {DEFAULT_SPILL_THRESHOLD} */
  threshold?: number;
}

/**
 * One scratch file that initializers are moved into (appended in order, read back by range).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "./ir.ts";
 * import { DataType, makeTensor } from "./tensor.ts";
 * import { TensorSpill } from "./spill.ts";
 * const m = new Model();
 * const v = m.graph.addInitializer("codes", makeTensor(DataType.UINT8, [64, 128], new Uint8Array(8192).fill(7)));
 * const spill = new TensorSpill();
 * assertEquals(spill.spill(v), true);
 * assertEquals([v.constRange()?.length, v.constInfo()?.dims], [8192, [64, 128]]);
 * assertEquals((v.peekConst()!.data as Uint8Array)[100], 7);
 * spill.close();
 * ```
 */
export class TensorSpill {
  /** Smallest tensor spilled, bytes. */
  readonly threshold: number;
  readonly #dir: string | undefined;
  #file: ScratchFile | undefined;
  #end = 0;
  #tensors = 0;

  /** @param options folder and threshold */
  constructor(options: SpillOptions = {}) {
    const threshold = options.threshold ?? DEFAULT_SPILL_THRESHOLD;
    if (!Number.isFinite(threshold) || threshold < 0) {
      throw new RangeError(`spill threshold must be a byte count >= 0, got ${threshold}`);
    }
    this.threshold = threshold;
    this.#dir = options.dir;
  }

  /** Bytes spilled so far. */
  get bytes(): number {
    return this.#end;
  }

  /** Tensors spilled so far. */
  get tensors(): number {
    return this.#tensors;
  }

  /** Where the scratch file was created (undefined before the first spill; unlinked on POSIX). */
  get path(): string | undefined {
    return this.#file?.path;
  }

  /**
   * Move an initializer's data to the scratch file when it is held decoded in memory and has at least
   * {@link TensorSpill.threshold} bytes. Constants still encoded (an input's weights, inline or external) and
   * string tensors stay as they are.
   *
   * @param v an initializer
   * @returns whether it was spilled
   * @throws {Error} the file system's error when the scratch file cannot be created or written
   */
  spill(v: Value): boolean {
    if (!v.isConst || v.encodedConst !== undefined || v.constRange()) return false;
    const t = v.peekConst()!;
    if (Array.isArray(t.data)) return false;
    const raw = tensorBytes(t);
    if (raw.length < this.threshold || raw.length === 0) return false;
    const file = this.#file ??= openScratch(this.#dir);
    const offset = this.#end, length = raw.length;
    file.write(offset, raw);
    this.#end = offset + length;
    this.#tensors++;
    const dims = [...t.dims], dtype = t.dtype, name = v.name;
    const bytes: ByteRange = {
      length,
      read(at, n) {
        if (at < 0 || n < 0 || at + n > length) {
          throw new RangeError(
            `spilled tensor "${name}" has ${length} bytes, ${n} asked at offset ${at}`,
          );
        }
        return file.read(offset + at, n);
      },
    };
    v.setRangeConst(
      dtype,
      dims,
      bytes,
      () => tensorFromProto({ name, dims, data_type: dtype, raw_data: file.read(offset, length) }),
    );
    return true;
  }

  /** Close the scratch file: spilled tensors not read back by then are gone. Idempotent. */
  close(): void {
    this.#file?.close();
  }
}

/**
 * Whether this environment can spill (a scratch file needs Deno's file system; a browser cannot).
 *
 * @returns true under Deno
 */
export function canSpill(): boolean {
  return (globalThis as { Deno?: unknown }).Deno !== undefined;
}

const owners = new WeakMap<Model, TensorSpill>();

/**
 * Record that `model` holds tensors spilled to `spill` (api/quantize.ts does this), for
 * {@link releaseSpilled}.
 *
 * @param model the model
 * @param spill its spill
 */
export function attachSpill(model: Model, spill: TensorSpill): void {
  owners.set(model, spill);
}

/**
 * The spill a model's tensors were moved to, if any.
 *
 * @param model the model
 * @returns the spill, or undefined
 */
export function spillOf(model: Model): TensorSpill | undefined {
  return owners.get(model);
}

/**
 * Close the scratch file of a model's spilled tensors (after saving it): its disk space is returned. The
 * model's spilled tensors can no longer be read afterwards.
 *
 * @param model the model
 * @returns whether it had one
 */
export function releaseSpilled(model: Model): boolean {
  const s = owners.get(model);
  if (!s) return false;
  s.close();
  owners.delete(model);
  return true;
}
