import { assert, assertEquals } from "@std/assert";
import { Graph, type Node, type Value } from "../ir.ts";
import { intsAttr } from "../attributes.ts";
import { DataType, makeTensor } from "../tensor.ts";
import { createEvaluationCache, evaluateGraph } from "./evaluate.ts";
import { findFusions } from "./_fusion.ts";

const rnd = (n: number, seed: number, scale = 3) =>
  new Float32Array(n).map((_, i) => Math.sin(i * 12.9898 + seed) * scale);

/** The reads of each value by the graph's nodes, as the evaluator counts them. */
function readsOf(g: Graph): Map<Value, number> {
  const reads = new Map<Value, number>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) reads.set(v, (reads.get(v) ?? 0) + 1);
  return reads;
}

Deno.test("RMSNorm chain (Pow, ReduceMean, Add, Sqrt, Div, Mul, Mul) runs fused with the bits of its seven ops", () => {
  const L = 37, rows = 6;
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const s = (name: string, v: number) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, [], new Float32Array([v])));
  const two = s("two", 2), eps = s("eps", 1e-6), one = s("one", 1), three = s("three", 3);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [L], rnd(L, 1, 1)));
  const chain = (tag: string, exponent: Value, withWeight: boolean, swap: boolean) => {
    const p = g.addNode("Pow", [x, exponent], [`p${tag}`]).outputs[0]!;
    const m = g.addNode("ReduceMean", [p], [`m${tag}`], { attrs: [intsAttr("axes", [-1])] }).outputs[0]!;
    const a = g.addNode("Add", swap ? [eps, m] : [m, eps], [`a${tag}`]).outputs[0]!;
    const q = g.addNode("Sqrt", [a], [`q${tag}`]).outputs[0]!;
    const r = g.addNode("Div", [one, q], [`r${tag}`]).outputs[0]!;
    const y = g.addNode("Mul", swap ? [r, x] : [x, r], [`y${tag}`]).outputs[0]!;
    return withWeight ? g.addNode("Mul", swap ? [w, y] : [y, w], [`z${tag}`]).outputs[0]! : y;
  };
  const z1 = chain("1", two, true, false),
    z2 = chain("2", two, false, true),
    z3 = chain("3", three, true, false);
  g.outputs.push(z1, z2, z3);
  // structure: three groups found (the weight Mul joins where there is one); the x^3 one falls back at run time
  const fusions = findFusions(g, readsOf(g), new Set(g.outputs), 17);
  const heads = [...fusions.keys()].filter((n: Node) => n.opType === "Pow");
  assertEquals(heads.map((n) => fusions.get(n)!.rest.map((r) => r.opType).join(",")), [
    "ReduceMean,Add,Sqrt,Div,Mul,Mul",
    "ReduceMean,Add,Sqrt,Div,Mul",
    "ReduceMean,Add,Sqrt,Div,Mul,Mul",
  ]);
  const xs = makeTensor(DataType.FLOAT, [2, rows / 2, L], rnd(rows * L, 2));
  (xs.data as Float32Array)[5] = 1e-30; // a denormal square
  const opsets = new Map([["", 17]]); // ReduceMean's axes an attribute
  const want = evaluateGraph(g, { x: xs }, { onValue: () => {}, opsets }); // observed: op by op
  for (const cache of [undefined, createEvaluationCache()]) {
    const got = evaluateGraph(g, { x: xs }, cache ? { cache, opsets } : { opsets });
    for (const k of ["z1", "y2", "z3"]) {
      assertEquals([...got[k]!.dims], [2, rows / 2, L], k);
      assertEquals(got[k]!.data, want[k]!.data, k);
    }
  }
  // the formula, step by step in float32, for z1's first row
  const f = Math.fround, X = xs.data as Float32Array;
  let sum = 0;
  for (let j = 0; j < L; j++) sum += f(X[j]! * X[j]!);
  const r = f(1 / f(Math.sqrt(f(f(sum / L) + f(1e-6)))));
  const W = w.const!.data as Float32Array;
  assertEquals((want.z1!.data as Float32Array).slice(0, L), X.slice(0, L).map((v, j) => f(f(v * r) * W[j]!)));
  assert(Number.isFinite((want.z1!.data as Float32Array)[5]));
  // opset 18: the axes attribute means nothing, the chain reduces every axis and does not fuse
  assertEquals(findFusions(g, readsOf(g), new Set(g.outputs), 18).size, 0);
  const all = evaluateGraph(g, { x: xs });
  assertEquals(all.z1!.data, evaluateGraph(g, { x: xs }, { onValue: () => {} }).z1!.data);
});

