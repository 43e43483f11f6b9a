/**
 * Float32 tensors read through strides: the value of a Transpose (or of a Gather of one index along the first
 * axis) that the CPU evaluator did not copy, because its only readers are MatMuls, which read any strides
 * (`_fusion.ts` decides where). Such a tensor shares its source's storage (so the buffer pool keeps that
 * alive) and its `data` is the source's array, not a row-major array of its own dims: only code that asks
 * {@link viewOf} may read it, and {@link materialize} gives everyone else a row-major copy.
 * @module
 */
import { DataType, makeTensor, type Tensor } from "../../tensor.ts";
import { copyStridedF32, stridesOf } from "./_util.ts";

/** Where a viewed tensor's element (i0, i1, ...) lives in its `data`: `off + sum_k i_k strides[k]`. */
export interface Strides {
  off: number;
  strides: number[];
}

const views = new WeakMap<Tensor, Strides>();

/** The strides of `t`: its registered view, or row-major ones. */
export function viewOf(t: Tensor): Strides {
  return views.get(t) ?? { off: 0, strides: stridesOf(t.dims) };
}

/** Whether `t` is a strided view (its data is not row-major). */
export function isView(t: Tensor): boolean {
  return views.has(t);
}

/** A float32 tensor of `dims` reading `data` through `s` (no copy). */
export function makeView(data: Float32Array, dims: readonly number[], s: Strides): Tensor {
  const t: Tensor = { dtype: DataType.FLOAT, dims: [...dims], data };
  views.set(t, s);
  return t;
}

/** `t` itself where it is row-major; else a row-major copy. */
export function materialize(t: Tensor): Tensor {
  const s = views.get(t);
  if (!s) return t;
  const out = makeTensor(DataType.FLOAT, t.dims);
  copyStridedF32(t.data as Float32Array, out.data as Float32Array, t.dims, s.strides, s.off);
  return out;
}

/** The view of Transpose(t, perm), without a copy. */
export function transposeView(t: Tensor, perm: readonly number[]): Tensor {
  const s = viewOf(t);
  return makeView(t.data as Float32Array, perm.map((p) => t.dims[p]!), {
    off: s.off,
    strides: perm.map((p) => s.strides[p]!),
  });
}

/** The view of `t[i]` (Gather of one index along axis 0), without a copy. */
export function indexView(t: Tensor, i: number): Tensor {
  const s = viewOf(t);
  return makeView(t.data as Float32Array, t.dims.slice(1), {
    off: s.off + i * s.strides[0]!,
    strides: s.strides.slice(1),
  });
}
