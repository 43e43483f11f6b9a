/**
 * The file-system adapter of onnx/io.ts: the only place model I/O touches `Deno.*`. Nothing here runs at
 * import time, so io.ts (and the browser bundle that imports it) loads without Deno; only path-based calls
 * need a file system.
 * @module
 */

/** The file operations model I/O needs. Tests inject failing ones to check atomic writes. */
export interface FileSystem {
  /** Whole file contents. */
  readFile(path: string): Promise<Uint8Array>;
  /** Whole file contents, synchronously (external data is read while decoding). */
  readFileSync(path: string): Uint8Array;
  /** Create or truncate `path` and write `data`; must fail if the file exists when `createNew` is set. */
  writeFile(path: string, data: Uint8Array, createNew: boolean): Promise<void>;
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

/** The Deno file system. */
export const denoFs: FileSystem = {
  readFile: (path) => deno().readFile(path),
  readFileSync: (path) => deno().readFileSync(path),
  writeFile: (path, data, createNew) => deno().writeFile(path, data, { createNew }),
  rename: (from, to) => deno().rename(from, to),
  async remove(path) {
    try {
      await deno().remove(path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  },
};

/** Directory part of a path ("" for a bare file name); accepts `/` and `\`. */
export function dirname(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0 ? "" : path.slice(0, i + 1);
}

/** File-name part of a path. */
export function basename(path: string): string {
  return path.slice(dirname(path).length);
}
