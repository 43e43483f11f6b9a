/**
 * Small models with the input forms users bring (built with the IR, run by onnxruntime-node): a PyTorch-style
 * export with a fixed batch of 1, and a voice-activity-style model with a scalar sample-rate input and a
 * recurrent state whose batch axis is axis 1. Deterministic weights; tests write them with their data.
 * @module
 */
import { intAttr, intsAttr } from "../onnx/attributes.ts";
import { AttrType } from "../onnx/attributes.ts";
import { Graph, Model } from "../onnx/ir.ts";
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
 * @param options `batch`: axis 0 of the input (@default 1); `head`: whether the Gemm head follows
 *   (@default true; without it the output is the pooled [batch, 4, 1, 1] and the model is convolution-only)
 * @returns the model (opset 13), input "x", output "y"
 */
export function fixedBatchConvModel(options: { batch?: number | string; head?: boolean } = {}): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [options.batch ?? 1, 3, 8, 8] };
  g.inputs.push(x);
  const w = g.addInitializer("conv.weight", makeTensor(DataType.FLOAT, [4, 3, 3, 3], noise(108, 1)));
  const b = g.addInitializer("conv.bias", makeTensor(DataType.FLOAT, [4], noise(4, 2)));
  const [c] = g.addNode("Conv", [x, w, b], ["c"], {
    attrs: [intsAttr("kernel_shape", [3, 3]), intsAttr("pads", [1, 1, 1, 1])],
  }).outputs;
  const [r] = g.addNode("Relu", [c!], ["r"]).outputs;
  const [p] = g.addNode("GlobalAveragePool", [r!], ["p"]).outputs;
  if (options.head === false) {
    p!.type = { elemType: DataType.FLOAT, shape: [options.batch ?? 1, 4, 1, 1] };
    g.outputs.push(p!);
    return m;
  }
  const [f] = g.addNode("Flatten", [p!], ["f"], { attrs: [intAttr("axis", 1)] }).outputs;
  const fw = g.addInitializer("fc.weight", makeTensor(DataType.FLOAT, [5, 4], noise(20, 3)));
  const fb = g.addInitializer("fc.bias", makeTensor(DataType.FLOAT, [5], noise(5, 4)));
  const [y] = g.addNode("Gemm", [f!, fw, fb], ["y"], { attrs: [intAttr("transB", 1)] }).outputs;
  y!.type = { elemType: DataType.FLOAT, shape: [options.batch ?? 1, 5] };
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

/**
 * All compute inside `If` branches: `y = If(cond, then: MatMul(x, W1), else: MatMul(x, W2))`, x [batch, 8],
 * cond bool [] (a scalar input). The weights are main-graph initializers read from the branches.
 *
 * @returns the model (opset 13)
 */
export function ifModel(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 8] };
  const cond = g.value("cond");
  cond.type = { elemType: DataType.BOOL, shape: [] };
  g.inputs.push(x, cond);
  const branch = (name: string, seed: number) => {
    const w = g.addInitializer(`${name}.weight`, makeTensor(DataType.FLOAT, [8, 4], noise(32, seed)));
    const b = new Graph(name, g);
    const [o] = b.addNode("MatMul", [x, w], [`${name}_out`], { name: `${name}_matmul` }).outputs;
    o!.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
    b.outputs.push(o!);
    return b;
  };
  const [y] = g.addNode("If", [cond], ["y"], {
    name: "branch",
    attrs: [
      { name: "then_branch", type: AttrType.GRAPH, value: branch("then", 21) },
      { name: "else_branch", type: AttrType.GRAPH, value: branch("else", 22) },
    ],
  }).outputs;
  y!.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
  g.outputs.push(y!);
  return m;
}

/**
 * Two MatMuls in a row, `y = MatMul(Relu(MatMul(x, W1)), W2)`, x float [batch, 8] (named "fc1", "fc2").
 *
 * @returns the model (opset 13)
 */
export function twoLayerModel(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 8] };
  g.inputs.push(x);
  const w1 = g.addInitializer("fc1.weight", makeTensor(DataType.FLOAT, [8, 16], noise(128, 31)));
  const w2 = g.addInitializer("fc2.weight", makeTensor(DataType.FLOAT, [16, 4], noise(64, 32)));
  const [h] = g.addNode("MatMul", [x, w1], ["h"], { name: "fc1" }).outputs;
  const [r] = g.addNode("Relu", [h!], ["r"]).outputs;
  const [y] = g.addNode("MatMul", [r!, w2], ["y"], { name: "fc2" }).outputs;
  y!.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
  g.outputs.push(y!);
  return m;
}
