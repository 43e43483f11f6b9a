/**
 * Calibration and evaluation data: one {@link DataSource} interface over ready tensors (`.npz`/`.npy`),
 * byte-level LM text, the project's eval sets (eval-set prefixes, see evalsets.ts) and folders of images.
 * `openDataSource` picks the kind from a path, as the CLI's `--calib` and `--data` do (DESIGN.md, "CLI and
 * API"); the other constructors take bytes and work without file access.
 * @module
 */
import { gunzipSync } from "npm:fflate@0.8.2";
import { DataType, makeTensor, sizeOf, type Tensor, type TypedArray } from "../onnx/tensor.ts";
import { type OcrLinesOptions, ocrLinesSource, segmentationSource, textPagesSource } from "./evalsets.ts";
import {
  batchImages,
  decodeImage,
  type PreprocessOptions,
  preset,
  presetInputName,
  type PresetName,
  type RgbImage,
} from "./images.ts";
import { decodeNpy, decodeNpz } from "./npy.ts";
import { checkBatchSize, limitSamples } from "./_samples.ts";

/**
 * A finite, ordered set of model inputs. `batches(n)` yields feeds for `FloatRuntime.run` holding samples
 * 0..count-1 in order, `n` at a time (fewer in the last batch, or where an image source's sample size
 * changes), stacked on axis 0; task metadata (texts, masks, labels) is indexed by the same sample order.
 */
export interface DataSource {
  /** What the data is: "tensors", "text", "ocr-lines", "segmentation", "text-pages" or "images". */
  readonly kind: string;
  /** Number of samples. */
  readonly count: number;
  /** Feed names each batch holds. */
  readonly inputNames: readonly string[];
  /**
   * Iterate over the samples in batches.
   *
   * @param batchSize samples per batch (>= 1)
   */
  batches(batchSize: number): AsyncIterable<Record<string, Tensor>>;
}

/** Text for a byte-level LM, cut into non-overlapping windows. */
export interface TextSource extends DataSource {
  /** Source kind. */
  readonly kind: "text";
  /** Window length in bytes. */
  readonly context: number;
  /** The bytes of window `i`. */
  window(i: number): Uint8Array;
}

/** Rows [from, to) of a tensor along axis 0 (a copy). */
function rows(t: Tensor, from: number, to: number): Tensor {
  const per = sizeOf(t.dims.slice(1));
  const data = Array.isArray(t.data)
    ? t.data.slice(from * per, to * per)
    : (t.data as TypedArray).slice(from * per, to * per);
  return makeTensor(t.dtype, [to - from, ...t.dims.slice(1)], data);
}

/**
 * Ready input tensors (e.g. the arrays of an `.npz`), all stacked on axis 0, as a data source.
 *
 * @param tensors input name -> tensor [N, ...]
 * @param options `maxSamples`: use only the first N samples (@default all)
 * @returns the source (kind "tensors")
 * @throws {RangeError} when the tensors are scalars or disagree on N
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { tensorSource } from "./data.ts";
 * const x = makeTensor(DataType.FLOAT, [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]));
 * const src = tensorSource(new Map([["x", x]]));
 * const batches = [];
 * for await (const b of src.batches(2)) batches.push(Array.from(b.x!.data as Float32Array));
 * assertEquals(batches, [[1, 2, 3, 4], [5, 6]]);
 * ```
 */
export function tensorSource(
  tensors: ReadonlyMap<string, Tensor>,
  options: { maxSamples?: number } = {},
): DataSource {
  let n: number | undefined;
  for (const [name, t] of tensors) {
    if (t.dims.length === 0) throw new RangeError(`Input "${name}" is a scalar: nothing to stack on axis 0`);
    if (n !== undefined && t.dims[0] !== n) {
      throw new RangeError(`Input "${name}" has ${t.dims[0]} samples on axis 0, others have ${n}`);
    }
    n = t.dims[0]!;
  }
  const count = limitSamples(n ?? 0, options.maxSamples);
  return {
    kind: "tensors",
    count,
    inputNames: [...tensors.keys()],
    async *batches(batchSize: number) {
      checkBatchSize(batchSize);
      for (let i = 0; i < count; i += batchSize) {
        const feeds: Record<string, Tensor> = {};
        for (const [name, t] of tensors) feeds[name] = rows(t, i, Math.min(count, i + batchSize));
        yield feeds;
      }
    },
  };
}

