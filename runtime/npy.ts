/**
 * numpy `.npy` and `.npz` files <-> {@link Tensor}.
 *
 * Format reference: numpy's `numpy/lib/format.py` ("NEP 1"): the magic `\x93NUMPY`, a major/minor version,
 * a little-endian header length (uint16 for version 1, uint32 for versions 2 and 3), then an ASCII (v1, v2)
 * or UTF-8 (v3) Python dict literal with the keys `descr`, `fortran_order` and `shape`, padded so that the
 * data starts on a 64-byte boundary. `.npz` is a zip archive of `.npy` members (stored or deflated).
 * Only C-ordered arrays of plain numeric dtypes are supported; anything else is rejected with a SyntaxError
 * that names the problem.
 * @module
 */
import { unzipSync, zipSync } from "npm:fflate@0.8.2";
import { DataType, dtypeName, makeTensor, sizeOf, type Tensor, type TypedArray } from "../onnx/tensor.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** numpy type code (kind + item size, without byte order) -> ONNX element type. */
const FROM_NUMPY: Record<string, DataType> = {
  f4: DataType.FLOAT,
  f8: DataType.DOUBLE,
  f2: DataType.FLOAT16,
  i1: DataType.INT8,
  u1: DataType.UINT8,
  i2: DataType.INT16,
  u2: DataType.UINT16,
  i4: DataType.INT32,
  u4: DataType.UINT32,
  i8: DataType.INT64,
  u8: DataType.UINT64,
  b1: DataType.BOOL,
};

const TO_NUMPY: Partial<Record<DataType, string>> = Object.fromEntries(
  Object.entries(FROM_NUMPY).map(([code, dt]) => [dt, code]),
);

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** Parse the Python dict literal of a .npy header (only what numpy writes: str, bool and int tuples). */
function parseHeaderDict(text: string): NpyHeader {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot parse .npy header ${JSON.stringify(text.trim())}: ${why}`);
  };
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  if (descr === undefined) fail("no 'descr' string (structured dtypes are not supported)");
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  if (fortran === undefined) fail("no 'fortran_order' True/False");
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (shapeText === undefined) fail("no 'shape' tuple");
  const shape: number[] = [];
  for (const part of shapeText!.split(",")) {
    const s = part.trim().replace(/L$/, ""); // Python 2 longs
    if (s === "") continue;
    if (!/^\d+$/.test(s)) fail(`shape entry ${JSON.stringify(s)} is not a non-negative integer`);
    shape.push(Number(s));
  }
  return { descr: descr!, fortranOrder: fortran === "True", shape };
}

/**
 * Decode a `.npy` file.
 *
 * Big-endian data is byte-swapped to native (little-endian) order; the returned tensor owns a copy of the
 * data, aligned for its typed array.
 *
 * @param bytes the whole `.npy` file
 * @returns the array as a tensor (`float16` keeps its raw bits in a Uint16Array, `bool` is a Uint8Array)
 * @throws {SyntaxError} for a bad magic, an unknown version, an unparsable header, a dtype numpy calls
 *   something other than f2/f4/f8/i1/u1/i2/u2/i4/u4/i8/u8/b1, Fortran order, or too few data bytes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 * const t = decodeNpy(encodeNpy(makeTensor(DataType.INT16, [2, 2], new Int16Array([1, -2, 3, -4]))));
 * assertEquals(t.dims, [2, 2]);
 * assertEquals(Array.from(t.data as Int16Array), [1, -2, 3, -4]);
 * ```
 */
export function decodeNpy(bytes: Uint8Array): Tensor {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new SyntaxError(`Cannot decode .npy: missing "\\x93NUMPY" magic (file has ${bytes.length} bytes)`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) {
      throw new SyntaxError(`Cannot decode .npy v${major}: file has ${bytes.length} bytes`);
    }
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new SyntaxError(`Cannot decode .npy: format version ${major}.${bytes[7]} is not 1.x, 2.x or 3.x`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    throw new SyntaxError(`Cannot decode .npy: header claims ${headerLen} bytes, file has ${bytes.length}`);
  }
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, dataStart),
  );
  const header = parseHeaderDict(text);
  if (header.fortranOrder) {
    throw new SyntaxError(
      `Cannot decode .npy of shape (${header.shape.join(",")}): Fortran order is not supported ` +
        `(save it with np.ascontiguousarray)`,
    );
  }
  const m = /^([<>|=])?([a-z])(\d+)$/.exec(header.descr);
  const dtype = m ? FROM_NUMPY[`${m[2]}${m[3]}`] : undefined;
  if (!m || dtype === undefined) {
    throw new SyntaxError(`Cannot decode .npy: dtype '${header.descr}' is not supported`);
  }
  const itemSize = Number(m[3]);
  const bigEndian = m[1] === ">" && itemSize > 1;
  const n = sizeOf(header.shape);
  const nbytes = n * itemSize;
  if (dataStart + nbytes > bytes.length) {
    throw new SyntaxError(
      `Cannot decode .npy of shape (${header.shape.join(",")}) '${header.descr}': ` +
        `data has ${bytes.length - dataStart} bytes, expected ${nbytes}`,
    );
  }
  const raw = bytes.slice(dataStart, dataStart + nbytes); // copy: aligned, owned
  if (bigEndian) {
    for (let i = 0; i < nbytes; i += itemSize) raw.subarray(i, i + itemSize).reverse();
  }
  const t = makeTensor(dtype, header.shape);
  new Uint8Array((t.data as TypedArray).buffer, 0, nbytes).set(raw);
  return t;
}

