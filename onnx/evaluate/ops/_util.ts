/**
 * Private helpers shared by the op kernels: input checks, axis normalisation, strides and broadcasting.
 * @module
 */
import { DataType, dtypeName, makeTensor, sizeOf, type Tensor, type TypedArray } from "../../tensor.ts";

/** The `i`-th input, which the op requires. */
export function req(inputs: (Tensor | undefined)[], i: number, op: string): Tensor {
  const t = inputs[i];
  if (!t) throw new TypeError(`${op}: required input ${i} is missing`);
  return t;
}

/** The data of a FLOAT tensor. */
export function f32(t: Tensor, op: string, what = "input"): Float32Array {
  if (t.dtype !== DataType.FLOAT || !(t.data instanceof Float32Array)) {
    throw new TypeError(`${op}: ${what} must be FLOAT, got ${dtypeName(t.dtype)}`);
  }
  return t.data;
}

/** The data of any numeric tensor. */
export function numeric(t: Tensor, op: string): TypedArray {
  if (Array.isArray(t.data)) throw new TypeError(`${op}: STRING tensors are not supported`);
  return t.data as TypedArray;
}

/** Normalise a possibly negative axis into `[0, rank)`. */
export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new RangeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/** Numpy-style multidirectional broadcast of shapes. */
export function broadcastShapes(shapes: readonly (readonly number[])[], op: string): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else {
        throw new RangeError(
          `${op}: shapes ${shapes.map((x) => `[${x.join(",")}]`).join(" and ")} cannot be broadcast`,
        );
      }
    }
  }
  return out;
}

/**
 * For each element of a tensor of shape `outDims`, the flat offset of the element of `inDims` that
 * broadcasting reads; `null` when the shapes are equal (identity).
 */
export function broadcastOffsets(inDims: readonly number[], outDims: readonly number[]): Int32Array | null {
  const n = sizeOf(outDims);
  if (sizeOf(inDims) === n) return null;
  const offs = new Int32Array(n);
  if (sizeOf(inDims) === 1 || n === 0) return offs;
  const rank = outDims.length;
  const inStr = stridesOf(inDims);
  // effective stride per output axis: 0 where the input is broadcast
  const st = new Array<number>(rank).fill(0);
  for (let i = 0; i < inDims.length; i++) {
    const o = rank - inDims.length + i;
    st[o] = inDims[i] === 1 ? 0 : inStr[i]!;
  }
  const inner = outDims[rank - 1]!;
  const sInner = st[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let base = 0;
  for (let i = 0; i < n; i += inner) {
    for (let j = 0; j < inner; j++) offs[i + j] = base + j * sInner;
    // odometer over the outer axes
    for (let a = rank - 2; a >= 0; a--) {
      idx[a]!++;
      base += st[a]!;
      if (idx[a]! < outDims[a]!) break;
      base -= st[a]! * idx[a]!;
      idx[a] = 0;
    }
  }
  return offs;
}

/** An INT64 tensor from numbers. */
export function int64Tensor(dims: readonly number[], values: readonly number[]): Tensor {
  const d = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) d[i] = BigInt(values[i]!);
  return makeTensor(DataType.INT64, dims, d);
}

/** A new tensor of the same element type as `like`. */
export function alloc(like: Tensor, dims: readonly number[]): Tensor {
  return makeTensor(like.dtype, dims);
}

/** Copy `dims` as a readable string for messages. */
export function shapeStr(dims: readonly number[]): string {
  return `[${dims.join(",")}]`;
}

/** A tensor of `dims` whose element i is `t.data[map[i]]` (any element type, strings included). */
export function takeBy(t: Tensor, dims: readonly number[], map: Int32Array | null): Tensor {
  if (!map) return { dtype: t.dtype, dims: [...dims], data: t.data };
  const out = makeTensor(t.dtype, dims);
  // Float32 (nearly every call) through its own loop: one element type per loop keeps V8's access monomorphic.
  if (t.data instanceof Float32Array) gatherF32(t.data, out.data as Float32Array, map);
  else {
    const S = t.data as unknown as Float32Array, O = out.data as unknown as Float32Array;
    for (let i = 0, n = map.length; i < n; i++) O[i] = S[map[i]!]!;
  }
  return out;
}

