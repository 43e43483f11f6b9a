/**
 * Shape manipulation and tensor creation: Shape, Size, Reshape, Transpose, Squeeze, Unsqueeze, Flatten,
 * Concat, Split, Expand, Tile, Constant, ConstantOfShape, Range, Trilu, Dropout (inference). Ops that only
 * change the shape share the input's storage (tensors are immutable once produced).
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor, type TypedArray } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import {
  axisTable,
  broadcastOffsets,
  broadcastShapes,
  copyStridedF32,
  int64Tensor,
  ints,
  normAxis,
  req,
  shapeStr,
  stridesOf,
  takeBy,
  viewOffsets,
} from "./_util.ts";

function reshaped(x: Tensor, dims: readonly number[]): Tensor {
  return { dtype: x.dtype, dims: [...dims], data: x.data };
}

function reshape(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const x = req(inputs, 0, "Reshape"), shape = ints(req(inputs, 1, "Reshape"));
  const allowZero = attrs.int("allowzero", 0) === 1;
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? x.dims[i]! : d));
  const neg = dims.indexOf(-1);
  if (neg >= 0) {
    const known = sizeOf(dims.filter((_, i) => i !== neg));
    dims[neg] = known === 0 ? 0 : sizeOf(x.dims) / known;
  }
  if (sizeOf(dims) !== sizeOf(x.dims) || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`Reshape: cannot reshape ${shapeStr(x.dims)} to ${shapeStr(shape)}`);
  }
  return [reshaped(x, dims)];
}

/** Transpose a tensor of any element type. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  const st = stridesOf(x.dims);
  const dims = perm.map((p) => x.dims[p]!);
  if (perm.every((p, i) => p === i)) return x;
  if (x.data instanceof Float32Array) {
    const out = makeTensor(x.dtype, dims);
    copyStridedF32(x.data, out.data as Float32Array, dims, perm.map((p) => st[p]!));
    return out;
  }
  const tables = perm.map((p) => axisTable(x.dims[p]!, 0, 1, st[p]!));
  return takeBy(x, dims, viewOffsets(dims, tables));
}

function axesOf(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): number[] | undefined {
  if (ctx.opset >= 13) return inputs[1] ? ints(inputs[1]) : undefined;
  return attrs.has("axes") ? attrs.ints("axes") : undefined;
}

function squeeze(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "Squeeze");
  const axes = axesOf(inputs, attrs, ctx);
  const drop = new Set(
    axes
      ? axes.map((a) => normAxis(a, x.dims.length, "Squeeze"))
      : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])),
  );
  for (const a of drop) {
    if (x.dims[a] !== 1) throw new RangeError(`Squeeze: axis ${a} of ${shapeStr(x.dims)} is not 1`);
  }
  return [reshaped(x, x.dims.filter((_, i) => !drop.has(i)))];
}

function unsqueeze(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "Unsqueeze");
  const axes = axesOf(inputs, attrs, ctx);
  if (!axes) throw new TypeError("Unsqueeze: axes are required");
  const r = x.dims.length + axes.length;
  const ins = new Set(axes.map((a) => normAxis(a, r, "Unsqueeze")));
  const dims: number[] = [];
  for (let i = 0, j = 0; i < r; i++) dims.push(ins.has(i) ? 1 : x.dims[j++]!);
  return [reshaped(x, dims)];
}

function concat(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const xs = inputs.filter((t): t is Tensor => t !== undefined);
  const first = xs[0];
  if (!first) throw new TypeError("Concat: needs at least one input");
  const rank = first.dims.length;
  const axis = normAxis(attrs.int("axis"), rank, "Concat");
  const dims = [...first.dims];
  dims[axis] = 0;
  for (const t of xs) {
    if (t.dims.length !== rank || t.dims.some((d, i) => i !== axis && d !== first.dims[i])) {
      throw new RangeError(
        `Concat: shapes ${xs.map((x) => shapeStr(x.dims)).join(", ")} differ off axis ${axis}`,
      );
    }
    dims[axis] += t.dims[axis]!;
  }
  const out = makeTensor(first.dtype, dims);
  const outer = sizeOf(dims.slice(0, axis)), inner = sizeOf(dims.slice(axis + 1));
  const O = out.data as TypedArray, rowOut = dims[axis]! * inner;
  let off = 0;
  for (const t of xs) {
    const blk = t.dims[axis]! * inner, S = t.data as TypedArray;
    for (let o = 0; o < outer; o++) {
      if (Array.isArray(O)) { for (let i = 0; i < blk; i++) O[o * rowOut + off + i] = S[o * blk + i]!; }
      else (O as Float32Array).set((S as Float32Array).subarray(o * blk, (o + 1) * blk), o * rowOut + off);
    }
    off += blk;
  }
  return [out];
}

/** Slice `[start, start+len)` of `axis`. */
export function sliceAxis(x: Tensor, axis: number, start: number, len: number): Tensor {
  const st = stridesOf(x.dims);
  const dims = [...x.dims];
  dims[axis] = len;
  if (x.data instanceof Float32Array) {
    const out = makeTensor(x.dtype, dims);
    copyStridedF32(x.data, out.data as Float32Array, dims, st, len > 0 ? start * st[axis]! : 0);
    return out;
  }
  const tables = dims.map((d, a) => axisTable(d, a === axis ? start : 0, 1, st[a]!));
  return takeBy(x, dims, viewOffsets(dims, tables));
}

