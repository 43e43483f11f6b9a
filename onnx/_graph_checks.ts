/**
 * The load-time graph check of onnx/io.ts: a graph that cannot run (a cycle, a value read but never defined)
 * is refused with its node names; one merely stored out of order is sorted, as onnxruntime would.
 * @module
 */
import type { Graph, Model, Node } from "./ir.ts";
import { verify } from "./verify.ts";

/**
 * Refuse graphs that cannot run: a cycle, or a node reading a value nothing defines (with the node names),
 * as verify() reports them.
 * An acyclic graph whose nodes are stored out of order (onnxruntime accepts those) is sorted in place.
 */
export function checkStructure(model: Model): void {
  for (const g of model.allGraphs()) sortOrRefuse(g);
  // Only what makes a graph unrunnable is a load error; missing type annotations, unknown domains and the
  // like stay verify()'s business after a pass (onnxruntime accepts some of them, and tools build such models).
  const problems = verify(model).filter((p) => STRUCTURAL.test(p));
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : "";
    throw new RangeError(`the graph is invalid: ${problems.slice(0, 3).join("; ")}${more}`);
  }
}

/** verify() problems that make a graph unrunnable: a value read but never defined, or defined twice. */
const STRUCTURAL = /is not defined|is used before it is produced|is defined twice/;

function sortOrRefuse(g: Graph): void {
  const index = new Map<Node, number>(g.nodes.map((n, i) => [n, i]));
  let sorted = true;
  const deps = (n: Node): Node[] => {
    const out: Node[] = [];
    const visit = (x: Node) => {
      for (const v of x.inputs) {
        // A value produced in this graph (subgraphs may read values of the graphs around them).
        if (v?.producer && index.has(v.producer)) out.push(v.producer);
      }
      for (const sg of x.subgraphs()) for (const inner of sg.nodes) visit(inner);
    };
    visit(n);
    return out;
  };
  for (const n of g.nodes) {
    for (const d of deps(n)) if (index.get(d)! >= index.get(n)!) sorted = false;
  }
  if (sorted) return;
  // Kahn's algorithm, stable in file order.
  const pending = new Map<Node, number>();
  const users = new Map<Node, Node[]>();
  for (const n of g.nodes) {
    const ds = [...new Set(deps(n))];
    pending.set(n, ds.length);
    for (const d of ds) users.set(d, [...(users.get(d) ?? []), n]);
  }
  const order: Node[] = [];
  const ready = g.nodes.filter((n) => pending.get(n) === 0);
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const u of users.get(n) ?? []) {
      const left = pending.get(u)! - 1;
      pending.set(u, left);
      if (left === 0) ready.push(u);
    }
  }
  if (order.length < g.nodes.length) {
    const stuck = g.nodes.filter((n) => pending.get(n)! > 0).map((n) => `"${n.name || n.opType}"`);
    throw new RangeError(
      `graph "${g.name}" has a cycle through nodes ${stuck.slice(0, 8).join(", ")}` +
        (stuck.length > 8 ? ` (${stuck.length} nodes)` : ""),
    );
  }
  g.nodes.splice(0, g.nodes.length, ...order);
}
