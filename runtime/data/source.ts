/**
 * The data-source contract: what every kind of calibration or evaluation data (npz, npz folder, text,
 * image folder, eval sets) offers once opened, and what a kind must implement to be found by the registry
 * (registry.ts). Kinds import this file; this file imports no kind, so kinds never import each other.
 * @module
 */
import type { Dim, Model } from "../../onnx/ir.ts";
import { type DataType, dtypeName, type Tensor } from "../../onnx/tensor.ts";
import type { Preprocess, PreprocessOptions } from "../images.ts";

/**
 * A finite, ordered set of model inputs. `batches(n)` yields feeds for `FloatRuntime.run` holding samples
 * 0..count-1 in order, up to `n` per call (fewer in the last batch, where an image source's sample size
 * changes, or where the model's batch axis is fixed: see tensors.ts); task metadata (texts, masks, labels)
 * is indexed by the same sample order. {@link samplesIn} says how many samples one yielded feed holds.
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
   * @param batchSize samples per batch (>= 1); a source whose model fixes the batch size uses that instead
   */
  batches(batchSize: number): AsyncIterable<Record<string, Tensor>>;
  /**
   * How many samples a feed yielded by {@link DataSource.batches} holds, where that is not axis 0 of its
   * first tensor (per-sample feeds of scalars or of recurrent state). @default axis 0 of the first tensor
   */
  samplesIn?(feeds: Record<string, Tensor>): number;
}

/**
 * The number of samples in one yielded feed of `source`.
 *
 * @param source the data source that yielded `feeds`
 * @param feeds one batch
 * @returns the sample count
 */
export function samplesIn(source: DataSource, feeds: Record<string, Tensor>): number {
  return source.samplesIn?.(feeds) ?? Object.values(feeds)[0]?.dims[0] ?? 1;
}

/** A graph input of the model the data is for: what the data must match. */
export interface ModelInput {
  /** Input name. */
  readonly name: string;
  /** Element type, or null when the model does not say. */
  readonly dtype: DataType | null;
  /** Shape (numbers fixed, strings/null dynamic), or null when the rank is unknown. */
  readonly dims: readonly Dim[] | null;
}

/**
 * The graph inputs of a model (initializers listed as inputs by old exporters are left out).
 *
 * @param model the model
 * @returns one entry per real input, in graph order
 */
export function modelInputs(model: Model): ModelInput[] {
  return model.graph.inputs.filter((v) => !v.isConst).map((v) => ({
    name: v.name,
    dtype: v.type?.elemType ?? null,
    dims: v.type?.shape ? [...v.type.shape] : null,
  }));
}

/**
 * Render a model shape, e.g. `[batch, 3, 224, 224]` (`?` for an unknown dimension).
 *
 * @param dims the shape
 * @returns the text
 */
export function formatDims(dims: readonly Dim[] | null): string {
  return dims === null ? "[?]" : `[${dims.map((d) => d ?? "?").join(", ")}]`;
}

/** Data that does not fit the model: refused before any inference. Names the input and both shapes. */
export class DataMismatchError extends RangeError {
  /**
   * @param input the model input concerned
   * @param expected what the model takes (shape and/or type)
   * @param given what the data holds
   * @param hint how to fix it
   */
  constructor(
    readonly input: string,
    readonly expected: string,
    readonly given: string,
    hint = "",
  ) {
    super(
      `Data does not fit input "${input}": expected ${expected}, given ${given}${hint ? `; ${hint}` : ""}`,
    );
    this.name = "DataMismatchError";
  }
}

/**
 * Check that a source's feeds cover the model's inputs (for kinds that produce their own tensors: text,
 * images, eval sets). Tensor data checks shape and type itself (tensors.ts).
 *
 * @param source the opened source
 * @param inputs the model's inputs
 * @throws {DataMismatchError} naming the first input the source does not feed
 */
export function checkFeedsCover(source: DataSource, inputs: readonly ModelInput[]): void {
  for (const input of inputs) {
    if (source.inputNames.includes(input.name)) continue;
    if (inputs.length === 1 && source.inputNames.length === 1) continue; // fed by position
    throw new DataMismatchError(
      input.name,
      `a tensor ${formatDims(input.dims)}${
        input.dtype !== null ? ` of ${dtypeName(input.dtype).toLowerCase()}` : ""
      }`,
      `${source.kind} data feeding only [${source.inputNames.join(", ")}]`,
    );
  }
}