function split(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "Split");
  const axis = normAxis(attrs.int("axis", 0), x.dims.length, "Split");
  const D = x.dims[axis]!;
  let sizes: number[] | undefined = ctx.opset >= 13
    ? (inputs[1] ? ints(inputs[1]) : undefined)
    : (attrs.has("split") ? attrs.ints("split") : undefined);
  if (!sizes) {
    const k = attrs.has("num_outputs") ? attrs.int("num_outputs") : (ctx.numOutputs ?? 1);
    const chunk = Math.ceil(D / k);
    sizes = Array.from({ length: k }, (_, i) => Math.max(0, Math.min(chunk, D - i * chunk)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== D) {
    throw new RangeError(`Split: sizes [${sizes}] do not add up to ${D} on axis ${axis}`);
  }
  let start = 0;
  return sizes.map((s) => {
    const t = sliceAxis(x, axis, start, s);
    start += s;
    return t;
  });
}

function expand(inputs: (Tensor | undefined)[]): Tensor[] {
  const x = req(inputs, 0, "Expand"), shape = ints(req(inputs, 1, "Expand"));
  const dims = broadcastShapes([x.dims, shape], "Expand");
  if (x.data instanceof Float32Array) {
    const st = stridesOf(x.dims), lead = dims.length - x.dims.length;
    const strides = dims.map((_, i) => i < lead || x.dims[i - lead] === 1 ? 0 : st[i - lead]!);
    const out = makeTensor(x.dtype, dims);
    copyStridedF32(x.data, out.data as Float32Array, dims, strides);
    return [out];
  }
  return [takeBy(x, dims, broadcastOffsets(x.dims, dims))];
}

function tile(inputs: (Tensor | undefined)[]): Tensor[] {
  const x = req(inputs, 0, "Tile"), reps = ints(req(inputs, 1, "Tile"));
  const st = stridesOf(x.dims);
  const dims = x.dims.map((d, i) => d * reps[i]!);
  const tables = dims.map((d, a) => {
    const t = new Int32Array(d);
    for (let i = 0; i < d; i++) t[i] = (i % x.dims[a]!) * st[a]!;
    return t;
  });
  return [takeBy(x, dims, viewOffsets(dims, tables))];
}

function constant(_inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const t = attrs.tensor("value");
  if (t) return [t];
  if (attrs.has("value_float")) {
    return [makeTensor(DataType.FLOAT, [], new Float32Array([attrs.float("value_float")]))];
  }
  if (attrs.has("value_floats")) {
    const v = attrs.floats("value_floats");
    return [makeTensor(DataType.FLOAT, [v.length], new Float32Array(v))];
  }
  if (attrs.has("value_int")) {
    return [makeTensor(DataType.INT64, [], BigInt64Array.of(attrs.int64("value_int")))];
  }
  if (attrs.has("value_ints")) {
    const v = attrs.intsExact("value_ints");
    return [makeTensor(DataType.INT64, [v.length], BigInt64Array.from(v, (x) => BigInt(x)))];
  }
  if (attrs.has("value_string")) return [makeTensor(DataType.STRING, [], [attrs.string("value_string")])];
  if (attrs.has("value_strings")) {
    const v = attrs.strings("value_strings");
    return [makeTensor(DataType.STRING, [v.length], v)];
  }
  throw new TypeError("Constant: no supported value attribute (sparse_value is not supported)");
}

function constantOfShape(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const dims = ints(req(inputs, 0, "ConstantOfShape"));
  const v = attrs.tensor("value");
  const out = makeTensor(v?.dtype ?? DataType.FLOAT, dims);
  if (v) (out.data as Float32Array).fill((v.data as Float32Array)[0]!);
  return [out];
}

function range(inputs: (Tensor | undefined)[]): Tensor[] {
  const [s, l, d] = [0, 1, 2].map((i) => req(inputs, i, "Range"));
  if (s!.data instanceof BigInt64Array) {
    // int64 in bigint arithmetic: start + i * delta stays exact near INT64_MAX
    const start = s!.data[0]!, limit = (l!.data as BigInt64Array)[0]!, delta = (d!.data as BigInt64Array)[0]!;
    if (delta === 0n) throw new RangeError("Range: delta must not be 0");
    const span = limit - start;
    const q = span / delta, n = q >= 0n ? Number(q + (span % delta === 0n ? 0n : 1n)) : 0;
    const out = makeTensor(s!.dtype, [n]);
    const O = out.data as BigInt64Array;
    for (let i = 0; i < n; i++) O[i] = start + BigInt(i) * delta;
    return [out];
  }
  const start = Number(s!.data[0]), limit = Number(l!.data[0]), delta = Number(d!.data[0]);
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  const out = makeTensor(s!.dtype, [n]);
  const O = out.data as TypedArray;
  for (let i = 0; i < n; i++) (O as Float32Array)[i] = start + i * delta;
  return [out];
}

function trilu(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const x = req(inputs, 0, "Trilu");
  const k = inputs[1] ? Number(inputs[1].data[0]) : 0;
  const upper = attrs.int("upper", 1) === 1;
  const r = x.dims.length;
  if (r < 2) throw new RangeError(`Trilu: input must be at least 2-D, got ${shapeStr(x.dims)}`);
  const R = x.dims[r - 2]!, C = x.dims[r - 1]!;
  const out = makeTensor(x.dtype, x.dims);
  const S = x.data as Float32Array, O = out.data as Float32Array;
  for (let b = 0, nb = sizeOf(x.dims.slice(0, -2)); b < nb; b++) {
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < C; j++) {
        const keep = upper ? j - i >= k : j - i <= k;
        if (keep) O[(b * R + i) * C + j] = S[(b * R + i) * C + j]!;
      }
    }
  }
  return [out];
}

