import { assert, assertEquals, assertThrows } from "@std/assert";
import { Graph, Model } from "../ir.ts";
import { Attrs, intAttr, tensorAttr } from "../attributes.ts";
import { DataType, makeTensor, type Tensor } from "../tensor.ts";
import { createEvaluationCache, evaluateGraph, evaluateModel } from "./evaluate.ts";
import { getOp, supportedOps } from "./registry.ts";

const vec = (v: number[]) => makeTensor(DataType.FLOAT, [v.length], new Float32Array(v));

Deno.test("evaluateGraph runs nodes in order and reports every produced value", () => {
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const a = g.addNode("Relu", [x], ["a"]).outputs[0]!;
  const b = g.addNode("Neg", [a], ["b"]).outputs[0]!;
  const w = g.addInitializer("w", vec([10, 20, 30]));
  const y = g.addNode("Mul", [a, w], ["m"]).outputs[0]!;
  const z = g.addNode("Add", [y, b], ["z"]).outputs[0]!;
  g.outputs.push(z, a);
  const seen: string[] = [];
  const out = evaluateGraph(g, { x: vec([-1, 2, 3]) }, { onValue: (v) => seen.push(v.name) });
  assertEquals(seen, ["a", "b", "m", "z"]);
  assertEquals(out.z!.data, new Float32Array([0, 38, 87]));
  assertEquals(out.a!.data, new Float32Array([0, 2, 3]));
});

Deno.test("evaluateModel uses the model's opset (Softmax flattening before 13)", () => {
  const build = (opset: number) => {
    const m = new Model();
    m.opsets.set("", opset);
    const x = m.graph.value("x");
    m.graph.inputs.push(x);
    m.graph.outputs.push(m.graph.addNode("Softmax", [x], ["y"], { attrs: [intAttr("axis", 0)] }).outputs[0]!);
    return m;
  };
  const x: Tensor = makeTensor(DataType.FLOAT, [2, 2], new Float32Array([0, 0, 0, 0]));
  assertEquals(evaluateModel(build(11), { x }).y!.data, new Float32Array([0.25, 0.25, 0.25, 0.25]));
  assertEquals(evaluateModel(build(13), { x }).y!.data, new Float32Array([0.5, 0.5, 0.5, 0.5]));
});

Deno.test("evaluateGraph errors name the node, the value and the op", () => {
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  g.outputs.push(g.addNode("FancyOp", [x], ["y"], { domain: "com.example", name: "n1" }).outputs[0]!);
  assertThrows(() => evaluateGraph(g, {}), TypeError, 'no feed for input "x"');
  assertThrows(() => evaluateGraph(g, { x: vec([1]) }), RangeError, 'op "FancyOp" in domain "com.example"');
});

Deno.test("registry covers every op type of the real models", () => {
  const have = new Set(supportedOps().filter((o) => o.domain === "").map((o) => o.opType));
  const needed = [
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Equal",
    "Erf",
    "Expand",
    "Gather",
    "GlobalAveragePool",
    "HardSigmoid",
    "LayerNormalization",
    "LeakyRelu",
    "MatMul",
    "Max",
    "MaxPool",
    "Mul",
    "Pow",
    "Range",
    "ReduceL2",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Where",
  ];
  assertEquals(needed.filter((op) => !have.has(op)), []);
  assertEquals(getOp("ai.onnx", "Conv"), getOp("", "Conv"));
});

Deno.test("evaluate with a cache: initializer-only nodes run once, a feed overriding an initializer is honoured", () => {
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [2, 3], new Float32Array([1, 2, 3, 4, 5, 6])));
  g.inputs.push(w); // overridable by a feed
  const t = g.addNode("Transpose", [w], ["wt"]);
  const [y] = g.addNode("MatMul", [x, t.outputs[0]!], ["y"]).outputs;
  g.outputs.push(y!);
  const feedX = makeTensor(DataType.FLOAT, [1, 3], new Float32Array([1, 0, 1]));
  const other = makeTensor(DataType.FLOAT, [2, 3], new Float32Array([0, 1, 0, 1, 0, 1]));
  const cache = createEvaluationCache();
  const plain = evaluateGraph(g, { x: feedX }).y!.data;
  assertEquals(evaluateGraph(g, { x: feedX }, { cache }).y!.data, plain);
  const folded = cache.folded.get(t);
  assert(folded !== undefined);
  assertEquals(evaluateGraph(g, { x: feedX }, { cache }).y!.data, plain);
  assert(cache.folded.get(t) === folded); // not recomputed
  // Overriding w: the Transpose is not constant in this call and must see the new w.
  const want = evaluateGraph(g, { x: feedX, w: other }).y!.data;
  assertEquals(evaluateGraph(g, { x: feedX, w: other }, { cache }).y!.data, want);
  assert(Array.from(want as Float32Array).join() !== Array.from(plain as Float32Array).join());
  assertEquals(evaluateGraph(g, { x: feedX }, { cache }).y!.data, plain);
});

