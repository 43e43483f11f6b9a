/**
 * Loading and saving models: `.onnx` files, `.onnx` + external data files, and `.zip` bundles (fflate).
 * The core ({@link modelToFiles}, byte loads) is browser-usable; file paths go through the small adapter in
 * _fs.ts. Every failure is a {@link ModelIOError} whose message starts with `Cannot load model "x.onnx":` /
 * `Cannot save model "x.onnx":` and keeps the original error as `cause`.
 *
 * External data follows the ONNX spec (onnx/docs/ExternalData.md): `location` is relative to the directory
 * of the model file, `offset`/`length` in bytes. Each external file is read once and tensors are views into
 * it.
 * @module
 */
import { unzipSync, zipSync } from "npm:fflate@0.8.2";
import { decodeModel, encodeModel, modelToMessage, NotOnnxError } from "./codec.ts";
import type { Model } from "./ir.ts";
import { ModelProtoDesc } from "./proto_schema.ts";
import { type ExternalReader, isExternal } from "./tensor_proto.ts";
import { encodedSize } from "./wire.ts";
import { basename, denoFs, dirname, type FileSystem, isNotFound } from "./_fs.ts";
import { cachedReader, checkLocation } from "./_external_data.ts";

export type { FileSystem } from "./_fs.ts";

/** protobuf's hard limit on one serialized message: 2 GiB - 1. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Default size from which a tensor goes to the external data file. */
export const DEFAULT_EXTERNAL_THRESHOLD = 1024;
/** External tensors start on multiples of this many bytes, so loads can view them without copying. */
const EXTERNAL_ALIGN = 64;

