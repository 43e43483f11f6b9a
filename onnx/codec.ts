/**
 * ModelProto <-> IR, at the boundary only. Lossless: fields the IR does not model are kept in `extra`, and
 * untouched parts (initializers, attributes, value infos) re-emit their original protobuf messages, so an
 * unmodified model re-encodes to the same bytes.
 * @module
 */
import { type Attribute, AttrType } from "./attributes.ts";
import { type Dim, type FunctionDef, Graph, Model, Node, type TensorType, Value } from "./ir.ts";
import {
  AttributeProtoDesc,
  FunctionProtoDesc,
  ModelProtoDesc,
  TensorProtoDesc,
  ValueInfoProtoDesc,
} from "./proto_schema.ts";
import {
  checkTensorProto,
  dataByteLength,
  type ExternalReader,
  isExternal,
  protoDims,
  tensorFromProto,
  tensorToProto,
} from "./tensor_proto.ts";
import type { Tensor } from "./tensor.ts";
import { decodeMessage, encodeMessage, type Message, ProtoDecodeError } from "./wire.ts";

/** The input is not an ONNX model (it decodes, but lacks what every model has). */
export class NotOnnxError extends SyntaxError {
  /**
   * Create the error.
   * @param detail why
   */
  constructor(detail: string) {
    super(`Not an ONNX model: ${detail}`);
    this.name = "NotOnnxError";
  }
}

/** Options for {@link decodeModel}. */
export interface DecodeOptions {
  /** Resolves external tensor data (location relative to the model file). */
  readExternal?: ExternalReader;
}

type Ctx = { readExternal: ExternalReader | undefined };

function num(v: unknown): number {
  return typeof v === "bigint" ? Number(v) : (v as number);
}

