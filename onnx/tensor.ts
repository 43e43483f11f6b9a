/**
 * Element types and the in-memory tensor used by the IR, the evaluator, the runtime adapters and the kernels.
 * The dtype table below is the single place that maps ONNX element types to sizes and typed arrays.
 * @module
 */

/** ONNX TensorProto.DataType, including the types newer than the onnx-proto 1.10 schema (17..23). */
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
  FLOAT8E4M3FN = 17,
  FLOAT8E4M3FNUZ = 18,
  FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20,
  UINT4 = 21,
  INT4 = 22,
  FLOAT4E2M1 = 23,
}

/** Typed arrays a tensor's elements live in. */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** Element storage of a tensor: a typed array, or strings for STRING tensors. */
export type TensorData = TypedArray | string[];

type TypedArrayCtor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

/** What shiftkit knows about one element type. */
export interface DTypeInfo {
  /** ONNX name, e.g. "FLOAT". */
  readonly name: string;
  /** Bits per element in raw_data (4 for INT4/UINT4, 8 for FLOAT8 variants). */
  readonly bits: number;
  /**
   * The typed array holding one element per entry in memory. FLOAT16/BFLOAT16/FLOAT8 keep their raw bit
   * patterns (Uint16Array/Uint8Array); INT4/UINT4 are unpacked to one element per byte.
   */
  readonly array: TypedArrayCtor | null;
  /** The numpy / onnxruntime type name where one exists. */
  readonly ort: string | null;
}

const TABLE: Record<number, DTypeInfo> = {
  [DataType.FLOAT]: { name: "FLOAT", bits: 32, array: Float32Array, ort: "float32" },
  [DataType.UINT8]: { name: "UINT8", bits: 8, array: Uint8Array, ort: "uint8" },
  [DataType.INT8]: { name: "INT8", bits: 8, array: Int8Array, ort: "int8" },
  [DataType.UINT16]: { name: "UINT16", bits: 16, array: Uint16Array, ort: "uint16" },
  [DataType.INT16]: { name: "INT16", bits: 16, array: Int16Array, ort: "int16" },
  [DataType.INT32]: { name: "INT32", bits: 32, array: Int32Array, ort: "int32" },
  [DataType.INT64]: { name: "INT64", bits: 64, array: BigInt64Array, ort: "int64" },
  [DataType.STRING]: { name: "STRING", bits: 0, array: null, ort: "string" },
  [DataType.BOOL]: { name: "BOOL", bits: 8, array: Uint8Array, ort: "bool" },
  [DataType.FLOAT16]: { name: "FLOAT16", bits: 16, array: Uint16Array, ort: "float16" },
  [DataType.DOUBLE]: { name: "DOUBLE", bits: 64, array: Float64Array, ort: "float64" },
  [DataType.UINT32]: { name: "UINT32", bits: 32, array: Uint32Array, ort: "uint32" },
  [DataType.UINT64]: { name: "UINT64", bits: 64, array: BigUint64Array, ort: "uint64" },
  [DataType.COMPLEX64]: { name: "COMPLEX64", bits: 64, array: null, ort: null },
  [DataType.COMPLEX128]: { name: "COMPLEX128", bits: 128, array: null, ort: null },
  [DataType.BFLOAT16]: { name: "BFLOAT16", bits: 16, array: Uint16Array, ort: null },
  [DataType.FLOAT8E4M3FN]: { name: "FLOAT8E4M3FN", bits: 8, array: Uint8Array, ort: null },
  [DataType.FLOAT8E4M3FNUZ]: { name: "FLOAT8E4M3FNUZ", bits: 8, array: Uint8Array, ort: null },
  [DataType.FLOAT8E5M2]: { name: "FLOAT8E5M2", bits: 8, array: Uint8Array, ort: null },
  [DataType.FLOAT8E5M2FNUZ]: { name: "FLOAT8E5M2FNUZ", bits: 8, array: Uint8Array, ort: null },
  [DataType.UINT4]: { name: "UINT4", bits: 4, array: Uint8Array, ort: "uint4" },
  [DataType.INT4]: { name: "INT4", bits: 4, array: Int8Array, ort: "int4" },
  [DataType.FLOAT4E2M1]: { name: "FLOAT4E2M1", bits: 4, array: Uint8Array, ort: null },
};

