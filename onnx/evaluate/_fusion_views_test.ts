import { assert, assertEquals } from "@std/assert";
import { Model, type Value } from "../ir.ts";
import { intAttr, intsAttr } from "../attributes.ts";
import { DataType, makeTensor } from "../tensor.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { createEvaluationCache, evaluateModel } from "./evaluate.ts";
import { findFusions } from "./_fusion.ts";

const rnd = (n: number, seed: number, scale = 1) =>
  new Float32Array(n).map((_, i) => Math.sin(i * 12.9898 + seed) * scale);

/**
 * Two attention blocks as the repository's exporters write them: the LM form (Q, K, V projections,
 * Reshape -> Transpose, Q scaled after its Transpose, K transposed straight to K^T, a causal mask Add, the
 * heads transposed back) and the ViT form (one qkv projection, Reshape to [B, T, 3, H, d], Transpose to
 * [3, B, H, T, d], Gather of q, k, v, a Transpose of k, the scale as a Mul after the product).
 */
function attention(): Model {
  const B = 2, T = 11, H = 3, d = 5, C = H * d;
  const m = new Model();
  m.irVersion = 8;
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [B, T, C] };
  g.inputs.push(x);
  const init = (name: string, dims: number[], data: Float32Array | BigInt64Array, dt = DataType.FLOAT) =>
    g.addInitializer(name, makeTensor(dt, dims, data));
  const shape = (name: string, dims: number[]) =>
    init(name, [dims.length], BigInt64Array.from(dims, BigInt), DataType.INT64);
  const node = (op: string, ins: Value[], name: string, attrs = [] as ReturnType<typeof intAttr>[]) =>
    g.addNode(op, ins, [name], { attrs }).outputs[0]!;
  const w = (name: string, k: number, n: number, seed: number) => init(name, [k, n], rnd(k * n, seed, 0.4));
  const scale = init("scale", [], Float32Array.of(1 / Math.sqrt(d)));
  const mask = init(
    "mask",
    [T, T],
    new Float32Array(T * T).map((_, i) => i % T > Math.floor(i / T) ? -Infinity : 0),
  );
  const heads = shape("heads", [B, T, H, d]), flat = shape("flat", [B, T, C]);
  // LM form
  const proj = (tag: string, seed: number) => node("MatMul", [x, w(`w${tag}`, C, C, seed)], `${tag}p`);
  const qt = node("Transpose", [node("Reshape", [proj("q", 1), heads], "qr")], "qt", [
    intsAttr("perm", [0, 2, 1, 3]),
  ]);
  const qs = node("Mul", [qt, scale], "qscaled");
  const kt = node("Transpose", [node("Reshape", [proj("k", 2), heads], "kr")], "kt", [
    intsAttr("perm", [0, 2, 3, 1]),
  ]);
  const vt = node("Transpose", [node("Reshape", [proj("v", 3), heads], "vr")], "vt", [
    intsAttr("perm", [0, 2, 1, 3]),
  ]);
  const p = node("Softmax", [node("Add", [node("MatMul", [qs, kt], "s"), mask], "sm")], "p", [
    intAttr("axis", -1),
  ]);
  const o = node("Transpose", [node("MatMul", [p, vt], "o")], "ot", [intsAttr("perm", [0, 2, 1, 3])]);
  const y1 = node("Reshape", [o, flat], "y1");
  // ViT form
  const qkv = node("MatMul", [x, w("wqkv", C, 3 * C, 4)], "qkv");
  const five = node("Transpose", [node("Reshape", [qkv, shape("s5", [B, T, 3, H, d])], "qkv5")], "qkvt", [
    intsAttr("perm", [2, 0, 3, 1, 4]),
  ]);
  const pick = (i: number) =>
    node("Gather", [five, init(`i${i}`, [], BigInt64Array.of(BigInt(i)), DataType.INT64)], `g${i}`);
  const k2 = node("Transpose", [pick(1)], "k2t", [intsAttr("perm", [0, 1, 3, 2])]);
  const s2 = node("Mul", [node("MatMul", [pick(0), k2], "s2"), scale], "s2s");
  const o2 = node("MatMul", [node("Softmax", [s2], "p2", [intAttr("axis", -1)]), pick(2)], "o2");
  const y2 = node("Reshape", [node("Transpose", [o2], "o2t", [intsAttr("perm", [0, 2, 1, 3])]), flat], "y2");
  for (const y of [y1, y2]) y.type = { elemType: DataType.FLOAT }, g.outputs.push(y);
  return m;
}