function typedData(t: Tensor): TypedArray {
  if (Array.isArray(t.data)) throw new TypeError(`Cannot encode a ${dtypeName(t.dtype)} tensor as .npy`);
  return t.data as TypedArray;
}

/**
 * Encode a tensor as a `.npy` file (version 1.0 unless the header needs 2.0; little-endian, C order).
 *
 * @param tensor a tensor of a dtype numpy can hold (float16/32/64, (u)int8..64, bool)
 * @returns the file bytes
 * @throws {TypeError} for an element type with no numpy equivalent (strings, int4, bfloat16, ...)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { encodeNpy } from "./npy.ts";
 * const bytes = encodeNpy(makeTensor(DataType.FLOAT, [3]));
 * assertEquals(bytes.length % 64, 12 % 64); // 64-byte aligned header + 3 * 4 data bytes
 * ```
 */
export function encodeNpy(tensor: Tensor): Uint8Array {
  const code = TO_NUMPY[tensor.dtype];
  if (code === undefined) {
    throw new TypeError(`Cannot encode a ${dtypeName(tensor.dtype)} tensor as .npy: numpy has no such dtype`);
  }
  const data = typedData(tensor);
  const order = code[1] === "1" ? "|" : "<";
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(", ")})`;
  let dict = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': ${shape}, }`;
  let prefix = 10;
  if (dict.length + 1 + prefix > 0xffff) prefix = 12;
  const pad = (64 - ((prefix + dict.length + 1) % 64)) % 64;
  dict = dict + " ".repeat(pad) + "\n";
  const dataBytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(prefix + dict.length + dataBytes.length);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out.set(dataBytes, prefix + dict.length);
  return out;
}

/**
 * Decode a `.npz` archive (`np.savez` or `np.savez_compressed`): each `NAME.npy` member becomes entry `NAME`.
 *
 * @param bytes the whole `.npz` file
 * @returns the arrays by name, in archive order
 * @throws {SyntaxError} when the bytes are not a zip archive or a member is not a valid `.npy`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { decodeNpz, encodeNpz } from "./npy.ts";
 * const arrays = new Map([["x", makeTensor(DataType.UINT8, [4], new Uint8Array([1, 2, 3, 4]))]]);
 * const back = decodeNpz(encodeNpz(arrays, { compress: true }));
 * assertEquals([...back.keys()], ["x"]);
 * assertEquals(Array.from(back.get("x")!.data as Uint8Array), [1, 2, 3, 4]);
 * ```
 */
export function decodeNpz(bytes: Uint8Array): Map<string, Tensor> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new SyntaxError(`Cannot decode .npz (${bytes.length} bytes): not a zip archive`, { cause: e });
  }
  const out = new Map<string, Tensor>();
  for (const [name, member] of Object.entries(files)) {
    if (name.endsWith("/")) continue; // directory entries
    const key = name.endsWith(".npy") ? name.slice(0, -4) : name;
    try {
      out.set(key, decodeNpy(member));
    } catch (e) {
      if (e instanceof SyntaxError) {
        throw new SyntaxError(`In .npz member "${name}": ${e.message}`, { cause: e });
      }
      throw e;
    }
  }
  return out;
}

/** Options of {@link encodeNpz}. */
export interface EncodeNpzOptions {
  /** Deflate the members, as `np.savez_compressed` does. @default false */
  compress?: boolean;
}

/**
 * Encode named tensors as a `.npz` archive that `np.load` reads.
 *
 * @param arrays tensors by name (each stored as `NAME.npy`)
 * @param options see {@link EncodeNpzOptions}
 * @returns the archive bytes
 * @throws {TypeError} for a tensor numpy cannot hold
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { encodeNpz } from "./npy.ts";
 * const zip = encodeNpz(new Map([["a", makeTensor(DataType.FLOAT, [2])]]));
 * assertEquals([zip[0], zip[1]], [0x50, 0x4b]); // "PK"
 * ```
 */
export function encodeNpz(arrays: ReadonlyMap<string, Tensor>, options: EncodeNpzOptions = {}): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [name, t] of arrays) files[`${name}.npy`] = encodeNpy(t);
  return zipSync(files, { level: options.compress ? 6 : 0 });
}
