/**
 * The project's image eval and calibration sets (`X.json` + `X.rgb.gz` [+ `X.mask.gz`], see MODELS.md) as
 * {@link DataSource}s. The source constructors are pure (parsed JSON and gunzipped bytes);
 * {@link evalSetKind} reads the files of a prefix `X`.
 *
 * Formats (from the JSON files themselves):
 * - OCR lines (`ocr-lines-sans`, `ocr-calib-sans`): `{ lines: [{ text, width, height, offset }] }`, each line
 *   HWC RGB uint8 at byte `offset` of the `.rgb` stream;
 * - segmentation (`segmenter-tiny-eval`, `segmenter-tiny-calib`): `{ count, classes? }`, `count` square RGB
 *   images concatenated (HWC), and for eval sets one uint8 class id per pixel in `.mask`;
 * - text pages (`text-pages`, `text-pages-calib`): `{ pages: [{ offset, width, height, lines }] }`.
 * @module
 */
import type { Tensor } from "../../onnx/tensor.ts";
import { resolvePreprocess } from "../image_spec.ts";
import {
  type DataKind,
  type DataSource,
  fixedBatch,
  imageInput,
  type ModelInput,
  type OpenDataOptions,
  statOrNull,
} from "./source.ts";
import {
  batchImages,
  type Preprocess,
  type PreprocessOptions,
  presetInputName,
  type PresetName,
  type RgbImage,
  rotate180,
} from "../images.ts";
import { limitSamples } from "../_samples.ts";

/** Options shared by the eval-set sources. */
export interface EvalSetOptions extends PreprocessOptions {
  /** Preprocessing preset. @default "ppocr-rec" for OCR lines, "segmenter" for segmentation, "ppocr-det" for pages */
  preset?: Preprocess;
  /** Feed name of the image tensor. @default "x" for PP-OCR presets, "pixel_values" for segmenter, else "input" */
  inputName?: string;
  /** Use only the first N samples. @default all */
  maxSamples?: number;
  /** The model's inputs: a generic `image:` spec takes layout and size from the image input. @default undefined */
  inputs?: readonly ModelInput[];
}

/** OCR text lines with their strings. */
export interface OcrLinesSource extends DataSource {
  readonly kind: "ocr-lines";
  /** Reference string of each sample. */
  readonly texts: readonly string[];
  /**
   * With `augment180`, PP-OCR cls labels per sample: 0 = upright (class "0"), 1 = rotated (class "180");
   * null otherwise.
   */
  readonly labels: readonly number[] | null;
  /** The decoded sample images, before preprocessing. */
  readonly images: readonly RgbImage[];
}

/** Options of {@link ocrLinesSource}. */
export interface OcrLinesOptions extends EvalSetOptions {
  /**
   * Follow every line by its 180-degree rotation (count doubles; `labels` = 0, 1, 0, 1, ...), for the
   * PP-OCR direction classifier. @default false
   */
  augment180?: boolean;
}

/** Segmentation images with optional per-pixel class masks. */
export interface SegmentationSource extends DataSource {
  readonly kind: "segmentation";
  /** Class names, when the set lists them. */
  readonly classes: readonly string[];
  /** Per-sample class-id masks (`height * width` bytes each), or null for a calibration set. */
  readonly masks: readonly Uint8Array[] | null;
  readonly width: number;
  readonly height: number;
}

/** One line drawn on a text page. */
export interface PageLine {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  readonly pointsize: number;
}

/** Rendered text pages for the detector. */
export interface TextPagesSource extends DataSource {
  readonly kind: "text-pages";
  /** Page sizes and drawn lines, per sample. */
  readonly pages: readonly { width: number; height: number; lines: readonly PageLine[] }[];
}

function slice(rgb: Uint8Array, offset: number, width: number, height: number, what: string): RgbImage {
  const n = width * height * 3;
  if (!(offset >= 0 && offset + n <= rgb.length)) {
    throw new SyntaxError(
      `Cannot read ${what}: bytes ${offset}..${offset + n} lie outside the ${rgb.length}-byte .rgb`,
    );
  }
  return { width, height, data: rgb.subarray(offset, offset + n) };
}

