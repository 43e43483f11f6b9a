/**
 * Image bombs (issue #12): a 67-byte PNG whose header declares 30000 x 30000 pixels, and a JPEG whose frame
 * header declares 65535 x 65535, are refused from their headers before a decoder allocates anything.
 */
import { assertEquals, assertLess, assertThrows } from "@std/assert";
import jpeg from "jpeg-js";
import { decodeImage } from "./images.ts";
import { imageHeader } from "./_image_header.ts";

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  let c = 0xffffffff;
  for (const b of out.subarray(4, 8 + data.length)) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  dv.setUint32(8 + data.length, (c ^ 0xffffffff) >>> 0);
  return out;
}

/** A valid-looking PNG: signature, IHDR of the given size, one tiny IDAT, IEND. */
export function pngBomb(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const idat = Uint8Array.of(0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01); // zlib of nothing
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk("IHDR", ihdr),
    chunk("IDAT", idat),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("images: a 67-byte PNG declaring 30000x30000 is refused from its header", () => {
  const bomb = pngBomb(30000, 30000);
  assertEquals(bomb.length, 65);
  const t0 = performance.now();
  assertThrows(
    () => decodeImage(bomb, { name: "bomb.png" }),
    RangeError,
    `Cannot decode image "bomb.png" (65 bytes): 30000x30000 = 900000000 pixels (PNG IHDR at byte 8) is over ` +
      `the limit of 33554432 pixels (SHIFTKIT_MAX_PIXELS); nothing was decoded`,
  );
  assertLess(performance.now() - t0, 100);
  // The limit is per call (or SHIFTKIT_MAX_PIXELS for a process).
  assertThrows(() => decodeImage(pngBomb(64, 64), { maxPixels: 4095 }), RangeError, "over the limit of 4095");
  assertEquals(imageHeader(pngBomb(64, 64), 4096).width, 64);
});

Deno.test("images: a JPEG whose frame header declares 65535x65535 is refused from its header", () => {
  const small = new Uint8Array(jpeg.encode({ width: 8, height: 8, data: new Uint8Array(256) }, 80).data);
  const sof = small.findIndex((b, i) => b === 0xff && small[i + 1] === 0xc0);
  const bomb = small.slice();
  bomb.set([0xff, 0xff, 0xff, 0xff], sof + 5); // height, width
  assertThrows(
    () => decodeImage(bomb),
    RangeError,
    `65535x65535 = 4294836225 pixels (JPEG SOF segment 0xFFC0 at byte ${sof})`,
  );
  assertEquals(imageHeader(small).width, 8);
});
