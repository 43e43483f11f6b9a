/**
 * Resize (opsets 10..19) and Upsample: nearest (all element types), linear and cubic (float), with the
 * coordinate_transformation_modes half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners and
 * asymmetric. Interpolation is separable, so it runs one axis at a time on per-axis (index, weight) tables;
 * out-of-range neighbours take the edge value, as in the ONNX reference implementation.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { roundHalfEven } from "../../../quant/round.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { axisTable, f32, ints, normAxis, req, shapeStr, stridesOf, takeBy, viewOffsets } from "./_util.ts";

type Coord = (x: number, scale: number, lenIn: number, lenOut: number) => number;

const COORD: Record<string, Coord> = {
  half_pixel: (x, s) => (x + 0.5) / s - 0.5,
  half_pixel_symmetric: (x, s, li, lo) => {
    const adj = lo / (s * li), offset = (li / 2) * (1 - adj);
    return offset + (x + 0.5) / s - 0.5;
  },
  pytorch_half_pixel: (x, s, _li, lo) => (lo > 1 ? (x + 0.5) / s - 0.5 : 0),
  align_corners: (x, _s, li, lo) => (lo === 1 ? 0 : (x * (li - 1)) / (lo - 1)),
  asymmetric: (x, s) => x / s,
};

const NEAREST: Record<string, (x: number) => number> = {
  round_prefer_floor: (x) => (x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x)),
  round_prefer_ceil: (x) => Math.round(x),
  floor: Math.floor,
  ceil: Math.ceil,
};

function cubicCoeffs(t: number, a: number): number[] {
  const u = t + 1, v = 1 - t, w = 2 - t;
  return [
    ((a * u - 5 * a) * u + 8 * a) * u - 4 * a,
    ((a + 2) * t - (a + 3)) * t * t + 1,
    ((a + 2) * v - (a + 3)) * v * v + 1,
    ((a * w - 5 * a) * w + 8 * a) * w - 4 * a,
  ];
}

interface Plan {
  outDims: number[];
  scales: number[];
}

function plan(x: Tensor, inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext, op: string): Plan {
  const r = x.dims.length;
  const scalesT = ctx.opset < 11 ? inputs[1] : inputs[2], sizesT = ctx.opset < 11 ? undefined : inputs[3];
  const axes = attrs.has("axes")
    ? attrs.ints("axes").map((a) => normAxis(a, r, op))
    : x.dims.map((_, i) => i);
  const scales = x.dims.map(() => 1), outDims = [...x.dims];
  if (sizesT && sizesT.data.length > 0) {
    const sizes = ints(sizesT);
    const policy = attrs.string("keep_aspect_ratio_policy", "stretch");
    if (policy === "stretch") {
      axes.forEach((a, i) => {
        outDims[a] = sizes[i]!;
        scales[a] = sizes[i]! / x.dims[a]!;
      });
    } else {
      const ratios = axes.map((a, i) => sizes[i]! / x.dims[a]!);
      const s = policy === "not_larger" ? Math.min(...ratios) : Math.max(...ratios);
      for (const a of axes) {
        scales[a] = s;
        outDims[a] = roundHalfEven(s * x.dims[a]!);
      }
    }
  } else if (scalesT && scalesT.data.length > 0) {
    const s = Array.from(f32(scalesT, op, "scales"));
    axes.forEach((a, i) => {
      scales[a] = s[i]!;
      outDims[a] = Math.floor(x.dims[a]! * s[i]!);
    });
  } else throw new TypeError(`${op}: one of scales or sizes is required`);
  return { outDims, scales };
}

/** Resize a tensor. */
function resize(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext, op: string): Tensor {
  const x = req(inputs, 0, op);
  const { outDims, scales } = plan(x, inputs, attrs, ctx, op);
  const mode = attrs.string("mode", "nearest");
  const ctm = ctx.opset < 11 ? "asymmetric" : attrs.string("coordinate_transformation_mode", "half_pixel");
  if (attrs.int("antialias", 0) !== 0) throw new RangeError(`${op}: antialias=1 is not supported`);
  const coord = COORD[ctm];
  if (!coord) throw new RangeError(`${op}: coordinate_transformation_mode "${ctm}" is not supported`);
  const r = x.dims.length;
  if (mode === "nearest") {
    const nm = ctx.opset < 11 ? "floor" : attrs.string("nearest_mode", "round_prefer_floor");
    const near = NEAREST[nm];
    if (!near) throw new RangeError(`${op}: nearest_mode "${nm}" is not supported`);
    const st = stridesOf(x.dims);
    const tables = outDims.map((d, a) => {
      const li = x.dims[a]!;
      if (d === li && scales[a] === 1) return axisTable(d, 0, 1, st[a]!);
      const t = new Int32Array(d);
      for (let o = 0; o < d; o++) {
        const i = near(coord(o, scales[a]!, li, d));
        t[o] = Math.min(Math.max(i, 0), li - 1) * st[a]!;
      }
      return t;
    });
    return takeBy(x, outDims, viewOffsets(outDims, tables));
  }
  if (mode !== "linear" && mode !== "cubic") throw new RangeError(`${op}: mode "${mode}" is not supported`);
  const a = attrs.float("cubic_coeff_a", -0.75), exclude = attrs.int("exclude_outside", 0) === 1;
  // typed-array constructor and set() convert element by element without the iterator protocol of from()
  let cur: Float64Array = new Float64Array(f32(x, op, "X"));
  let dims = [...x.dims];
  for (let ax = 0; ax < r; ax++) {
    const li = x.dims[ax]!, lo = outDims[ax]!;
    if (li === lo && scales[ax] === 1) continue;
    // per output index: taps (input index, weight)
    const taps = mode === "linear" ? 2 : 4;
    const idx = new Int32Array(lo * taps), w = new Float64Array(lo * taps);
    for (let o = 0; o < lo; o++) {
      const xo = coord(o, scales[ax]!, li, lo);
      const i0 = Math.floor(xo), t = xo - i0;
      const cs = mode === "linear" ? [1 - t, t] : cubicCoeffs(t, a);
      const first = mode === "linear" ? i0 : i0 - 1;
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const i = first + k;
        let wk = cs[k]!;
        if (exclude && (i < 0 || i >= li)) wk = 0;
        idx[o * taps + k] = Math.min(Math.max(i, 0), li - 1);
        w[o * taps + k] = wk;
        sum += wk;
      }
      if (exclude && sum !== 0) { for (let k = 0; k < taps; k++) w[o * taps + k]! /= sum; }
    }
    const outer = sizeOf(dims.slice(0, ax)), inner = sizeOf(dims.slice(ax + 1));
    if (inner === 1) { // the last axis: one output element per (p, o), the same sums without the j loop,
      // stored straight into the float32 output (the one rounding the final copy would do)
      const out = makeTensor(DataType.FLOAT, outDims);
      resizeLastAxis(cur, out.data as Float32Array, outer, li, lo, taps, idx, w);
      return out;
    }
    const next = new Float64Array(outer * lo * inner);
    for (let p = 0; p < outer; p++) {
      for (let o = 0; o < lo; o++) {
        const dst = (p * lo + o) * inner;
        for (let k = 0; k < taps; k++) {
          const wk = w[o * taps + k]!;
          if (wk === 0) continue;
          const src = (p * li + idx[o * taps + k]!) * inner;
          for (let j = 0; j < inner; j++) next[dst + j]! += wk * cur[src + j]!;
        }
      }
    }
    cur = next;
    dims = dims.map((d, i) => (i === ax ? lo : d));
  }
  const out = makeTensor(DataType.FLOAT, outDims);
  (out.data as Float32Array).set(cur);
  return out;
}