Deno.test("RMSNorm chain at opset 18 (axes as an input) runs fused; other axes fall back", () => {
  const L = 16;
  const g = new Graph("g");
  const x = g.value("x");
  g.inputs.push(x);
  const s = (name: string, v: number) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, [], new Float32Array([v])));
  const two = s("two", 2), eps = s("eps", 1e-5), one = s("one", 1);
  const ax = (name: string, a: number) =>
    g.addInitializer(name, makeTensor(DataType.INT64, [1], new BigInt64Array([BigInt(a)])));
  const chain = (tag: string, axes: Value) => {
    const p = g.addNode("Pow", [x, two], [`p${tag}`]).outputs[0]!;
    const m = g.addNode("ReduceMean", [p, axes], [`m${tag}`]).outputs[0]!;
    const a = g.addNode("Add", [m, eps], [`a${tag}`]).outputs[0]!;
    const q = g.addNode("Sqrt", [a], [`q${tag}`]).outputs[0]!;
    const r = g.addNode("Div", [one, q], [`r${tag}`]).outputs[0]!;
    return g.addNode("Mul", [x, r], [`y${tag}`]).outputs[0]!;
  };
  g.outputs.push(chain("1", ax("last", 1)), chain("2", ax("first", 0)));
  assertEquals(findFusions(g, readsOf(g), new Set(g.outputs), 18).size, 2);
  const xs = makeTensor(DataType.FLOAT, [3, L], rnd(3 * L, 7));
  const want = evaluateGraph(g, { x: xs }, { onValue: () => {} });
  const got = evaluateGraph(g, { x: xs });
  assertEquals(got.y1!.data, want.y1!.data);
  assertEquals(got.y2!.data, want.y2!.data); // axis 0: ran op by op
});

Deno.test("MatMul + Add(bias) + Add(residual) over a batch runs as one product with a two-step epilogue; same bits", () => {
  const B = 3, T = 7, K = 9, N = 6;
  const g = new Graph("g");
  const x = g.value("x"), res = g.value("res");
  g.inputs.push(x, res);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [K, N], rnd(K * N, 1, 0.5)));
  const b = g.addInitializer("b", makeTensor(DataType.FLOAT, [N], rnd(N, 2)));
  const mm = g.addNode("MatMul", [x, w], ["mm"]).outputs[0]!;
  const y0 = g.addNode("Add", [b, mm], ["y0"]).outputs[0]!;
  g.outputs.push(g.addNode("Add", [res, y0], ["y"]).outputs[0]!);
  const f = findFusions(g, readsOf(g), new Set(g.outputs), 17);
  assertEquals([...f].map(([n, x]) => [n.opType, ...x.rest.map((r) => r.opType)].join("+")), [
    "MatMul+Add+Add",
  ]);
  const feeds = {
    x: makeTensor(DataType.FLOAT, [B, T, K], rnd(B * T * K, 3)),
    res: makeTensor(DataType.FLOAT, [B, T, N], rnd(B * T * N, 4)),
  };
  const want = evaluateGraph(g, feeds, { onValue: () => {} });
  for (const cache of [undefined, createEvaluationCache()]) {
    assertEquals(evaluateGraph(g, feeds, cache ? { cache } : {}).y!.data, want.y!.data);
  }
  // the definition, step by step: in-order float32 sums, then the two Adds
  const f32 = Math.fround, X = feeds.x.data as Float32Array, W = w.const!.data as Float32Array;
  const R = feeds.res.data as Float32Array, bias = b.const!.data as Float32Array;
  const ref = new Float32Array(B * T * N);
  for (let r = 0; r < B * T; r++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = f32(s + f32(X[r * K + k]! * W[k * N + j]!));
      ref[r * N + j] = f32(R[r * N + j]! + f32(bias[j]! + s));
    }
  }
  assertEquals(want.y!.data, ref);
});
