/**
 * Browser seam for `npm:pngjs` (web/seams.json maps it here in the browser bundle). pngjs needs Node's zlib and
 * streams; in a browser, PNG files are decoded by the browser itself (web/images.ts), so runtime/images.ts
 * `decodeImage` is never called there. Reaching it anyway is a bug of the page, reported as such.
 * @module
 */

function unavailable(): never {
  throw new TypeError(
    "pngjs is not part of the browser build: decode images with web/images.ts decodeImageInBrowser " +
      "and pass RGB images to imageSource()",
  );
}

/** The subset of pngjs that runtime/images.ts references. */
export const PNG: { sync: { read(bytes: unknown): never; write(png: unknown): never } } = {
  sync: { read: unavailable, write: unavailable },
};
