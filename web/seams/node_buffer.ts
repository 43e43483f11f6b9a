/**
 * Browser seam for `node:buffer` (web/seams.json maps it here in the browser bundle). Only runtime/images.ts
 * uses Node's Buffer, to hand bytes to pngjs, which the browser build replaces (./pngjs.ts).
 * @module
 */

/** The subset of Buffer that runtime/images.ts references. */
export const Buffer: { from(...args: unknown[]): never } = {
  from(): never {
    throw new TypeError("node:buffer is not part of the browser build (only the Node PNG decoder needs it)");
  },
};
