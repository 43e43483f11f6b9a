/**
 * The graph IR: Model / Graph / Node / Value, where every value knows its producer and its uses, so passes
 * never search by name. Subgraphs (If/Loop/Scan bodies) are Graphs owned by a node attribute; model-local
 * functions are {@link FunctionDef}s whose bodies are Graphs too. Everything the IR does not model (doc
 * strings, metadata, unknown protobuf fields) is kept in `extra` so an untouched model re-encodes to the same
 * bytes (see codec.ts).
 * @module
 */
import { type Attribute, Attrs, AttrType } from "./attributes.ts";
import type { Tensor } from "./tensor.ts";
import type { Message } from "./wire.ts";

/** A dimension: a number, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

/** Element type and shape of a tensor value, when known. */
export interface TensorType {
  /** Element type (a {@link DataType} code). */
  elemType: number;
  /** undefined = rank unknown. */
  shape?: Dim[];
}

/** A use of a value: input `index` of `node`. */
export interface Use {
  /** The reading node. */
  readonly node: Node;
  /** Which of the node's inputs reads the value. */
  readonly index: number;
}

/**
 * Bytes of a constant that live in a file (a tensor spilled to disk by onnx/spill.ts): its raw data as an
 * external-data file holds it (little-endian, 4-bit types two per byte, low nibble first), read by range.
 */
export interface ByteRange {
  /** Size in bytes. */
  readonly length: number;
  /**
   * `length` bytes at `offset` (relative to the tensor's first byte).
   * @throws {RangeError} past the end, or when the file was closed
   */
  read(offset: number, length: number): Uint8Array;
}

/**
 * A constant's payload: decoded, an encoded TensorProto decoded on demand (lossless), or element type and
 * dims with the bytes in a file range, decoded on demand.
 */
interface ConstSlot {
  tensor?: Tensor;
  proto?: Message;
  decode?: (p: Message) => Tensor;
  range?: { dtype: number; dims: number[]; bytes: ByteRange; decode: () => Tensor };
}

function decodeSlot(c: ConstSlot): Tensor {
  return c.range ? c.range.decode() : c.decode!(c.proto!);
}

/** A value (edge) in a graph: a graph input, an initializer, or a node output. */
export class Value {
  /** The node producing this value (null for graph inputs and initializers). */
  producer: Node | null = null;
  /** Output index in the producer. */
  producerIndex: number = -1;
  /** Every node input reading this value. Maintained by the Node/Graph mutators. */
  readonly uses: Use[] = [];
  /** Tensor type, when known (from the model's value_info / inputs / outputs, or inference). */
  type: TensorType | undefined;
  /** Non-tensor (sequence/map/optional) type, or value_info fields the IR does not model. */
  extra: Message | undefined;
  #const: ConstSlot | undefined;

  /**
   * Create a value (graphs create them: {@link Graph.value}).
   * @param graph owning graph
   * @param name unique name in the graph's scope
   */
  constructor(
    /** Owning graph. */
    public graph: Graph,
    /** Unique name in the graph's scope. */
    public name: string,
  ) {}

  /** True if this value is an initializer (has constant data). */
  get isConst(): boolean {
    return this.#const !== undefined;
  }

  /** The constant data of an initializer (decoded lazily), or undefined. */
  get const(): Tensor | undefined {
    const c = this.#const;
    if (!c) return undefined;
    if (!c.tensor) c.tensor = decodeSlot(c);
    return c.tensor;
  }

  /** Replace the constant data (drops the original encoding). */
  set const(t: Tensor | undefined) {
    this.#const = t === undefined ? undefined : { tensor: t };
    if (t) this.type = { elemType: t.dtype, shape: [...t.dims] };
  }

  /**
   * The constant data without caching a lazily decoded tensor on this value: what streaming writers use, so
   * a model larger than memory passes through tensor by tensor. A tensor already decoded is returned as is.
   */
  peekConst(): Tensor | undefined {
    const c = this.#const;
    if (!c) return undefined;
    return c.tensor ?? decodeSlot(c);
  }

