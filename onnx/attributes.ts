/**
 * Node attributes in the IR and typed access to them. The IR keeps attributes as a Map from name to
 * {@link Attribute}; passes and the evaluator read them only through {@link Attrs} (typed getters with
 * defaults and clear errors), never by poking at proto fields.
 * @module
 */
import type { Tensor } from "./tensor.ts";

/** ONNX AttributeProto.AttributeType. */
export enum AttrType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  SPARSE_TENSOR = 11,
  TYPE_PROTO = 13,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSORS = 12,
  TYPE_PROTOS = 14,
}

/**
 * One attribute value. `value` is typed by `type`: FLOAT -> number, INT -> number (a bigint beyond 2^53; the
 * typed getters convert), STRING -> Uint8Array (bytes, as in the proto), TENSOR -> Tensor, GRAPH -> a
 * subgraph object owned by the IR, FLOATS -> number[], INTS -> (number | bigint)[], STRINGS -> Uint8Array[], TENSORS -> Tensor[],
 * GRAPHS -> subgraphs. Attribute kinds shiftkit does not interpret (sparse tensors, type protos, attribute
 * references in functions) keep their encoded bytes in `raw` and round-trip untouched.
 */
export interface Attribute {
  name: string;
  type: AttrType;
  value: unknown;
  /** For function bodies: the name of the function attribute this one refers to (`ref_attr_name`). */
  refAttrName?: string;
  /** Anything the IR did not decode (doc_string, unknown fields), kept for lossless re-encoding. */
  raw?: unknown;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Build an INT attribute. */
export function intAttr(name: string, v: number | bigint): Attribute {
  return { name, type: AttrType.INT, value: v };
}
/** An integer as a number where that is exact, else as a bigint. */
export function exactInt(v: number | bigint): number | bigint {
  if (typeof v === "number") return v;
  return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
/** Build a FLOAT attribute. */
export function floatAttr(name: string, v: number): Attribute {
  return { name, type: AttrType.FLOAT, value: v };
}
/** Build a STRING attribute from a JS string (UTF-8). */
export function stringAttr(name: string, v: string): Attribute {
  return { name, type: AttrType.STRING, value: encoder.encode(v) };
}
/** Build an INTS attribute. */
export function intsAttr(name: string, v: readonly (number | bigint)[]): Attribute {
  return { name, type: AttrType.INTS, value: [...v] };
}
/** Build a FLOATS attribute. */
export function floatsAttr(name: string, v: readonly number[]): Attribute {
  return { name, type: AttrType.FLOATS, value: [...v] };
}
/** Build a TENSOR attribute. */
export function tensorAttr(name: string, v: Tensor): Attribute {
  return { name, type: AttrType.TENSOR, value: v };
}

/**
 * Typed, read-only view of a node's attributes. Every getter checks the attribute type and names the
 * attribute and op in its error.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Attrs, intAttr } from "./attributes.ts";
 * const a = new Attrs(new Map([["axis", intAttr("axis", -1)]]), "Softmax");
 * assertEquals(a.int("axis", 1), -1);
 * assertEquals(a.int("missing", 7), 7);
 * ```
 */
export class Attrs {
  /**
   * @param map the node's attribute map
   * @param where op type (and node name) for error messages
   */
  constructor(readonly map: ReadonlyMap<string, Attribute>, readonly where: string) {}

  /** Whether the attribute is present. */
  has(name: string): boolean {
    return this.map.has(name);
  }

  #get(name: string, type: AttrType): Attribute | undefined {
    const a = this.map.get(name);
    if (a === undefined) return undefined;
    if (a.type !== type) {
      throw new TypeError(
        `${this.where}: attribute "${name}" has type ${AttrType[a.type]}, expected ${AttrType[type]}`,
      );
    }
    return a;
  }

  #missing(name: string): never {
    throw new TypeError(`${this.where}: required attribute "${name}" is missing`);
  }

  /** INT attribute, or `dflt`; throws when absent without a default. */
  int(name: string, dflt?: number): number {
    const a = this.#get(name, AttrType.INT);
    if (a) return Number(a.value as number | bigint);
    return dflt ?? this.#missing(name);
  }

  /** INT attribute kept exact as a bigint (int64 values beyond 2^53, e.g. INT64_MAX), or `dflt`. */
  int64(name: string, dflt?: bigint): bigint {
    const a = this.#get(name, AttrType.INT);
    if (a) return BigInt(a.value as number | bigint);
    return dflt ?? this.#missing(name);
  }

  /** FLOAT attribute, or `dflt`. */
  float(name: string, dflt?: number): number {
    const a = this.#get(name, AttrType.FLOAT);
    if (a) return a.value as number;
    return dflt ?? this.#missing(name);
  }

  /** STRING attribute decoded as UTF-8, or `dflt`. */
  string(name: string, dflt?: string): string {
    const a = this.#get(name, AttrType.STRING);
    if (a) return decoder.decode(a.value as Uint8Array);
    return dflt ?? this.#missing(name);
  }

  /** INTS attribute, or `dflt`. */
  ints(name: string, dflt?: readonly number[]): number[] {
    const a = this.#get(name, AttrType.INTS);
    if (a) return (a.value as (number | bigint)[]).map(Number);
    if (dflt) return [...dflt];
    return this.#missing(name);
  }

  /**
   * INTS attribute with each value kept exact: a number where it is a safe integer, a bigint beyond 2^53
   * (INT64_MAX as a Slice `ends` must stay INT64_MAX when it is written back), or `dflt`.
   */
  intsExact(name: string, dflt?: readonly (number | bigint)[]): (number | bigint)[] {
    const a = this.#get(name, AttrType.INTS);
    if (a) return (a.value as (number | bigint)[]).map(exactInt);
    if (dflt) return [...dflt];
    return this.#missing(name);
  }

  /** FLOATS attribute, or `dflt`. */
  floats(name: string, dflt?: readonly number[]): number[] {
    const a = this.#get(name, AttrType.FLOATS);
    if (a) return a.value as number[];
    if (dflt) return [...dflt];
    return this.#missing(name);
  }

  /** STRINGS attribute decoded as UTF-8, or `dflt`. */
  strings(name: string, dflt?: readonly string[]): string[] {
    const a = this.#get(name, AttrType.STRINGS);
    if (a) return (a.value as Uint8Array[]).map((s) => decoder.decode(s));
    if (dflt) return [...dflt];
    return this.#missing(name);
  }

  /** TENSOR attribute, or undefined when absent. */
  tensor(name: string): Tensor | undefined {
    return this.#get(name, AttrType.TENSOR)?.value as Tensor | undefined;
  }
}