function presetBatches(
  images: readonly RgbImage[],
  defaultPreset: PresetName,
  options: EvalSetOptions,
): Pick<DataSource, "count" | "inputNames" | "batches"> {
  const input = imageInput(options);
  const p = resolvePreprocess(options.preset ?? defaultPreset, input?.dims, input?.dtype);
  const fixed = fixedBatch(input);
  const inputName = options.inputName ?? input?.name ?? presetInputName(p.name);
  const pre: PreprocessOptions = {};
  if (options.layout) pre.layout = options.layout;
  if (options.size) pre.size = options.size;
  return {
    count: images.length,
    inputNames: [inputName],
    batches(batchSize: number): AsyncIterable<Record<string, Tensor>> {
      const it = batchImages(images, { size: fixed ?? batchSize, inputName, preset: p }, pre);
      return (async function* () {
        yield* it;
      })();
    },
  };
}

/**
 * OCR lines as a data source (default preset `ppocr-rec`).
 *
 * @param json the parsed `X.json`
 * @param rgb the gunzipped `X.rgb.gz`
 * @param options see {@link OcrLinesOptions}
 * @returns the source; samples in file order
 * @throws {SyntaxError} when the JSON has no `lines` or a line lies outside the pixel data
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ocrLinesSource } from "./evalsets.ts";
 * const json = { lines: [{ text: "a", width: 2, height: 48, offset: 0 }] };
 * const src = ocrLinesSource(json, new Uint8Array(2 * 48 * 3).fill(255), { augment180: true });
 * assertEquals([src.count, src.texts, src.labels], [2, ["a", "a"], [0, 1]]);
 * ```
 */
export function ocrLinesSource(
  json: unknown,
  rgb: Uint8Array,
  options: OcrLinesOptions = {},
): OcrLinesSource {
  const lines = (json as { lines?: unknown }).lines;
  if (!Array.isArray(lines)) throw new SyntaxError(`OCR line set JSON has no "lines" array`);
  const n = limitSamples(lines.length, options.maxSamples);
  const texts: string[] = [];
  const images: RgbImage[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = lines[i] as { text: string; width: number; height: number; offset: number };
    const img = slice(rgb, l.offset, l.width, l.height, `OCR line ${i} ("${l.text}")`);
    texts.push(l.text);
    images.push(img);
    labels.push(0);
    if (options.augment180) {
      texts.push(l.text);
      images.push(rotate180(img));
      labels.push(1);
    }
  }
  return {
    kind: "ocr-lines",
    texts,
    labels: options.augment180 ? labels : null,
    images,
    ...presetBatches(images, "ppocr-rec", options),
  };
}

/**
 * Segmentation images (square, HWC RGB) with optional masks, as a data source (default preset `segmenter`).
 *
 * @param json the parsed `X.json` (`count`, optional `classes`)
 * @param rgb the gunzipped `X.rgb.gz`
 * @param masks the gunzipped `X.mask.gz`, or null for a calibration set
 * @param options see {@link EvalSetOptions}
 * @returns the source; samples in file order
 * @throws {SyntaxError} when the byte counts do not give `count` square images (and masks)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { segmentationSource } from "./evalsets.ts";
 * const src = segmentationSource({ count: 2 }, new Uint8Array(2 * 8 * 8 * 3), new Uint8Array(2 * 64), {});
 * assertEquals([src.count, src.width, src.masks!.length], [2, 8, 2]);
 * ```
 */