  /**
   * Element type and dims of the constant without decoding its data (a lazily loaded weight stays on disk):
   * what planning passes need to choose targets before they read weights one at a time.
   */
  constInfo(): { dtype: number; dims: number[] } | undefined {
    const c = this.#const;
    if (!c) return undefined;
    if (c.tensor) return { dtype: c.tensor.dtype, dims: [...c.tensor.dims] };
    if (c.range) return { dtype: c.range.dtype, dims: [...c.range.dims] };
    const p = c.proto!;
    return {
      dtype: Number(p.data_type ?? 0),
      dims: ((p.dims as unknown[] | undefined) ?? []).map(Number),
    };
  }

  /**
   * The file range holding the constant's raw bytes while it is not decoded (a spilled tensor), else
   * undefined: writers copy it by chunks, checks read it by range, nothing has to hold it whole.
   */
  constRange(): ByteRange | undefined {
    const c = this.#const;
    return c && !c.tensor && c.range ? c.range.bytes : undefined;
  }

  /**
   * Make the constant one whose data lives in a file range (onnx/spill.ts): the decoded tensor, if any, is
   * dropped, and decoded again from the range on access (`const` caches it again, `peekConst` does not).
   *
   * @param dtype element type
   * @param dims dimensions
   * @param bytes the raw data's range
   * @param decode reads the range into a tensor
   */
  setRangeConst(dtype: number, dims: readonly number[], bytes: ByteRange, decode: () => Tensor): void {
    this.#const = { range: { dtype, dims: [...dims], bytes, decode } };
    this.type = { elemType: dtype, shape: [...dims] };
  }

  /** @internal codec: attach an encoded TensorProto, decoded on first access. */
  setEncodedConst(proto: Message, decode: (p: Message) => Tensor): void {
    this.#const = { proto, decode };
  }

  /** @internal codec: the original TensorProto if the constant was never replaced. */
  get encodedConst(): Message | undefined {
    const c = this.#const;
    return c && c.proto && (c.tensor === undefined || c.decode !== undefined) ? c.proto : undefined;
  }

  /** True if this value is one of its graph's inputs. */
  get isGraphInput(): boolean {
    return this.graph.inputs.includes(this);
  }

  /** True if this value is one of its graph's outputs. */
  get isGraphOutput(): boolean {
    return this.graph.outputs.includes(this);
  }

  /** Nodes consuming this value (distinct). */
  consumers(): Node[] {
    return [...new Set(this.uses.map((u) => u.node))];
  }

  /** Point every use of this value (and graph outputs) at `other` instead. */
  replaceAllUsesWith(other: Value): void {
    if (other === this) return;
    for (const u of [...this.uses]) u.node.setInput(u.index, other);
    const outs = this.graph.outputs;
    for (let i = 0; i < outs.length; i++) {
      if (outs[i] === this) outs[i] = other;
    }
  }
}

/** A node: one operator application. */
export class Node {
  /** Inputs in order (null for an omitted optional input). */
  readonly inputs: (Value | null)[] = [];
  /** Outputs in order. */
  readonly outputs: Value[] = [];
  /** Attributes by name, in their original order. */
  readonly attrs: Map<string, Attribute>;
  /** Graph the node belongs to (set when added). */
  graph: Graph | null = null;
  /** NodeProto fields the IR does not model (doc_string, overload, metadata_props, unknown fields). */
  extra: Message | undefined;

  /**
   * Create a node (add it to a graph with {@link Graph.addNode}).
   * @param opType operator type
   * @param domain operator domain ("" = ai.onnx)
   * @param name node name ("" when absent)
   * @param attrs attributes
   */
  constructor(
    /** Operator type. */
    public opType: string,
    /** Operator domain ("" = ai.onnx). */
    public domain = "",
    /** Node name ("" when absent). */
    public name = "",
    attrs: Iterable<Attribute> = [],
  ) {
    this.attrs = new Map([...attrs].map((a) => [a.name, a]));
  }

  /** Typed attribute access. */
  get a(): Attrs {
    return new Attrs(this.attrs, `${this.opType} node "${this.name}"`);
  }

