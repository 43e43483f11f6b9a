/**
 * Protocol-buffers wire format, schema-driven, lossless. Decoding keeps every field it does not know
 * (raw bytes, re-emitted verbatim), remembers packed/unpacked encodings that differ from the schema default,
 * and returns `bytes` fields as zero-copy subarrays of the input. Encoding writes known fields in field-number
 * order followed by unknown fields, which is what protobuf's C++ serializer (and so every ONNX exporter)
 * produces: an untouched message re-encodes to the same bytes.
 *
 * The ONNX schema itself lives in proto_schema.ts; this file knows nothing about ONNX.
 * @module
 */

/** Scalar and message field kinds. */
export type FieldKind =
  | "int32"
  | "int64"
  | "uint64"
  | "enum"
  | "float"
  | "double"
  | "string"
  | "bytes"
  | "message";

/** One field of a message schema. */
export interface FieldDesc {
  readonly no: number;
  readonly name: string;
  readonly kind: FieldKind;
  readonly repeated?: boolean;
  /** Default encoding of a repeated scalar (proto2 `[packed = true]`). */
  readonly packed?: boolean;
  /** Schema of a message field (a thunk, so schemas can be recursive). */
  readonly msg?: () => MessageDesc;
}

/** A message schema. */
export interface MessageDesc {
  readonly name: string;
  readonly fields: readonly FieldDesc[];
}

/** A decoded message: field name -> value, plus what is needed to re-encode it byte for byte. */
export interface Message {
  /** Decoded fields by schema name. */
  [field: string]: unknown;
  /** Fields not in the schema (or with an unexpected wire type): raw key + payload bytes, in input order. */
  $unknown?: Uint8Array[];
  /** Field numbers of repeated scalars whose encoding differs from the schema default. */
  $flip?: number[];
}

/** A protobuf decode failure, with the byte offset and the message path where it happened. */
export class ProtoDecodeError extends SyntaxError {
  /**
   * Create the error.
   * @param message what failed
   * @param offset byte offset in the input
   * @param path message path, e.g. `ModelProto.graph.node[3]`
   */
  constructor(
    message: string,
    /** Byte offset in the input. */
    readonly offset: number,
    /** Message path of the failure, e.g. `ModelProto.graph.node[3]`. */
    readonly path: string,
  ) {
    super(`${message} at byte ${offset} (in ${path})`);
    this.name = "ProtoDecodeError";
  }
}

interface Compiled {
  desc: MessageDesc;
  byNo: Map<number, FieldDesc>;
  sorted: FieldDesc[];
}
const compiled = new WeakMap<MessageDesc, Compiled>();
function compile(desc: MessageDesc): Compiled {
  let c = compiled.get(desc);
  if (!c) {
    c = {
      desc,
      byNo: new Map(desc.fields.map((f) => [f.no, f])),
      sorted: [...desc.fields].sort((a, b) => a.no - b.no),
    };
    compiled.set(desc, c);
  }
  return c;
}

function wireTypeOf(kind: FieldKind): number {
  switch (kind) {
    case "float":
      return 5;
    case "double":
      return 1;
    case "string":
    case "bytes":
    case "message":
      return 2;
    default:
      return 0;
  }
}

const TWO32 = 4294967296;
const utf8d = new TextDecoder("utf-8", { fatal: false });
const utf8e = new TextEncoder();