/**
 * Check the first sample a source makes (images, text, eval sets build their own tensors) against the fixed
 * dimensions and element types of the model's inputs, so a preset whose size differs from the model's is
 * refused before inference. Axis 0 (the batch) is not compared.
 *
 * @param source the opened source
 * @param inputs the model's inputs
 * @throws {DataMismatchError} naming the input, the expected and the given shape
 */
export async function checkFirstSample(source: DataSource, inputs: readonly ModelInput[]): Promise<void> {
  if (source.count === 0) return;
  let first: Record<string, Tensor> | undefined;
  for await (const b of source.batches(1)) {
    first = b;
    break;
  }
  if (!first) return;
  const names = Object.keys(first);
  for (const input of inputs) {
    const t = first[input.name] ?? (inputs.length === 1 && names.length === 1 ? first[names[0]!] : undefined);
    if (!t) continue;
    const d = input.dims;
    const type = (x: DataType) => dtypeName(x).toLowerCase();
    if (input.dtype !== null && t.dtype !== input.dtype) {
      throw new DataMismatchError(
        input.name,
        `${formatDims(d)} of ${type(input.dtype)}`,
        `${source.kind} data of ${type(t.dtype)} ${formatDims(t.dims)}`,
      );
    }
    if (d === null) continue;
    const bad = d.length !== t.dims.length ||
      d.some((x, i) => i > 0 && typeof x === "number" && x !== t.dims[i]);
    if (bad) {
      throw new DataMismatchError(
        input.name,
        formatDims(d),
        `${source.kind} data ${formatDims(t.dims)}`,
        source.kind === "images" || source.kind === "ocr-lines" || source.kind === "segmentation" ||
          source.kind === "text-pages"
          ? "pick a --preprocess that matches the model (e.g. image, which takes the size from the model)"
          : "",
      );
    }
  }
}

/** Options every kind's `open` understands (each kind reads the ones that concern it). */
export interface OpenDataOptions extends PreprocessOptions {
  /** Use only the first N samples. @default all */
  maxSamples?: number;
  /**
   * Feed name: required for a `.npy` (the model's single input) unless `inputs` has exactly one entry; for
   * text @default "input_ids"; for images @default "x" for PP-OCR presets, "pixel_values" for segmenter,
   * else "input". Ignored for `.npz`.
   */
  inputName?: string;
  /**
   * The inputs of the model the data is for. With it, tensor data follows the data contract (per-sample or
   * stacked form, fixed batch sizes, scalars) and every mismatch is refused at open time, before inference.
   * @default undefined (tensors taken as stacked on axis 0, unchecked)
   */
  inputs?: readonly ModelInput[];
  /** LM window length for text files. @default 128 */
  context?: number;
  /**
   * Preprocessing for image folders and eval sets: a preset name or a generic `image:...` spec, completed
   * from the model's image input (runtime/image_spec.ts). @default the eval set's own; required for folders
   */
  preset?: Preprocess;
  /**
   * Follow every OCR line by its 180-degree rotation (count doubles; `labels` = 0, 1, 0, 1, ...), for the
   * PP-OCR direction classifier. @default false
   */
  augment180?: boolean;
}

/**
 * The model input that image data feeds: the one named `inputName`, else the model's only input.
 *
 * @param options the open options
 * @returns the input, when known
 */
export function imageInput(options: Pick<OpenDataOptions, "inputs" | "inputName">): ModelInput | undefined {
  const inputs = options.inputs ?? [];
  return inputs.find((i) => i.name === options.inputName) ?? (inputs.length === 1 ? inputs[0] : undefined);
}

/**
 * The batch size a model input fixes (a number on axis 0, e.g. 1 for a PyTorch export without dynamic axes),
 * or null where axis 0 is dynamic or the shape unknown.
 *
 * @param input the model input
 * @returns the fixed batch size or null
 */
export function fixedBatch(input: ModelInput | undefined): number | null {
  const d = input?.dims?.[0];
  return typeof d === "number" && d > 0 ? d : null;
}

/** One kind of data: the registry asks each kind, in order, whether it takes a spec. */
export interface DataKind {
  /** Kind name, for messages ("npz", "text", ...). */
  readonly name: string;
  /** One line for `--help`: what the spec looks like. */
  readonly describe: string;
  /**
   * Whether this kind reads `spec` (a path or prefix). May look at the file system, never reads contents
   * beyond what is needed to decide.
   */
  matches(spec: string): Promise<boolean>;
  /**
   * Open the data.
   *
   * @param spec the path or prefix
   * @param options see {@link OpenDataOptions}
   * @returns the source
   */
  open(spec: string, options: OpenDataOptions): Promise<DataSource>;
}

/**
 * File info at `path`, or null where nothing exists.
 *
 * @param path the path
 * @returns the info or null
 */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}
