/**
 * Images and the preprocessing presets of the models shiftkit is tested on: decode PNG/JPEG, resize,
 * rotate, normalise, lay out as NCHW or NHWC. Pure functions on bytes and typed arrays (no file I/O).
 *
 * Normalisation is `(x - mean) / std` with mean and std in pixel units (0..255), computed in float64 and
 * stored as float32; for the usual `(x/255 - m) / s` form, mean = 255 m and std = 255 s.
 * @module
 */
import { limit } from "../onnx/limits.ts";
import { imageHeader } from "./_image_header.ts";
import { Buffer } from "node:buffer";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { roundHalfEven } from "../quant/round.ts";
import { checkBatchSize } from "./_samples.ts";

/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** `width * height * 3` bytes. */
  readonly data: Uint8Array;
}

/** Names of the preprocessing presets. */
export type PresetName =
  | "ppocr-rec"
  | "ppocr-det"
  | "ppocr-cls"
  | "segmenter"
  | "imagenet"
  | "pm1"
  | "raw255";

/** How a preset sizes an image before normalising it. */
export type ResizeRule =
  /** Fixed height, keep the aspect ratio up to `maxWidth` (squeezed beyond), pad right with white. */
  | { kind: "line"; height: number; maxWidth: number }
  /** Scale so that the longer side is at most `limit`, then round each side to a multiple of `multiple`. */
  | { kind: "multiple"; multiple: number; limit: number }
  /** Resize the shorter side to `shorter`, then centre-crop `crop` x `crop` (torchvision's eval transform). */
  | { kind: "center-crop"; shorter: number; crop: number }
  /** Resize to exactly `width` x `height`. */
  | { kind: "fixed"; width: number; height: number }
  /** Keep the image size. */
  | { kind: "keep" };

/**
 * What `--preprocess` takes: a preset name, or a generic spec `image:key=value,...` (image_spec.ts), or
 * `image` alone (everything derived from the model's input).
 */
export type Preprocess = PresetName | "image" | `image:${string}`;

/** A preprocessing preset. */
export interface Preset {
  /** The preset name, or the generic spec it was made from. */
  readonly name: string;
  /** Per-channel mean, pixel units, in the model's channel order (R, G, B unless `order` is "bgr"). */
  readonly mean: readonly [number, number, number];
  /** Per-channel standard deviation, pixel units. */
  readonly std: readonly [number, number, number];
  readonly resize: ResizeRule;
  /** Channel order of the model's input. @default "rgb" */
  readonly order?: "rgb" | "bgr";
  /** Layout of the model's input, unless the caller's options say otherwise. @default "NCHW" */
  readonly layout?: "NCHW" | "NHWC";
  /** Element type of the batches: uint8 carries the (rounded, clamped) values as bytes. @default "float32" */
  readonly dtype?: "float32" | "uint8";
}

const HALF: [number, number, number] = [127.5, 127.5, 127.5];
const IMAGENET_MEAN: [number, number, number] = [0.485 * 255, 0.456 * 255, 0.406 * 255];
const IMAGENET_STD: [number, number, number] = [0.229 * 255, 0.224 * 255, 0.225 * 255];

/**
 * The presets. Sources: PaddleOCR `RecResizeImg` / `ClsResizeImg` / `DetResizeForTest` + `NormalizeImage`
 * (rec and cls: (x/255 - 0.5)/0.5 at height 48, width 320 resp. 192; det: ImageNet statistics, sides
 * multiples of 32, longer side at most 960); the segmenter-tiny model card ((x/255 - 0.5)/0.25, 64x64);
 * torchvision's ImageNet eval transform (256 then centre crop 224). `pm1` maps 0..255 to [-1, 1], `raw255`
 * passes pixel values through as floats.
 *
 * Padding of `ppocr-rec`/`ppocr-cls` is white, measured on the project's rendered lines (white background;
 * MODELS.md: 63 of 66 lines exact). PaddleOCR itself pads with 0 after normalisation (mid-grey).
 */
