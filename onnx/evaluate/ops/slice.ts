/**
 * Slice (attributes before opset 10, inputs with steps from 10) and Pad (attributes before opset 11, inputs
 * from 11, `axes` input from 18; modes constant, reflect, edge, wrap; negative pads crop).
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { makeTensor, sizeOf, type Tensor, type TypedArray } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import {
  axisTable,
  copyStridedF32,
  ints,
  normAxis,
  req,
  shapeStr,
  stridesOf,
  takeBy,
  viewOffsets,
} from "./_util.ts";

function slice(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "Slice");
  const r = x.dims.length;
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = attrs.ints("starts");
    ends = attrs.ints("ends");
    axes = attrs.has("axes") ? attrs.ints("axes") : undefined;
  } else {
    starts = ints(req(inputs, 1, "Slice"));
    ends = ints(req(inputs, 2, "Slice"));
    axes = inputs[3] ? ints(inputs[3]) : undefined;
    steps = inputs[4] ? ints(inputs[4]) : undefined;
  }
  axes ??= starts.map((_, i) => i);
  const begin = new Array<number>(r).fill(0), step = new Array<number>(r).fill(1);
  const dims = [...x.dims];
  for (let i = 0; i < axes.length; i++) {
    const a = normAxis(axes[i]!, r, "Slice"), d = x.dims[a]!;
    const s = steps?.[i] ?? 1;
    if (s === 0) throw new RangeError("Slice: step must not be 0");
    let b = starts[i]!, e = ends[i]!;
    if (b < 0) b += d;
    if (e < 0) e += d;
    // ONNX clamping: [0, d] for positive steps, [0, d-1] / [-1, d-1] for negative ones
    if (s > 0) {
      b = Math.min(Math.max(b, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      b = Math.min(Math.max(b, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    begin[a] = b;
    step[a] = s;
    dims[a] = Math.max(0, Math.ceil((e - b) / s));
  }
  const st = stridesOf(x.dims);
  if (x.data instanceof Float32Array) {
    const out = makeTensor(x.dtype, dims);
    const base = begin.reduce((acc, b, a) => acc + (dims[a]! > 0 ? b * st[a]! : 0), 0);
    copyStridedF32(x.data, out.data as Float32Array, dims, st.map((s, a) => s * step[a]!), base);
    return [out];
  }
  const tables = dims.map((d, a) => axisTable(d, begin[a]!, step[a]!, st[a]!));
  return [takeBy(x, dims, viewOffsets(dims, tables))];
}

function pad(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "Pad");
  const r = x.dims.length;
  const mode = attrs.string("mode", "constant");
  let pads: number[], value: number | bigint = 0;
  if (ctx.opset < 11) {
    pads = attrs.ints("pads");
    value = attrs.float("value", 0);
  } else {
    pads = ints(req(inputs, 1, "Pad"));
    if (inputs[2] && inputs[2].data.length > 0) value = (inputs[2].data as TypedArray)[0]!;
    const axes = inputs[3] ? ints(inputs[3]).map((a) => normAxis(a, r, "Pad")) : undefined;
    if (axes) {
      const full = new Array<number>(2 * r).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i]!;
        full[a + r] = pads[i + axes.length]!;
      });
      pads = full;
    }
  }
  if (pads.length !== 2 * r) throw new RangeError(`Pad: ${pads.length} pads for rank ${r}`);
  const dims = x.dims.map((d, a) => d + pads[a]! + pads[a + r]!);
  if (dims.some((d) => d < 0)) {
    throw new RangeError(`Pad: pads [${pads}] crop ${shapeStr(x.dims)} below zero`);
  }
  const st = stridesOf(x.dims);
  let outside = false;
  // below any sum of in-range offsets, and rank * sentinel still fits an Int32
  const sentinel = -(sizeOf(x.dims) + 1);
  // per axis: source offset of each output index, or the negative sentinel for the constant
  const tables = dims.map((d, a) => {
    const n = x.dims[a]!, pb = pads[a]!, t = new Int32Array(d);
    for (let o = 0; o < d; o++) {
      let c = o - pb;
      if (c < 0 || c >= n) {
        if (mode === "constant" || n === 0) {
          t[o] = sentinel;
          outside = true;
          continue;
        }
        if (mode === "edge") c = c < 0 ? 0 : n - 1;
        else if (mode === "wrap") c = ((c % n) + n) % n;
        else if (mode === "reflect") {
          const p = 2 * (n - 1);
          c = n === 1 ? 0 : Math.abs(c) % p;
          if (c >= n) c = p - c;
        } else throw new RangeError(`Pad: unknown mode "${mode}"`);
      }
      t[o] = c * st[a]!;
    }
    return t;
  });
  const map = viewOffsets(dims, tables);
  if (!outside) return [takeBy(x, dims, map)];
  const out = makeTensor(x.dtype, dims);
  const S = x.data as Float32Array, O = out.data as Float32Array;
  const v = (O as TypedArray instanceof BigInt64Array ? BigInt(value) : Number(value)) as number;
  for (let i = 0, n = sizeOf(dims); i < n; i++) O[i] = map[i]! < 0 ? v : S[map[i]!]!;
  return [out];
}

/** Slice and Pad kernels for the default domain. */
export const sliceOps: Record<string, OpKernel> = { Slice: slice, Pad: pad };
