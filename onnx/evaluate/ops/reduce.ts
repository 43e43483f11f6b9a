/**
 * Reductions (ReduceMean/Sum/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp) and ArgMax/ArgMin. Axes are an
 * attribute before opset 18 (before 13 for ReduceSum) and an optional input after; an empty axes list
 * reduces everything unless `noop_with_empty_axes` is set.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, toNumbers, type TypedArray } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { broadcastOffsets, normAxis, numeric, req } from "./_util.ts";

interface ReduceSpec {
  init: number;
  step: (acc: number, x: number) => number;
  fin: (acc: number, n: number) => number;
}

const SPECS: Record<string, ReduceSpec> = {
  ReduceSum: { init: 0, step: (a, x) => a + x, fin: (a) => a },
  ReduceMean: { init: 0, step: (a, x) => a + x, fin: (a, n) => a / n },
  ReduceMax: { init: -Infinity, step: (a, x) => (x > a || x !== x ? x : a), fin: (a) => a },
  ReduceMin: { init: Infinity, step: (a, x) => (x < a || x !== x ? x : a), fin: (a) => a },
  ReduceProd: { init: 1, step: (a, x) => a * x, fin: (a) => a },
  ReduceL1: { init: 0, step: (a, x) => a + Math.abs(x), fin: (a) => a },
  ReduceL2: { init: 0, step: (a, x) => a + x * x, fin: (a) => Math.sqrt(a) },
  ReduceSumSquare: { init: 0, step: (a, x) => a + x * x, fin: (a) => a },
  ReduceLogSum: { init: 0, step: (a, x) => a + x, fin: (a) => Math.log(a) },
  ReduceLogSumExp: { init: 0, step: (a, x) => a + Math.exp(x), fin: (a) => Math.log(a) },
};

/** Reductions whose step is a plain sum of the elements (the float32 fast path). */
const SUMS = new Set(["ReduceSum", "ReduceMean", "ReduceLogSum"]);

/** int64 reductions in bigint arithmetic (wrapping at 64 bits as an int64 accumulator does): exact. */
const BIG_SPECS: Record<string, { init: bigint; step: (acc: bigint, x: bigint) => bigint }> = {
  ReduceSum: { init: 0n, step: (a, x) => a + x },
  ReduceMax: { init: -(2n ** 63n), step: (a, x) => (x > a ? x : a) },
  ReduceMin: { init: 2n ** 63n - 1n, step: (a, x) => (x < a ? x : a) },
  ReduceProd: { init: 1n, step: (a, x) => a * x },
  ReduceL1: { init: 0n, step: (a, x) => a + (x < 0n ? -x : x) },
  ReduceSumSquare: { init: 0n, step: (a, x) => a + x * x },
};

function reduce(op: string): OpKernel {
  const spec = SPECS[op]!;
  const axesAsInput = op === "ReduceSum" ? 13 : 18;
  return (inputs, attrs: Attrs, ctx: OpContext) => {
    const x = req(inputs, 0, op);
    const X = numeric(x, op);
    const rank = x.dims.length;
    let axes: number[];
    if (ctx.opset >= axesAsInput) axes = inputs[1] ? toNumbers(inputs[1]) : [];
    else axes = attrs.ints("axes", []);
    const keep = attrs.int("keepdims", 1) === 1;
    if (axes.length === 0) {
      if (ctx.opset >= axesAsInput && attrs.int("noop_with_empty_axes", 0) === 1) return [x];
      axes = x.dims.map((_, i) => i);
    }
    const red = new Set(axes.map((a) => normAxis(a, rank, op)));
    const keptDims = x.dims.map((d, i) => (red.has(i) ? 1 : d));
    const outDims = keep ? keptDims : x.dims.filter((_, i) => !red.has(i));
    const out = makeTensor(x.dtype, outDims);
    const m = sizeOf(keptDims), n = X.length;
    // float32 sums over trailing axes (RMSNorm's mean of squares, LayerNorm parts): contiguous rows, the
    // same in-order double sums as the generic loop, without its per-element slot table and step call
    const trailing = [...red].every((a) => a >= rank - red.size);
    const squares = op === "ReduceSumSquare" || op === "ReduceL2";
    if (
      x.dtype === DataType.FLOAT && X instanceof Float32Array && m > 0 && trailing &&
      (squares || SUMS.has(op))
    ) {
      const L = n / m, O = out.data as Float32Array;
      for (let o = 0; o < m; o++) {
        let a = 0;
        if (squares) { for (let j = o * L, e = j + L; j < e; j++) a += X[j]! * X[j]!; }
        else for (let j = o * L, e = j + L; j < e; j++) a += X[j]!;
        O[o] = spec.fin(a, L);
      }
      return [out];
    }
    const acc = new Float64Array(m).fill(spec.init);
    // each input element's output slot: the kept-dims output broadcast back to the input shape
    const slot = broadcastOffsets(keptDims, x.dims);
    const big = X instanceof BigInt64Array || X instanceof BigUint64Array;
    const bigSpec = X instanceof BigInt64Array ? BIG_SPECS[op] : undefined;
    if (bigSpec) {
      const accB = new Array<bigint>(m).fill(bigSpec.init);
      for (let i = 0; i < n; i++) {
        const o = slot ? slot[i]! : i;
        accB[o] = BigInt.asIntN(64, bigSpec.step(accB[o]!, X[i] as bigint));
      }
      const OB = out.data as BigInt64Array;
      for (let o = 0; o < m; o++) OB[o] = accB[o]!;
      return [out];
    }
    for (let i = 0; i < n; i++) {
      const o = slot ? slot[i]! : i;
      acc[o] = spec.step(acc[o]!, big ? Number(X[i]!) : (X as Float32Array)[i]!);
    }
    const count = m === 0 ? 0 : n / m;
    const O = out.data as TypedArray;
    for (let o = 0; o < m; o++) {
      let v = spec.fin(acc[o]!, count);
      if (x.dtype !== DataType.FLOAT && x.dtype !== DataType.DOUBLE) v = Math.trunc(v);
      if (big) (O as BigInt64Array)[o] = BigInt(v);
      else (O as Float32Array)[o] = v;
    }
    return [out];
  };
}

function argReduce(op: "ArgMax" | "ArgMin"): OpKernel {
  return (inputs, attrs) => {
    const x = req(inputs, 0, op);
    const X = numeric(x, op) as Float32Array;
    const axis = normAxis(attrs.int("axis", 0), x.dims.length, op);
    const keep = attrs.int("keepdims", 1) === 1, last = attrs.int("select_last_index", 0) === 1;
    const D = x.dims[axis]!, inner = sizeOf(x.dims.slice(axis + 1)), outer = sizeOf(x.dims.slice(0, axis));
    const dims = keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
    const out = makeTensor(DataType.INT64, dims), O = out.data as BigInt64Array;
    const sign = op === "ArgMax" ? 1 : -1;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        const base = o * D * inner + j;
        let best = sign * Number(X[base]!), bi = 0;
        for (let k = 1; k < D; k++) {
          const v = sign * Number(X[base + k * inner]!);
          if (v > best || (last && v === best)) {
            best = v;
            bi = k;
          }
        }
        O[o * inner + j] = BigInt(bi);
      }
    }
    return [out];
  };
}

/** Reduction kernels for the default domain. */
export const reduceOps: Record<string, OpKernel> = {
  ...Object.fromEntries(Object.keys(SPECS).map((op) => [op, reduce(op)])),
  ArgMax: argReduce("ArgMax"),
  ArgMin: argReduce("ArgMin"),
};
