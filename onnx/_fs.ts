/**
 * The file-system adapter of onnx/io.ts: the only place model I/O touches `Deno.*`. Nothing here runs at
 * import time, so io.ts (and the browser bundle that imports it) loads without Deno; only path-based calls
 * need a file system.
 *
 * External data is read by range ({@link FileSystem.readRange}), never whole; writes go through a
 * {@link FileWriter} that is fsync'ed before the file is renamed into place, and temporary files are removed
 * when the process receives SIGINT or SIGTERM ({@link trackTemp}).
 * @module
 */

/** What {@link FileSystem.stat} reports about a path (symbolic links followed). */
export interface FileFacts {
  /** True for a regular file (not a directory, device, FIFO or socket). */
  readonly isFile: boolean;
  /** Size in bytes. */
  readonly size: number;
}

/** A file being written: chunks appended in order, then {@link FileWriter.close} (fsync + close). */
export interface FileWriter {
  /** Append bytes. */
  write(chunk: Uint8Array): void;
  /** Flush to stable storage (fsync) and close. */
  close(): void;
  /** Close without syncing (after a failure). Idempotent. */
  abort(): void;
}

/** The file operations model I/O needs. Tests inject failing or generating ones. */
export interface FileSystem {
  /** Whole file contents (the `.onnx` or `.zip` file itself). */
  readFile(path: string): Promise<Uint8Array>;
  /** `length` bytes at `offset` (external data is read while decoding, so this is synchronous). */
  readRange(path: string, offset: number, length: number): Uint8Array;
  /** Type and size of the file at `path`, following symbolic links. */
  stat(path: string): FileFacts;
  /** The canonical absolute path (symbolic links resolved). */
  realPath(path: string): string;
  /** Create `path`, which must not exist yet, for writing. */
  create(path: string): FileWriter;
  /** Atomically replace `to` by `from` (same directory). */
  rename(from: string, to: string): Promise<void>;
  /** Remove a file; a missing file is not an error. */
  remove(path: string): Promise<void>;
}

/** True for the error a file system raises for a missing file. */
export function isNotFound(e: unknown): boolean {
  const D = (globalThis as { Deno?: typeof Deno }).Deno;
  return D !== undefined && e instanceof D.errors.NotFound;
}

function deno(): typeof Deno {
  const D = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!D) throw new TypeError("Loading or saving a model by path needs Deno; in a browser, pass the bytes");
  return D;
}

function readRange(path: string, offset: number, length: number): Uint8Array {
  const D = deno();
  const file = D.openSync(path, { read: true });
  try {
    // Checked on the open handle too: the path may have been swapped for a FIFO or device since stat().
    const facts = file.statSync();
    if (!facts.isFile) throw new RangeError(`"${path}" is not a regular file`);
    if (offset + length > facts.size) {
      throw new RangeError(`"${path}" has ${facts.size} bytes, ${offset + length} needed`);
    }
    file.seekSync(offset, D.SeekMode.Start);
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = file.readSync(out.subarray(got));
      if (n === null || n === 0) throw new RangeError(`"${path}" ended after ${offset + got} bytes`);
      got += n;
    }
    return out;
  } finally {
    file.close();
  }
}

