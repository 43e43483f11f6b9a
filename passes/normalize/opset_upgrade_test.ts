import { assert, assertEquals, assertThrows } from "@std/assert";
import { floatAttr, intAttr, intsAttr, stringAttr } from "../../onnx/attributes.ts";
import { Model } from "../../onnx/ir.ts";
import { DataType, makeTensor, sizeOf } from "../../onnx/tensor.ts";
import { verify } from "../../onnx/verify.ts";
import { loadModelFile, modelBytes, type ModelName } from "../../tests/_models.ts";
import {
  compareOutputs,
  detPageFeed,
  MODEL_INPUTS,
  opCounts,
  randomFeeds,
  runOrt,
} from "../../tests/_ort_compare.ts";
import { OpsetUpgradeError, upgradeOpset } from "./opset_upgrade.ts";
import { mulberry32 } from "../../quant/_rng.ts";

const EXPECTED: Record<string, Record<number, string[]>> = {
  "ppocr-rec": {
    13: ["Clip@11 x28", "Slice@10 x10", "Squeeze@13 x7", "Softmax@13 x3"],
    21: [
      "BatchNormalization@14 x6",
      "Clip@11 x28",
      "Slice@10 x10",
      "ReduceMean@18 x10",
      "Squeeze@13 x7",
      "Softmax@13 x3",
    ],
  },
  "ppocr-det": { 13: [], 21: ["BatchNormalization@14 x3"] },
  "ppocr-cls": {
    13: ["Clip@11 x18", "Slice@10 x1", "Softmax@13 x1"],
    21: ["BatchNormalization@14 x35", "Clip@11 x18", "Slice@10 x1", "Softmax@13 x1"],
  },
};

for (const name of ["ppocr-rec", "ppocr-det", "ppocr-cls"] as ModelName[]) {
  for (const target of [13, 21]) {
    Deno.test(`opset upgrade: ${name} -> ${target} loads in onnxruntime with equal outputs`, async () => {
      const m = await loadModelFile(name);
      const feeds = name === "ppocr-det" ? await detPageFeed() : randomFeeds(m, MODEL_INPUTS[name]);
      const want = await runOrt(await modelBytes(name), feeds);
      const before = opCounts(m);
      const r = upgradeOpset(m, target);
      assertEquals(r.notes, EXPECTED[name]![target]);
      assertEquals(m.opset, target);
      assertEquals(verify(m), []);
      // Structure: no op appears or disappears (Softmax axes are proven last, no Flatten/Reshape wrapping).
      assertEquals(opCounts(m), before);
      for (const n of m.graph.nodes) {
        if (n.opType === "Clip" || n.opType === "Slice" || n.opType === "Squeeze") {
          assertEquals([...n.attrs.keys()], []);
        }
        if (n.opType === "Softmax") assertEquals(n.a.int("axis"), -1);
        if (target === 21 && n.opType === "ReduceMean") assertEquals(n.inputs.length, 2);
      }
      const got = await runOrt(m, feeds);
      for (const [k, e] of Object.entries(compareOutputs(got, want))) assert(e <= 1e-5, `${k}: rel L2 ${e}`);
    });
  }
}

/** A one-input model at `opset` with the node built by `build`; x is float [2, 3, 4]. */
function tiny(opset: number, build: (m: Model) => void, shape: (number | string)[] = [2, 3, 4]): Model {
  const m = new Model();
  m.irVersion = 7;
  m.opsets.set("", opset);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape };
  m.graph.inputs.push(x);
  build(m);
  for (const o of m.graph.outputs) o.type ??= { elemType: DataType.FLOAT };
  return m;
}

async function sameAfterUpgrade(m: Model, target: number, dims = [2, 3, 4]): Promise<string[]> {
  const r = mulberry32(3);
  const feeds = {
    x: makeTensor(DataType.FLOAT, dims, Float32Array.from({ length: sizeOf(dims) }, () => r() * 4 - 2)),
  };
  const want = await runOrt(m, feeds);
  const res = upgradeOpset(m, target, { inferShapes: false });
  assertEquals(verify(m), []);
  const got = await runOrt(m, feeds);
  for (const [k, e] of Object.entries(compareOutputs(got, want))) assert(e <= 1e-6, `${k}: rel L2 ${e}`);
  return res.notes ?? [];
}

Deno.test("opset upgrade: Softmax(axis=1) on rank 3 keeps the opset-9 coerce-to-2D semantics", async () => {
  for (const shape of [[2, 3, 4], ["n", "c", "w"]] as (number | string)[][]) {
    const m = tiny(9, (m) => {
      const s = m.graph.addNode("Softmax", [m.graph.inputs[0]!], ["y"], { attrs: [intAttr("axis", 1)] });
      m.graph.outputs.push(s.outputs[0]!);
    }, shape);
    assertEquals(await sameAfterUpgrade(m, 13), ["Softmax@13 x1"]);
    assertEquals(m.graph.nodes.map((n) => n.opType), ["Shape", "Flatten", "Softmax", "Reshape"]);
    assertEquals(m.graph.outputs[0]!.name, "y");
  }
});

