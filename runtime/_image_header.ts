/**
 * The container of a PNG or JPEG file, read before any pixel is decoded (images are untrusted input): the
 * chunk / segment structure is walked and checked, and the width and height come from the header, so a
 * 67-byte PNG that declares 30000 x 30000 pixels is refused before a decoder allocates anything. Errors name
 * the byte offset and the chunk or marker.
 * @module
 */
import { limit } from "../onnx/limits.ts";

/** What the header of an image says. */
export interface ImageHeader {
  readonly format: "png" | "jpeg";
  readonly width: number;
  readonly height: number;
  /** Where the size was read, for messages (e.g. "PNG IHDR at byte 8"). */
  readonly sizeField: string;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function pngHeader(b: Uint8Array): ImageHeader {
  const SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const bad = SIG.findIndex((x, i) => b[i] !== x);
  if (bad >= 0) throw new SyntaxError(`PNG signature is damaged at byte ${bad}`);
  let at = 8;
  let width = 0, height = 0, sawData = false;
  for (let index = 0;; index++) {
    if (at + 12 > b.length) {
      throw new SyntaxError(`PNG chunk ${index} at byte ${at} is truncated (the file has ${b.length} bytes)`);
    }
    const length = u32(b, at);
    const type = String.fromCharCode(...b.subarray(at + 4, at + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) {
      throw new SyntaxError(`PNG chunk ${index} at byte ${at} has an invalid type`);
    }
    if (length > 2 ** 31 - 1 || at + 12 + length > b.length) {
      throw new SyntaxError(
        `PNG chunk ${type} at byte ${at} declares ${length} bytes, ${Math.max(0, b.length - at - 12)} left`,
      );
    }
    const crc = u32(b, at + 8 + length);
    if (crc32(b.subarray(at + 4, at + 8 + length)) !== crc) {
      throw new SyntaxError(`PNG chunk ${type} at byte ${at} fails its CRC`);
    }
    if (index === 0) {
      if (type !== "IHDR" || length !== 13) {
        throw new SyntaxError(
          `PNG chunk at byte ${at} must be a 13-byte IHDR, got ${type} of ${length} bytes`,
        );
      }
      width = u32(b, at + 8);
      height = u32(b, at + 12);
      if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) {
        throw new SyntaxError(`PNG IHDR at byte ${at} declares an invalid size ${width}x${height}`);
      }
    } else if (type === "IHDR") {
      throw new SyntaxError(`PNG chunk IHDR at byte ${at} is repeated`);
    }
    if (type === "IDAT") sawData = true;
    at += 12 + length;
    if (type === "IEND") break;
  }
  if (!sawData) throw new SyntaxError(`PNG has no IDAT chunk (IEND at byte ${at - 12})`);
  return { format: "png", width, height, sizeField: "PNG IHDR at byte 8" };
}

function jpegHeader(b: Uint8Array): ImageHeader {
  if (b[0] !== 0xff || b[1] !== 0xd8) throw new SyntaxError("JPEG SOI marker missing at byte 0");
  let at = 2;
  let size: ImageHeader | undefined;
  while (at < b.length) {
    if (b[at] !== 0xff) {
      throw new SyntaxError(
        `JPEG marker expected at byte ${at}, found 0x${b[at]!.toString(16).padStart(2, "0")}`,
      );
    }
    let marker = b[at + 1];
    while (marker === 0xff) marker = b[++at + 1]; // fill bytes
    if (marker === undefined) break;
    const name = `0xFF${marker.toString(16).toUpperCase().padStart(2, "0")}`;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9) break; // EOI
    if (at + 4 > b.length) throw new SyntaxError(`JPEG segment ${name} at byte ${at} is truncated`);
    const length = u16(b, at + 2);
    if (length < 2 || at + 2 + length > b.length) {
      throw new SyntaxError(
        `JPEG segment ${name} at byte ${at} declares ${length} bytes, ${Math.max(0, b.length - at - 2)} left`,
      );
    }
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (length < 8) {
        throw new SyntaxError(`JPEG SOF segment ${name} at byte ${at} is ${length} bytes, too short`);
      }
      const height = u16(b, at + 5), width = u16(b, at + 7);
      if (width === 0 || height === 0) {
        throw new SyntaxError(
          `JPEG SOF segment ${name} at byte ${at} declares an invalid size ${width}x${height}`,
        );
      }
      size = { format: "jpeg", width, height, sizeField: `JPEG SOF segment ${name} at byte ${at}` };
    }
    if (marker === 0xda) {
      if (!size) throw new SyntaxError(`JPEG scan (SOS) at byte ${at} comes before any frame header (SOF)`);
      return size;
    }
    at += 2 + length;
  }
  throw new SyntaxError(
    `JPEG has no ${size ? "scan (SOS)" : "frame header (SOF)"} (ends at byte ${b.length})`,
  );
}

/**
 * Read and check the header of a PNG or JPEG file, and refuse images over the pixel limit.
 *
 * @param bytes the file
 * @param maxPixels most pixels (width x height) @default 2^25, or SHIFTKIT_MAX_PIXELS
 * @param name the file, for messages
 * @returns the format and size
 * @throws {SyntaxError} for a damaged container, naming the byte offset and chunk or marker
 * @throws {RangeError} when width x height exceeds the limit
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { imageHeader } from "./_image_header.ts";
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
 * assertThrows(() => imageHeader(png), SyntaxError, "PNG chunk 0 at byte 8 is truncated");
 * ```
 */
export function imageHeader(bytes: Uint8Array, maxPixels?: number, name?: string): ImageHeader {
  const what = name === undefined
    ? `image (${bytes.length} bytes)`
    : `image "${name}" (${bytes.length} bytes)`;
  let h: ImageHeader;
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50) h = pngHeader(bytes);
    else if (bytes[0] === 0xff && bytes[1] === 0xd8) h = jpegHeader(bytes);
    else throw new SyntaxError("neither PNG nor JPEG magic at byte 0");
  } catch (e) {
    throw new SyntaxError(`Cannot decode ${what}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const cap = limit("maxPixels", maxPixels);
  if (h.width * h.height > cap) {
    throw new RangeError(
      `Cannot decode ${what}: ${h.width}x${h.height} = ${h.width * h.height} pixels (${h.sizeField}) ` +
        `is over the limit of ` +
        `${cap} pixels (SHIFTKIT_MAX_PIXELS); nothing was decoded`,
    );
  }
  return h;
}
