/**
 * One output file of onnx/io.ts written safely: under a temporary name in the target folder (registered for
 * removal on SIGINT/SIGTERM), appended to in order, fsync'ed on close, renamed into place on commit, removed on
 * discard.
 * @module
 */
import { type FileSystem, trackTemp } from "./_fs.ts";

/** One file being written under a temporary name, fsync'ed, then renamed into place. */
export class PendingFile {
  readonly temp: string;
  #writer: ReturnType<FileSystem["create"]> | undefined;
  #untrack: (() => void) | undefined;
  #pos = 0;
  renamed = false;

  constructor(readonly fs: FileSystem, readonly final: string, dir: string, name: string) {
    this.temp = `${dir}.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    this.#untrack = trackTemp(this.temp);
    this.#writer = fs.create(this.temp);
  }

  /** Append `bytes` at `offset` (>= what was written; the gap is zero-filled). */
  writeAt(offset: number, bytes: Uint8Array): void {
    if (offset > this.#pos) this.#writer!.write(new Uint8Array(offset - this.#pos));
    this.#writer!.write(bytes);
    this.#pos = offset + bytes.length;
  }

  close(): void {
    this.#writer!.close();
    this.#writer = undefined;
  }

  async commit(): Promise<void> {
    await this.fs.rename(this.temp, this.final);
    this.renamed = true;
    this.#untrack?.();
  }

  async discard(): Promise<void> {
    this.#writer?.abort();
    this.#writer = undefined;
    if (!this.renamed) await this.fs.remove(this.temp).catch(() => {});
    this.#untrack?.();
  }
}
