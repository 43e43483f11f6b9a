/**
 * Test models (private) with their compute inside control flow, built with the IR: an `If` whose branches
 * hold MatMul weights and read the outer `x`, a `Loop` (trip count + loop-carried state + scan output,
 * reading `x` from the outer scope) and a `Scan` over time (state + per-step output, optionally reversed).
 * Used by the evaluator, QDQ and validate tests.
 * @module
 */
import { type Attribute, AttrType, intAttr, intsAttr } from "../onnx/attributes.ts";
import { Graph, Model, type Value } from "../onnx/ir.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../onnx/tensor.ts";
import { mulberry32 } from "../quant/_rng.ts";

const graphAttr = (name: string, g: Graph): Attribute => ({ name, type: AttrType.GRAPH, value: g });

function weights(g: Graph, name: string, dims: number[], seed: number): Value {
  const r = mulberry32(seed);
  return g.addInitializer(
    name,
    makeTensor(DataType.FLOAT, dims, Float32Array.from({ length: sizeOf(dims) }, () => (r() - 0.5) * 0.8)),
  );
}

function model(opset = 13): Model {
  const m = new Model();
  m.irVersion = 8;
  m.opsets.set("", opset);
  return m;
}

function output(g: Graph, v: Value, elemType = DataType.FLOAT): void {
  v.type ??= { elemType };
  g.outputs.push(v);
}

/** y = If(mean(x) > 0, MatMul(x, Wa) -> Relu, MatMul(Relu(x), Wb)); x [N, 8] -> y [N, 4]. */
export function ifModel(): Model {
  const m = model();
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["N", 8] };
  g.inputs.push(x);
  const mean = g.addNode("ReduceMean", [x], ["mean"], { attrs: [intAttr("keepdims", 0)] }).outputs[0]!;
  const zero = g.addInitializer("zero", makeTensor(DataType.FLOAT, [], Float32Array.of(0)));
  const cond = g.addNode("Greater", [mean, zero], ["cond"]).outputs[0]!;
  const then = new Graph("then", g);
  const wa = weights(then, "wa", [8, 4], 11);
  const ya = then.addNode("MatMul", [x, wa], ["then_mm"]).outputs[0]!;
  output(then, then.addNode("Relu", [ya], ["then_y"]).outputs[0]!);
  const els = new Graph("else", g);
  const rx = els.addNode("Relu", [x], ["else_relu"]).outputs[0]!;
  output(els, els.addNode("MatMul", [rx, weights(els, "wb", [8, 4], 12)], ["else_y"]).outputs[0]!);
  const y = g.addNode("If", [cond], ["y"], {
    attrs: [graphAttr("then_branch", then), graphAttr("else_branch", els)],
  })
    .outputs[0]!;
  output(g, y);
  return m;
}

/**
 * h_{i+1} = Tanh(MatMul(h_i, W) + x) three times from h_0 = x; outputs h_3 [N, 8] and all h [3, N, 8]. With
 * `untilIter`, the trip count is 10 and the body's own condition (iter < untilIter) stops it instead.
 */
export function loopModel(untilIter?: number): Model {
  const m = model();
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["N", 8] };
  g.inputs.push(x);
  const trips = g.addInitializer(
    "trips",
    makeTensor(DataType.INT64, [], BigInt64Array.of(untilIter === undefined ? 3n : 10n)),
  );
  const body = new Graph("body", g);
  const it = body.value("iter");
  it.type = { elemType: DataType.INT64, shape: [] };
  const cin = body.value("cond_in");
  cin.type = { elemType: DataType.BOOL, shape: [] };
  const h = body.value("h");
  h.type = { elemType: DataType.FLOAT, shape: ["N", 8] };
  body.inputs.push(it, cin, h);
  const mm = body.addNode("MatMul", [h, weights(body, "w_loop", [8, 8], 21)], ["loop_mm"]).outputs[0]!;
  const s = body.addNode("Add", [mm, x], ["loop_add"]).outputs[0]!;
  const hn = body.addNode("Tanh", [s], ["h_next"]).outputs[0]!;
  const cout = untilIter === undefined
    ? body.addNode("Identity", [cin], ["cond_out"]).outputs[0]!
    : body.addNode("Less", [
      it,
      body.addInitializer("until", makeTensor(DataType.INT64, [], BigInt64Array.of(BigInt(untilIter)))),
    ], ["cond_out"]).outputs[0]!;
  const scan = body.addNode("Identity", [hn], ["h_scan"]).outputs[0]!;
  output(body, cout, DataType.BOOL);
  output(body, hn);
  output(body, scan);
  const cond = untilIter === undefined
    ? null
    : g.addInitializer("go", makeTensor(DataType.BOOL, [], Uint8Array.of(1)));
  const loop = g.addNode("Loop", [trips, cond, x], ["h_final", "h_all"], {
    attrs: [graphAttr("body", body)],
  });
  output(g, loop.outputs[0]!);
  output(g, loop.outputs[1]!);
  return m;
}

/**
 * A recurrent cell over time with Scan: x [N, 5, 8] scanned on axis 1 (reversed when `reverse`), state
 * s_0 = mean_t(x) [N, 8], s' = Tanh(MatMul(x_t, Wx) + MatMul(s, Wh)); outputs the last state and every
 * state, stacked on axis 1 [N, 5, 8].
 */
export function scanModel(reverse = false): Model {
  const m = model();
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["N", 5, 8] };
  g.inputs.push(x);
  const s0 = g.addNode("ReduceMean", [x], ["s0"], { attrs: [intsAttr("axes", [1]), intAttr("keepdims", 0)] })
    .outputs[0]!;
  const body = new Graph("cell", g);
  const s = body.value("s");
  s.type = { elemType: DataType.FLOAT, shape: ["N", 8] };
  const xt = body.value("x_t");
  xt.type = { elemType: DataType.FLOAT, shape: ["N", 8] };
  body.inputs.push(s, xt);
  const a = body.addNode("MatMul", [xt, weights(body, "wx", [8, 8], 31)], ["cell_x"]).outputs[0]!;
  const b = body.addNode("MatMul", [s, weights(body, "wh", [8, 8], 32)], ["cell_h"]).outputs[0]!;
  const sn = body.addNode("Tanh", [body.addNode("Add", [a, b], ["cell_sum"]).outputs[0]!], ["s_next"])
    .outputs[0]!;
  output(body, sn);
  output(body, body.addNode("Identity", [sn], ["s_out"]).outputs[0]!);
  const scan = g.addNode("Scan", [s0, x], ["s_last", "states"], {
    attrs: [
      graphAttr("body", body),
      intAttr("num_scan_inputs", 1),
      intsAttr("scan_input_axes", [1]),
      intsAttr("scan_output_axes", [1]),
      ...(reverse ? [intsAttr("scan_input_directions", [1])] : []),
    ],
  });
  output(g, scan.outputs[0]!);
  output(g, scan.outputs[1]!);
  return m;
}

/** Random float input of the given dims (values in [-1, 1) plus `shift`, so If takes either branch). */
export function cfInput(dims: number[], seed: number, shift = 0): Tensor {
  const r = mulberry32(seed);
  return makeTensor(
    DataType.FLOAT,
    dims,
    Float32Array.from({ length: sizeOf(dims) }, () => r() * 2 - 1 + shift),
  );
}
