/**
 * TensorProto <-> {@link Tensor}. Tensor data stored in raw_data is viewed, not copied, whenever the
 * typed array's alignment allows; data in the typed fields (float_data, int32_data, ...) is converted as the
 * ONNX spec defines for each element type. External data is resolved through a caller-supplied reader.
 * @module
 */
import type { Message } from "./wire.ts";
import { DataType, dtypeInfo, dtypeName, type Tensor, type TypedArray } from "./tensor.ts";

/** Reads `length` bytes at `offset` of an external-data file named by `location` (relative to the model). */
export type ExternalReader = (location: string, offset: number, length: number | undefined) => Uint8Array;

/** A tensor that could not be decoded; names the tensor and the problem. */
export class TensorDecodeError extends RangeError {
  /** @param tensor tensor name; @param detail what is wrong */
  constructor(readonly tensor: string, detail: string) {
    super(`Cannot decode tensor "${tensor}": ${detail}`);
    this.name = "TensorDecodeError";
  }
}

function num(v: unknown): number {
  return typeof v === "bigint" ? Number(v) : (v as number);
}

/** Dims of a TensorProto as numbers. */
export function protoDims(p: Message): number[] {
  return ((p.dims as unknown[] | undefined) ?? []).map(num);
}

/** Element count of `dims`, or a TensorDecodeError naming the bad dimension (negative, fractional, > 2^53). */
function checkedCount(p: Message, name: string): number {
  const raw = (p.dims as unknown[] | undefined) ?? [];
  let n = 1;
  raw.forEach((d, i) => {
    const ok = typeof d === "bigint"
      ? d >= 0n && d <= BigInt(Number.MAX_SAFE_INTEGER)
      : Number.isSafeInteger(d) && (d as number) >= 0;
    if (!ok) {
      throw new TensorDecodeError(
        name,
        `dims [${raw.map(String).join(", ")}]: dimension ${i} is ${String(d)}; dimensions are integers >= 0`,
      );
    }
    n *= Number(d);
  });
  if (!Number.isSafeInteger(n)) {
    throw new TensorDecodeError(
      name,
      `dims [${raw.map(String).join(", ")}] give ${n} elements, more than 2^53`,
    );
  }
  return n;
}

/** Bytes the data of `n` elements of `dtype` takes (raw_data / external data), or undefined if unknown. */
export function dataByteLength(dtype: number, n: number): number | undefined {
  const bits = dtype === DataType.STRING ? 0 : (dtypeInfoOrUndefined(dtype)?.bits ?? 0);
  if (bits === 0) return undefined;
  return bits === 4 ? Math.ceil(n / 2) : n * bits / 8;
}

function dtypeInfoOrUndefined(dtype: number) {
  try {
    return dtypeInfo(dtype);
  } catch {
    return undefined;
  }
}

/**
 * Check a TensorProto's dims against the data it carries, without decoding it: every dimension an integer
 * >= 0, and raw_data / the typed field / string_data holding exactly the elements the dims declare. (External
 * data is checked against its file by the loader, which knows the file's size.)
 *
 * @param p the decoded TensorProto message
 * @returns the declared size in bytes of its data (undefined for strings and element types without a size)
 * @throws {TensorDecodeError} naming the tensor, the field and both sizes
 */
export function checkTensorProto(p: Message): number | undefined {
  const name = String(p.name ?? "");
  const n = checkedCount(p, name);
  const dtype = (p.data_type as number | undefined) ?? 0;
  if (dtype === DataType.STRING) {
    const got = (p.string_data as unknown[] | undefined)?.length ?? 0;
    if (got !== n) throw new TensorDecodeError(name, `string_data has ${got} entries, dims declare ${n}`);
    return undefined;
  }
  const bytes = dataByteLength(dtype, n);
  if (bytes === undefined || isExternal(p)) return bytes;
  if (p.raw_data !== undefined) {
    const got = (p.raw_data as Uint8Array).length;
    if (got !== bytes) throw new TensorDecodeError(name, `raw_data has ${got} bytes, dims declare ${bytes}`);
    return bytes;
  }
  const field = typedField(dtype);
  const got = (p[field] as ArrayLike<unknown> | undefined)?.length ?? 0;
  const count = dtypeInfo(dtype).bits === 4 ? Math.ceil(n / 2) : n;
  if (got !== count && n > 0) {
    throw new TensorDecodeError(name, `${field} has ${got} entries, dims declare ${count}`);
  }
  return bytes;
}

/** True if a TensorProto keeps its data in an external file. */
export function isExternal(p: Message): boolean {
  return p.data_location === 1 ||
    ((p.external_data as unknown[] | undefined)?.length ?? 0) > 0 && p.raw_data === undefined;
}

/** External-data entries of a TensorProto as a map. */
export function externalInfo(p: Message): { location: string; offset: number; length: number | undefined } {
  const kv = new Map<string, string>();
  for (const e of (p.external_data as Message[] | undefined) ?? []) {
    kv.set(e.key as string, e.value as string);
  }
  const location = kv.get("location");
  if (!location) throw new TensorDecodeError(String(p.name ?? ""), "external data has no location");
  const int = (key: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const v = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v)) {
      throw new TensorDecodeError(String(p.name ?? ""), `external data ${key} "${text}" is not a byte count`);
    }
    return v;
  };
  return { location, offset: int("offset", kv.get("offset")) ?? 0, length: int("length", kv.get("length")) };
}

