/**
 * Loading and saving models: `.onnx` files, `.onnx` + external data files, and `.zip` bundles (fflate).
 * The core ({@link modelToFiles}, byte loads) is browser-usable; file paths go through the small adapter in
 * _fs.ts. Every failure is a {@link ModelIOError} whose message starts with `Cannot load model "x.onnx":` /
 * `Cannot save model "x.onnx":` and keeps the original error as `cause`.
 *
 * Files are untrusted input (docs/security.md):
 * - External data follows the ONNX spec (onnx/docs/ExternalData.md): `location` is relative to the model
 *   file's directory and must resolve (symbolic links followed) to a regular file inside it; each tensor
 *   reads only its `[offset, offset + length)`, checked against the file's size at load, decoded lazily.
 * - Zip bundles inflate only the model and the external files it names, up to a cap (`maxInflatedBytes`).
 * - Every initializer's dims must agree with the data it carries; the graph must be acyclic and every value
 *   it reads defined (an acyclic graph stored out of order is sorted), then `verify()` must pass.
 *
 * Saving streams tensors one at a time into the external data file (so a model larger than memory can be
 * written; tensors spilled to disk by onnx/spill.ts are copied by 4 MiB chunks), switches to external data by
 * itself when the model would pass protobuf's 2 GiB limit or holds spilled tensors (`.onnx` targets), writes
 * every file under a temporary name, fsyncs it and renames it into place; temporary files are removed on
 * failure and on SIGINT/SIGTERM. Zip bundles are byte-for-byte reproducible (a fixed entry time).
 * @module
 */
import { zipSync } from "npm:fflate@0.8.2";
import { constByteLength, decodeModel, encodeModel, modelToMessage, NotOnnxError } from "./codec.ts";
import type { Model } from "./ir.ts";
import { limit } from "./limits.ts";
import { ModelProtoDesc } from "./proto_schema.ts";
import { externalInfo, type ExternalReader, isExternal } from "./tensor_proto.ts";
import { encodedSize } from "./wire.ts";
import { basename, denoFs, dirname, type FileSystem, isNotFound } from "./_fs.ts";
import { checkLocation, directoryFiles, type RangeReader, rangeReader } from "./_external_data.ts";
import { checkStructure } from "./_graph_checks.ts";
import { PendingFile } from "./_pending_file.ts";
import { decodeZip } from "./_zip.ts";

export type { FileSystem, FileWriter } from "./_fs.ts";

/** protobuf's hard limit on one serialized message: 2 GiB - 1. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Default size from which a tensor goes to the external data file. */
export const DEFAULT_EXTERNAL_THRESHOLD = 1024;
/** External tensors start on multiples of this many bytes, so loads can view them without copying. */
const EXTERNAL_ALIGN = 64;
/** Spilled tensors are copied into the external data file this many bytes at a time. */
const COPY_CHUNK = 4 * 2 ** 20;
/** Zip entry time of every bundle shiftkit writes (local time; DOS dates start in 1980): same bytes each run. */
const ZIP_TIME = new Date(1980, 0, 2, 0, 0, 0);

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
  /**
   * Most bytes inflated from a `.zip` bundle (model plus the external files it names).
   * @default 2 GiB, or the environment variable SHIFTKIT_MAX_INFLATED_BYTES
   */
  maxInflatedBytes?: number;
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
   * Turned on automatically (with the defaults) when the model would exceed protobuf's 2 GiB limit, or, for an
   * `.onnx` target, when it holds tensors spilled to disk (onnx/spill.ts: copied by range, never whole).
   * @default false
   */
  externalData?: boolean | ExternalDataOptions;
  /** Deflate level for `.zip` bundles (0 = stored: weights barely compress). @default 0 */
  zipLevel?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  /** File system for {@link saveModel}. @default the Deno file system */
  fs?: FileSystem;
}

/** What a path load found on disk: the model file's size and each external data file's size. */
export interface StoredFiles {
  /** Bytes of the `.onnx` (or `.zip`) file. */
  readonly modelBytes: number;
  /** Bytes of each external data file the model references, by location. */
  readonly external: ReadonlyMap<string, number>;
  /** Directory of the model file ("" or ending in a separator). */
  readonly dir: string;
}