/** Options of {@link textSource}. */
export interface TextSourceOptions {
  /** Window length in bytes (the model context). @default 128 */
  context?: number;
  /** Use only the first N windows. @default all */
  maxSamples?: number;
  /** Feed name of the token ids. @default "input_ids" */
  inputName?: string;
}

/**
 * Text for a byte-level LM: non-overlapping windows of `context` bytes, each fed as int64 ids [1, context]
 * (batches [B, context]). A final window shorter than `context` is dropped, as in the recorded
 * `eval_bits_per_byte` (MODELS.md), so that every window predicts `context - 1` bytes.
 *
 * @param bytes the text file's bytes
 * @param options see {@link TextSourceOptions}
 * @returns the source (kind "text")
 * @throws {RangeError} for a context below 2
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { textSource } from "./data.ts";
 * const src = textSource(new TextEncoder().encode("abcdefg"), { context: 3 });
 * const ids = [];
 * for await (const b of src.batches(8)) ids.push(b.input_ids!.dims, Array.from(b.input_ids!.data as BigInt64Array));
 * assertEquals(ids, [[2, 3], [97n, 98n, 99n, 100n, 101n, 102n]]);
 * ```
 */
export function textSource(bytes: Uint8Array, options: TextSourceOptions = {}): TextSource {
  const context = options.context ?? 128;
  if (!(Number.isInteger(context) && context >= 2)) {
    throw new RangeError(`LM context must be an integer >= 2, got ${context}`);
  }
  const count = limitSamples(Math.floor(bytes.length / context), options.maxSamples);
  const inputName = options.inputName ?? "input_ids";
  const window = (i: number): Uint8Array => {
    if (!(i >= 0 && i < count)) throw new RangeError(`Window ${i} is out of range 0..${count - 1}`);
    return bytes.subarray(i * context, (i + 1) * context);
  };
  return {
    kind: "text",
    count,
    context,
    inputNames: [inputName],
    window,
    async *batches(batchSize: number) {
      checkBatchSize(batchSize);
      for (let i = 0; i < count; i += batchSize) {
        const b = Math.min(batchSize, count - i);
        const ids = new BigInt64Array(b * context);
        for (let k = 0; k < b * context; k++) ids[k] = BigInt(bytes[i * context + k]!);
        yield { [inputName]: makeTensor(DataType.INT64, [b, context], ids) };
      }
    },
  };
}

/** Decoded images with a preset, as a data source (kind "images"). */
export interface ImageSource extends DataSource {
  readonly kind: "images";
  /** Where each sample came from (file names for a folder). */
  readonly names: readonly string[];
}

/**
 * Images with a preprocessing preset as a data source.
 *
 * @param images decoded images (with names for messages and reports)
 * @param options `preset` (required), `inputName` (@default {@link presetInputName}), `maxSamples` (@default all), layout/size
 * @returns the source
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imageSource } from "./data.ts";
 * const img = { width: 640, height: 320, data: new Uint8Array(640 * 320 * 3) };
 * const src = imageSource([{ name: "a.png", image: img }], { preset: "ppocr-det", inputName: "x" });
 * for await (const b of src.batches(4)) assertEquals(b.x!.dims, [1, 3, 320, 640]);
 * ```
 */
export function imageSource(
  images: readonly { name: string; image: RgbImage }[],
  options: PreprocessOptions & { preset: PresetName; inputName?: string; maxSamples?: number },
): ImageSource {
  const p = preset(options.preset);
  const chosen = images.slice(0, limitSamples(images.length, options.maxSamples));
  const inputName = options.inputName ?? presetInputName(p.name);
  const pre: PreprocessOptions = {};
  if (options.layout) pre.layout = options.layout;
  if (options.size) pre.size = options.size;
  return {
    kind: "images",
    count: chosen.length,
    names: chosen.map((x) => x.name),
    inputNames: [inputName],
    async *batches(batchSize: number) {
      yield* batchImages(chosen.map((x) => x.image), { size: batchSize, inputName, preset: p }, pre);
    },
  };
}