/**
 * next[p*lo + o] = sum over taps k (in order, zero weights skipped) of w[o, k] * cur[p*li + idx[o, k]],
 * rounded to float32 on store.
 */
function resizeLastAxis(
  cur: Float64Array,
  next: Float32Array,
  outer: number,
  li: number,
  lo: number,
  taps: number,
  idx: Int32Array,
  w: Float64Array,
): void {
  if (taps === 2) { // linear: the same two terms, unrolled
    for (let p = 0; p < outer; p++) {
      const src = p * li, dst = p * lo;
      for (let o = 0, k = 0; o < lo; o++, k += 2) {
        const w0 = w[k]!, w1 = w[k + 1]!;
        let v = 0;
        if (w0 !== 0) v += w0 * cur[src + idx[k]!]!;
        if (w1 !== 0) v += w1 * cur[src + idx[k + 1]!]!;
        next[dst + o] = v;
      }
    }
    return;
  }
  for (let p = 0; p < outer; p++) {
    const src = p * li, dst = p * lo;
    for (let o = 0; o < lo; o++) {
      let v = 0;
      for (let k = o * taps, e = k + taps; k < e; k++) {
        const wk = w[k]!;
        if (wk !== 0) v += wk * cur[src + idx[k]!]!;
      }
      next[dst + o] = v;
    }
  }
}

/** Resize kernels for the default domain (Upsample is Resize with scales, asymmetric coordinates). */
export const resizeOps: Record<string, OpKernel> = {
  Resize: (inputs, attrs, ctx) => [resize(inputs, attrs, ctx, "Resize")],
  Upsample: (inputs, attrs, ctx) => {
    const x = req(inputs, 0, "Upsample");
    if (ctx.opset < 9) {
      const s = attrs.floats("scales");
      if (s.length !== x.dims.length) throw new RangeError(`Upsample: scales [${s}] for ${shapeStr(x.dims)}`);
      const st = makeTensor(DataType.FLOAT, [s.length], new Float32Array(s));
      return [resize([x, st], attrs, { opset: 9 }, "Upsample")];
    }
    return [resize(inputs, attrs, { opset: 9 }, "Upsample")];
  },
};