/** UTF-8 byte length of a string; an ASCII string (every name in practice) is measured without encoding it. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return utf8e.encode(s).length;
  return s.length;
}

class Reader {
  pos: number;
  readonly view: DataView;
  constructor(readonly buf: Uint8Array, start: number, public end: number, public path: string) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  fail(msg: string, at = this.pos): never {
    throw new ProtoDecodeError(msg, at, this.path);
  }
  /** Reads a varint as [lo, hi] unsigned 32-bit halves. */
  varint64(): [number, number] {
    const buf = this.buf;
    let lo = 0, hi = 0, shift = 0, i = 0;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) this.fail("truncated varint", start);
      const b = buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << shift;
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) break;
      shift += 7;
      if (++i >= 10) this.fail("varint longer than 10 bytes", start);
    }
    return [lo >>> 0, hi >>> 0];
  }
  uint32(): number {
    const buf = this.buf;
    const p = this.pos;
    if (p < this.end && buf[p]! < 0x80) {
      this.pos++;
      return buf[p]!;
    }
    const [lo, hi] = this.varint64();
    if (hi !== 0) this.fail("length or tag does not fit in 32 bits");
    return lo;
  }
  int64(): number | bigint {
    const [lo, hi] = this.varint64();
    if (hi & 0x80000000) {
      const v = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
      return v >= -9007199254740991n ? Number(v) : v;
    }
    if (hi < 0x200000) return hi * TWO32 + lo;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  uint64(): number | bigint {
    const [lo, hi] = this.varint64();
    if (hi < 0x200000) return hi * TWO32 + lo;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  int32(): number {
    return this.varint64()[0] | 0;
  }
  need(n: number): number {
    const p = this.pos;
    if (n < 0 || p + n > this.end) this.fail(`truncated field: needs ${n} bytes, ${this.end - p} left`);
    this.pos += n;
    return p;
  }
  bytes(): Uint8Array {
    const n = this.uint32();
    const p = this.need(n);
    return this.buf.subarray(p, p + n);
  }
  skipField(wt: number): void {
    switch (wt) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.need(8);
        return;
      case 2:
        this.need(this.uint32());
        return;
      case 5:
        this.need(4);
        return;
      default:
        this.fail(`unsupported wire type ${wt}`);
    }
  }
}

function readScalar(r: Reader, kind: FieldKind): unknown {
  switch (kind) {
    case "int32":
    case "enum":
      return r.int32();
    case "int64":
      return r.int64();
    case "uint64":
      return r.uint64();
    case "float":
      return r.view.getFloat32(r.need(4), true);
    case "double":
      return r.view.getFloat64(r.need(8), true);
    default:
      throw new TypeError(`not a scalar kind: ${kind}`);
  }
}

function readPacked(r: Reader, f: FieldDesc): unknown[] | Float32Array | Float64Array | Int32Array {
  const n = r.uint32();
  const start = r.need(n);
  const end = start + n;
  if (f.kind === "float" || f.kind === "double") {
    const size = f.kind === "float" ? 4 : 8;
    if (n % size !== 0) {
      r.fail(`packed ${f.kind} field "${f.name}" has ${n} bytes, not a multiple of ${size}`, start);
    }
    const abs = r.buf.byteOffset + start;
    const count = n / size;
    if (f.kind === "float") {
      if (abs % 4 === 0) return new Float32Array(r.buf.buffer, abs, count);
      return new Float32Array(r.buf.slice(start, end).buffer);
    }
    if (abs % 8 === 0) return new Float64Array(r.buf.buffer, abs, count);
    return new Float64Array(r.buf.slice(start, end).buffer);
  }
  const sub = new Reader(r.buf, start, end, r.path);
  const out: unknown[] = [];
  while (sub.pos < end) out.push(readScalar(sub, f.kind));
  if (f.kind === "int32" || f.kind === "enum") return Int32Array.from(out as number[]);
  return out;
}

/**
 * Decode a message from `buf[start, end)`.
 *
 * @param buf input bytes (kept alive: bytes fields are views into it)
 * @param desc the message schema
 * @returns the decoded message
 * @throws {ProtoDecodeError} on malformed input, naming the byte offset and the message path
 */
export function decodeMessage(buf: Uint8Array, desc: MessageDesc, start = 0, end = buf.length): Message {
  return decodeAt(new Reader(buf, start, end, desc.name), desc);
}

