/**
 * The JSON format of the evaluator's data-driven op cases (written by `_gen.ts` from onnxruntime-node, read
 * by `ops_test.ts` and any other backend), and its conversion to shiftkit tensors and attributes.
 * @module
 */
import { type Attribute, Attrs, AttrType } from "../../attributes.ts";
import { DataType, dtypeInfo, makeTensor, type Tensor, type TypedArray } from "../../tensor.ts";
import { fromHalf, toHalf } from "../ops/cast.ts";

/**
 * A tensor in JSON: element type name (e.g. "FLOAT"), dims, and data (non-finite floats as strings; FLOAT16
 * as values, not bit patterns).
 */
export interface JsonTensor {
  dtype: string;
  dims: number[];
  data: (number | string)[];
}

/** One attribute in JSON: exactly one key saying its kind. */
export type JsonAttr =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] }
  | { tensor: JsonTensor };

/** One op case: a one-node model, its inputs and onnxruntime's outputs. */
export interface OpCase {
  name: string;
  op: string;
  domain?: string;
  opset: number;
  attrs: Record<string, JsonAttr>;
  /** null = omitted optional input. */
  inputs: (JsonTensor | null)[];
  outputs: JsonTensor[];
}

const enc = new TextEncoder();

/** Element type number from its ONNX name. */
export function dtypeOf(name: string): DataType {
  const v = (DataType as unknown as Record<string, number>)[name];
  if (v === undefined) throw new RangeError(`Unknown element type name "${name}"`);
  return v;
}

/** JSON tensor -> Tensor. */
export function fromJson(t: JsonTensor): Tensor {
  const dtype = dtypeOf(t.dtype);
  const out = makeTensor(dtype, t.dims);
  const d = out.data as TypedArray;
  t.data.forEach((v, i) => {
    if (d instanceof BigInt64Array || d instanceof BigUint64Array) d[i] = BigInt(v);
    else if (dtype === DataType.FLOAT16) d[i] = toHalf(Number(v));
    else d[i] = Number(v);
  });
  return out;
}

/** Tensor -> JSON tensor. */
export function toJson(t: Tensor): JsonTensor {
  const data = Array.from(t.data as ArrayLike<number | bigint>, (v) => {
    const n = t.dtype === DataType.FLOAT16 && t.data instanceof Uint16Array ? fromHalf(Number(v)) : Number(v);
    if (!Number.isFinite(n)) return String(n);
    // 9 significant digits identify a float32 exactly and keep the files small
    return t.dtype === DataType.FLOAT ? Number(n.toPrecision(9)) : n;
  });
  return { dtype: dtypeInfo(t.dtype).name, dims: [...t.dims], data };
}

/** JSON attributes -> Attrs. */
export function attrsOf(c: OpCase): Attrs {
  const m = new Map<string, Attribute>();
  for (const [name, a] of Object.entries(c.attrs)) {
    if ("int" in a) m.set(name, { name, type: AttrType.INT, value: a.int });
    else if ("float" in a) m.set(name, { name, type: AttrType.FLOAT, value: a.float });
    else if ("string" in a) m.set(name, { name, type: AttrType.STRING, value: enc.encode(a.string) });
    else if ("ints" in a) m.set(name, { name, type: AttrType.INTS, value: a.ints });
    else if ("floats" in a) m.set(name, { name, type: AttrType.FLOATS, value: a.floats });
    else m.set(name, { name, type: AttrType.TENSOR, value: fromJson(a.tensor) });
  }
  return new Attrs(m, c.op);
}