/**
 * Look up an element type.
 *
 * @param dtype ONNX element type number
 * @returns its description
 * @throws {RangeError} for an element type ONNX does not define
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, dtypeInfo } from "./tensor.ts";
 * assertEquals(dtypeInfo(DataType.INT4).bits, 4);
 * ```
 */
export function dtypeInfo(dtype: number): DTypeInfo {
  const info = TABLE[dtype];
  if (!info) throw new RangeError(`Unsupported element type ${dtype} (ONNX defines 1..23)`);
  return info;
}

/** Name of an element type, or `TYPE<n>` for an unknown number (never throws; for messages). */
export function dtypeName(dtype: number): string {
  return TABLE[dtype]?.name ?? `TYPE<${dtype}>`;
}

/** True for element types whose values are integers (bool excluded). */
export function isIntegerType(dtype: number): boolean {
  return [
    DataType.UINT8,
    DataType.INT8,
    DataType.UINT16,
    DataType.INT16,
    DataType.INT32,
    DataType.INT64,
    DataType.UINT32,
    DataType.UINT64,
    DataType.UINT4,
    DataType.INT4,
  ].includes(dtype);
}

/** True for floating element types of any width. */
export function isFloatType(dtype: number): boolean {
  return [
    DataType.FLOAT,
    DataType.DOUBLE,
    DataType.FLOAT16,
    DataType.BFLOAT16,
    DataType.FLOAT8E4M3FN,
    DataType.FLOAT8E4M3FNUZ,
    DataType.FLOAT8E5M2,
    DataType.FLOAT8E5M2FNUZ,
    DataType.FLOAT4E2M1,
  ].includes(dtype);
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A dense tensor in memory. `data.length === sizeOf(dims)`. */
export interface Tensor {
  /** Element type. */
  readonly dtype: DataType;
  /** Dimensions ([] for a scalar). */
  readonly dims: readonly number[];
  /** Elements in row-major order (typed array matching dtype; 4-bit types one element per entry). */
  readonly data: TensorData;
}

let floatSource: ((n: number) => Float32Array | undefined) | undefined;

/**
 * Install the source of the zero-filled float32 storage {@link makeTensor} allocates (the CPU evaluator's
 * buffer pool, `onnx/evaluate/_pool.ts`, installs one for the synchronous span of a graph evaluation; a
 * source returning undefined lets makeTensor allocate as usual).
 *
 * @param source the new source, or undefined for plain allocation
 * @returns the previous source, to restore
 */
export function setFloatSource(
  source: ((n: number) => Float32Array | undefined) | undefined,
): ((n: number) => Float32Array | undefined) | undefined {
  const prev = floatSource;
  floatSource = source;
  return prev;
}

/**
 * Make a tensor, allocating zeroed storage when `data` is omitted, and checking that sizes agree.
 *
 * @param dtype element type
 * @param dims shape
 * @param data element storage; must match the dtype's typed array and have `sizeOf(dims)` elements
 * @returns the tensor
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "./tensor.ts";
 * const t = makeTensor(DataType.FLOAT, [2, 3]);
 * assertEquals(t.data.length, 6);
 * ```
 */
export function makeTensor(dtype: DataType, dims: readonly number[], data?: TensorData): Tensor {
  const n = sizeOf(dims);
  if (data === undefined) {
    if (dtype === DataType.FLOAT && floatSource) {
      const pooled = floatSource(n);
      if (pooled) return { dtype, dims: [...dims], data: pooled };
    }
    if (dtype === DataType.STRING) return { dtype, dims: [...dims], data: new Array<string>(n).fill("") };
    const ctor = dtypeInfo(dtype).array;
    if (!ctor) throw new RangeError(`Cannot allocate a tensor of element type ${dtypeName(dtype)}`);
    return { dtype, dims: [...dims], data: new ctor(n) };
  }
  if (data.length !== n) {
    throw new RangeError(`Tensor of shape [${dims.join(",")}] needs ${n} elements, got ${data.length}`);
  }
  return { dtype, dims: [...dims], data };
}

/** Read element `i` of a tensor as a JS number (int64 converted; exact below 2^53). */
export function elementAsNumber(t: Tensor, i: number): number {
  const v = t.data[i];
  return typeof v === "bigint" ? Number(v) : Number(v);
}

/** All elements of a numeric tensor as numbers (int64 converted). For shapes, axes, small constants. */
export function toNumbers(t: Tensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = elementAsNumber(t, i);
  return out;
}