export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  "ppocr-rec": {
    name: "ppocr-rec",
    mean: HALF,
    std: HALF,
    resize: { kind: "line", height: 48, maxWidth: 320 },
  },
  "ppocr-cls": {
    name: "ppocr-cls",
    mean: HALF,
    std: HALF,
    resize: { kind: "line", height: 48, maxWidth: 192 },
  },
  "ppocr-det": {
    name: "ppocr-det",
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    resize: { kind: "multiple", multiple: 32, limit: 960 },
  },
  segmenter: {
    name: "segmenter",
    mean: HALF,
    std: [63.75, 63.75, 63.75],
    resize: { kind: "fixed", width: 64, height: 64 },
  },
  imagenet: {
    name: "imagenet",
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    resize: { kind: "center-crop", shorter: 256, crop: 224 },
  },
  pm1: { name: "pm1", mean: HALF, std: HALF, resize: { kind: "keep" } },
  raw255: { name: "raw255", mean: [0, 0, 0], std: [1, 1, 1], resize: { kind: "keep" } },
};

/**
 * Look up a preset by name.
 *
 * @param name a preset name
 * @returns the preset
 * @throws {TypeError} for an unknown name (the message lists the known ones)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { preset } from "./images.ts";
 * assertEquals(preset("segmenter").std, [63.75, 63.75, 63.75]);
 * ```
 */
export function preset(name: string): Preset {
  const p = (PRESETS as Record<string, Preset>)[name];
  if (!p) {
    throw new TypeError(`Unknown preprocessing preset "${name}" (known: ${Object.keys(PRESETS).join(", ")})`);
  }
  return p;
}

/**
 * The usual feed name for a preset's models: "x" for PP-OCR (Paddle exports), "pixel_values" for the
 * segmenter, "input" otherwise.
 *
 * @param name a preset name
 * @returns the input name
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { presetInputName } from "./images.ts";
 * assertEquals(presetInputName("ppocr-det"), "x");
 * ```
 */
export function presetInputName(name: string): string {
  if (name.startsWith("ppocr-")) return "x";
  if (name === "segmenter") return "pixel_values";
  return "input";
}

/**
 * Decode a PNG or JPEG file (picked by its magic bytes) to RGB. Alpha is composited over white, grey
 * images are expanded to three channels.
 *
 * @param bytes the file
 * @param options `maxPixels`: most width x height (checked from the header before decoding); `name`: the
 *   file, for messages
 *   @default 2^25 pixels, or the environment variable SHIFTKIT_MAX_PIXELS
 * @returns the image
 * @throws {SyntaxError} when the bytes are neither PNG nor JPEG, the container is damaged (with the byte
 *   offset and chunk or marker) or the decoder rejects the pixel data
 * @throws {RangeError} when the header declares more pixels than the limit
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PNG } from "pngjs";
 * import { decodeImage } from "./images.ts";
 * const png = new PNG({ width: 1, height: 1 });
 * png.data.set([255, 0, 0, 0]); // fully transparent red: white after compositing
 * const img = decodeImage(new Uint8Array(PNG.sync.write(png)));
 * assertEquals(Array.from(img.data), [255, 255, 255]);
 * ```
 */