  /** Set (or clear with null) input `i`, keeping use lists right. */
  setInput(i: number, v: Value | null): void {
    const old = this.inputs[i];
    if (old) {
      const k = old.uses.findIndex((u) => u.node === this && u.index === i);
      if (k >= 0) old.uses.splice(k, 1);
    }
    while (this.inputs.length <= i) this.inputs.push(null);
    this.inputs[i] = v;
    if (v) v.uses.push({ node: this, index: i });
  }

  /** Append an input. */
  addInput(v: Value | null): void {
    this.setInput(this.inputs.length, v);
  }

  /** Drop trailing inputs beyond `n` (unlinking their uses). */
  truncateInputs(n: number): void {
    for (let i = this.inputs.length - 1; i >= n; i--) {
      this.setInput(i, null);
      this.inputs.pop();
    }
  }

  /** Input `i` if present (optional inputs may be null or missing). */
  input(i: number): Value | null {
    return this.inputs[i] ?? null;
  }

  /** Subgraphs held in GRAPH / GRAPHS attributes. */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attrs.values()) {
      if (a.type === AttrType.GRAPH) out.push(a.value as Graph);
      else if (a.type === AttrType.GRAPHS) out.push(...(a.value as Graph[]));
    }
    return out;
  }
}

/** A graph: ordered nodes plus inputs, outputs, initializers. */
export class Graph {
  /** Nodes in order (topological after {@link Graph.sort}; codec keeps the file's order). */
  readonly nodes: Node[] = [];
  /** Graph inputs in order (initializers listed as inputs included). */
  readonly inputs: Value[] = [];
  /** Outputs in order. */
  readonly outputs: Value[] = [];
  /** Initializers in file order. */
  readonly initializers: Value[] = [];
  /** Values that had a value_info entry, in file order. */
  readonly valueInfo: Value[] = [];
  /** GraphProto fields the IR does not model (doc_string, sparse initializers, annotations, metadata...). */
  extra: Message | undefined;
  readonly #scope = new Map<string, Value>();

  /**
   * Create a graph.
   * @param name graph name
   * @param parent enclosing graph for subgraphs (outer-scope names resolve through it)
   */
  constructor(
    /** Graph name. */
    public name = "",
    /** Enclosing graph for subgraphs. */
    readonly parent: Graph | null = null,
  ) {}

  /** Look up a value by name in this graph, then in enclosing graphs. */
  lookup(name: string): Value | undefined {
    return this.#scope.get(name) ?? this.parent?.lookup(name);
  }

  /** Look up a value defined in this graph only. */
  local(name: string): Value | undefined {
    return this.#scope.get(name);
  }

  /** Create a new value with a name unique in this graph's scope (suffixing `_1`, `_2`... if taken). */
  value(name: string): Value {
    let n = name, k = 0;
    while (this.lookup(n) !== undefined) n = `${name}_${++k}`;
    const v = new Value(this, n);
    this.#scope.set(n, v);
    return v;
  }

