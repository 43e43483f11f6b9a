/**
 * Data kind `image-folder`: a folder of PNG/JPEG images (files in name order), preprocessed with a preset
 * or a generic spec (runtime/images.ts) into the model's image input.
 * @module
 */
import { limitSamples } from "../_samples.ts";
import {
  batchImages,
  decodeImage,
  type Preprocess,
  type PreprocessOptions,
  presetInputName,
  type RgbImage,
} from "../images.ts";
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

const IMAGE_EXT = /\.(png|jpe?g)$/i;

async function imageFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && IMAGE_EXT.test(e.name)) names.push(e.name);
  return names.sort();
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
 * import { imageSource } from "./image_folder.ts";
 * const img = { width: 640, height: 320, data: new Uint8Array(640 * 320 * 3) };
 * const src = imageSource([{ name: "a.png", image: img }], { preset: "ppocr-det", inputName: "x" });
 * for await (const b of src.batches(4)) assertEquals(b.x!.dims, [1, 3, 320, 640]);
 * ```
 */
export function imageSource(
  images: readonly { name: string; image: RgbImage }[],
  options: PreprocessOptions & {
    preset: Preprocess;
    inputName?: string;
    maxSamples?: number;
    /** The model input the images feed: a generic spec takes layout and size from it, a fixed batch is kept. */
    input?: ModelInput;
  },
): ImageSource {
  const p = resolvePreprocess(options.preset, options.input?.dims, options.input?.dtype);
  const fixed = fixedBatch(options.input);
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
      const size = fixed ?? batchSize;
      yield* batchImages(chosen.map((x) => x.image), { size, inputName, preset: p }, pre);
    },
  };
}

/** A folder of PNG/JPEG images. */
export const imageFolderKind: DataKind = {
  name: "image-folder",
  describe: "a folder of PNG/JPEG images, with --preprocess (a preset or image:size=...,layout=...)",
  async matches(spec: string): Promise<boolean> {
    const info = await statOrNull(spec);
    return !!info?.isDirectory && (await imageFiles(spec)).length > 0;
  },
  async open(spec: string, options: OpenDataOptions): Promise<DataSource> {
    if (!options.preset) {
      throw new TypeError(`Cannot use the image folder ${spec}: give a preprocessing preset`);
    }
    const names = await imageFiles(spec);
    const images = [];
    for (const name of names.slice(0, limitSamples(names.length, options.maxSamples))) {
      images.push({ name, image: decodeImage(await Deno.readFile(`${spec}/${name}`)) });
    }
    const { preset: presetName, inputName, layout, size } = options;
    const input = imageInput(options);
    return imageSource(images, {
      preset: presetName,
      inputName: inputName ?? input?.name ?? presetInputName(presetName),
      ...(input ? { input } : {}),
      ...(layout ? { layout } : {}),
      ...(size ? { size } : {}),
    });
  },
};
