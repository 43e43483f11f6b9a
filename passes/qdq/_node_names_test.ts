import { assertEquals } from "@std/assert";
import { Model } from "../../onnx/ir.ts";
import { NodeNames } from "./_node_names.ts";

Deno.test("NodeNames gives the names Graph.uniqueNodeName gives, taken names and gaps included", () => {
  // two identical graphs whose names have gaps ("Q", "Q_2") and a name that only looks like a suffix ("Q_x")
  const build = () => {
    const m = new Model();
    for (const name of ["Q", "Q_2", "Q_x", "DQ_1"]) m.graph.addNode("Relu", [], 0, { name });
    return m.graph;
  };
  const a = build(), b = build();
  const names = new NodeNames();
  const bases = ["Q", "DQ", "Q", "Clip", "DQ", "Q", "DQ", "Q", "Clip"];
  const got = bases.map((base) => a.addNode(base, [], 0, { name: names.take(a, base) }).name);
  const want = bases.map((base) => b.addNode(base, [], 0).name); // named by uniqueNodeName
  assertEquals(got, want);
  assertEquals(got, ["Q_1", "DQ", "Q_3", "Clip", "DQ_2", "Q_4", "DQ_3", "Q_5", "Clip_1"]);
});