export function decodeImage(
  bytes: Uint8Array,
  options: { maxPixels?: number; name?: string } = {},
): RgbImage {
  let rgba: { width: number; height: number; data: Uint8Array };
  // The container and the declared size first: nothing is decoded from a file over the pixel limit.
  const head = imageHeader(bytes, options.maxPixels, options.name);
  const what = options.name === undefined
    ? `image (${bytes.length} bytes`
    : `image "${options.name}" (${bytes.length} bytes`;
  try {
    if (head.format === "png") {
      // pngjs reads chunks with Buffer methods (readUInt32BE), so hand it a Buffer view of the bytes.
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      rgba = { width: png.width, height: png.height, data: new Uint8Array(png.data) };
    } else {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: Math.ceil(limit("maxPixels", options.maxPixels) / 1e6),
      });
      rgba = { width: img.width, height: img.height, data: img.data };
    }
  } catch (e) {
    const where = head.format === "png" ? "PNG IDAT data" : "JPEG scan data";
    throw new SyntaxError(
      `Cannot decode ${what}, ${head.width}x${head.height}): ${where}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (
    rgba.width !== head.width || rgba.height !== head.height ||
    rgba.data.length < head.width * head.height * 4
  ) {
    throw new SyntaxError(
      `Cannot decode ${what}): ${head.sizeField} declares ${head.width}x${head.height}, ` +
        `the decoder produced ${rgba.width}x${rgba.height}`,
    );
  }
  const n = rgba.width * rgba.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba.data[i * 4 + 3]!;
    for (let c = 0; c < 3; c++) {
      const v = rgba.data[i * 4 + c]!;
      data[i * 3 + c] = a === 255 ? v : roundHalfEven((v * a + 255 * (255 - a)) / 255);
    }
  }
  return { width: rgba.width, height: rgba.height, data };
}

/**
 * Bilinear resize with half-pixel centres (OpenCV `INTER_LINEAR`, ONNX Resize `half_pixel`), rounded
 * half to even back to 8 bits.
 *
 * @param image the image
 * @param width output width (>= 1)
 * @param height output height (>= 1)
 * @returns the resized image (the input itself when the size is unchanged)
 * @throws {RangeError} for an output size below 1
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resizeBilinear } from "./images.ts";
 * const img = { width: 2, height: 1, data: new Uint8Array([0, 0, 0, 100, 100, 100]) };
 * assertEquals(Array.from(resizeBilinear(img, 4, 1).data.filter((_, i) => i % 3 === 0)), [0, 25, 75, 100]);
 * ```
 */
export function resizeBilinear(image: RgbImage, width: number, height: number): RgbImage {
  if (!(width >= 1 && height >= 1)) throw new RangeError(`Cannot resize to ${width}x${height}`);
  if (width === image.width && height === image.height) return image;
  const out = new Uint8Array(width * height * 3);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => image.data[(yy * image.width + xx) * 3 + c]!;
        const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
        const bottom = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
        out[(y * width + x) * 3 + c] = roundHalfEven(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, data: out };
}

/**
 * Rotate an image by 180 degrees (for the PP-OCR 0/180 classifier).
 *
 * @param image the image
 * @returns a new rotated image
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rotate180 } from "./images.ts";
 * const img = { width: 2, height: 1, data: new Uint8Array([1, 2, 3, 4, 5, 6]) };
 * assertEquals(Array.from(rotate180(img).data), [4, 5, 6, 1, 2, 3]);
 * ```
 */
export function rotate180(image: RgbImage): RgbImage {
  const n = image.width * image.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out.set(image.data.subarray(i * 3, i * 3 + 3), (n - 1 - i) * 3);
  return { width: image.width, height: image.height, data: out };
}

function crop(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}

/** Options of {@link preprocessImage}. */
export interface PreprocessOptions {
  /** Output layout of the [C, H, W] / [H, W, C] sample. @default "NCHW" */
  layout?: "NCHW" | "NHWC";
  /** Resize to exactly this [height, width] instead of the preset's rule. @default the preset's rule */
  size?: readonly [number, number];
}

/** One preprocessed sample: `dims` without the batch axis. */
export interface Sample {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Apply the preset's resize rule: the image to normalise, plus the white padding to add on the right. */
function sizeFor(image: RgbImage, rule: ResizeRule): { image: RgbImage; padTo: number } {
  const { width: w, height: h } = image;
  switch (rule.kind) {
    case "line": {
      const rw = Math.min(rule.maxWidth, Math.max(1, Math.ceil((rule.height * w) / h)));
      return { image: resizeBilinear(image, rw, rule.height), padTo: rule.maxWidth };
    }
    case "multiple": {
      const ratio = Math.max(w, h) > rule.limit ? rule.limit / Math.max(w, h) : 1;
      const side = (s: number) =>
        Math.max(rule.multiple, roundHalfEven((s * ratio) / rule.multiple) * rule.multiple);
      return { image: resizeBilinear(image, side(w), side(h)), padTo: 0 };
    }
    case "center-crop": {
      const scale = rule.shorter / Math.min(w, h);
      const rw = Math.max(rule.crop, roundHalfEven(w * scale));
      const rh = Math.max(rule.crop, roundHalfEven(h * scale));
      const resized = resizeBilinear(image, rw, rh);
      const left = Math.floor((rw - rule.crop) / 2);
      const top = Math.floor((rh - rule.crop) / 2);
      return { image: crop(resized, left, top, rule.crop, rule.crop), padTo: 0 };
    }
    case "fixed":
      return { image: resizeBilinear(image, rule.width, rule.height), padTo: 0 };
    case "keep":
      return { image, padTo: 0 };
  }
}

/**
 * Preprocess one image with a preset: resize (or pad), normalise per channel, lay out.
 *
 * @param image the RGB image
 * @param p the preset (see {@link PRESETS})
 * @param options see {@link PreprocessOptions}
 * @returns the sample, dims [3, H, W] (NCHW) or [H, W, 3] (NHWC)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PRESETS, preprocessImage } from "./images.ts";
 * const black = { width: 24, height: 48, data: new Uint8Array(24 * 48 * 3) };
 * const s = preprocessImage(black, PRESETS["ppocr-rec"]);
 * assertEquals(s.dims, [3, 48, 320]);
 * assertEquals([s.data[0], s.data[319]], [-1, 1]); // text pixel, white padding
 * ```
 */
export function preprocessImage(image: RgbImage, p: Preset, options: PreprocessOptions = {}): Sample {
  const sized = options.size
    ? { image: resizeBilinear(image, options.size[1], options.size[0]), padTo: 0 }
    : sizeFor(image, p.resize);
  const img = sized.image;
  const H = img.height;
  const W = Math.max(img.width, sized.padTo);
  const nchw = (options.layout ?? p.layout ?? "NCHW") === "NCHW";
  const bgr = p.order === "bgr";
  const data = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++) {
    const mean = p.mean[c]!;
    const std = p.std[c]!;
    const white = (255 - mean) / std;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const src = bgr ? 2 - c : c;
        const v = x < img.width ? (img.data[(y * img.width + x) * 3 + src]! - mean) / std : white;
        data[nchw ? (c * H + y) * W + x : (y * W + x) * 3 + c] = v;
      }
    }
  }
  return { dims: nchw ? [3, H, W] : [H, W, 3], data };
}