/** The Deno file system. */
export const denoFs: FileSystem = {
  readFile: (path) => deno().readFile(path),
  readRange,
  stat(path) {
    const s = deno().statSync(path);
    return { isFile: s.isFile, size: s.size };
  },
  realPath: (path) => deno().realPathSync(path),
  create(path) {
    const file = deno().openSync(path, { write: true, createNew: true });
    let open = true;
    return {
      write(chunk) {
        let done = 0;
        while (done < chunk.length) done += file.writeSync(chunk.subarray(done));
      },
      close() {
        file.syncSync();
        open = false;
        file.close();
      },
      abort() {
        if (open) file.close();
        open = false;
      },
    };
  },
  rename: (from, to) => deno().rename(from, to),
  async remove(path) {
    try {
      await deno().remove(path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  },
};

// -------------------------------------------------------------------- scratch files

/** A read-write file of this process alone: written at offsets, read by range (onnx/spill.ts). */
export interface ScratchFile {
  /** Where it was created (already unlinked where the platform allows it). */
  readonly path: string;
  /** Write `bytes` at `offset`. */
  write(offset: number, bytes: Uint8Array): void;
  /** `length` bytes at `offset`; a RangeError past what was written or after {@link ScratchFile.close}. */
  read(offset: number, length: number): Uint8Array;
  /** Close it; its bytes are gone (removed from disk where it was not unlinked already). Idempotent. */
  close(): void;
}

/**
 * Create a scratch file in `dir` (the OS temp folder when undefined). On POSIX systems it is unlinked at
 * once and lives only as long as its open handle: no path is ever left behind, whether the process ends
 * normally, by an exception, a signal or a kill. Where an open file cannot be unlinked (Windows) it is
 * registered for removal on SIGINT/SIGTERM ({@link trackTemp}) and removed by `close`.
 *
 * @param dir the folder, or undefined for the OS temp folder
 * @returns the open file
 * @throws {Error} the file system's error when the folder is missing or not writable
 */
export function openScratch(dir: string | undefined): ScratchFile {
  const D = deno();
  let path: string;
  try {
    path = D.makeTempFileSync({
      ...(dir !== undefined ? { dir } : {}),
      prefix: ".shiftkit-spill-",
      suffix: ".tmp",
    });
  } catch (e) {
    throw new Error(
      `Cannot create a scratch file in "${dir ?? "the OS temp folder"}": ${
        e instanceof Error ? e.message : e
      }`,
      { cause: e },
    );
  }
  const file = D.openSync(path, { read: true, write: true });
  let untrack: (() => void) | undefined;
  let linked = true;
  if (D.build.os !== "windows") {
    try {
      D.removeSync(path);
      linked = false;
    } catch { /* keep it tracked below */ }
  }
  if (linked) untrack = trackTemp(path);
  let open = true, size = 0;
  return {
    path,
    write(offset, bytes) {
      if (!open) throw new RangeError(`scratch file "${path}" is closed`);
      file.seekSync(offset, D.SeekMode.Start);
      let done = 0;
      while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
      size = Math.max(size, offset + bytes.length);
    },
    read(offset, length) {
      if (!open) throw new RangeError(`scratch file "${path}" is closed: its tensors are gone`);
      if (offset < 0 || offset + length > size) {
        throw new RangeError(`scratch file "${path}" has ${size} bytes, ${length} asked at offset ${offset}`);
      }
      file.seekSync(offset, D.SeekMode.Start);
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = file.readSync(out.subarray(got));
        if (n === null || n === 0) {
          throw new RangeError(`scratch file "${path}" ended after ${offset + got} bytes`);
        }
        got += n;
      }
      return out;
    },
    close() {
      if (!open) return;
      open = false;
      file.close();
      if (linked) {
        try {
          D.removeSync(path);
        } catch { /* already gone */ }
        untrack?.();
      }
    },
  };
}

// -------------------------------------------------------------------- temporary files and signals

const temps = new Set<string>();
const SIGNALS = ["SIGINT", "SIGTERM"] as const;
const EXIT_CODE = { SIGINT: 130, SIGTERM: 143 } as const;
const handlers = new Map<Deno.Signal, () => void>();

function installHandlers(): void {
  const D = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!D || handlers.size > 0 || D.build.os === "windows") return;
  for (const sig of SIGNALS) {
    const h = () => {
      for (const p of temps) {
        try {
          D.removeSync(p);
        } catch { /* already gone */ }
      }
      temps.clear();
      D.exit(EXIT_CODE[sig]);
    };
    try {
      D.addSignalListener(sig, h);
      handlers.set(sig, h);
    } catch { /* signals unavailable (no permission, or a worker) */ }
  }
}

function removeHandlers(): void {
  const D = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!D) return;
  for (const [sig, h] of handlers) D.removeSignalListener(sig, h);
  handlers.clear();
}

/**
 * Register a temporary file for removal if the process is interrupted (SIGINT/SIGTERM) before it is renamed
 * into place. The signal listeners exist only while some temporary file is registered, so they never keep
 * the process alive or change how it reacts to signals otherwise.
 *
 * @param path the temporary file
 * @returns a function that unregisters it (call after the rename or the removal)
 */
export function trackTemp(path: string): () => void {
  temps.add(path);
  installHandlers();
  return () => {
    temps.delete(path);
    if (temps.size === 0) removeHandlers();
  };
}

/** Directory part of a path ("" for a bare file name); accepts `/` and `\`. */
export function dirname(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0 ? "" : path.slice(0, i + 1);
}

/** File-name part of a path. */
export function basename(path: string): string {
  return path.slice(dirname(path).length);
}