/** Pick the listed keys out of a message; returns undefined when none is present. */
function rest(m: Message, modelled: readonly string[]): Message | undefined {
  const out: Message = {};
  let any = false;
  for (const k of Object.keys(m)) {
    if (!modelled.includes(k)) {
      out[k] = m[k];
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Records which of the listed optional fields were absent, so re-encoding omits them again. */
function absent(m: Message, fields: readonly string[]): string[] | undefined {
  const a = fields.filter((f) => m[f] === undefined);
  return a.length ? a : undefined;
}

// ------------------------------------------------------------------------------------------- types

/** Parse a TypeProto into a tensor type (undefined for non-tensor types). */
export function parseType(t: Message | undefined): TensorType | undefined {
  const tt = t?.tensor_type as Message | undefined;
  if (!tt) return undefined;
  const shape = tt.shape as Message | undefined;
  const out: TensorType = { elemType: (tt.elem_type as number | undefined) ?? 0 };
  if (shape) {
    out.shape = ((shape.dim as Message[] | undefined) ?? []).map((d): Dim =>
      d.dim_value !== undefined
        ? num(d.dim_value)
        : d.dim_param !== undefined
        ? (d.dim_param as string)
        : null
    );
  }
  return out;
}

function typeToProto(t: TensorType): Message {
  const tt: Message = { elem_type: t.elemType };
  if (t.shape) {
    tt.shape = {
      dim: t.shape.map((d) =>
        typeof d === "number" ? { dim_value: d } : typeof d === "string" ? { dim_param: d } : {}
      ),
    };
  }
  return { tensor_type: tt };
}

function sameType(a: TensorType | undefined, b: TensorType | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.elemType !== b.elemType) return false;
  if (!a.shape || !b.shape) return a.shape === b.shape;
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape![i]);
}

// ------------------------------------------------------------------------------------------ decode

const infoProtos = new WeakMap<Value, Map<string, Message>>();

function applyInfo(v: Value, vi: Message, role: string): void {
  const t = parseType(vi.type as Message | undefined);
  if (t && !v.type) v.type = t;
  if (!t && vi.type) v.extra = vi.type as Message;
  let m = infoProtos.get(v);
  if (!m) infoProtos.set(v, m = new Map());
  m.set(role, vi);
}

function decodeGraph(gp: Message, parent: Graph | null, ctx: Ctx): Graph {
  const g = new Graph((gp.name as string | undefined) ?? "", parent);
  const extra = rest(gp, ["node", "name", "initializer", "input", "output", "value_info"]) ?? {};
  const abs = absent(gp, ["name"]);
  if (abs) extra.$absent = abs;
  g.extra = Object.keys(extra).length ? extra : undefined;

  for (const tp of (gp.initializer as Message[] | undefined) ?? []) {
    const name = (tp.name as string | undefined) ?? "";
    checkTensorProto(tp); // dims and data size agree (decoding itself stays lazy)
    const v = new Value(g, name);
    v.setEncodedConst(tp, (p) => tensorFromProto(p, ctx.readExternal));
    v.type = { elemType: (tp.data_type as number | undefined) ?? 0, shape: protoDims(tp) };
    g.adopt(v);
    g.initializers.push(v);
  }
  for (const vi of (gp.input as Message[] | undefined) ?? []) {
    const name = (vi.name as string | undefined) ?? "";
    let v = g.local(name);
    if (!v) {
      v = new Value(g, name);
      g.adopt(v);
    }
    applyInfo(v, vi, "input");
    g.inputs.push(v);
  }
  const pending = new Set<Value>();
  const ref = (name: string): Value | null => {
    if (name === "") return null;
    const found = g.lookup(name);
    if (found) return found;
    const v = new Value(g, name); // forward reference (file not sorted) or undefined name: verify() reports
    g.adopt(v);
    pending.add(v);
    return v;
  };
  for (const np of (gp.node as Message[] | undefined) ?? []) {
    const node = decodeNode(np, g, ctx);
    for (const name of (np.input as string[] | undefined) ?? []) node.addInput(ref(name));
    for (const name of (np.output as string[] | undefined) ?? []) {
      let v: Value;
      const local = name === "" ? undefined : g.local(name);
      if (local && pending.has(local)) {
        pending.delete(local);
        v = local;
      } else {
        v = new Value(g, name);
        if (name !== "") {
          if (local) throw new ProtoDecodeError(`value "${name}" is produced twice`, 0, `graph "${g.name}"`);
          g.adopt(v);
        }
      }
      g.attachOutput(node, v);
    }
    g.nodes.push(node);
    node.graph = g;
  }
  for (const vi of (gp.output as Message[] | undefined) ?? []) {
    const v = ref((vi.name as string | undefined) ?? "");
    if (!v) throw new ProtoDecodeError("graph output has an empty name", 0, `graph "${g.name}"`);
    applyInfo(v, vi, "output");
    g.outputs.push(v);
  }
  for (const vi of (gp.value_info as Message[] | undefined) ?? []) {
    const name = (vi.name as string | undefined) ?? "";
    const v = g.local(name) ?? ref(name);
    if (!v) continue;
    applyInfo(v, vi, "value_info");
    g.valueInfo.push(v);
  }
  return g;
}

function decodeNode(np: Message, g: Graph | null, ctx: Ctx): Node {
  const attrs = ((np.attribute as Message[] | undefined) ?? []).map((a) => decodeAttr(a, g, ctx));
  const node = new Node(
    (np.op_type as string | undefined) ?? "",
    (np.domain as string | undefined) ?? "",
    (np.name as string | undefined) ?? "",
    attrs,
  );
  const extra = rest(np, ["input", "output", "name", "op_type", "domain", "attribute"]) ?? {};
  const abs = absent(np, ["name", "domain", "op_type"]);
  if (abs) extra.$absent = abs;
  node.extra = Object.keys(extra).length ? extra : undefined;
  return node;
}

function decodeAttr(ap: Message, g: Graph | null, ctx: Ctx): Attribute {
  const type = (ap.type as number | undefined) ?? inferAttrType(ap);
  const t = (p: Message) => tensorFromProto(p, ctx.readExternal);
  let value: unknown;
  switch (type) {
    case AttrType.FLOAT:
      value = (ap.f as number | undefined) ?? 0;
      break;
    case AttrType.INT:
      value = (ap.i as number | bigint | undefined) ?? 0;
      break;
    case AttrType.STRING:
      value = (ap.s as Uint8Array | undefined) ?? new Uint8Array();
      break;
    case AttrType.TENSOR:
      value = ap.t ? t(ap.t as Message) : undefined;
      break;
    case AttrType.GRAPH:
      value = ap.g ? decodeGraph(ap.g as Message, g, ctx) : undefined;
      break;
    case AttrType.FLOATS:
      value = Array.from((ap.floats as ArrayLike<number> | undefined) ?? []);
      break;
    case AttrType.INTS:
      value = Array.from((ap.ints as ArrayLike<number | bigint> | undefined) ?? []);
      break;
    case AttrType.STRINGS:
      value = (ap.strings as Uint8Array[] | undefined) ?? [];
      break;
    case AttrType.TENSORS:
      value = ((ap.tensors as Message[] | undefined) ?? []).map(t);
      break;
    case AttrType.GRAPHS:
      value = ((ap.graphs as Message[] | undefined) ?? []).map((gp) => decodeGraph(gp, g, ctx));
      break;
    default:
      value = undefined; // sparse tensors, type protos: kept in raw
  }
  const a: Attribute = {
    name: (ap.name as string | undefined) ?? "",
    type,
    value,
    raw: { proto: ap, value, type },
  };
  if (ap.ref_attr_name !== undefined) a.refAttrName = ap.ref_attr_name as string;
  return a;
}

function inferAttrType(ap: Message): AttrType {
  if (ap.ref_attr_name !== undefined) return AttrType.UNDEFINED;
  if (ap.f !== undefined) return AttrType.FLOAT;
  if (ap.i !== undefined) return AttrType.INT;
  if (ap.s !== undefined) return AttrType.STRING;
  if (ap.t !== undefined) return AttrType.TENSOR;
  if (ap.g !== undefined) return AttrType.GRAPH;
  if (ap.floats !== undefined) return AttrType.FLOATS;
  if (ap.ints !== undefined) return AttrType.INTS;
  if (ap.strings !== undefined) return AttrType.STRINGS;
  return AttrType.UNDEFINED;
}

function decodeFunction(fp: Message, ctx: Ctx): FunctionDef {
  const body = new Graph((fp.name as string | undefined) ?? "", null);
  for (const name of (fp.input as string[] | undefined) ?? []) {
    const v = new Value(body, name);
    body.adopt(v);
    body.inputs.push(v);
  }
  const gp: Message = { node: fp.node, value_info: fp.value_info };
  const inner = decodeGraphInto(body, gp, ctx);
  for (const name of (fp.output as string[] | undefined) ?? []) {
    const v = inner.lookup(name);
    if (!v) {
      throw new ProtoDecodeError(`function output "${name}" is never produced`, 0, `function ${fp.name}`);
    }
    body.outputs.push(v);
  }
  const opsets = new Map<string, number>();
  for (const o of (fp.opset_import as Message[] | undefined) ?? []) {
    opsets.set((o.domain as string | undefined) ?? "", num(o.version ?? 0));
  }
  const f: FunctionDef = {
    name: (fp.name as string | undefined) ?? "",
    domain: (fp.domain as string | undefined) ?? "",
    attributes: (fp.attribute as string[] | undefined) ?? [],
    attributeDefaults: ((fp.attribute_proto as Message[] | undefined) ?? []).map((a) =>
      decodeAttr(a, null, ctx)
    ),
    opsets,
    body,
    extra: rest(fp, [
      "name",
      "domain",
      "overload",
      "input",
      "output",
      "attribute",
      "attribute_proto",
      "node",
      "opset_import",
      "value_info",
    ]),
  };
  if (fp.overload !== undefined) f.overload = fp.overload as string;
  return f;
}

/** Decode nodes and value_info of `gp` into an existing graph (function bodies). */
function decodeGraphInto(g: Graph, gp: Message, ctx: Ctx): Graph {
  const tmp = decodeGraph({ node: gp.node, value_info: gp.value_info }, g, ctx);
  // Move nodes and values from tmp (a child scope of g) into g.
  for (const n of tmp.nodes) {
    n.graph = g;
    g.nodes.push(n);
    for (const o of n.outputs) {
      if (o.name !== "") {
        o.graph = g;
        g.adopt(o);
      }
    }
  }
  for (const v of tmp.valueInfo) {
    if (v.graph === tmp) {
      v.graph = g;
      if (!g.local(v.name)) g.adopt(v);
    }
    g.valueInfo.push(v);
  }
  return g;
}

/**
 * Decode an ONNX model.
 *
 * @param bytes the encoded ModelProto (kept alive: initializer data is viewed, not copied)
 * @param options external data reader
 * @returns the model IR
 * @throws {ProtoDecodeError} for malformed protobuf (with byte offset and message path)
 * @throws {NotOnnxError} when the bytes decode but are not a model
 */
export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Model {
  if (bytes.length === 0) throw new NotOnnxError("the input is empty");
  const mp = decodeMessage(bytes, ModelProtoDesc);
  if (mp.ir_version === undefined) throw new NotOnnxError("ir_version is missing");
  if (mp.graph === undefined && mp.functions === undefined) throw new NotOnnxError("it has no graph");
  const opsetList = (mp.opset_import as Message[] | undefined) ?? [];
  if (opsetList.length === 0 && mp.graph !== undefined) throw new NotOnnxError("it imports no opset");
  const ctx: Ctx = { readExternal: options.readExternal };
  const model = new Model(mp.graph ? decodeGraph(mp.graph as Message, null, ctx) : new Graph("main"));
  model.irVersion = mp.ir_version as number | bigint;
  for (const o of opsetList) model.opsets.set((o.domain as string | undefined) ?? "", num(o.version ?? 0));
  model.producerName = mp.producer_name as string | undefined;
  model.producerVersion = mp.producer_version as string | undefined;
  model.domain = mp.domain as string | undefined;
  model.modelVersion = mp.model_version as number | bigint | undefined;
  model.docString = mp.doc_string as string | undefined;
  for (const e of (mp.metadata_props as Message[] | undefined) ?? []) {
    model.metadata.push([(e.key as string | undefined) ?? "", (e.value as string | undefined) ?? ""]);
  }
  for (const fp of (mp.functions as Message[] | undefined) ?? []) {
    model.functions.push(decodeFunction(fp, ctx));
  }
  const extra = rest(mp, [
    "ir_version",
    "opset_import",
    "producer_name",
    "producer_version",
    "domain",
    "model_version",
    "doc_string",
    "graph",
    "metadata_props",
    "functions",
  ]) ?? {};
  const originalOpsets = opsetList.map((o) => ({ ...o }));
  extra.$opsets = originalOpsets;
  if (mp.graph === undefined) extra.$noGraph = true;
  model.extra = extra;
  return model;
}

// ------------------------------------------------------------------------------------------ encode

/** Options for {@link encodeModel}. */
export interface EncodeOptions {
  /**
   * Called for each initializer before it is encoded, with its data size in bytes and a function that
   * returns the bytes (decoded on demand and not kept, so a model larger than memory can be written tensor by
   * tensor); return an external location to store the bytes outside the model (the caller writes them), or
   * undefined to keep it inline. Without this hook, tensors that were external when loaded are inlined:
   * the encoded bytes then stand alone (onnxruntime gets them without a base directory).
   */
  externalize?: (
    v: Value,
    size: number,
    bytes: () => Uint8Array,
  ) => { location: string; offset: number } | undefined;
}

function withAbsent(out: Message, extra: Message | undefined, defaults: Record<string, unknown>): Message {
  const abs = (extra?.$absent as string[] | undefined) ?? [];
  for (const f of abs) if (out[f] === defaults[f]) delete out[f];
  if (extra) { for (const k of Object.keys(extra)) if (k !== "$absent") out[k] = extra[k]; }
  return out;
}

function encodeValueInfo(v: Value, role: string): Message {
  const orig = infoProtos.get(v)?.get(role);
  if (orig && orig.name === v.name && sameType(parseType(orig.type as Message | undefined), v.type)) {
    if (v.type || !v.extra || orig.type === v.extra) return orig;
  }
  const out: Message = orig ? { ...orig } : {};
  out.name = v.name;
  if (v.type) out.type = typeToProto(v.type);
  else if (v.extra) out.type = v.extra;
  else delete out.type;
  return out;
}

function encodeTensorValue(v: Value, opts: EncodeOptions): Message {
  const orig = v.encodedConst;
  if (orig && !opts.externalize && !isExternal(orig)) {
    return orig.name === v.name ? orig : { ...orig, name: v.name };
  }
  if (orig && opts.externalize && !isExternal(orig) && orig.raw_data instanceof Uint8Array) {
    const raw = orig.raw_data;
    const where = opts.externalize(v, raw.length, () => raw);
    if (!where) return orig.name === v.name ? orig : { ...orig, name: v.name };
    return externalProto(orig, v.name, where, raw.length);
  }
  // A replaced constant, a tensor in typed fields, or external data: (re-)encode from the tensor, decoded
  // without caching it on the value.
  const tensor = () => v.peekConst()!;
  const size = constByteLength(v);
  if (opts.externalize && size !== undefined) {
    const where = opts.externalize(v, size, () => tensorToProto(tensor()).raw_data as Uint8Array);
    // A spilled tensor's proto is built from its type and dims: its data stays in its file range.
    const info = v.constRange() ? v.constInfo() : undefined;
    const head = info ? { dims: info.dims, data_type: info.dtype } : undefined;
    if (where) return externalProto(orig ?? head ?? tensorToProto(tensor(), v.name), v.name, where, size);
  }
  if (orig && !isExternal(orig) && orig.name === v.name) return orig;
  return tensorToProto(tensor(), v.name);
}

/** A TensorProto pointing at external data (the ONNX external-data keys), everything else kept. */
function externalProto(
  p: Message,
  name: string,
  where: { location: string; offset: number },
  length: number,
): Message {
  const { raw_data: _r, external_data: _e, data_location: _d, ...rest } = p;
  for (const f of ["float_data", "int32_data", "int64_data", "double_data", "uint64_data"]) delete rest[f];
  return {
    ...rest,
    name,
    data_location: 1,
    external_data: [
      { key: "location", value: where.location },
      { key: "offset", value: String(where.offset) },
      { key: "length", value: String(length) },
    ],
  };
}

/**
 * Bytes an initializer's data takes in raw form, without decoding it (undefined for strings).
 *
 * @param v an initializer
 * @returns the byte count
 */
export function constByteLength(v: Value): number | undefined {
  const p = v.encodedConst;
  if (!p) {
    const range = v.constRange(); // spilled: its dims, not its data
    if (range) return range.length;
    const t = v.const;
    if (!t || Array.isArray(t.data)) return undefined;
    return dataByteLength(t.dtype, t.data.length);
  }
  return dataByteLength((p.data_type as number | undefined) ?? 0, protoDims(p).reduce((a, b) => a * b, 1));
}

function encodeAttr(a: Attribute, opts: EncodeOptions): Message {
  const raw = a.raw as { proto: Message; value: unknown; type: AttrType } | undefined;
  // A tensor attribute stored as external data is inlined (its bytes were read at decode): the encoded model
  // then stands alone, like initializers without an externalize hook.
  const externalTensor = a.type === AttrType.TENSOR && raw?.proto.t !== undefined &&
    isExternal(raw.proto.t as Message);
  if (
    raw && raw.value === a.value && raw.type === a.type && raw.proto.name === a.name &&
    a.type !== AttrType.GRAPH && a.type !== AttrType.GRAPHS && !externalTensor
  ) {
    return raw.proto;
  }
  const out: Message = raw ? { ...raw.proto } : {};
  for (const k of ["f", "i", "s", "t", "g", "floats", "ints", "strings", "tensors", "graphs"]) delete out[k];
  out.name = a.name;
  out.type = a.type;
  if (a.refAttrName !== undefined) out.ref_attr_name = a.refAttrName;
  const v = a.value;
  switch (a.type) {
    case AttrType.FLOAT:
      out.f = v;
      break;
    case AttrType.INT:
      out.i = v;
      break;
    case AttrType.STRING:
      out.s = v;
      break;
    case AttrType.TENSOR:
      out.t = tensorToProto(v as Tensor);
      break;
    case AttrType.GRAPH:
      out.g = encodeGraph(v as Graph, opts);
      break;
    case AttrType.FLOATS:
      out.floats = v;
      break;
    case AttrType.INTS:
      out.ints = v;
      break;
    case AttrType.STRINGS:
      out.strings = v;
      break;
    case AttrType.TENSORS:
      out.tensors = (v as Tensor[]).map((t) => tensorToProto(t));
      break;
    case AttrType.GRAPHS:
      out.graphs = (v as Graph[]).map((g) => encodeGraph(g, opts));
      break;
  }
  if (raw && raw.type === a.type && a.type === AttrType.TENSOR && raw.value === v && !externalTensor) {
    out.t = raw.proto.t;
  }
  return out;
}

function encodeNode(n: Node, opts: EncodeOptions): Message {
  const out: Message = {
    input: n.inputs.map((v) => v?.name ?? ""),
    output: n.outputs.map((v) => v.name),
    name: n.name,
    op_type: n.opType,
    attribute: [...n.attrs.values()].map((a) => encodeAttr(a, opts)),
    domain: n.domain,
  };
  return withAbsent(out, n.extra, { name: "", domain: "", op_type: "" });
}

function encodeGraph(g: Graph, opts: EncodeOptions): Message {
  const out: Message = {
    node: g.nodes.map((n) => encodeNode(n, opts)),
    name: g.name,
    initializer: g.initializers.map((v) => encodeTensorValue(v, opts)),
    input: g.inputs.map((v) => encodeValueInfo(v, "input")),
    output: g.outputs.map((v) => encodeValueInfo(v, "output")),
    value_info: g.valueInfo.map((v) => encodeValueInfo(v, "value_info")),
  };
  return withAbsent(out, g.extra, { name: "" });
}

function encodeFunction(f: FunctionDef, opts: EncodeOptions): Message {
  const out: Message = {
    name: f.name,
    input: f.body.inputs.map((v) => v.name),
    output: f.body.outputs.map((v) => v.name),
    attribute: f.attributes,
    node: f.body.nodes.map((n) => encodeNode(n, opts)),
    opset_import: [...f.opsets].map(([domain, version]) => ({ domain, version })),
    domain: f.domain,
    attribute_proto: f.attributeDefaults.map((a) => encodeAttr(a, opts)),
    value_info: f.body.valueInfo.map((v) => encodeValueInfo(v, "value_info")),
  };
  if (f.overload !== undefined) out.overload = f.overload;
  if (f.extra) Object.assign(out, f.extra);
  return out;
}

function encodeOpsets(model: Model): Message[] {
  const orig = (model.extra?.$opsets as Message[] | undefined) ?? [];
  return [...model.opsets].map(([domain, version]) => {
    const o = orig.find((m) => ((m.domain as string | undefined) ?? "") === domain);
    if (o && num(o.version) === version) return o;
    return { domain, version };
  });
}

/** Build the ModelProto message of a model (before wire encoding). */
export function modelToMessage(model: Model, options: EncodeOptions = {}): Message {
  const out: Message = {
    ir_version: model.irVersion,
    opset_import: encodeOpsets(model),
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    domain: model.domain,
    model_version: model.modelVersion,
    doc_string: model.docString,
    graph: model.extra?.$noGraph && model.graph.nodes.length === 0
      ? undefined
      : encodeGraph(model.graph, options),
    metadata_props: model.metadata.map(([key, value]) => ({ key, value })),
    functions: model.functions.map((f) => encodeFunction(f, options)),
  };
  if (model.extra) {
    for (const k of Object.keys(model.extra)) {
      if (!k.startsWith("$") || k === "$unknown") out[k] = model.extra[k];
    }
  }
  return out;
}

/**
 * Encode a model to ModelProto bytes.
 *
 * @param model the IR
 * @param options externalization hook
 * @returns the encoded bytes
 */
export function encodeModel(model: Model, options: EncodeOptions = {}): Uint8Array {
  return encodeMessage(modelToMessage(model, options), ModelProtoDesc);
}

/** Encode one tensor as TensorProto bytes (for tests and tools). */
export function encodeTensor(t: Tensor, name?: string): Uint8Array {
  return encodeMessage(tensorToProto(t, name), TensorProtoDesc);
}

/** Decode a standalone TensorProto (e.g. the `.pb` files of the ONNX backend tests). */
export function decodeTensor(bytes: Uint8Array): Tensor & { name: string } {
  const p = decodeMessage(bytes, TensorProtoDesc);
  return { ...tensorFromProto(p), name: (p.name as string | undefined) ?? "" };
}

export { AttributeProtoDesc, FunctionProtoDesc, ValueInfoProtoDesc };