function decodeAt(r: Reader, desc: MessageDesc): Message {
  const c = compile(desc);
  const msg: Message = {};
  const counts = new Map<number, number>();
  while (r.pos < r.end) {
    const keyStart = r.pos;
    const key = r.uint32();
    const no = key >>> 3, wt = key & 7;
    if (no === 0) r.fail("invalid field number 0", keyStart);
    const f = c.byNo.get(no);
    const expected = f ? wireTypeOf(f.kind) : -1;
    const packedForm = f?.repeated && wt === 2 && expected !== 2;
    if (!f || (wt !== expected && !packedForm)) {
      r.skipField(wt);
      (msg.$unknown ??= []).push(r.buf.subarray(keyStart, r.pos));
      continue;
    }
    let value: unknown;
    if (f.kind === "message") {
      const n = r.uint32();
      const p = r.need(n);
      const idx = counts.get(no) ?? 0;
      counts.set(no, idx + 1);
      const sub = new Reader(r.buf, p, p + n, `${r.path}.${f.name}${f.repeated ? `[${idx}]` : ""}`);
      value = decodeAt(sub, f.msg!());
    } else if (f.kind === "string") value = utf8d.decode(r.bytes());
    else if (f.kind === "bytes") value = r.bytes();
    else if (packedForm) {
      const arr = readPacked(r, f);
      if (!f.packed) markFlip(msg, no);
      const prev = msg[f.name];
      msg[f.name] = prev === undefined ? arr : concatRepeated(prev as ArrayLike<unknown>, arr);
      continue;
    } else {
      value = readScalar(r, f.kind);
      if (f.repeated && f.packed) markFlip(msg, no);
    }
    if (f.repeated) {
      const prev = msg[f.name];
      if (prev === undefined) msg[f.name] = [value];
      else if (Array.isArray(prev)) prev.push(value);
      else msg[f.name] = [...Array.from(prev as ArrayLike<unknown>), value];
    } else msg[f.name] = value;
  }
  if (r.pos !== r.end) r.fail("field runs past the end of its message");
  return msg;
}

function markFlip(msg: Message, no: number): void {
  const flips = (msg.$flip ??= []);
  if (!flips.includes(no)) flips.push(no);
}

function concatRepeated(a: ArrayLike<unknown>, b: ArrayLike<unknown>): unknown[] {
  return [...Array.from(a), ...Array.from(b)];
}

// ---------------------------------------------------------------------------------------------- encoding

function varintSize(v: number | bigint): number {
  if (typeof v === "number") {
    if (v < 0) return 10;
    if (v < 128) return 1;
    let n = 1;
    while (v >= 128) {
      v = Math.floor(v / 128);
      n++;
    }
    return n;
  }
  let u = BigInt.asUintN(64, v);
  let n = 1;
  while (u >= 128n) {
    u >>= 7n;
    n++;
  }
  return n;
}

function scalarSize(kind: FieldKind, v: unknown): number {
  switch (kind) {
    case "float":
      return 4;
    case "double":
      return 8;
    default:
      return varintSize(v as number | bigint);
  }
}