const storedFiles = new WeakMap<Model, StoredFiles>();

/**
 * The files a model was loaded from and their sizes (undefined for models not loaded by path).
 *
 * @param model a model returned by {@link loadModel}
 * @returns model file and external file sizes
 */
export function loadedFiles(model: Model): StoredFiles | undefined {
  return storedFiles.get(model);
}

/**
 * Bytes the model takes when stored: its graph plus every tensor's data, wherever the data lives (inline or
 * in external files). Computed without decoding a tensor, so it is cheap for models larger than memory.
 *
 * @param model the model
 * @returns the byte count
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { loadModel, storedBytes } from "./io.ts";
 * const model = await loadModel("testdata/segmenter-tiny.onnx");
 * const n = storedBytes(model);
 * assert(Math.abs(n - Deno.statSync("testdata/segmenter-tiny.onnx").size) < 8192);
 * ```
 */
export function storedBytes(model: Model): number {
  let data = 0;
  const msg = modelToMessage(model, {
    externalize: (_v, size) => {
      data += size;
      return { location: "", offset: 0 };
    },
  });
  return encodedSize(msg, ModelProtoDesc) + data;
}

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) &&
    (b[3] === 4 || b[3] === 6);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The initializers with external data, with the byte count their dims declare. */
function* externalTensors(model: Model) {
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      const p = v.encodedConst;
      if (p && isExternal(p)) yield { v, p, size: constByteLength(v) };
    }
  }
}

/**
 * Check every external reference now (location, file, range), so a bad one fails the load and names its
 * tensor, without reading the data: tensors are read, by range, when first used.
 */
