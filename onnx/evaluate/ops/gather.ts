/**
 * Indexing ops: Gather, GatherElements (negative indices allowed) and TopK (ties keep the lower index, as
 * onnxruntime does).
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { ints, normAxis, req, shapeStr, stridesOf, takeBy } from "./_util.ts";

function index(i: number, d: number, op: string): number {
  const j = i < 0 ? i + d : i;
  if (j < 0 || j >= d) throw new RangeError(`${op}: index ${i} is out of range for axis of size ${d}`);
  return j;
}

function gather(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const x = req(inputs, 0, "Gather"), idxT = req(inputs, 1, "Gather");
  const axis = normAxis(attrs.int("axis", 0), x.dims.length, "Gather");
  const idx = ints(idxT);
  const D = x.dims[axis]!, outer = sizeOf(x.dims.slice(0, axis)), inner = sizeOf(x.dims.slice(axis + 1));
  const dims = [...x.dims.slice(0, axis), ...idxT.dims, ...x.dims.slice(axis + 1)];
  if (x.data instanceof Float32Array) { // runs of `inner` floats copied directly, no offset table
    const X = x.data, out = makeTensor(DataType.FLOAT, dims), O = out.data as Float32Array;
    let o = 0;
    for (let a = 0; a < outer; a++) {
      for (const i of idx) {
        const src = (a * D + index(i, D, "Gather")) * inner;
        if (inner >= 64) O.set(X.subarray(src, src + inner), o);
        else for (let j = 0; j < inner; j++) O[o + j] = X[src + j]!;
        o += inner;
      }
    }
    return [out];
  }
  const map = new Int32Array(sizeOf(dims));
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const i of idx) {
      const src = (a * D + index(i, D, "Gather")) * inner;
      for (let j = 0; j < inner; j++) map[o++] = src + j;
    }
  }
  return [takeBy(x, dims, map)];
}

function gatherElements(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const x = req(inputs, 0, "GatherElements"), idxT = req(inputs, 1, "GatherElements");
  const r = x.dims.length;
  const axis = normAxis(attrs.int("axis", 0), r, "GatherElements");
  if (idxT.dims.length !== r) {
    throw new RangeError(
      `GatherElements: indices ${shapeStr(idxT.dims)} and data ${shapeStr(x.dims)} differ in rank`,
    );
  }
  const idx = ints(idxT), xs = stridesOf(x.dims), n = idx.length;
  const map = new Int32Array(n);
  const pos = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let a = 0; a < r; a++) {
      off += (a === axis ? index(idx[i]!, x.dims[a]!, "GatherElements") : pos[a]!) * xs[a]!;
    }
    map[i] = off;
    for (let a = r - 1; a >= 0; a--) {
      if (++pos[a]! < idxT.dims[a]!) break;
      pos[a] = 0;
    }
  }
  return [takeBy(x, idxT.dims, map)];
}

function topK(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "TopK");
  const k = ctx.opset < 10 ? attrs.int("k") : Number(req(inputs, 1, "TopK").data[0]);
  const axis = normAxis(attrs.int("axis", -1), x.dims.length, "TopK");
  const largest = attrs.int("largest", 1) === 1;
  const D = x.dims[axis]!, outer = sizeOf(x.dims.slice(0, axis)), inner = sizeOf(x.dims.slice(axis + 1));
  if (k < 0 || k > D) throw new RangeError(`TopK: k=${k} is out of range for axis of size ${D}`);
  const dims = x.dims.map((d, i) => (i === axis ? k : d));
  const S = x.data as Float32Array;
  const valMap = new Int32Array(sizeOf(dims));
  const idxT = makeTensor(DataType.INT64, dims), I = idxT.data as BigInt64Array;
  const order = new Array<number>(D);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * D * inner + j;
      for (let d = 0; d < D; d++) order[d] = d;
      order.sort((p, q) => {
        const a = Number(S[base + p * inner]!), b = Number(S[base + q * inner]!);
        return a === b ? p - q : (largest ? b - a : a - b);
      });
      for (let t = 0; t < k; t++) {
        const oi = (o * k + t) * inner + j;
        valMap[oi] = base + order[t]! * inner;
        I[oi] = BigInt(order[t]!);
      }
    }
  }
  return [takeBy(x, dims, valMap), idxT];
}

/** Indexing kernels for the default domain. */
export const gatherOps: Record<string, OpKernel> = {
  Gather: gather,
  GatherElements: gatherElements,
  TopK: topK,
};