/**
 * Preprocess images and stack consecutive ones into batch tensors [N, ...sample dims]. A batch ends early
 * where the preprocessed size changes (images of different sizes under a size-keeping preset).
 *
 * @param images the images, in order
 * @param batch `{ size, inputName, preset }`: images per batch, the feed name, the preset
 * @param options see {@link PreprocessOptions}
 * @returns batches of feeds, in image order
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { batchImages, PRESETS } from "./images.ts";
 * const img = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) };
 * const batches = [...batchImages([img, img, img], { size: 2, inputName: "x", preset: PRESETS.segmenter })];
 * assertEquals(batches.map((b) => b.x!.dims), [[2, 3, 64, 64], [1, 3, 64, 64]]);
 * ```
 */
export function* batchImages(
  images: Iterable<RgbImage>,
  batch: { size: number; inputName: string; preset: Preset },
  options: PreprocessOptions = {},
): Generator<Record<string, Tensor>> {
  checkBatchSize(batch.size);
  let pending: Sample[] = [];
  const flush = (): Record<string, Tensor> => {
    const first = pending[0]!;
    const data = new Float32Array(pending.length * first.data.length);
    pending.forEach((s, i) => data.set(s.data, i * first.data.length));
    const dims = [pending.length, ...first.dims];
    const t = batch.preset.dtype === "uint8"
      ? makeTensor(
        DataType.UINT8,
        dims,
        Uint8Array.from(data, (v) => Math.min(255, Math.max(0, roundHalfEven(v)))),
      )
      : makeTensor(DataType.FLOAT, dims, data);
    pending = [];
    return { [batch.inputName]: t };
  };
  for (const image of images) {
    const s = preprocessImage(image, batch.preset, options);
    if (pending.length > 0 && pending[0]!.dims.join() !== s.dims.join()) yield flush();
    pending.push(s);
    if (pending.length === batch.size) yield flush();
  }
  if (pending.length > 0) yield flush();
}