function viewOf(bytes: Uint8Array, dtype: DataType, n: number, name: string): TypedArray {
  const info = dtypeInfo(dtype);
  const ctor = info.array;
  if (!ctor) throw new TensorDecodeError(name, `element type ${info.name} is not supported`);
  if (info.bits === 4) {
    const need = Math.ceil(n / 2);
    if (bytes.length !== need) {
      throw new TensorDecodeError(name, `raw_data has ${bytes.length} bytes, expected ${need}`);
    }
    const out = new ctor(n);
    const signed = dtype === DataType.INT4;
    for (let i = 0; i < n; i++) {
      const b = bytes[i >> 1]!;
      let v = (i & 1) ? b >> 4 : b & 15;
      if (signed && v >= 8) v -= 16;
      out[i] = v;
    }
    return out;
  }
  const size = info.bits / 8;
  if (bytes.length !== n * size) {
    throw new TensorDecodeError(name, `raw_data has ${bytes.length} bytes, expected ${n * size}`);
  }
  if ((bytes.byteOffset % size) === 0) return new ctor(bytes.buffer, bytes.byteOffset, n);
  return new ctor(bytes.slice().buffer, 0, n);
}

/**
 * Decode a TensorProto into a Tensor.
 *
 * @param p the decoded TensorProto message
 * @param readExternal resolves external data; required when the tensor is external
 * @returns the tensor (a view over raw_data where alignment allows)
 * @throws {TensorDecodeError} for a size mismatch, an unsupported element type or missing external data
 */
export function tensorFromProto(p: Message, readExternal?: ExternalReader): Tensor {
  const name = String(p.name ?? "");
  const dtype = (p.data_type as number | undefined) ?? 0;
  const n = checkedCount(p, name);
  const dims = protoDims(p);
  if (dtype === DataType.UNDEFINED) throw new TensorDecodeError(name, "data_type is UNDEFINED");
  if (!dtypeInfo(dtype).array && dtype !== DataType.STRING) {
    throw new TensorDecodeError(name, `element type ${dtypeName(dtype)} is not supported`);
  }
  if (dtype === DataType.STRING) {
    const dec = new TextDecoder();
    const s = ((p.string_data as Uint8Array[] | undefined) ?? []).map((b) => dec.decode(b));
    if (s.length !== n) {
      throw new TensorDecodeError(name, `string_data has ${s.length} entries, expected ${n}`);
    }
    return { dtype, dims, data: s };
  }
  if (isExternal(p)) {
    if (!readExternal) {
      throw new TensorDecodeError(name, "tensor data is external but no external-data reader was given");
    }
    const { location, offset, length } = externalInfo(p);
    const info = dtypeInfo(dtype);
    const expected = info.bits === 4 ? Math.ceil(n / 2) : n * info.bits / 8;
    const bytes = readExternal(location, offset, length ?? expected);
    return { dtype, dims, data: viewOf(bytes, dtype, n, name) };
  }
  if (p.raw_data !== undefined) {
    return { dtype, dims, data: viewOf(p.raw_data as Uint8Array, dtype, n, name) };
  }
  const info = dtypeInfo(dtype);
  const ctor = info.array!;
  const out = new ctor(n);
  const field = typedField(dtype);
  const src = (p[field] as ArrayLike<number | bigint> | undefined) ?? [];
  const count = info.bits === 4 ? Math.ceil(n / 2) : n;
  if (src.length !== count && n > 0) {
    throw new TensorDecodeError(name, `${field} has ${src.length} entries, expected ${count}`);
  }
  if (info.bits === 4) {
    const signed = dtype === DataType.INT4;
    for (let i = 0; i < n; i++) {
      const b = Number(src[i >> 1]!);
      let v = (i & 1) ? (b >> 4) & 15 : b & 15;
      if (signed && v >= 8) v -= 16;
      out[i] = v;
    }
  } else if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) (out as BigInt64Array)[i] = BigInt(src[i]!);
  } else if (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16) {
    for (let i = 0; i < n; i++) out[i] = Number(src[i]!) & 0xffff;
  } else {
    for (let i = 0; i < n; i++) (out as Float32Array)[i] = Number(src[i]!);
  }
  return { dtype, dims, data: out };
}

/** The typed TensorProto field that holds elements of `dtype` when raw_data is not used (ONNX spec). */
export function typedField(dtype: DataType): string {
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      return "float_data";
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      return "double_data";
    case DataType.INT64:
      return "int64_data";
    case DataType.UINT32:
    case DataType.UINT64:
      return "uint64_data";
    case DataType.STRING:
      return "string_data";
    default:
      return "int32_data";
  }
}

/** Raw little-endian bytes of a tensor's data (INT4/UINT4 packed two per byte, low nibble first). */
export function tensorBytes(t: Tensor): Uint8Array {
  if (Array.isArray(t.data)) throw new TypeError("string tensors have no raw bytes");
  const info = dtypeInfo(t.dtype);
  const data = t.data as TypedArray;
  if (info.bits === 4) {
    const out = new Uint8Array(Math.ceil(data.length / 2));
    for (let i = 0; i < data.length; i++) {
      const v = Number(data[i]) & 15;
      out[i >> 1]! |= (i & 1) ? v << 4 : v;
    }
    return out;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Encode a Tensor as a TensorProto message (data in raw_data; strings in string_data).
 *
 * @param t the tensor
 * @param name tensor name
 * @returns a TensorProto message for wire.ts
 */
export function tensorToProto(t: Tensor, name?: string): Message {
  const m: Message = { dims: [...t.dims], data_type: t.dtype };
  if (name !== undefined) m.name = name;
  if (t.dtype === DataType.STRING) {
    const enc = new TextEncoder();
    m.string_data = (t.data as string[]).map((s) => enc.encode(s));
  } else m.raw_data = tensorBytes(t);
  return m;
}
