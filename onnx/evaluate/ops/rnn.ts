/**
 * LSTM (ONNX operators spec, opsets 7-22): gates i, o, f, c in that order in W, R and B; default activations
 * (Sigmoid, Tanh, Tanh) only; forward, reverse and bidirectional; peepholes; `clip`; `input_forget`;
 * `sequence_lens` (steps past a batch entry's length leave its state unchanged and its Y zero); `layout` 0
 * ([seq, batch, ...]) and 1 ([batch, seq, ...]). Float32 with float64 accumulation.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { req } from "./_util.ts";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function lstm(inputs: (Tensor | undefined)[], attrs: Attrs, _ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "LSTM"), w = req(inputs, 1, "LSTM"), r = req(inputs, 2, "LSTM");
  const acts = attrs.strings("activations", []);
  if (
    acts.length && acts.join() !== ["Sigmoid", "Tanh", "Tanh"].join() &&
    acts.join() !== "Sigmoid,Tanh,Tanh,Sigmoid,Tanh,Tanh"
  ) {
    throw new RangeError(`LSTM: only the default activations are supported, got ${acts.join(", ")}`);
  }
  const layout = attrs.int("layout", 0);
  const direction = attrs.string("direction", "forward");
  const clip = attrs.has("clip") ? attrs.float("clip") : Infinity;
  const coupled = attrs.int("input_forget", 0) === 1;
  const [S, N, I] = layout === 0 ? x.dims : [x.dims[1]!, x.dims[0]!, x.dims[2]!];
  const D = w.dims[0]!, H = r.dims[2]!;
  const X = x.data as Float32Array, W = w.data as Float32Array, R = r.data as Float32Array;
  const B = inputs[3]?.data as Float32Array | undefined;
  const lens = inputs[4] ? Array.from(inputs[4].data as Int32Array, Number) : undefined;
  const h0 = inputs[5]?.data as Float32Array | undefined, c0 = inputs[6]?.data as Float32Array | undefined;
  const P = inputs[7]?.data as Float32Array | undefined;
  const yDims = layout === 0 ? [S!, D, N!, H] : [N!, S!, D, H];
  const sDims = layout === 0 ? [D, N!, H] : [N!, D, H];
  const Y = makeTensor(DataType.FLOAT, yDims), Yh = makeTensor(DataType.FLOAT, sDims);
  const Yc = makeTensor(DataType.FLOAT, sDims);
  const Yd = Y.data as Float32Array, Yhd = Yh.data as Float32Array, Ycd = Yc.data as Float32Array;
  const xAt = (t: number, n: number, k: number) => X[(layout === 0 ? t * N! + n : n * S! + t) * I! + k]!;
  const yAt = (
    t: number,
    d: number,
    n: number,
  ) => (layout === 0 ? ((t * D + d) * N! + n) * H : ((n * S! + t) * D + d) * H);
  const sAt = (d: number, n: number) => (layout === 0 ? (d * N! + n) * H : (n * D + d) * H);
  const gates = new Float64Array(4 * H);
  for (let d = 0; d < D; d++) {
    const reverse = direction === "reverse" || (direction === "bidirectional" && d === 1);
    for (let n = 0; n < N!; n++) {
      const len = lens ? lens[n]! : S!;
      const h = new Float64Array(H), c = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        h[j] = h0 ? h0[sAt(d, n) + j]! : 0;
        c[j] = c0 ? c0[sAt(d, n) + j]! : 0;
      }
      for (let step = 0; step < len; step++) {
        const t = reverse ? len - 1 - step : step;
        for (let g = 0; g < 4 * H; g++) {
          let acc = B ? B[d * 8 * H + g]! + B[d * 8 * H + 4 * H + g]! : 0;
          const wRow = (d * 4 * H + g) * I!, rRow = (d * 4 * H + g) * H;
          for (let k = 0; k < I!; k++) acc += W[wRow + k]! * xAt(t, n, k);
          for (let k = 0; k < H; k++) acc += R[rRow + k]! * h[k]!;
          gates[g] = Math.max(-clip, Math.min(clip, acc));
        }
        for (let j = 0; j < H; j++) {
          const pi = P ? P[d * 3 * H + j]! : 0, po = P ? P[d * 3 * H + H + j]! : 0;
          const pf = P ? P[d * 3 * H + 2 * H + j]! : 0;
          const it = sigmoid(gates[j]! + pi * c[j]!);
          const ft = coupled ? 1 - it : sigmoid(gates[2 * H + j]! + pf * c[j]!);
          const ct = ft * c[j]! + it * Math.tanh(gates[3 * H + j]!);
          const ot = sigmoid(gates[H + j]! + po * ct);
          c[j] = ct;
          h[j] = ot * Math.tanh(ct);
        }
        const yo = yAt(t, d, n);
        for (let j = 0; j < H; j++) Yd[yo + j] = h[j]!;
      }
      const so = sAt(d, n);
      for (let j = 0; j < H; j++) {
        Yhd[so + j] = h[j]!;
        Ycd[so + j] = c[j]!;
      }
    }
  }
  return [Y, Yh, Yc];
}

/** The recurrent ops. */
export const rnnOps: Record<string, OpKernel> = { LSTM: lstm };
