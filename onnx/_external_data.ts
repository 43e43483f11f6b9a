/**
 * Reading external tensor data (ONNX spec, onnx/docs/ExternalData.md) for onnx/io.ts. An external file is
 * untrusted input, so:
 * - a location must be relative and stay inside the model's directory, also after symbolic links are
 *   resolved (onnxruntime refuses such files too: "escapes model directory");
 * - it must be a regular file (not `/dev/zero`, a FIFO or a socket, which would hang or never end);
 * - only the bytes `[offset, offset + length)` a tensor names are read, after checking them against the
 *   file's size: a 64-byte tensor in a 1.5 GB file reads 64 bytes.
 * @module
 */
import type { ExternalReader } from "./tensor_proto.ts";
import type { FileSystem } from "./_fs.ts";

/** External locations must stay inside the model's directory (as onnx.checker requires). */
export function checkLocation(location: string): void {
  if (
    location.startsWith("/") || location.startsWith("\\") || /^[A-Za-z]:/.test(location) ||
    location.split(/[\\/]/).includes("..") || location.includes("\0")
  ) {
    throw new RangeError(`external data location "${location}" points outside the model's directory`);
  }
}

/** One external file as a reader sees it: its size and a way to read a range of it. */
export interface ExternalFile {
  /** Size in bytes. */
  readonly size: number;
  /** `length` bytes at `offset` (already checked against `size`). */
  read(offset: number, length: number): Uint8Array;
}

/** A checked, range-reading external-data reader. */
export interface RangeReader {
  /** Read a tensor's bytes. */
  readonly read: ExternalReader;
  /** Check that a reference resolves (location allowed, file present and regular, range inside it). */
  check(location: string, offset: number, length: number): void;
  /** Size of every external file opened so far, by location. */
  readonly sizes: ReadonlyMap<string, number>;
}

/**
 * A reader that resolves each location once (through `open`) and then reads ranges, with spec-conform
 * bounds checks.
 *
 * @param open returns the file for a location, or undefined when it does not exist; may throw a RangeError
 *   naming why the file is refused
 * @returns the reader
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { bytesFile, rangeReader } from "./_external_data.ts";
 * const r = rangeReader((loc) => loc === "w.bin" ? bytesFile(new Uint8Array(8).fill(7)) : undefined);
 * assertEquals(r.read("w.bin", 4, 4), new Uint8Array(4).fill(7));
 * assertThrows(() => r.read("w.bin", 4, 8), RangeError, "expected 8 bytes at offset 4, the file has 8 bytes");
 * assertThrows(() => r.read("../x", 0, 1), RangeError, "points outside");
 * ```
 */
export function rangeReader(open: (location: string) => ExternalFile | undefined): RangeReader {
  const files = new Map<string, ExternalFile>();
  const sizes = new Map<string, number>();
  const resolve = (location: string, offset: number, length: number): ExternalFile => {
    checkLocation(location);
    let file = files.get(location);
    if (!file) {
      file = open(location);
      if (!file) {
        throw new RangeError(
          `external data file "${location}" not found (expected ${length} bytes at offset ${offset})`,
        );
      }
      files.set(location, file);
      sizes.set(location, file.size);
    }
    if (
      !Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 ||
      offset + length > file.size
    ) {
      const avail = Math.max(0, file.size - Math.max(0, offset));
      throw new RangeError(
        `external data file "${location}" is too short: expected ${length} bytes at offset ${offset}, ` +
          `the file has ${file.size} bytes (${Number.isFinite(avail) ? avail : 0} available there)`,
      );
    }
    return file;
  };
  return {
    read(location, offset, length) {
      const file = resolve(location, offset, length ?? 0);
      return file.read(offset, length ?? file.size - offset);
    },
    check(location, offset, length) {
      resolve(location, offset, length);
    },
    sizes,
  };
}

/**
 * An in-memory external file (a zip entry, or bytes a browser fetched).
 *
 * @param bytes the file contents
 * @returns the file
 */
export function bytesFile(bytes: Uint8Array): ExternalFile {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/**
 * The external files next to a model on disk: each location must resolve (symbolic links followed) to a
 * regular file inside the model's directory.
 *
 * @param fs the file system
 * @param dir the model's directory ("" or ending in a separator)
 * @returns the `open` function for {@link rangeReader}
 */
export function directoryFiles(fs: FileSystem, dir: string): (location: string) => ExternalFile | undefined {
  let realDir: string | undefined;
  return (location) => {
    const path = dir + location;
    let real: string;
    try {
      real = fs.realPath(path);
    } catch (e) {
      if (e instanceof Error && e.name === "NotFound") return undefined;
      throw e;
    }
    realDir ??= fs.realPath(dir === "" ? "." : dir);
    const sep = realDir.endsWith("/") || realDir.endsWith("\\") ? "" : "/";
    if (!real.startsWith(realDir + sep) && !real.startsWith(`${realDir}\\`)) {
      throw new RangeError(
        `external data file "${location}" escapes the model's directory (it resolves to "${real}")`,
      );
    }
    const facts = fs.stat(real);
    if (!facts.isFile) {
      throw new RangeError(
        `external data file "${location}" is not a regular file (a device, FIFO, socket or directory)`,
      );
    }
    // Read the resolved path: later reads neither follow a link swapped in nor depend on the working folder.
    return { size: facts.size, read: (offset, length) => fs.readRange(real, offset, length) };
  };
}