/** A model could not be loaded or saved. `message` is the whole story; `cause` is the underlying error. */
export class ModelIOError extends Error {
  /**
   * Create the error.
   * @param operation "load" or "save"
   * @param source the file (or "<bytes>")
   * @param detail what failed
   * @param options the underlying error as `cause`
   */
  constructor(
    /** "load" or "save". */
    readonly operation: "load" | "save",
    /** The file (or "<bytes>"). */
    readonly source: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot ${operation} model "${source}": ${detail}`, options);
    this.name = "ModelIOError";
  }
}

/** Options for {@link loadModel}. */
export interface LoadOptions {
  /**
   * Resolves external data for byte loads (in a browser: fetch the files first). Path loads read the files
   * next to the model and ignore this. @default undefined (external tensors are an error)
   */
  readExternal?: ExternalReader;
  /** Name used in error messages for byte loads. @default "<bytes>" */
  name?: string;
  /** File system for path loads. @default the Deno file system */
  fs?: FileSystem;
}

/** Where large tensors go when saving. */
export interface ExternalDataOptions {
  /** Tensors with at least this many bytes are stored externally. @default 1024 */
  threshold?: number;
  /** External file name, relative to the model file. @default "<model file name>.data" */
  location?: string;
}

/** Options for {@link saveModel} and {@link modelToFiles}. */
export interface SaveOptions {
  /**
   * Store large tensors in an external data file. `true` uses the defaults of {@link ExternalDataOptions}.
   * Turned on automatically (with the defaults) when the model would exceed protobuf's 2 GiB limit.
   * @default false
   */
  externalData?: boolean | ExternalDataOptions;
  /** Deflate level for `.zip` bundles (0 = stored: weights barely compress). @default 0 */
  zipLevel?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  /** File system for {@link saveModel}. @default the Deno file system */
  fs?: FileSystem;
}

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) &&
    (b[3] === 4 || b[3] === 6);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Decode every external initializer now, so a bad reference fails the load and names its tensor. */
function resolveExternal(model: Model): void {
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      const p = v.encodedConst;
      if (!p || !isExternal(p)) continue;
      try {
        void v.const;
      } catch (e) {
        const detail = message(e).replace(/^Cannot decode tensor "[^"]*": /, "");
        throw new RangeError(`tensor "${v.name}": ${detail}`, { cause: e });
      }
    }
  }
}

const SIGNATURES: [string, number[]][] = [
  ["a PNG image", [0x89, 0x50, 0x4e, 0x47]],
  ["a JPEG image", [0xff, 0xd8, 0xff]],
  ["a gzip file", [0x1f, 0x8b]],
  ["a PDF document", [0x25, 0x50, 0x44, 0x46]],
];

/** What the bytes look like when they are clearly not protobuf, for a friendlier message. */
function sniff(b: Uint8Array): string | undefined {
  for (const [kind, sig] of SIGNATURES) {
    if (b.length >= sig.length && sig.every((x, i) => b[i] === x)) return kind;
  }
  const head = b.subarray(0, 256);
  if (head.length > 0 && head.every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127))) {
    return "a text file";
  }
  return undefined;
}

function decodeAll(bytes: Uint8Array, readExternal: ExternalReader | undefined): Model {
  let model: Model;
  try {
    model = decodeModel(bytes, readExternal ? { readExternal } : {});
  } catch (e) {
    const kind = e instanceof SyntaxError ? sniff(bytes) : undefined;
    if (kind) throw new NotOnnxError(`it looks like ${kind} (${message(e)})`);
    throw e;
  }
  resolveExternal(model);
  return model;
}

function joinZipPath(dir: string, location: string): string {
  const parts: string[] = [];
  for (const p of (dir + location).split(/[\\/]/)) {
    if (p === "" || p === ".") continue;
    parts.push(p);
  }
  return parts.join("/");
}

/** Decode a `.zip` bundle: the single `.onnx` entry plus its external data entries. */
function decodeZip(bytes: Uint8Array): Model {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new SyntaxError(`invalid zip archive (${message(e)})`, { cause: e });
  }
  const names = Object.keys(entries).filter((n) => !n.endsWith("/") && !n.startsWith("__MACOSX/"));
  const models = names.filter((n) => n.toLowerCase().endsWith(".onnx"));
  if (models.length !== 1) {
    const what = models.length === 0
      ? `no .onnx file (entries: ${names.length ? names.join(", ") : "none"})`
      : `${models.length} .onnx files (${models.join(", ")}); expected exactly one`;
    throw new SyntaxError(`the zip archive holds ${what}`);
  }
  const modelName = models[0]!;
  const dir = dirname(modelName);
  return decodeAll(entries[modelName]!, cachedReader((loc) => entries[joinZipPath(dir, loc)]));
}

/**
 * Load a model from a file path (`.onnx`, with external data resolved next to it, or a `.zip` bundle) or
 * from bytes (a model or a zip bundle; external data through `options.readExternal`).
 *
 * @param pathOrBytes file path, or the file's bytes
 * @param options external-data reader and name for byte loads; file system for path loads
 * @returns the model IR (initializer data viewed, not copied, from the file buffers)
 * @throws {ModelIOError} naming the file and what failed (a missing file, malformed protobuf with its byte
 *   offset and message path, missing or short external data with tensor, file, offset and lengths)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadModel } from "./io.ts";
 * const model = await loadModel("testdata/segmenter-tiny.onnx");
 * assertEquals(model.graph.inputs.map((v) => v.name), ["pixel_values"]);
 * ```
 */
export async function loadModel(pathOrBytes: string | Uint8Array, options: LoadOptions = {}): Promise<Model> {
  if (typeof pathOrBytes !== "string") {
    const name = options.name ?? "<bytes>";
    if (!(pathOrBytes instanceof Uint8Array)) {
      throw new TypeError(`loadModel expects a path or a Uint8Array, got ${typeof pathOrBytes}`);
    }
    try {
      const user = options.readExternal;
      const reader: ExternalReader | undefined = user && ((location, offset, length) => {
        checkLocation(location);
        return user(location, offset, length);
      });
      return isZip(pathOrBytes) ? decodeZip(pathOrBytes) : decodeAll(pathOrBytes, reader);
    } catch (e) {
      throw new ModelIOError("load", name, message(e), { cause: e });
    }
  }
  const path = pathOrBytes;
  const fs = options.fs ?? denoFs;
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new ModelIOError("load", path, isNotFound(e) ? "file not found" : message(e), { cause: e });
  }
  try {
    if (isZip(bytes)) return decodeZip(bytes);
    const dir = dirname(path);
    return decodeAll(
      bytes,
      cachedReader((loc) => {
        try {
          return fs.readFileSync(dir + loc);
        } catch (e) {
          if (isNotFound(e)) return undefined;
          throw e;
        }
      }),
    );
  } catch (e) {
    throw new ModelIOError("load", path, message(e), { cause: e });
  }
}

function hasExternalTensors(model: Model): boolean {
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      const p = v.encodedConst;
      if (p && isExternal(p)) return true;
    }
  }
  return false;
}

function externalSettings(
  opt: SaveOptions["externalData"],
  modelFile: string,
): Required<ExternalDataOptions> | undefined {
  if (!opt) return undefined;
  const o = opt === true ? {} : opt;
  const threshold = o.threshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < 0) {
    throw new RangeError(`externalData.threshold must be a byte count >= 0, got ${threshold}`);
  }
  const location = o.location ?? `${modelFile}.data`;
  if (location === "" || /[\\/]/.test(location)) {
    throw new RangeError(`externalData.location must be a plain file name, got "${location}"`);
  }
  return { threshold, location };
}