function shape(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const x = req(inputs, 0, "Shape");
  const r = x.dims.length;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clampAxis(attrs.int("start", 0)), end = clampAxis(attrs.int("end", r));
  const dims = x.dims.slice(start, Math.max(start, end));
  return [int64Tensor([dims.length], dims)];
}

/** Shape and creation kernels for the default domain. */
export const shapeOps: Record<string, OpKernel> = {
  Shape: shape,
  Size: (inputs) => [int64Tensor([], [sizeOf(req(inputs, 0, "Size").dims)])],
  Reshape: reshape,
  Transpose: (inputs, attrs) => {
    const x = req(inputs, 0, "Transpose");
    const perm = attrs.ints("perm", x.dims.map((_, i) => x.dims.length - 1 - i));
    return [transpose(x, perm)];
  },
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Flatten: (inputs, attrs) => {
    const x = req(inputs, 0, "Flatten");
    const a = attrs.int("axis", 1);
    const axis = a === x.dims.length ? a : normAxis(a, x.dims.length, "Flatten");
    return [reshaped(x, [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))])];
  },
  Concat: concat,
  Split: split,
  Expand: expand,
  Tile: tile,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Trilu: trilu,
  Dropout: (inputs, _attrs, ctx) => {
    const x = req(inputs, 0, "Dropout");
    if ((ctx.numOutputs ?? 1) < 2) return [x];
    const mask = makeTensor(DataType.BOOL, x.dims);
    (mask.data as Uint8Array).fill(1);
    return [x, mask];
  },
};