Deno.test("attention: Transposes and Gathers feeding MatMuls run as views, products store transposed/scaled/masked; same bits", async () => {
  const m = attention(), g = m.graph;
  const reads = new Map<Value, number>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) reads.set(v, (reads.get(v) ?? 0) + 1);
  const groups = [...findFusions(g, reads, new Set(g.outputs), 17)].map(([h, f]) =>
    [h.outputs[0]!.name, ...f.rest.map((n) => n.opType)].join("+")
  ).sort();
  assertEquals(groups, [
    "g0", // q, k, v: Gathers of the [3, B, H, T, d] view, themselves views
    "g1",
    "g2",
    "k2t", // k^T of a view
    "kt", // K^T read in place by the MatMul
    "o+Transpose", // heads stored as [B, T, H, d]
    "o2+Transpose",
    "qkvt", // the 5-D Transpose
    "qt+Mul", // Q scaled untransposed, then viewed
    "s+Add", // the causal mask added as the product is stored
    "s2+Mul", // the scale applied as the product is stored
    "vt",
  ]);
  const B = 2, T = 11, C = 15;
  const feeds = { x: makeTensor(DataType.FLOAT, [B, T, C], rnd(B * T * C, 9)) };
  const want = evaluateModel(m, feeds, { onValue: () => {} }); // observed: op by op, nothing fused
  for (const cache of [undefined, createEvaluationCache(), createEvaluationCache()]) {
    for (let run = 0; run < 2; run++) { // the second run reuses pooled storage (and the cache)
      const got = evaluateModel(m, feeds, cache ? { cache } : {});
      for (const k of ["y1", "y2"]) {
        assertEquals([...got[k]!.dims], [B, T, C], k);
        assertEquals(got[k]!.data, want[k]!.data, `${k}, run ${run}`);
      }
    }
  }
  // the independent oracle: onnxruntime (float32 sums in another order)
  const ort = await runOrt(m, feeds);
  for (const k of ["y1", "y2"]) {
    const a = want[k]!.data as Float32Array, b = ort[k]!.data as Float32Array;
    let err = 0, ref = 0;
    for (let i = 0; i < a.length; i++) {
      err = Math.max(err, Math.abs(a[i]! - b[i]!)), ref = Math.max(ref, Math.abs(b[i]!));
    }
    assert(err <= 1e-6 * ref, `${k}: max |evaluator - onnxruntime| ${err} of ${ref}`);
  }
});

Deno.test("views: a Gather that cannot be a view (index not a scalar) copies its viewed input; negative indices", () => {
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  g.inputs.push(x);
  const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [5, 2], rnd(10, 3)));
  const t = g.addNode("Transpose", [x], ["t"], { attrs: [intsAttr("perm", [1, 0, 2])] }).outputs[0]!;
  const i1 = g.addInitializer("i1", makeTensor(DataType.INT64, [1], BigInt64Array.of(1n)));
  const im = g.addInitializer("im", makeTensor(DataType.INT64, [], BigInt64Array.of(-1n)));
  const a = g.addNode("Gather", [t, i1], ["a"]).outputs[0]!; // [1, 3, 5]: not a view
  const b = g.addNode("Gather", [t, im], ["b"]).outputs[0]!; // [3, 5]: a view of the last slice
  g.outputs.push(
    g.addNode("MatMul", [a, w], ["ya"]).outputs[0]!,
    g.addNode("MatMul", [b, w], ["yb"]).outputs[0]!,
  );
  const reads = new Map<Value, number>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) reads.set(v, (reads.get(v) ?? 0) + 1);
  assertEquals(findFusions(g, reads, new Set(g.outputs), 17).size, 3); // the Transpose and both Gathers
  const feeds = { x: makeTensor(DataType.FLOAT, [3, 4, 5], rnd(60, 4)) };
  const want = evaluateModel(m, feeds, { onValue: () => {} });
  const got = evaluateModel(m, feeds);
  assertEquals([...got.ya!.dims], [1, 3, 2]);
  assertEquals(got.ya!.data, want.ya!.data);
  assertEquals(got.yb!.data, want.yb!.data);
});

Deno.test("SwiGLU: SiLU in one pass, silu(gate) * up applied as the up projection is stored; same bits", () => {
  const T = 9, C = 6, F = 11;
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  const x = g.value("x");
  g.inputs.push(x);
  const w = (name: string, k: number, n: number, seed: number) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, [k, n], rnd(k * n, seed, 0.5)));
  const gate = g.addNode("MatMul", [x, w("wg", C, F, 1)], ["gate"]).outputs[0]!;
  const sig = g.addNode("Sigmoid", [gate], ["sig"]).outputs[0]!;
  const silu = g.addNode("Mul", [gate, sig], ["silu"]).outputs[0]!;
  const up = g.addNode("MatMul", [x, w("wu", C, F, 2)], ["up"]).outputs[0]!;
  const h = g.addNode("Mul", [silu, up], ["h"]).outputs[0]!;
  g.outputs.push(g.addNode("MatMul", [h, w("wd", F, C, 3)], ["y"]).outputs[0]!);
  const reads = new Map<Value, number>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) reads.set(v, (reads.get(v) ?? 0) + 1);
  const f = findFusions(g, reads, new Set(g.outputs), 17);
  assertEquals(
    [...f].map(([n, x]) => [n.outputs[0]!.name, ...x.rest.map((r) => r.opType)].join("+")),
    [
      "sig+Mul", // SiLU in one pass
      "up+Mul",
    ],
  );
  const feeds = { x: makeTensor(DataType.FLOAT, [1, T, C], rnd(T * C, 4, 2)) };
  const want = evaluateModel(m, feeds, { onValue: () => {} });
  for (const cache of [undefined, createEvaluationCache()]) {
    assertEquals(evaluateModel(m, feeds, cache ? { cache } : {}).y!.data, want.y!.data);
  }
});
