/**
 * Small models with the input forms users bring (built with the IR, run by onnxruntime-node): a PyTorch-style
 * export with a fixed batch of 1, and a voice-activity-style model with a scalar sample-rate input and a
 * recurrent state whose batch axis is axis 1. Deterministic weights; tests write them with their data.
 * @module
 */
import { intAttr, intsAttr } from "../onnx/attributes.ts";
import { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";

/** Deterministic pseudo-random floats in [-1, 1). */
export function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Conv(3->4, 3x3, pad 1) + Relu + GlobalAveragePool + Flatten + Gemm(4->5) on `x: float [1, 3, 8, 8]`: the
 * batch axis is fixed at 1, as in a PyTorch export without dynamic axes.
 *
 * @returns the model (opset 13), input "x", output "y" [1, 5]
 */
export function fixedBatchConvModel(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [1, 3, 8, 8] };
  g.inputs.push(x);
  const w = g.addInitializer("conv.weight", makeTensor(DataType.FLOAT, [4, 3, 3, 3], noise(108, 1)));
  const b = g.addInitializer("conv.bias", makeTensor(DataType.FLOAT, [4], noise(4, 2)));
  const [c] = g.addNode("Conv", [x, w, b], ["c"], {
    attrs: [intsAttr("kernel_shape", [3, 3]), intsAttr("pads", [1, 1, 1, 1])],
  }).outputs;
  const [r] = g.addNode("Relu", [c!], ["r"]).outputs;
  const [p] = g.addNode("GlobalAveragePool", [r!], ["p"]).outputs;
  const [f] = g.addNode("Flatten", [p!], ["f"], { attrs: [intAttr("axis", 1)] }).outputs;
  const fw = g.addInitializer("fc.weight", makeTensor(DataType.FLOAT, [5, 4], noise(20, 3)));
  const fb = g.addInitializer("fc.bias", makeTensor(DataType.FLOAT, [5], noise(5, 4)));
  const [y] = g.addNode("Gemm", [f!, fw, fb], ["y"], { attrs: [intAttr("transB", 1)] }).outputs;
  y!.type = { elemType: DataType.FLOAT, shape: [1, 5] };
  g.outputs.push(y!);
  return m;
}

/**
 * A voice-activity-style model: `x: float [batch, 16]`, `sr: int64 []` (a scalar sample rate),
 * `h: float [2, batch, 8]` (recurrent state, batch on axis 1).
 * `y = MatMul(x, W) * Cast(sr) / 16000 + ReduceMean(h, axes [0])`, `hn = Unsqueeze(y, 0) * [1, 0.5]` as the
 * next state.
 *
 * @returns the model (opset 13), outputs "y" [batch, 8] and "hn" [2, batch, 8]
 */
export function stateModel(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 16] };
  const sr = g.value("sr");
  sr.type = { elemType: DataType.INT64, shape: [] };
  const h = g.value("h");
  h.type = { elemType: DataType.FLOAT, shape: [2, "batch", 8] };
  g.inputs.push(x, sr, h);
  const w = g.addInitializer("proj.weight", makeTensor(DataType.FLOAT, [16, 8], noise(128, 5)));
  const [mm] = g.addNode("MatMul", [x, w], ["mm"]).outputs;
  const [srf] = g.addNode("Cast", [sr], ["srf"], { attrs: [intAttr("to", DataType.FLOAT)] }).outputs;
  const k = g.addInitializer("inv16k", makeTensor(DataType.FLOAT, [], new Float32Array([1 / 16000])));
  const [scale] = g.addNode("Mul", [srf!, k], ["scale"]).outputs;
  const [scaled] = g.addNode("Mul", [mm!, scale!], ["scaled"]).outputs;
  const [hm] = g.addNode("ReduceMean", [h], ["hm"], {
    attrs: [intsAttr("axes", [0]), intAttr("keepdims", 0)],
  }).outputs;
  const [y] = g.addNode("Add", [scaled!, hm!], ["y"]).outputs;
  const axes = g.addInitializer("axes0", makeTensor(DataType.INT64, [1], new BigInt64Array([0n])));
  const [yu] = g.addNode("Unsqueeze", [y!, axes], ["yu"]).outputs;
  const decay = g.addInitializer("decay", makeTensor(DataType.FLOAT, [2, 1, 1], new Float32Array([1, 0.5])));
  const [hn] = g.addNode("Mul", [yu!, decay], ["hn"]).outputs;
  y!.type = { elemType: DataType.FLOAT, shape: ["batch", 8] };
  hn!.type = { elemType: DataType.FLOAT, shape: [2, "batch", 8] };
  g.outputs.push(y!, hn!);
  return m;
}
