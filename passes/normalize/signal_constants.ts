/**
 * Constants that feed a MatMul/Conv but are not learned weights: fixed signal-processing bases such as the
 * STFT's windowed DFT kernels and mel filterbanks (openWakeWord's melspectrogram model has both). Quantizing
 * them changes the feature extractor, not a learned layer, so the quantizing passes leave them alone and say
 * why. The checks are structural, not name-based:
 * - filterbank: a 2-D weight, all entries >= 0, at least half of them exactly 0, every filter's non-zero
 *   support one contiguous run (triangular / band filters);
 * - DFT pair: two weighted nodes reading the same input with same-shaped weights W1, W2 whose squared sum
 *   W1^2 + W2^2 is the same for every output channel (w[t]^2 (cos^2 + sin^2) = w[t]^2: a windowed DFT).
 * @module
 */
import type { Graph, Node } from "../../onnx/ir.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import { weightInput } from "../qdq/insert_qdq.ts";

function isFilterbank(w: Tensor, axis: number): boolean {
  if (w.dims.length !== 2) return false;
  const d = w.data as Float32Array;
  let zeros = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i]! < 0) return false;
    if (d[i] === 0) zeros++;
  }
  if (zeros < d.length / 2) return false;
  const [rows, cols] = w.dims as [number, number];
  const filters = axis === 1 ? cols : rows, taps = axis === 1 ? rows : cols;
  for (let f = 0; f < filters; f++) {
    let runs = 0, inRun = false;
    for (let t = 0; t < taps; t++) {
      const v = axis === 1 ? d[t * cols + f]! : d[f * cols + t]!;
      if (v !== 0 && !inRun) runs++;
      inRun = v !== 0;
    }
    if (runs > 1) return false;
  }
  return true;
}

function isDftPair(a: Tensor, b: Tensor): boolean {
  if (a.dims.length < 2 || a.dims.join() !== b.dims.join()) return false;
  const x = a.data as Float32Array, y = b.data as Float32Array;
  const channels = a.dims[0]!, per = x.length / channels;
  if (channels < 4) return false;
  let energy = 0;
  for (let t = 0; t < per; t++) energy += x[t]! * x[t]! + y[t]! * y[t]!;
  if (energy === 0) return false;
  for (let c = 1; c < channels; c++) {
    let diff = 0;
    for (let t = 0; t < per; t++) {
      const i = c * per + t;
      diff += Math.abs(x[i]! * x[i]! + y[i]! * y[i]! - (x[t]! * x[t]! + y[t]! * y[t]!));
    }
    if (diff > 1e-3 * energy) return false;
  }
  return true;
}

/**
 * Weighted nodes of `graph` whose constant weights are fixed signal-processing constants, with the reason.
 *
 * @param graph the graph (weights as initializers)
 * @returns node -> reason
 */
export function findSignalConstants(graph: Graph): Map<Node, string> {
  const out = new Map<Node, string>();
  const weighted = graph.nodes.flatMap((n) => {
    const w = weightInput(n);
    return w ? [{ node: n, w: n.inputs[w.index]!.const!, axis: w.axis }] : [];
  });
  for (const { node, w, axis } of weighted) {
    if (isFilterbank(w, axis)) {
      out.set(
        node,
        `weight "${
          node.inputs[1]!.name
        }" looks like a fixed filterbank (non-negative, sparse, one band per filter)`,
      );
    }
  }
  for (let i = 0; i < weighted.length; i++) {
    for (let j = i + 1; j < weighted.length; j++) {
      const a = weighted[i]!, b = weighted[j]!;
      if (a.node.inputs[0] !== b.node.inputs[0]) continue;
      if (isDftPair(a.w, b.w)) {
        const why = `weights "${a.node.inputs[1]!.name}" and "${
          b.node.inputs[1]!.name
        }" form a windowed DFT basis (STFT)`;
        out.set(a.node, why);
        out.set(b.node, why);
      }
    }
  }
  return out;
}