/** Options of {@link openDataSource}. */
export interface OpenDataOptions extends OcrLinesOptions {
  /**
   * Feed name: required for a `.npy` (the model's single input); for text @default "input_ids"; for images
   * @default "x" for PP-OCR presets, "pixel_values" for segmenter, else "input". Ignored for `.npz`.
   */
  inputName?: string;
  /** LM window length for text files. @default 128 */
  context?: number;
}

async function exists(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/**
 * Open DATA as the CLI understands it (DESIGN.md): `X.npz` (input name -> array), `X.npy` (one input,
 * `inputName` required), a folder of PNG/JPEG images (`preset` required; files in name order), an eval-set
 * prefix `X` with `X.json` + `X.rgb.gz` (OCR lines, segmentation with optional `X.mask.gz`, or text pages,
 * told apart by the JSON), or any other file as byte-level LM text.
 *
 * @param spec the path
 * @param options see {@link OpenDataOptions}
 * @returns the source
 * @throws {Deno.errors.NotFound} when nothing exists at `spec` (nor `spec.json`)
 * @throws {TypeError} when a `.npy` has no `inputName` or a folder has no `preset`
 * @throws {SyntaxError} for unparsable files
 */
export async function openDataSource(spec: string, options: OpenDataOptions = {}): Promise<DataSource> {
  const max = options.maxSamples === undefined ? {} : { maxSamples: options.maxSamples };
  if (/\.npz$/i.test(spec)) return tensorSource(decodeNpz(await Deno.readFile(spec)), max);
  if (/\.npy$/i.test(spec)) {
    if (!options.inputName) throw new TypeError(`Cannot use ${spec}: a .npy needs the model's input name`);
    return tensorSource(new Map([[options.inputName, decodeNpy(await Deno.readFile(spec))]]), max);
  }
  const prefix = spec.replace(/\.json$/i, "");
  if (await exists(`${prefix}.json`) && await exists(`${prefix}.rgb.gz`)) {
    const json = JSON.parse(await Deno.readTextFile(`${prefix}.json`));
    const rgb = gunzipSync(await Deno.readFile(`${prefix}.rgb.gz`));
    if (Array.isArray(json.lines)) return ocrLinesSource(json, rgb, options);
    if (Array.isArray(json.pages)) return textPagesSource(json, rgb, options);
    const mask = await exists(`${prefix}.mask.gz`)
      ? gunzipSync(await Deno.readFile(`${prefix}.mask.gz`))
      : null;
    return segmentationSource(json, rgb, mask, options);
  }
  const info = await exists(spec);
  if (!info) {
    throw new Deno.errors.NotFound(`No data at "${spec}" (nor "${prefix}.json" + "${prefix}.rgb.gz")`);
  }
  if (info.isDirectory) {
    if (!options.preset) {
      throw new TypeError(`Cannot use the image folder ${spec}: give a preprocessing preset`);
    }
    const names = [];
    for await (const e of Deno.readDir(spec)) if (e.isFile && IMAGE_EXT.test(e.name)) names.push(e.name);
    names.sort();
    const images = [];
    for (const name of names.slice(0, limitSamples(names.length, options.maxSamples))) {
      images.push({ name, image: decodeImage(await Deno.readFile(`${spec}/${name}`)) });
    }
    const { preset: presetName, inputName, layout, size } = options;
    return imageSource(images, {
      preset: presetName,
      inputName: inputName ?? presetInputName(presetName),
      ...(layout ? { layout } : {}),
      ...(size ? { size } : {}),
    });
  }
  const text: TextSourceOptions = { ...max };
  if (options.context !== undefined) text.context = options.context;
  if (options.inputName !== undefined) text.inputName = options.inputName;
  return textSource(await Deno.readFile(spec), text);
}