export function segmentationSource(
  json: unknown,
  rgb: Uint8Array,
  masks: Uint8Array | null,
  options: EvalSetOptions = {},
): SegmentationSource {
  const j = json as { count?: number; classes?: string[] };
  const count = j.count;
  if (!(typeof count === "number" && count > 0)) {
    throw new SyntaxError(`Segmentation set JSON has no "count"`);
  }
  const pixels = rgb.length / 3 / count;
  const side = Math.round(Math.sqrt(pixels));
  if (side * side !== pixels) {
    throw new SyntaxError(`Segmentation set: ${rgb.length} RGB bytes are not ${count} square images`);
  }
  if (masks && masks.length !== count * pixels) {
    throw new SyntaxError(`Segmentation set: mask has ${masks.length} bytes, expected ${count * pixels}`);
  }
  const n = limitSamples(count, options.maxSamples);
  const images: RgbImage[] = [];
  for (let i = 0; i < n; i++) images.push(slice(rgb, i * pixels * 3, side, side, `image ${i}`));
  return {
    kind: "segmentation",
    classes: j.classes ?? [],
    masks: masks ? images.map((_, i) => masks.subarray(i * pixels, (i + 1) * pixels)) : null,
    width: side,
    height: side,
    ...presetBatches(images, "segmenter", options),
  };
}

/**
 * Rendered text pages as a data source (default preset `ppocr-det`).
 *
 * @param json the parsed `X.json` (`pages`)
 * @param rgb the gunzipped `X.rgb.gz`
 * @param options see {@link EvalSetOptions}
 * @returns the source; samples in file order
 * @throws {SyntaxError} when the JSON has no `pages` or a page lies outside the pixel data
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { textPagesSource } from "./evalsets.ts";
 * const json = { pages: [{ offset: 0, width: 64, height: 32, lines: [] }] };
 * const src = textPagesSource(json, new Uint8Array(64 * 32 * 3), {});
 * assertEquals(src.count, 1);
 * ```
 */
export function textPagesSource(
  json: unknown,
  rgb: Uint8Array,
  options: EvalSetOptions = {},
): TextPagesSource {
  const pages = (json as { pages?: unknown }).pages;
  if (!Array.isArray(pages)) throw new SyntaxError(`Text page set JSON has no "pages" array`);
  const n = limitSamples(pages.length, options.maxSamples);
  const meta: { width: number; height: number; lines: PageLine[] }[] = [];
  const images: RgbImage[] = [];
  for (let i = 0; i < n; i++) {
    const p = pages[i] as { offset: number; width: number; height: number; lines: PageLine[] };
    images.push(slice(rgb, p.offset, p.width, p.height, `page ${i}`));
    meta.push({ width: p.width, height: p.height, lines: p.lines ?? [] });
  }
  return { kind: "text-pages", pages: meta, ...presetBatches(images, "ppocr-det", options) };
}

/**
 * Read and gunzip a file with the platform's own decoder (`DecompressionStream`, native code): 2-4x faster
 * than fflate's JavaScript inflate on these nearly incompressible image bytes, a cost every calibration pays.
 *
 * @throws {SyntaxError} when the file is not valid gzip (the message names the file)
 */
async function readGunzipped(path: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path);
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SyntaxError(`Cannot gunzip "${path}" (${bytes.length} bytes): ${why}`, { cause: e });
  }
}

/** The prefix of an eval-set spec (`X` or `X.json`). */
function prefixOf(spec: string): string {
  return spec.replace(/\.json$/i, "");
}

/** An eval-set prefix `X` (or `X.json`) with `X.json` + `X.rgb.gz` [+ `X.mask.gz`]. */
export const evalSetKind: DataKind = {
  name: "eval-set",
  describe: "an eval-set prefix X with X.json + X.rgb.gz (OCR lines, segmentation, text pages)",
  async matches(spec: string): Promise<boolean> {
    const p = prefixOf(spec);
    return !!(await statOrNull(`${p}.json`)) && !!(await statOrNull(`${p}.rgb.gz`));
  },
  async open(spec: string, options: OpenDataOptions): Promise<DataSource> {
    const prefix = prefixOf(spec);
    const json = JSON.parse(await Deno.readTextFile(`${prefix}.json`));
    const rgb = await readGunzipped(`${prefix}.rgb.gz`);
    if (Array.isArray(json.lines)) return ocrLinesSource(json, rgb, options);
    if (Array.isArray(json.pages)) return textPagesSource(json, rgb, options);
    const mask = await statOrNull(`${prefix}.mask.gz`) ? await readGunzipped(`${prefix}.mask.gz`) : null;
    return segmentationSource(json, rgb, mask, options);
  },
};