/** Encode the model, moving tensors of at least `ext.threshold` bytes into one external buffer. */
function encodeSplit(
  model: Model,
  ext: Required<ExternalDataOptions> | undefined,
): { model: Uint8Array; data?: Uint8Array } {
  if (!ext) {
    // Tensors that were external when loaded are written inline (their old files may not travel along).
    return {
      model: hasExternalTensors(model)
        ? encodeModel(model, { externalize: () => undefined })
        : encodeModel(model),
    };
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const bytes = encodeModel(model, {
    externalize: (_v, raw) => {
      if (raw.length < ext.threshold || raw.length === 0) return undefined;
      const offset = Math.ceil(size / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      chunks.push(raw);
      size = offset + raw.length;
      return { location: ext.location, offset };
    },
  });
  const data = new Uint8Array(size);
  let pos = 0;
  for (const c of chunks) {
    pos = Math.ceil(pos / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
    data.set(c, pos);
    pos += c.length;
  }
  return chunks.length ? { model: bytes, data } : { model: bytes };
}

function tooLarge(model: Model): boolean {
  const msg = modelToMessage(model, hasExternalTensors(model) ? { externalize: () => undefined } : {});
  return encodedSize(msg, ModelProtoDesc) > PROTOBUF_LIMIT;
}

/**
 * Serialize a model to the files {@link saveModel} would write, without touching a file system (usable in a
 * browser). A name ending in `.zip` gives one zip bundle holding the model and its external data.
 *
 * @param model the model
 * @param fileName file name of the model (`model.onnx` or `bundle.zip`); external locations are relative to it
 * @param options external data and zip settings
 * @returns file name (relative to the model's directory) -> bytes; the model file comes last
 * @throws {RangeError} when the model exceeds 2 GiB even with its tensors stored externally
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadModel, modelToFiles } from "./io.ts";
 * const model = await loadModel("testdata/segmenter-tiny.onnx");
 * const files = modelToFiles(model, "seg.onnx", { externalData: { threshold: 4096 } });
 * assertEquals(Object.keys(files), ["seg.onnx.data", "seg.onnx"]);
 * ```
 */
export function modelToFiles(
  model: Model,
  fileName: string,
  options: Omit<SaveOptions, "fs"> = {},
): Record<string, Uint8Array> {
  const name = basename(fileName);
  const zip = name.toLowerCase().endsWith(".zip");
  const modelFile = zip ? `${name.slice(0, -4)}.onnx` : name;
  let ext = externalSettings(options.externalData, modelFile);
  if (!ext && tooLarge(model)) ext = externalSettings(true, modelFile);
  const { model: bytes, data } = encodeSplit(model, ext);
  if (bytes.length > PROTOBUF_LIMIT) {
    throw new RangeError(
      `the model is ${bytes.length} bytes even with tensors of >= ${ext?.threshold} bytes stored ` +
        `externally; protobuf allows at most ${PROTOBUF_LIMIT}`,
    );
  }
  const files: Record<string, Uint8Array> = {};
  if (data && ext) files[ext.location] = data;
  files[modelFile] = bytes;
  if (!zip) return files;
  const level = options.zipLevel ?? 0;
  const entries: Record<string, [Uint8Array, { level: typeof level }]> = {};
  for (const [n, b] of Object.entries(files)) entries[n] = [b, { level }];
  return { [name]: zipSync(entries) };
}

/**
 * Save a model: `.onnx` (optionally with external data next to it) or a `.zip` bundle. Writes are atomic:
 * every file goes to a temporary file in the same directory first and is renamed into place only when all
 * were written (external data before the model), so a failure leaves no half-written file behind.
 *
 * @param model the model
 * @param path target file (`.onnx` or `.zip`)
 * @param options external data, zip level, file system
 * @returns the paths written, model file last
 * @throws {ModelIOError} naming the file and what failed
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadModel, saveModel } from "./io.ts";
 * const model = await loadModel("testdata/segmenter-tiny.onnx");
 * const dir = await Deno.makeTempDir();
 * const written = await saveModel(model, `${dir}/seg.onnx`, { externalData: true });
 * assertEquals(written, [`${dir}/seg.onnx.data`, `${dir}/seg.onnx`]);
 * const again = await loadModel(`${dir}/seg.onnx`);
 * assertEquals(again.graph.nodes.length, model.graph.nodes.length);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveModel(model: Model, path: string, options: SaveOptions = {}): Promise<string[]> {
  const fs = options.fs ?? denoFs;
  const dir = dirname(path);
  let files: Record<string, Uint8Array>;
  try {
    files = modelToFiles(model, basename(path), options);
  } catch (e) {
    throw new ModelIOError("save", path, message(e), { cause: e });
  }
  const plan = Object.entries(files).map(([name, bytes]) => ({
    final: dir + name,
    temp: `${dir}.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`,
    bytes,
    renamed: false,
  }));
  try {
    for (const p of plan) await fs.writeFile(p.temp, p.bytes, true);
    for (const p of plan) {
      await fs.rename(p.temp, p.final);
      p.renamed = true;
    }
  } catch (e) {
    for (const p of plan) {
      if (!p.renamed) await fs.remove(p.temp).catch(() => {});
    }
    throw new ModelIOError("save", path, message(e), { cause: e });
  }
  return plan.map((p) => p.final);
}
