/**
 * Data kind `text`: any other file, read as text for a byte-level LM (non-overlapping windows of int64 byte
 * ids). The registry asks this kind last.
 * @module
 */
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { checkBatchSize, limitSamples } from "../_samples.ts";
import { type DataKind, type DataSource, fixedBatch, type OpenDataOptions, statOrNull } from "./source.ts";

/** Text for a byte-level LM, cut into non-overlapping windows. */
export interface TextSource extends DataSource {
  readonly kind: "text";
  /** Window length in bytes. */
  readonly context: number;
  /** The bytes of window `i`. */
  window(i: number): Uint8Array;
}

/** Options of {@link textSource}. */
export interface TextSourceOptions {
  /** Window length in bytes (the model context). @default 128 */
  context?: number;
  /** Use only the first N windows. @default all */
  maxSamples?: number;
  /** Feed name of the token ids. @default "input_ids" */
  inputName?: string;
  /** Windows per call, whatever batch size is asked (the model's fixed batch). @default the asked size */
  batch?: number;
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
 * import { textSource } from "./text.ts";
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
      const step = options.batch ?? batchSize;
      for (let i = 0; i < count; i += step) {
        const b = Math.min(step, count - i);
        const ids = new BigInt64Array(b * context);
        for (let k = 0; k < b * context; k++) ids[k] = BigInt(bytes[i * context + k]!);
        yield { [inputName]: makeTensor(DataType.INT64, [b, context], ids) };
      }
    },
  };
}

/** Any other file: byte-level LM text. */
export const textKind: DataKind = {
  name: "text",
  describe:
    "any other file: text for a byte-level LM (int64 byte ids; 128-byte windows, or the model's fixed length)",
  async matches(spec: string): Promise<boolean> {
    return !!(await statOrNull(spec))?.isFile;
  },
  async open(spec: string, options: OpenDataOptions): Promise<DataSource> {
    const text: TextSourceOptions = {};
    const only = options.inputs?.length === 1 ? options.inputs[0]!.name : undefined;
    if (options.maxSamples !== undefined) text.maxSamples = options.maxSamples;
    const input = options.inputs?.find((i) => i.name === (options.inputName ?? only ?? "input_ids"));
    const fixedLength = input?.dims?.length === 2 && typeof input.dims[1] === "number"
      ? input.dims[1]
      : undefined;
    // A model with a fixed sequence length takes windows of that length.
    const context = options.context ?? fixedLength;
    if (context !== undefined) text.context = context;
    const name = options.inputName ?? only;
    if (name !== undefined) text.inputName = name;
    const fixed = fixedBatch(input);
    if (fixed !== null) text.batch = fixed;
    return textSource(await Deno.readFile(spec), text);
  },
};
