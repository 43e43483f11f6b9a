/**
 * Reading external tensor data (ONNX spec, onnx/docs/ExternalData.md) for onnx/io.ts: locations are checked
 * to stay inside the model's directory, each file is opened once and tensors are views into it, and every
 * out-of-range reference fails with the file, offset and both lengths.
 * @module
 */
import type { ExternalReader } from "./tensor_proto.ts";

/** External locations must stay inside the model's directory (as onnx.checker requires). */
export function checkLocation(location: string): void {
  if (
    location.startsWith("/") || location.startsWith("\\") || /^[A-Za-z]:/.test(location) ||
    location.split(/[\\/]/).includes("..")
  ) {
    throw new RangeError(`external data location "${location}" points outside the model's directory`);
  }
}

/**
 * A reader over whole files (read once, then viewed), with spec-conform bounds checks.
 *
 * @param open returns a file's bytes, or undefined when it does not exist
 * @returns the reader
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { cachedReader } from "./_external_data.ts";
 * const read = cachedReader((loc) => loc === "w.bin" ? new Uint8Array(8).fill(7) : undefined);
 * assertEquals(read("w.bin", 4, 4), new Uint8Array(4).fill(7));
 * assertThrows(() => read("w.bin", 4, 8), RangeError, "expected 8 bytes at offset 4, the file has 8 bytes");
 * assertThrows(() => read("../x", 0, 1), RangeError, "points outside");
 * ```
 */
export function cachedReader(open: (location: string) => Uint8Array | undefined): ExternalReader {
  const files = new Map<string, Uint8Array>();
  return (location, offset, length) => {
    checkLocation(location);
    const need = length ?? 0;
    let file = files.get(location);
    if (!file) {
      file = open(location);
      if (!file) {
        throw new RangeError(
          `external data file "${location}" not found (expected ${need} bytes at offset ${offset})`,
        );
      }
      files.set(location, file);
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + need > file.length) {
      const avail = Math.max(0, file.length - Math.max(0, offset));
      throw new RangeError(
        `external data file "${location}" is too short: expected ${need} bytes at offset ${offset}, ` +
          `the file has ${file.length} bytes (${avail} available there)`,
      );
    }
    return file.subarray(offset, offset + (length ?? file.length - offset));
  };
}