Deno.test("opset upgrade: Pad, ReduceSum, Split, Unsqueeze, TopK, Dropout move attributes to inputs", async () => {
  const m = tiny(9, (m) => {
    const g = m.graph, x = g.inputs[0]!;
    const p = g.addNode("Pad", [x], ["p"], {
      attrs: [intsAttr("pads", [0, 1, 0, 0, 1, 2]), floatAttr("value", 0.5)],
    });
    const rs = g.addNode("ReduceSum", [p.outputs[0]!], ["rs"], { attrs: [intsAttr("axes", [2])] });
    const sp = g.addNode("Split", [x], ["s0", "s1"], {
      attrs: [intAttr("axis", 2), intsAttr("split", [1, 3])],
    });
    const us = g.addNode("Unsqueeze", [sp.outputs[1]!], ["us"], { attrs: [intsAttr("axes", [0])] });
    const tk = g.addNode("TopK", [x], ["tv", "ti"], { attrs: [intAttr("k", 2)] });
    const dr = g.addNode("Dropout", [tk.outputs[0]!], ["dr"], { attrs: [floatAttr("ratio", 0.3)] });
    g.outputs.push(rs.outputs[0]!, sp.outputs[0]!, us.outputs[0]!, dr.outputs[0]!);
  });
  assertEquals(await sameAfterUpgrade(m, 18), [
    "Pad@11 x1",
    "ReduceSum@13 x1",
    "Split@13 x1",
    "Split@18 x1",
    "Unsqueeze@13 x1",
    "TopK@10 x1",
    "Dropout@12 x1",
  ]);
  assertEquals(m.graph.nodes.map((n) => n.inputs.length), [3, 2, 2, 2, 2, 2]);
});

Deno.test("opset upgrade: Resize-10 nearest and Upsample become Resize with explicit asymmetric coordinates", async () => {
  const scales = (g: Model["graph"], v: number[]) =>
    g.addInitializer(`s${v.join("_")}`, makeTensor(DataType.FLOAT, [4], Float32Array.from(v)));
  const m = tiny(10, (m) => {
    const g = m.graph, x = g.inputs[0]!;
    const r = g.addNode("Resize", [x, scales(g, [1, 1, 2, 1.5])], ["r"], {
      attrs: [stringAttr("mode", "nearest")],
    });
    const l = g.addNode("Resize", [x, scales(g, [1, 1, 2, 3])], ["l"], {
      attrs: [stringAttr("mode", "linear")],
    });
    g.outputs.push(r.outputs[0]!, l.outputs[0]!);
  }, [1, 2, 3, 4]);
  assertEquals(await sameAfterUpgrade(m, 13, [1, 2, 3, 4]), ["Resize@11 x2"]);
  assertEquals(m.graph.nodes[0]!.a.string("coordinate_transformation_mode"), "asymmetric");
  assertEquals(m.graph.nodes[0]!.a.string("nearest_mode"), "floor");

  const u = tiny(9, (m) => {
    const g = m.graph;
    const n = g.addNode("Upsample", [g.inputs[0]!, scales(g, [1, 1, 2, 2])], ["u"], {
      attrs: [stringAttr("mode", "nearest")],
    });
    g.outputs.push(n.outputs[0]!);
  }, [1, 2, 3, 4]);
  assertEquals(await sameAfterUpgrade(u, 13, [1, 2, 3, 4]), ["Upsample@10 x1", "Resize@11 x1"]);
  assertEquals(u.graph.nodes.map((n) => n.opType), ["Resize"]);
});

Deno.test("opset upgrade: refuses with every unconvertible step listed, leaving the model untouched", () => {
  const m = tiny(8, (m) => {
    const g = m.graph, x = g.inputs[0]!;
    const a = g.addNode("Tile", [
      x,
      g.addInitializer("t", makeTensor(DataType.INT64, [1], BigInt64Array.of(1n))),
    ], ["a"]);
    const b = g.addNode("Scan", [a.outputs[0]!], ["b"]);
    const c = g.addNode("Mystery", [b.outputs[0]!], ["c"]);
    const bn = g.addNode("BatchNormalization", [c.outputs[0]!, x, x, x, x], ["d"], {
      attrs: [intAttr("spatial", 0)],
    });
    g.outputs.push(bn.outputs[0]!);
  });
  const e = assertThrows(() => upgradeOpset(m, 13), OpsetUpgradeError);
  assertEquals(e.unsupported, [
    "Scan@9: no converter",
    "Mystery: not in the op table",
    'BatchNormalization@9: BatchNormalization "BatchNormalization" has spatial=0',
  ]);
  assertEquals(m.opset, 8);
  assertEquals(m.graph.initializers.length, 1);
  assertThrows(() => upgradeOpset(m, 7), RangeError, "down");
  assertThrows(() => upgradeOpset(m, 22), RangeError, "up to 21");
});

Deno.test("opset upgrade: function bodies are lifted with the model", () => {
  const m = tiny(11, (m) => {
    const g = m.graph;
    const call = g.addNode("F", [g.inputs[0]!], ["y"], { domain: "local" });
    g.outputs.push(call.outputs[0]!);
  });
  m.opsets.set("local", 1);
  const body = new Model().graph;
  const fx = body.value("fx");
  body.inputs.push(fx);
  const sq = body.addNode("Squeeze", [fx], ["fy"], { attrs: [intsAttr("axes", [0])] });
  body.outputs.push(sq.outputs[0]!);
  m.functions.push({
    name: "F",
    domain: "local",
    attributes: [],
    attributeDefaults: [],
    opsets: new Map([["", 11]]),
    body,
    extra: undefined,
  });
  assertEquals(upgradeOpset(m, 13).notes, ["Squeeze@13 x1"]);
  assertEquals(m.functions[0]!.opsets.get(""), 13);
  assertEquals(sq.inputs.length, 2);
  assertEquals(verify(m), []);
});