  /** @internal register a value created elsewhere (codec). */
  adopt(v: Value): void {
    if (this.#scope.has(v.name)) throw new Error(`value "${v.name}" defined twice in graph "${this.name}"`);
    this.#scope.set(v.name, v);
  }

  /** Rename a value (keeps the scope map right). */
  rename(v: Value, name: string): void {
    if (this.#scope.get(v.name) === v) this.#scope.delete(v.name);
    v.name = name;
    this.#scope.set(name, v);
  }

  /** Add an initializer holding `t`. */
  addInitializer(name: string, t: Tensor): Value {
    const v = this.value(name);
    v.const = t;
    this.initializers.push(v);
    return v;
  }

  /** Remove an initializer that has no uses. */
  removeInitializer(v: Value): void {
    if (v.uses.length > 0 || v.isGraphOutput) throw new Error(`initializer "${v.name}" is still used`);
    const i = this.initializers.indexOf(v);
    if (i >= 0) this.initializers.splice(i, 1);
    const j = this.inputs.indexOf(v);
    if (j >= 0) this.inputs.splice(j, 1);
    const k = this.valueInfo.indexOf(v);
    if (k >= 0) this.valueInfo.splice(k, 1);
    if (this.#scope.get(v.name) === v) this.#scope.delete(v.name);
  }

  /**
   * Create a node and insert it (at the end, or before `before`).
   *
   * @param opType operator type
   * @param inputs input values (null for a skipped optional input)
   * @param outputs output names (made unique) or the number of outputs (named from the node name)
   * @param options domain, name, attributes, insertion point
   * @returns the new node
   */
  addNode(
    opType: string,
    inputs: readonly (Value | null)[],
    outputs: readonly string[] | number,
    options: { domain?: string; name?: string; attrs?: Iterable<Attribute>; before?: Node; after?: Node } =
      {},
  ): Node {
    const node = new Node(opType, options.domain ?? "", options.name ?? "", options.attrs ?? []);
    if (!node.name) node.name = this.uniqueNodeName(opType);
    for (const v of inputs) node.addInput(v);
    const names = typeof outputs === "number"
      ? Array.from({ length: outputs }, (_, i) => `${node.name}_out${i}`)
      : outputs;
    for (const n of names) this.attachOutput(node, this.value(n));
    this.insert(node, options.before, options.after);
    return node;
  }

  /** @internal set an existing value as the next output of `node`. */
  attachOutput(node: Node, v: Value): void {
    v.producer = node;
    v.producerIndex = node.outputs.length;
    node.outputs.push(v);
  }

  /** Insert a detached node at the end, or before/after another node. */
  insert(node: Node, before?: Node, after?: Node): void {
    node.graph = this;
    if (before) {
      const i = this.nodes.indexOf(before);
      if (i < 0) throw new Error(`node "${before.name}" is not in graph "${this.name}"`);
      this.nodes.splice(i, 0, node);
    } else if (after) {
      const i = this.nodes.indexOf(after);
      if (i < 0) throw new Error(`node "${after.name}" is not in graph "${this.name}"`);
      this.nodes.splice(i + 1, 0, node);
    } else this.nodes.push(node);
  }

  /** Remove a node, unlinking its inputs. Its outputs must be unused (or pass `force`). */
  removeNode(node: Node, force = false): void {
    if (!force) {
      for (const o of node.outputs) {
        if (o.uses.length > 0 || o.isGraphOutput) {
          throw new Error(`cannot remove node "${node.name}": output "${o.name}" is still used`);
        }
      }
    }
    const i = this.nodes.indexOf(node);
    if (i >= 0) this.nodes.splice(i, 1);
    node.truncateInputs(0);
    for (const o of node.outputs) {
      if (this.#scope.get(o.name) === o && o.uses.length === 0 && !o.isGraphOutput) {
        this.#scope.delete(o.name);
      }
      const k = this.valueInfo.indexOf(o);
      if (k >= 0 && o.uses.length === 0) this.valueInfo.splice(k, 1);
    }
    node.graph = null;
  }

  /** A node name not used in this graph yet. */
  uniqueNodeName(base: string): string {
    const taken = new Set(this.nodes.map((n) => n.name));
    let n = base, k = 0;
    while (taken.has(n)) n = `${base}_${++k}`;
    return n;
  }

  /**
   * Sort nodes topologically (stable: keeps the existing order where it is already valid).
   * Values from enclosing scopes and uses inside subgraphs are accounted for.
   * @throws {Error} when the graph has a cycle
   */
  sort(): void {
    const order: Node[] = [];
    const state = new Map<Node, number>();
    const visit = (n: Node) => {
      const s = state.get(n);
      if (s === 2) return;
      if (s === 1) throw new Error(`graph "${this.name}" has a cycle through node "${n.name}"`);
      state.set(n, 1);
      for (const dep of nodeDeps(n, this)) visit(dep);
      state.set(n, 2);
      order.push(n);
    };
    for (const n of this.nodes) visit(n);
    this.nodes.splice(0, this.nodes.length, ...order);
  }

  /** Every graph nested under this one (subgraphs of subgraphs...), not including this graph. */
  *subgraphs(): Generator<Graph> {
    for (const n of this.nodes) {
      for (const g of n.subgraphs()) {
        yield g;
        yield* g.subgraphs();
      }
    }
  }
}

/** Producers in `g` of the values a node reads, including values read inside its subgraphs. */
function nodeDeps(n: Node, g: Graph): Node[] {
  const deps: Node[] = [];
  const add = (v: Value | null) => {
    if (v?.producer && v.producer.graph === g) deps.push(v.producer);
  };
  for (const v of n.inputs) add(v);
  for (const sg of n.subgraphs()) for (const v of outerReads(sg)) add(v);
  return deps;
}

/** Values a subgraph (recursively) reads from enclosing scopes. */
export function outerReads(g: Graph): Value[] {
  const out: Value[] = [];
  const walk = (h: Graph) => {
    for (const n of h.nodes) {
      for (const v of n.inputs) if (v && !isInside(v.graph, g)) out.push(v);
      for (const sg of n.subgraphs()) walk(sg);
    }
    for (const v of h.outputs) if (!isInside(v.graph, g)) out.push(v);
  };
  walk(g);
  return out;
}

function isInside(inner: Graph, outer: Graph): boolean {
  for (let g: Graph | null = inner; g; g = g.parent) if (g === outer) return true;
  return false;
}

/** A model-local function (FunctionProto). Its body is a Graph whose inputs/outputs are the formal parameters. */
export interface FunctionDef {
  /** Function name (FunctionProto.name). */
  name: string;
  /** Function domain, the op domain nodes call it by. */
  domain: string;
  /** Overload tag (IR 10), when present. */
  overload?: string;
  /** Names of the function's attributes (FunctionProto.attribute). */
  attributes: string[];
  /** Attributes with defaults (FunctionProto.attribute_proto). */
  attributeDefaults: Attribute[];
  /** Opsets the body imports. */
  opsets: Map<string, number>;
  /** The body: its inputs and outputs are the formal parameters. */
  body: Graph;
  /** FunctionProto fields the IR does not model (doc_string, metadata, value_info, unknown fields). */
  extra: Message | undefined;
}

/** A model: the main graph, opset imports, metadata and functions. */
export class Model {
  /** ModelProto.ir_version. */
  irVersion: number | bigint = 10;
  /** Opset imports by domain ("" = ai.onnx), in file order. */
  readonly opsets: Map<string, number> = new Map();
  /** ModelProto.producer_name. */
  producerName: string | undefined;
  /** ModelProto.producer_version. */
  producerVersion: string | undefined;
  /** ModelProto.domain. */
  domain: string | undefined;
  /** ModelProto.model_version. */
  modelVersion: number | bigint | undefined;
  /** ModelProto.doc_string. */
  docString: string | undefined;
  /** metadata_props, in order. */
  readonly metadata: [string, string][] = [];
  /** Model-local functions (ModelProto.functions), in file order. */
  readonly functions: FunctionDef[] = [];
  /** ModelProto fields the IR does not model (training_info, unknown fields). */
  extra: Message | undefined;

  /**
   * Create a model.
   * @param graph the main graph
   */
  constructor(
    /** The main graph. */
    public graph: Graph = new Graph("main"),
  ) {}

  /** Default-domain opset version (ai.onnx). */
  get opset(): number {
    return this.opsets.get("") ?? this.opsets.get("ai.onnx") ?? 1;
  }

  /** Find a model-local function. */
  findFunction(domain: string, name: string, overload = ""): FunctionDef | undefined {
    return this.functions.find((f) =>
      f.domain === domain && f.name === name && (f.overload ?? "") === overload
    );
  }

  /** All graphs: main graph, its subgraphs, and function bodies (with their subgraphs). */
  *allGraphs(): Generator<Graph> {
    yield this.graph;
    yield* this.graph.subgraphs();
    for (const f of this.functions) {
      yield f.body;
      yield* f.body.subgraphs();
    }
  }

  /** Every node in every graph (see {@link Model.allGraphs}). */
  *allNodes(): Generator<Node> {
    for (const g of this.allGraphs()) yield* g.nodes;
  }
}