Deno.test("evaluateGraph recycles dropped float32 storage without touching shared views, feeds or outputs", () => {
  // a is dropped after the Reshape, but r shares its storage; x is a feed; z and a2 are outputs
  const n = 4096;
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const shape2 = g.addInitializer("s2", makeTensor(DataType.INT64, [2], new BigInt64Array([2n, 2048n])));
  const shape1 = g.addInitializer("s1", makeTensor(DataType.INT64, [1], new BigInt64Array([BigInt(n)])));
  const a = g.addNode("Relu", [x], ["a"]).outputs[0]!;
  const r = g.addNode("Reshape", [a, shape2], ["r"]).outputs[0]!;
  let t = g.addNode("Neg", [x], ["t0"]).outputs[0]!;
  for (let i = 1; i < 6; i++) t = g.addNode(i % 2 ? "Sigmoid" : "Neg", [t], [`t${i}`]).outputs[0]!;
  const back = g.addNode("Reshape", [r, shape1], ["back"]).outputs[0]!;
  const z = g.addNode("Add", [back, t], ["z"]).outputs[0]!;
  const a2 = g.addNode("Mul", [z, x], ["a2"]).outputs[0]!;
  g.outputs.push(z, a2);
  const X = new Float32Array(n).map((_, i) => Math.sin(i) * 3);
  const feed = () => makeTensor(DataType.FLOAT, [n], X.slice());
  // observers switch recycling off: the reference
  const want = evaluateGraph(g, { x: feed() }, { onValue: () => {} });
  const cache = createEvaluationCache();
  const runs: Record<string, Tensor>[] = [];
  for (let i = 0; i < 3; i++) {
    const xs = feed();
    runs.push(evaluateGraph(g, { x: xs }, { cache }));
    assertEquals(xs.data, X, "the feed is not written");
  }
  assert(cache.pool.free > 0, "intermediate storage went back to the pool");
  for (const out of runs) {
    // earlier outputs are intact after later evaluations reused the pool
    assertEquals(out.z!.data, want.z!.data);
    assertEquals(out.a2!.data, want.a2!.data);
  }
  const buf = (o: Record<string, Tensor>) => (o.z!.data as Float32Array).buffer;
  assert(buf(runs[0]!) !== buf(runs[1]!), "outputs are never recycled");
});

Deno.test("MatMul + Add(bias) run fused give the bits of the two ops, and fall back where they cannot fuse", () => {
  const M = 7, K = 13, N = 10;
  const rnd = (n: number, seed: number) =>
    new Float32Array(n).map((_, i) => Math.sin(i * 12.9898 + seed) * 3);
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [K, N], rnd(K * N, 1)));
  const b1 = g.addInitializer("b1", makeTensor(DataType.FLOAT, [N], rnd(N, 2)));
  const b2 = g.addInitializer("b2", makeTensor(DataType.FLOAT, [1, N], rnd(N, 3)));
  const b3 = g.addInitializer("b3", makeTensor(DataType.FLOAT, [1, 1, N], rnd(N, 6)));
  const full = g.addInitializer("full", makeTensor(DataType.FLOAT, [M, N], rnd(M * N, 4))); // not a row bias
  const mm = (name: string) => g.addNode("MatMul", [x, w], [name]).outputs[0]!;
  const y1 = g.addNode("Add", [mm("m1"), b1], ["y1"]).outputs[0]!; // bias second
  const y2 = g.addNode("Add", [b2, mm("m2")], ["y2"]).outputs[0]!; // bias first
  const y5 = g.addNode("Add", [mm("m5"), b3], ["y5"]).outputs[0]!; // raises the rank: falls back
  const y3 = g.addNode("Add", [mm("m3"), full], ["y3"]).outputs[0]!; // falls back at run time
  const m4 = mm("m4");
  const y4 = g.addNode("Add", [m4, b1], ["y4"]).outputs[0]!; // m4 is also an output: not fused
  g.outputs.push(y1, y2, y3, y4, m4, y5);
  const feeds = { x: makeTensor(DataType.FLOAT, [M, K], rnd(M * K, 5)) };
  const want = evaluateGraph(g, feeds, { onValue: () => {} }); // observers: nothing fused
  for (const cache of [undefined, createEvaluationCache()]) {
    const got = evaluateGraph(g, feeds, cache ? { cache } : {});
    for (const k of ["y1", "y2", "y3", "y4", "m4", "y5"]) {
      assertEquals([...got[k]!.dims], [...want[k]!.dims], k);
      assertEquals(got[k]!.data, want[k]!.data, k);
    }
  }
  assertEquals([...want.y5!.dims], [1, M, N]);
});

