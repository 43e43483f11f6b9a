/**
 * Softmax, LogSoftmax and Hardmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
 * normalised over the whole flattened tail; from 13 on only the single `axis` (default -1) is normalised.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { f32, normAxis, req } from "./_util.ts";
import { softmaxRowsF32 } from "./_exp_wasm.ts";

type Mode = "Softmax" | "LogSoftmax" | "Hardmax";

function softmax(x: Tensor, attrs: Attrs, ctx: OpContext, op: Mode): Tensor {
  const X = f32(x, op, "input");
  const rank = x.dims.length;
  const legacy = ctx.opset < 13;
  const axis = normAxis(attrs.int("axis", legacy ? 1 : -1), Math.max(rank, 1), op);
  // [outer, D, inner]: legacy flattens the tail into D with inner = 1
  const outer = sizeOf(x.dims.slice(0, axis));
  const D = legacy ? sizeOf(x.dims.slice(axis)) : (x.dims[axis] ?? 1);
  const inner = legacy ? 1 : sizeOf(x.dims.slice(axis + 1));
  const out = makeTensor(DataType.FLOAT, x.dims), O = out.data as Float32Array;
  // contiguous rows: WebAssembly (the same arithmetic, a SIMD exp; see _softmax_wasm.ts)
  if (op === "Softmax" && inner === 1 && softmaxRowsF32(X, O, outer, D)) return out;
  const ex = new Float64Array(op === "Softmax" ? D : 0); // exp(x - max), computed once per element
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * D * inner + j;
      let mx = -Infinity, arg = 0;
      for (let k = 0; k < D; k++) {
        const v = X[base + k * inner]!;
        if (v > mx) {
          mx = v;
          arg = k;
        }
      }
      if (op === "Hardmax") {
        for (let k = 0; k < D; k++) O[base + k * inner] = k === arg ? 1 : 0;
        continue;
      }
      let sum = 0;
      for (let k = 0; k < D; k++) {
        // exp(d) for d < -110 is below 2^-158: it changes neither the float64 sum (>= 1) nor any float32
        // output (it rounds to 0), and V8's Math.exp is ~20x slower on the huge negative arguments that
        // attention masks (-3.4e38) produce, so skip it.
        const d = X[base + k * inner]! - mx;
        const e = d < -110 ? 0 : Math.exp(d);
        ex[k] = e;
        sum += e;
      }
      if (op === "Softmax") {
        for (let k = 0; k < D; k++) O[base + k * inner] = ex[k]! / sum;
      } else {
        const ls = Math.log(sum);
        for (let k = 0; k < D; k++) O[base + k * inner] = X[base + k * inner]! - mx - ls;
      }
    }
  }
  return out;
}

/** Softmax-family kernels for the default domain. */
export const softmaxOps: Record<string, OpKernel> = {
  Softmax: (inputs, attrs, ctx) => [softmax(req(inputs, 0, "Softmax"), attrs, ctx, "Softmax")],
  LogSoftmax: (inputs, attrs, ctx) => [softmax(req(inputs, 0, "LogSoftmax"), attrs, ctx, "LogSoftmax")],
  Hardmax: (inputs, attrs, ctx) => [softmax(req(inputs, 0, "Hardmax"), attrs, ctx, "Hardmax")],
};