/**
 * O = the strided view of S with output `dims`, input element strides `strides` (row-major over dims; 0 on
 * a broadcast axis, negative for a reversed one) and first element `base`, copied run by run: axes that
 * stay contiguous are merged first, and a run whose input stride is 1 is one `set` of a subarray. No
 * per-element offset table (Transpose, Slice and Expand of float32, the hot cases, use it).
 */
export function copyStridedF32(
  S: Float32Array,
  O: Float32Array,
  dims: readonly number[],
  strides: readonly number[],
  base = 0,
): void {
  // merge axis a into a+1 where stride[a] = dims[a+1] * stride[a+1]; drop axes of size 1
  const d: number[] = [], st: number[] = [];
  for (let a = 0; a < dims.length; a++) {
    if (dims[a] === 1) continue;
    const k = d.length - 1;
    if (k >= 0 && st[k] === dims[a]! * strides[a]!) d[k]! *= dims[a]!, st[k] = strides[a]!;
    else d.push(dims[a]!), st.push(strides[a]!);
  }
  const n = O.length;
  if (n === 0) return;
  if (d.length === 0) {
    O[0] = S[base]!;
    return;
  }
  const m = d.length, L = d[m - 1]!, s = st[m - 1]!;
  const idx = new Array<number>(m).fill(0);
  let src = base;
  for (let o = 0; o < n; o += L) {
    if (s === 1 && L >= 64) O.set(S.subarray(src, src + L), o); // short runs: no subarray per run
    else for (let j = 0; j < L; j++) O[o + j] = S[src + j * s]!;
    for (let a = m - 2; a >= 0; a--) {
      src += st[a]!;
      if (++idx[a]! < d[a]!) break;
      src -= st[a]! * d[a]!;
      idx[a] = 0;
    }
  }
}

function gatherF32(S: Float32Array, O: Float32Array, map: Int32Array): void {
  for (let i = 0, n = map.length; i < n; i++) O[i] = S[map[i]!]!;
}

/**
 * Offsets of a strided view: element i of shape `dims` (row-major) reads `base + sum_a idx_a * strides[a]`.
 * Transpose, Slice, Tile and Pad are all such views or per-axis index tables.
 */
export function viewOffsets(dims: readonly number[], tables: readonly Int32Array[]): Int32Array {
  const n = sizeOf(dims), rank = dims.length;
  const offs = new Int32Array(n);
  if (n === 0) return offs;
  if (rank === 0) {
    offs[0] = 0;
    return offs;
  }
  const inner = dims[rank - 1]!, tInner = tables[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let base = 0;
  for (let a = 0; a < rank - 1; a++) base += tables[a]![0]!;
  for (let i = 0; i < n; i += inner) {
    for (let j = 0; j < inner; j++) offs[i + j] = base + tInner[j]!;
    for (let a = rank - 2; a >= 0; a--) {
      const t = tables[a]!;
      base -= t[idx[a]!]!;
      idx[a]!++;
      if (idx[a]! < dims[a]!) {
        base += t[idx[a]!]!;
        break;
      }
      idx[a] = 0;
      base += t[0]!;
    }
  }
  return offs;
}

/** Per-axis offset table `[0, s, 2s, ...]` scaled by the input stride, starting at `start`, step `step`. */
export function axisTable(count: number, start: number, step: number, stride: number): Int32Array {
  const t = new Int32Array(count);
  for (let i = 0; i < count; i++) t[i] = (start + i * step) * stride;
  return t;
}

/** Read an int tensor (indices, shapes, axes) as numbers. */
export function ints(t: Tensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}
