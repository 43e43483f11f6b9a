import { assert, assertEquals } from "@std/assert";
import { intAttr, intsAttr } from "../../onnx/attributes.ts";
import { Model, type Value } from "../../onnx/ir.ts";
import { findLayerNorms } from "../../onnx/patterns.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { mulberry32 } from "../../quant/_rng.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { applyRules, canonicalize, canonicalizePass, type RuleMiss } from "./canonicalize.ts";
import { CANONICAL_RULES, divOneToReciprocal, dropCastPair, powTwoToMul } from "./canonical_rules.ts";

const C = 6;

function model(opset = 17): { m: Model; x: Value; f: (n: string, dims: number[], v: number[]) => Value } {
  const m = new Model();
  m.opsets.set("", opset);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [3, C] };
  m.graph.inputs.push(x);
  const f = (n: string, dims: number[], v: number[]) =>
    m.graph.addInitializer(n, makeTensor(DataType.FLOAT, dims, Float32Array.from(v)));
  return { m, x, f };
}

function feeds(seed: number): Record<string, Tensor> {
  const r = mulberry32(seed);
  return { x: makeTensor(DataType.FLOAT, [3, C], Float32Array.from({ length: 3 * C }, () => 0.5 + 2 * r())) };
}

async function sameFunction(before: Model, after: Model, out: string): Promise<void> {
  const a = (await runOrt(before, feeds(1)))[out]!, b = (await runOrt(after, feeds(1)))[out]!;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(Number(a.data[i]) - Number(b.data[i]));
    assert(
      d <= 1e-6 * Math.max(1, Math.abs(Number(a.data[i]))),
      `${out}[${i}]: ${a.data[i]} vs ${b.data[i]}`,
    );
  }
}

/** HF LlamaRMSNorm as torch.onnx.export writes it (opset 18: ReduceMean axes as an input). */
function llamaRms(opts: { casts: boolean }): Model {
  const { m, x, f } = model(18);
  const g = m.graph;
  const cast = (v: Value, name: string) =>
    opts.casts ? g.addNode("Cast", [v], [name], { attrs: [intAttr("to", DataType.FLOAT)] }).outputs[0]! : v;
  const xf = cast(x, "xf");
  const sq = g.addNode("Pow", [xf, f("two", [], [2])], ["sq"]).outputs[0]!;
  const v = g.addNode("ReduceMean", [
    sq,
    g.addInitializer("axes", makeTensor(DataType.INT64, [1], BigInt64Array.of(-1n))),
  ], [
    "var",
  ], { attrs: [intAttr("keepdims", 1)] }).outputs[0]!;
  const sd = g.addNode("Sqrt", [g.addNode("Add", [v, f("eps", [], [1e-6])], ["ve"]).outputs[0]!], ["sd"])
    .outputs[0]!;
  const rs = g.addNode("Div", [f("one", [], [1]), sd], ["rs"]).outputs[0]!;
  const n = cast(g.addNode("Mul", [xf, rs], ["n"]).outputs[0]!, "nb");
  const y = g.addNode("Mul", [f("w", [C], [1, 2, 3, 4, 5, 6]), n], ["y"]).outputs[0]!;
  y.type = { elemType: DataType.FLOAT };
  g.outputs.push(y);
  return m;
}

Deno.test("canonicalize: HF LlamaRMSNorm (Casts, Pow 2, Div(1, Sqrt)) becomes the matched RMSNorm, same function", async () => {
  const before = llamaRms({ casts: true });
  assertEquals(findLayerNorms(before.graph).length, 0);
  const m = llamaRms({ casts: true });
  const r = canonicalize(m);
  assertEquals(Object.fromEntries(r.counts), {
    "drop-identity-cast": 2,
    "pow-two-to-mul": 1,
    "div-one-to-reciprocal": 1,
  });
  assertEquals(verify(m), []);
  assertEquals(m.graph.nodes.map((n) => n.opType), [
    "Mul",
    "ReduceMean",
    "Add",
    "Sqrt",
    "Reciprocal",
    "Mul",
    "Mul",
  ]);
  const [ln] = findLayerNorms(m.graph);
  assertEquals([ln?.kind, ln?.input.name, ln?.gamma?.name, ln?.output.name], ["rms", "x", "w", "y"]);
  await sameFunction(before, m, "y");
  // A second run finds nothing to do.
  assertEquals(canonicalize(m).total, 0);
});

Deno.test("canonicalize: Pow(x, 0.5) -> Sqrt, and the pass reports its counts", async () => {
  const { m, x, f } = model();
  const y = m.graph.addNode("Pow", [x, f("half", [1], [0.5])], ["y"]).outputs[0]!;
  y.type = { elemType: DataType.FLOAT };
  m.graph.outputs.push(y);
  const before = model().m;
  before.graph.outputs.push(
    before.graph.addNode("Pow", [
      before.graph.inputs[0]!,
      before.graph.addInitializer("h", makeTensor(DataType.FLOAT, [1], Float32Array.of(0.5))),
    ], ["y"])
      .outputs[0]!,
  );
  const res = await canonicalizePass.run(m, { reporter: { progress() {}, info() {}, warn() {} } });
  assertEquals(res, { modified: true, notes: ["pow-half-to-sqrt: 1"] });
  assertEquals(m.graph.nodes.map((n) => [n.opType, n.inputs.length]), [["Sqrt", 1]]);
  await sameFunction(before, m, "y");
});