Deno.test("the GELU chain run fused gives the bits of its five ops (operand orders, a non-scalar falls back)", () => {
  const n = 3000;
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const scalar = (name: string, v: number, dims: number[] = []) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, dims, new Float32Array([v])));
  const c1 = scalar("c1", Math.SQRT2), one = scalar("one", 1), half = scalar("half", 0.5, [1]);
  const vec2 = g.addInitializer("vec2", makeTensor(DataType.FLOAT, [2, 1], new Float32Array([0.5, 0.25])));
  // y1: the exporters' order, the last constant from a Constant node placed after the Div (as exporters
  // place them); y2: swapped operands; y3: last constant not a scalar (runs op by op)
  const chain = (tag: string, swap: boolean, c3: typeof half | "node") => {
    const d = g.addNode("Div", [x, c1], [`d${tag}`]).outputs[0]!;
    const e = g.addNode("Erf", [d], [`e${tag}`]).outputs[0]!;
    const a = g.addNode("Add", swap ? [one, e] : [e, one], [`a${tag}`]).outputs[0]!;
    const m = g.addNode("Mul", swap ? [a, x] : [x, a], [`m${tag}`]).outputs[0]!;
    const k = c3 !== "node" ? c3 : g.addNode("Constant", [], [`k${tag}`], {
      attrs: [tensorAttr("value", makeTensor(DataType.FLOAT, [], new Float32Array([0.5])))],
    }).outputs[0]!;
    return g.addNode("Mul", swap ? [k, m] : [m, k], [`y${tag}`]).outputs[0]!;
  };
  const xs = makeTensor(DataType.FLOAT, [2, n / 2], new Float32Array(n).map((_, i) => Math.sin(i) * 4));
  g.outputs.push(chain("1", false, "node"), chain("2", true, half));
  const y3 = chain("3", false, vec2);
  g.outputs.push(y3);
  const want = evaluateGraph(g, { x: xs }, { onValue: () => {} });
  const got = evaluateGraph(g, { x: xs });
  for (const k of ["y1", "y2", "y3"]) assertEquals(got[k]!.data, want[k]!.data, k);
  // the chain's formula, step by step in float32
  const f = Math.fround, c = f(Math.SQRT2);
  const erfRef = getOp("", "Erf");
  const d = makeTensor(DataType.FLOAT, [n], (xs.data as Float32Array).map((v) => v / c));
  const e = erfRef([d], new Attrs(new Map(), "erf"), { opset: 13, numOutputs: 1 })[0]!.data as Float32Array;
  const y = (xs.data as Float32Array).map((v, i) => f(f(v * f(e[i]! + 1)) * 0.5));
  assertEquals(got.y1!.data, y);
});

Deno.test("a cache keeps a graph's plan (reads, fused groups) and notices a changed node or output list", () => {
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [3, 2], new Float32Array([1, 2, 3, 4, 5, 6])));
  const b = g.addInitializer("b", vec([10, 20]));
  const m = g.addNode("MatMul", [x, w], ["m"]).outputs[0]!;
  const y = g.addNode("Add", [m, b], ["y"]).outputs[0]!;
  g.outputs.push(y);
  const cache = createEvaluationCache();
  const feeds = { x: makeTensor(DataType.FLOAT, [1, 3], new Float32Array([1, 1, 1])) };
  assertEquals(evaluateGraph(g, feeds, { cache }).y!.data, new Float32Array([19, 32]));
  const plan = cache.plans.get(g)!;
  assert(plan.fused!.size === 1, "MatMul + Add fused");
  // the timing hook sees the fused group once, by its first node, and switches nothing off
  const timed: string[] = [];
  const r = evaluateGraph(g, feeds, {
    cache,
    onTime: (n, rest, ms) => {
      assert(ms >= 0);
      timed.push([n.opType, ...rest.map((x) => x.opType)].join("+"));
    },
  });
  assertEquals(timed, ["MatMul+Add"]);
  assertEquals(r.y!.data, new Float32Array([19, 32]));
  assert(cache.plans.get(g) === plan, "the same plan on the next call");
  // m becomes an output too (read by a new node): the old plan would fuse it away and free it
  const z = g.addNode("Relu", [m], ["z"]).outputs[0]!;
  g.outputs.push(z, m);
  const out = evaluateGraph(g, feeds, { cache });
  assert(cache.plans.get(g) !== plan, "a new plan");
  assertEquals([out.y!.data, out.z!.data, out.m!.data], [
    new Float32Array([19, 32]),
    new Float32Array([9, 12]),
    new Float32Array([9, 12]),
  ]);
});
