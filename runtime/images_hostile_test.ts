/**
 * Image bombs (issue #12): a 67-byte PNG whose header declares 30000 x 30000 pixels, and a JPEG whose frame
 * header declares 65535 x 65535, are refused from their headers before a decoder allocates anything.
 */
import { assertEquals, assertLess, assertThrows } from "@std/assert";
import jpeg from "jpeg-js";
import { decodeImage } from "./images.ts";
import { imageHeader } from "./_image_header.ts";
import { pngBomb } from "../tests/_hostile.ts";

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
