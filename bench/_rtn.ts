/**
 * Uniform symmetric per-channel weight rounding in place, for benchmark baselines: the QDQ pass's own weight
 * grid (`quantizeWeight`), weights replaced by their dequantized values.
 * @module
 */
import type { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { quantizeWeight, weightInput } from "../passes/qdq/mod.ts";

/**
 * Round every float weight of `m` to `bits` (symmetric, per output channel) in place.
 *
 * @param m the model (weights replaced)
 * @param bits weight bits
 * @returns stored bits per weight (codes + one float32 scale per channel)
 */
export function rtnInPlace(m: Model, bits: number): number {
  let nW = 0, nB = 0;
  for (const node of m.graph.nodes) {
    const w = weightInput(node);
    if (!w) continue;
    const v = node.inputs[w.index]!, t = v.const!;
    if (t.dtype !== DataType.FLOAT) continue;
    const { q, scale } = quantizeWeight(t, w.axis, bits);
    const qd = q.data as Int8Array, s = scale.data as Float32Array;
    const inner = w.axis < 0 ? qd.length : t.dims.slice(w.axis + 1).reduce((a, b) => a * b, 1);
    const ch = w.axis < 0 ? 1 : t.dims[w.axis]!;
    const d = Float32Array.from(qd, (x, i) => x * s[w.axis < 0 ? 0 : Math.floor(i / inner) % ch]!);
    v.const = makeTensor(DataType.FLOAT, t.dims, d);
    nW += qd.length;
    nB += (qd.length * bits) / 8 + 4 * s.length;
  }
  return (8 * nB) / nW;
}