function checkExternal(model: Model, reader: RangeReader | undefined, userReader: boolean): void {
  for (const { v, p, size } of externalTensors(model)) {
    try {
      if (!reader) {
        if (!userReader) {
          throw new RangeError("tensor data is external but no external-data reader was given");
        }
        void v.const; // a caller's reader: the only way to check is to read
        continue;
      }
      const { location, offset, length } = externalInfo(p);
      if (size !== undefined && length !== undefined && length !== size) {
        throw new RangeError(
          `external data length ${length} at offset ${offset} in "${location}" does not match ` +
            `dims ${JSON.stringify(v.type?.shape ?? [])}, which declare ${size} bytes`,
        );
      }
      reader.check(location, offset, length ?? size ?? 0);
    } catch (e) {
      const detail = message(e).replace(/^Cannot decode tensor "[^"]*": /, "");
      throw new RangeError(`tensor "${v.name}": ${detail}`, { cause: e });
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

function decodeAll(bytes: Uint8Array, reader: RangeReader | undefined, user?: ExternalReader): Model {
  let model: Model;
  const read = reader?.read ?? user;
  try {
    model = decodeModel(bytes, read ? { readExternal: read } : {});
  } catch (e) {
    const kind = e instanceof SyntaxError ? sniff(bytes) : undefined;
    if (kind) throw new NotOnnxError(`it looks like ${kind} (${message(e)})`);
    throw e;
  }
  checkExternal(model, reader, user !== undefined);
  checkStructure(model);
  return model;
}

/**
 * Load a model from a file path (`.onnx`, with external data resolved next to it, or a `.zip` bundle) or
 * from bytes (a model or a zip bundle; external data through `options.readExternal`).
 *
 * @param pathOrBytes file path, or the file's bytes
 * @param options external-data reader and name for byte loads; file system for path loads; zip limit
 * @returns the model IR (inline initializer data viewed, not copied; external data read by range on first
 *   use)
 * @throws {ModelIOError} naming the file and what failed (a missing file, malformed protobuf with its byte
 *   offset and message path, bad dims, missing, short or refused external data with tensor, file, offset and
 *   lengths, a cyclic or invalid graph with its node names, a zip over the inflate limit)
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
      if (isZip(pathOrBytes)) {
        return decodeZip(pathOrBytes, limit("maxInflatedBytes", options.maxInflatedBytes), decodeAll);
      }
      const user = options.readExternal;
      const reader: ExternalReader | undefined = user && ((location, offset, length) => {
        checkLocation(location);
        return user(location, offset, length);
      });
      return decodeAll(pathOrBytes, undefined, reader);
    } catch (e) {
      throw new ModelIOError("load", name, message(e), { cause: e });
    }
  }
  const path = pathOrBytes;
  const fs = options.fs ?? denoFs;
  let bytes: Uint8Array;
  try {
    // A FIFO or a device (/dev/zero) would block or never end: only regular files of a protobuf's size.
    const facts = fs.stat(path);
    if (!facts.isFile) throw new RangeError("not a regular file (a device, FIFO, socket or directory)");
    if (facts.size > PROTOBUF_LIMIT) {
      throw new RangeError(
        `the file has ${facts.size} bytes, over protobuf's limit of ${PROTOBUF_LIMIT} (larger models keep ` +
          `their weights in external data files)`,
      );
    }
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new ModelIOError("load", path, isNotFound(e) ? "file not found" : message(e), { cause: e });
  }
  try {
    if (isZip(bytes)) {
      const model = decodeZip(bytes, limit("maxInflatedBytes", options.maxInflatedBytes), decodeAll);
      storedFiles.set(model, { modelBytes: bytes.length, external: new Map(), dir: dirname(path) });
      return model;
    }
    const reader = rangeReader(directoryFiles(fs, dirname(path)));
    const model = decodeAll(bytes, reader);
    storedFiles.set(model, { modelBytes: bytes.length, external: reader.sizes, dir: dirname(path) });
    return model;
  } catch (e) {
    throw new ModelIOError("load", path, message(e), { cause: e });
  }
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
  if (location === "" || /[\\/]/.test(location) || location === "." || location === "..") {
    throw new RangeError(`externalData.location must be a plain file name, got "${location}"`);
  }
  if (location === modelFile) {
    throw new RangeError(
      `externalData.location "${location}" is the model's own file name: the model would overwrite its weights`,
    );
  }
  return { threshold, location };
}

/** Where each external tensor goes: offsets in one data file, aligned; `write` receives the bytes in order. */
function encodeSplit(
  model: Model,
  ext: Required<ExternalDataOptions> | undefined,
  write?: (offset: number, bytes: Uint8Array) => void,
): { model: Uint8Array; data?: Uint8Array; dataBytes: number } {
  if (!ext) return { model: encodeModel(model), dataBytes: 0 };
  const chunks: Uint8Array[] = [];
  let size = 0;
  const bytes = encodeModel(model, {
    externalize: (v, length, raw) => {
      if (length < ext.threshold || length === 0) return undefined;
      const offset = Math.ceil(size / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      const range = write ? v.constRange() : undefined;
      if (range) { // a spilled tensor: copied by chunks, never whole in memory
        for (let at = 0; at < length; at += COPY_CHUNK) {
          write!(offset + at, range.read(at, Math.min(COPY_CHUNK, length - at)));
        }
      } else if (write) write(offset, raw());
      else chunks.push(raw());
      size = offset + length;
      return { location: ext.location, offset };
    },
  });
  if (write) return { model: bytes, dataBytes: size };
  const data = new Uint8Array(size);
  let pos = 0;
  for (const c of chunks) {
    pos = Math.ceil(pos / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
    data.set(c, pos);
    pos += c.length;
  }
  return chunks.length ? { model: bytes, data, dataBytes: size } : { model: bytes, dataBytes: 0 };
}

/** True when the model would not fit protobuf's limit with every tensor inline (computed without decoding). */
function tooLarge(model: Model): boolean {
  return storedBytes(model) > PROTOBUF_LIMIT;
}

/** True when some initializer's data lives in a spill file (onnx/spill.ts): it is written by range. */
function holdsSpilled(model: Model): boolean {
  for (const g of model.allGraphs()) for (const v of g.initializers) if (v.constRange()) return true;
  return false;
}

function checkSize(bytes: Uint8Array, ext: Required<ExternalDataOptions> | undefined): void {
  if (bytes.length > PROTOBUF_LIMIT) {
    throw new RangeError(
      `the model is ${bytes.length} bytes even with tensors of >= ${ext?.threshold} bytes stored ` +
        `externally; protobuf allows at most ${PROTOBUF_LIMIT}`,
    );
  }
}

function planFiles(model: Model, fileName: string, options: Omit<SaveOptions, "fs">) {
  const name = basename(fileName);
  const zip = name.toLowerCase().endsWith(".zip");
  const modelFile = zip ? `${name.slice(0, -4)}.onnx` : name;
  let ext = externalSettings(options.externalData, modelFile);
  if (!ext && !zip && holdsSpilled(model)) ext = externalSettings(true, modelFile);
  if (!ext && tooLarge(model)) ext = externalSettings(true, modelFile);
  return { name, zip, modelFile, ext };
}

/**
 * Serialize a model to the files {@link saveModel} would write, without touching a file system (usable in a
 * browser). A name ending in `.zip` gives one zip bundle holding the model and its external data, with a
 * fixed entry time (the same model gives the same bytes).
 *
 * @param model the model
 * @param fileName file name of the model (`model.onnx` or `bundle.zip`); external locations are relative to it
 * @param options external data and zip settings
 * @returns file name (relative to the model's directory) -> bytes; the model file comes last
 * @throws {RangeError} when the model exceeds 2 GiB even with its tensors stored externally, or the external
 *   location is not a plain file name other than the model's own
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
  const { name, zip, modelFile, ext } = planFiles(model, fileName, options);
  const { model: bytes, data } = encodeSplit(model, ext);
  checkSize(bytes, ext);
  const files: Record<string, Uint8Array> = {};
  if (data && ext) files[ext.location] = data;
  files[modelFile] = bytes;
  if (!zip) return files;
  const level = options.zipLevel ?? 0;
  const entries: Record<string, [Uint8Array, { level: typeof level; mtime: Date }]> = {};
  for (const [n, b] of Object.entries(files)) entries[n] = [b, { level, mtime: ZIP_TIME }];
  return { [name]: zipSync(entries) };
}

/**
 * When the external data file about to be replaced is one this model still reads its tensors from (saving
 * over the loaded model), read those tensors now: after the rename their old bytes are gone.
 */
function keepSources(model: Model, fs: FileSystem, target: string): void {
  const stored = storedFiles.get(model);
  if (!stored || stored.external.size === 0) return;
  let real: string;
  try {
    real = fs.realPath(target);
  } catch {
    return; // the target does not exist yet: nothing to keep
  }
  for (const { v, p } of externalTensors(model)) {
    try {
      if (fs.realPath(stored.dir + externalInfo(p).location) === real) void v.const;
    } catch { /* unreadable: reported when the tensor is used */ }
  }
}

/**
 * Save a model: `.onnx` (optionally with external data next to it) or a `.zip` bundle. Writes are atomic:
 * every file goes to a temporary file in the same directory first, is fsync'ed, and is renamed into place
 * only when all were written (external data before the model), so a failure or a SIGINT/SIGTERM leaves no
 * half-written file behind. External data is streamed tensor by tensor, so a model larger than memory (or
 * than protobuf's 2 GiB, where external data is switched on automatically) can be written.
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
  const pending: PendingFile[] = [];
  try {
    const { zip, modelFile, ext } = planFiles(model, basename(path), options);
    if (zip) {
      for (const [name, bytes] of Object.entries(modelToFiles(model, basename(path), options))) {
        const f = new PendingFile(fs, dir + name, dir, name);
        pending.push(f);
        f.writeAt(0, bytes);
        f.close();
      }
    } else {
      let data: PendingFile | undefined;
      if (ext) keepSources(model, fs, dir + ext.location);
      const { model: bytes } = encodeSplit(model, ext, (offset, chunk) => {
        if (!data) pending.push(data = new PendingFile(fs, dir + ext!.location, dir, ext!.location));
        data.writeAt(offset, chunk);
      });
      checkSize(bytes, ext);
      data?.close();
      const m = new PendingFile(fs, dir + modelFile, dir, modelFile);
      pending.push(m);
      m.writeAt(0, bytes);
      m.close();
    }
    for (const p of pending) await p.commit();
  } catch (e) {
    for (const p of pending) await p.discard();
    throw new ModelIOError("save", path, message(e), { cause: e });
  }
  return pending.map((p) => p.final);
}