Deno.test("canonicalize: a float16 -> float32 -> float16 Cast pair is dropped; a narrowing pair is kept with the reason", () => {
  for (const [mid, drops] of [[DataType.FLOAT, true], [DataType.INT32, false]] as const) {
    const m = new Model();
    m.opsets.set("", 17);
    const g = m.graph;
    const x = g.value("x");
    x.type = { elemType: DataType.FLOAT16, shape: [2] };
    g.inputs.push(x);
    const up = g.addNode("Cast", [x], ["up"], { attrs: [intAttr("to", mid)] }).outputs[0]!;
    const down = g.addNode("Cast", [up], ["down"], { attrs: [intAttr("to", DataType.FLOAT16)] }).outputs[0]!;
    const y = g.addNode("Relu", [down], ["y"]).outputs[0]!;
    y.type = { elemType: DataType.FLOAT16 };
    g.outputs.push(y);
    const misses: RuleMiss[] = [];
    const r = applyRules(g, [dropCastPair], { onMiss: (x) => misses.push(x) });
    assertEquals(r.total, drops ? 1 : 0);
    assertEquals(g.nodes.map((n) => n.opType), drops ? ["Relu"] : ["Cast", "Cast", "Relu"]);
    if (!drops) assert(misses.some((x) => /not an exact widening/.test(x.reason)), JSON.stringify(misses));
    assertEquals(verify(m), []);
  }
});

Deno.test("canonicalize: rules that do not apply say why and leave the graph alone", () => {
  const { m, x, f } = model();
  const g = m.graph;
  const d2 = g.addNode("Div", [f("two", [], [2]), x], ["d2"]).outputs[0]!; // 2 / x
  const dv = g.addNode("Div", [x, f("one", [], [1])], ["dv"]).outputs[0]!; // x / 1: not Div(1, x)
  const p3 = g.addNode("Pow", [x, f("three", [], [3])], ["p3"]).outputs[0]!;
  const big = g.addNode("Div", [f("ones", [1, 1, 1], [1]), x], ["big"]).outputs[0]!; // rank 3 would broadcast x up
  g.outputs.push(d2, dv, p3, big);
  const misses: RuleMiss[] = [];
  const r = applyRules(g, CANONICAL_RULES, { onMiss: (x) => misses.push(x) });
  assertEquals(r.total, 0);
  const why = (rule: string, node: string) => misses.find((x) => x.rule === rule && x.node === node)?.reason;
  const [n0, n1, n2, n3] = g.nodes.map((n) => n.name);
  assertEquals(why(divOneToReciprocal.name, n0!), "the dividend is 2, not 1");
  assert(why(divOneToReciprocal.name, n1!)?.startsWith("the dividend is not a constant"));
  assertEquals(why(powTwoToMul.name, n2!), "the exponent is 3, not 2");
  assert(why(divOneToReciprocal.name, n3!)?.includes("could change the output shape"));
  assertEquals(g.nodes.map((n) => n.opType), ["Div", "Div", "Pow", "Div"]);
});

Deno.test("canonicalize: a decomposed LayerNorm with ReduceMean axes as attribute (opset 17) or input (opset 18) matches", () => {
  for (const opset of [17, 18]) {
    const { m, x, f } = model(opset);
    const g = m.graph;
    const axes = opset >= 18
      ? {
        inputs: [g.addInitializer("axes", makeTensor(DataType.INT64, [1], BigInt64Array.of(-1n)))],
        attrs: [],
      }
      : { inputs: [], attrs: [intsAttr("axes", [-1])] };
    const mean = g.addNode("ReduceMean", [x, ...axes.inputs], ["mean"], { attrs: axes.attrs }).outputs[0]!;
    const d = g.addNode("Sub", [x, mean], ["d"]).outputs[0]!;
    const sq = g.addNode("Pow", [d, f("two", [], [2])], ["sq"]).outputs[0]!;
    const v = g.addNode("ReduceMean", [sq, ...axes.inputs], ["v"], { attrs: axes.attrs }).outputs[0]!;
    const sd = g.addNode("Pow", [
      g.addNode("Add", [v, f("eps", [], [1e-5])], ["ve"]).outputs[0]!,
      f("half", [], [0.5]),
    ], [
      "sd",
    ]).outputs[0]!;
    const n = g.addNode("Div", [d, sd], ["n"]).outputs[0]!;
    g.outputs.push(
      g.addNode("Add", [
        g.addNode("Mul", [n, f("g", [C], [1, 1, 1, 1, 1, 2])], ["ng"]).outputs[0]!,
        f("b", [C], [0, 0, 0, 0, 0, 1]),
      ], ["y"]).outputs[0]!,
    );
    assertEquals(findLayerNorms(g).length, 0, "Pow(., 0.5) is not the canonical Sqrt");
    canonicalize(m);
    const [ln] = findLayerNorms(g);
    assertEquals([ln?.kind, ln?.axis, ln?.output.name], ["decomposed", -1, "y"]);
  }
});
