import { assert, assertEquals } from "@std/assert";
import { intsAttr } from "./attributes.ts";
import { Graph, type Value } from "./ir.ts";
import { findLayerNorms, matchLayerNorm, type NoMatch } from "./patterns.ts";
import { DataType, makeTensor } from "./tensor.ts";
import { loadModelFile } from "../tests/_models.ts";

Deno.test("findLayerNorms: ppocr-rec has exactly 5 decomposed LayerNorms (2 blocks x 2 + the final norm)", async () => {
  // Counted by hand: 10 ReduceMean, 5 Pow, 5 Sqrt, one mean/variance pair per norm; the last one uses eps 1e-6.
  const m = await loadModelFile("ppocr-rec");
  const misses: NoMatch[] = [];
  const lns = findLayerNorms(m.graph, { onMiss: (x) => misses.push(x) });
  assertEquals(lns.length, 5);
  assertEquals(misses, []);
  for (const ln of lns) {
    assertEquals(ln.kind, "decomposed");
    assertEquals(ln.axis, -1);
    assertEquals(ln.nodes.map((n) => n.opType), [
      "ReduceMean",
      "Sub",
      "Pow",
      "ReduceMean",
      "Add",
      "Sqrt",
      "Div",
      "Mul",
      "Add",
    ]);
    assert(ln.gamma && ln.beta);
    assertEquals(ln.output.producer, ln.nodes[8]);
  }
  assertEquals(lns.map((l) => Math.round(Math.log10(l.epsilon))), [-5, -5, -5, -5, -6]);
});

for (const [name, count] of [["byte-lm-opt", 9], ["segmenter-tiny", 15]] as const) {
  Deno.test(`findLayerNorms: ${name} has ${count} fused LayerNormalization nodes`, async () => {
    const m = await loadModelFile(name);
    const lns = findLayerNorms(m.graph);
    assertEquals(lns.length, count);
    for (const ln of lns) {
      assertEquals([ln.kind, ln.axis, ln.nodes.length], ["fused", -1, 1]);
      assertEquals(ln.gamma?.isConst, true);
      assertEquals(ln.beta?.isConst, true);
      assertEquals(Math.fround(ln.epsilon), Math.fround(1e-5));
    }
  });
}

/** x [2, 8] -> a LayerNorm-like chain built by `variant`. */
function chain(
  variant: "ln" | "ln-recip-mul" | "rms" | "no-eps" | "axis0" | "leak",
): { g: Graph; start: () => ReturnType<Graph["addNode"]> } {
  const g = new Graph("t");
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [2, 8] };
  g.inputs.push(x);
  const c = (name: string, v: number[], dims = [v.length]) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, dims, Float32Array.from(v)));
  const two = c("two", [2], []), eps = c("eps", [1e-5], []);
  const gamma = c("gamma", Array(8).fill(1.5)), beta = c("beta", Array(8).fill(0.5));
  const axes = intsAttr("axes", [variant === "axis0" ? 0 : -1]);
  let first;
  let num: Value;
  let sq;
  if (variant === "rms") {
    sq = g.addNode("Mul", [x, x], ["sq"]);
    first = g.addNode("ReduceMean", [sq.outputs[0]!], ["ms"], { attrs: [axes] });
    num = x;
  } else {
    first = g.addNode("ReduceMean", [x], ["mean"], { attrs: [axes] });
    num = g.addNode("Sub", [x, first.outputs[0]!], ["d"]).outputs[0]!;
    sq = g.addNode("Pow", [num, two], ["sq"]);
  }
  const v = variant === "rms" ? first : g.addNode("ReduceMean", [sq.outputs[0]!], ["var"], { attrs: [axes] });
  const ve = variant === "no-eps" ? v : g.addNode("Add", [v.outputs[0]!, eps], ["ve"]);
  const sd = g.addNode("Sqrt", [ve.outputs[0]!], ["sd"]);
  let n;
  if (variant === "ln-recip-mul") {
    const rc = g.addNode("Reciprocal", [sd.outputs[0]!], ["rc"]);
    n = g.addNode("Mul", [num, rc.outputs[0]!], ["n"]);
  } else n = g.addNode("Div", [num, sd.outputs[0]!], ["n"]);
  const y = g.addNode("Mul", [n.outputs[0]!, gamma], ["gy"]);
  const z = variant === "rms" ? y : g.addNode("Add", [beta, y.outputs[0]!], ["z"]);
  g.outputs.push(z.outputs[0]!);
  if (variant === "leak") g.outputs.push(sd.outputs[0]!);
  return { g, start: () => first };
}

Deno.test("matchLayerNorm: decomposed (Div or Reciprocal+Mul) and RMSNorm variants", () => {
  for (
    const [variant, kind, ops] of [
      ["ln", "decomposed", 9],
      ["ln-recip-mul", "decomposed", 10],
      ["rms", "rms", 6],
    ] as const
  ) {
    const { g, start } = chain(variant);
    const m = matchLayerNorm(start());
    assert(!("reason" in m), `${variant}: ${"reason" in m ? m.reason : ""}`);
    assertEquals([m.kind, m.nodes.length, m.input.name, m.gamma?.name, m.beta?.name ?? null, m.axis], [
      kind,
      ops,
      "x",
      "gamma",
      variant === "rms" ? null : "beta",
      -1,
    ]);
    assertEquals(m.output, g.outputs[0]);
    assertEquals(Math.fround(m.epsilon), Math.fround(1e-5));
    assertEquals(findLayerNorms(g).length, 1);
  }
});

Deno.test("matchLayerNorm: near misses return a reason, never throw", () => {
  const reasons: Record<string, string> = {};
  for (const variant of ["no-eps", "axis0", "leak"] as const) {
    const { g, start } = chain(variant);
    const m = matchLayerNorm(start());
    assert("reason" in m, variant);
    reasons[variant] = m.reason;
    const misses: NoMatch[] = [];
    assertEquals(findLayerNorms(g, { onMiss: (x) => misses.push(x) }), []);
    assert(misses.length >= 1);
  }
  assertEquals(reasons, {
    "no-eps": 'variance feeds Sqrt "Sqrt", expected Add(eps)',
    axis0: 'ReduceMean "ReduceMean" axes [0] are not the trailing axes',
    leak: 'std "sd" is a graph output',
  });
  const g = new Graph();
  assertEquals("reason" in matchLayerNorm(g.addNode("Relu", [g.value("x")], ["y"])), true);
});