class Writer {
  pos = 0;
  readonly view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  varint(v: number | bigint): void {
    const buf = this.buf;
    if (typeof v === "number" && v >= 0 && v < 0x80000000) {
      while (v >= 128) {
        buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    if (typeof v === "number" && v >= 0) {
      while (v >= 128) {
        buf[this.pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      buf[this.pos++] = v;
      return;
    }
    let u = BigInt.asUintN(64, BigInt(v));
    while (u >= 128n) {
      buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    buf[this.pos++] = Number(u);
  }
  scalar(kind: FieldKind, v: unknown): void {
    if (kind === "float") {
      this.view.setFloat32(this.pos, v as number, true);
      this.pos += 4;
    } else if (kind === "double") {
      this.view.setFloat64(this.pos, v as number, true);
      this.pos += 8;
    } else this.varint(v as number | bigint);
  }
  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Length-prefixed UTF-8 (ASCII copied code unit by code unit: no encoder call per name). */
  string(s: string): void {
    const n = utf8Length(s);
    this.varint(n);
    if (n !== s.length) return this.raw(utf8e.encode(s));
    const buf = this.buf;
    for (let i = 0; i < n; i++) buf[this.pos + i] = s.charCodeAt(i);
    this.pos += n;
  }
}

type SizeCache = Map<object, number>;

function isPacked(msg: Message, f: FieldDesc): boolean {
  const flipped = msg.$flip?.includes(f.no) ?? false;
  return (f.packed ?? false) !== flipped;
}

function asList(v: unknown): ArrayLike<unknown> {
  return v as ArrayLike<unknown>;
}

function packedBodySize(f: FieldDesc, list: ArrayLike<unknown>): number {
  if (f.kind === "float") return 4 * list.length;
  if (f.kind === "double") return 8 * list.length;
  let n = 0;
  for (let i = 0; i < list.length; i++) n += scalarSize(f.kind, list[i]);
  return n;
}

function messageSize(msg: Message, desc: MessageDesc, cache: SizeCache): number {
  const cached = cache.get(msg);
  if (cached !== undefined) return cached;
  const c = compile(desc);
  let size = 0;
  for (const f of c.sorted) {
    const v = msg[f.name];
    if (v === undefined || v === null) continue;
    const keySize = varintSize((f.no << 3) >>> 0);
    const items = f.repeated ? asList(v) : [v];
    if (f.repeated && items.length === 0) continue;
    if (f.repeated && f.kind !== "string" && f.kind !== "bytes" && f.kind !== "message" && isPacked(msg, f)) {
      const body = packedBodySize(f, items);
      size += keySize + varintSize(body) + body;
      continue;
    }
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      size += keySize;
      if (f.kind === "message") {
        const n = messageSize(item as Message, f.msg!(), cache);
        size += varintSize(n) + n;
      } else if (f.kind === "string") {
        const n = utf8Length(item as string);
        size += varintSize(n) + n;
      } else if (f.kind === "bytes") {
        const n = (item as Uint8Array).length;
        size += varintSize(n) + n;
      } else size += scalarSize(f.kind, item);
    }
  }
  for (const u of msg.$unknown ?? []) size += u.length;
  cache.set(msg, size);
  return size;
}

function writeMessage(w: Writer, msg: Message, desc: MessageDesc, cache: SizeCache): void {
  const c = compile(desc);
  for (const f of c.sorted) {
    const v = msg[f.name];
    if (v === undefined || v === null) continue;
    const items = f.repeated ? asList(v) : [v];
    if (f.repeated && items.length === 0) continue;
    const wt = wireTypeOf(f.kind);
    if (f.repeated && wt !== 2 && isPacked(msg, f)) {
      w.varint(((f.no << 3) | 2) >>> 0);
      w.varint(packedBodySize(f, items));
      for (let i = 0; i < items.length; i++) w.scalar(f.kind, items[i]);
      continue;
    }
    const key = ((f.no << 3) | wt) >>> 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      w.varint(key);
      if (f.kind === "message") {
        w.varint(messageSize(item as Message, f.msg!(), cache));
        writeMessage(w, item as Message, f.msg!(), cache);
      } else if (f.kind === "string") {
        w.string(item as string);
      } else if (f.kind === "bytes") {
        w.varint((item as Uint8Array).length);
        w.raw(item as Uint8Array);
      } else w.scalar(f.kind, item);
    }
  }
  for (const u of msg.$unknown ?? []) w.raw(u);
}

/**
 * Encode a message.
 *
 * @param msg the message (as produced by {@link decodeMessage}, or built by hand with the schema's field names)
 * @param desc its schema
 * @returns the encoded bytes
 */
export function encodeMessage(msg: Message, desc: MessageDesc): Uint8Array {
  const cache: SizeCache = new Map();
  const size = messageSize(msg, desc, cache);
  const w = new Writer(new Uint8Array(size));
  writeMessage(w, msg, desc, cache);
  if (w.pos !== size) throw new Error(`internal: encoded ${w.pos} bytes, sized ${size}`);
  return w.buf;
}

/** Encoded size of a message in bytes (without encoding it). */
export function encodedSize(msg: Message, desc: MessageDesc): number {
  return messageSize(msg, desc, new Map());
}
