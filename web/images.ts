/**
 * Image decoding in the browser (the page's Worker): the browser's own PNG / JPEG decoder through
 * `createImageBitmap` and an `OffscreenCanvas`, without colour-space conversion or alpha premultiplication,
 * drawn over white (as runtime/images.ts `decodeImage` composites alpha). PNG pixels come out exactly as
 * stored; JPEG decoders differ by a grey level here and there, so for byte-identical files with the CLI
 * calibrate on PNG or `.npz`.
 * @module
 */
import type { RgbImage } from "../runtime/images.ts";

/**
 * Decode an image file to 8-bit RGB with the browser's decoder.
 *
 * @param bytes the file
 * @param name the file name, for messages
 * @returns the image
 * @throws {SyntaxError} when the browser cannot decode it
 */
export async function decodeImageInBrowser(bytes: Uint8Array, name: string): Promise<RgbImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch (e) {
    throw new SyntaxError(`Cannot decode image "${name}" (${bytes.length} bytes): ${(e as Error).message}`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i]!;
    data[j + 1] = rgba[i + 1]!;
    data[j + 2] = rgba[i + 2]!;
  }
  return { width, height, data };
}
