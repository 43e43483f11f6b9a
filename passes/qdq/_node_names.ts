/**
 * Unique node names for a rewrite that inserts many nodes (private to passes/qdq).
 * @module
 */
import type { Graph } from "../../onnx/ir.ts";

/**
 * Node names as {@link Graph.uniqueNodeName} gives them (`base`, then `base_1`, `base_2`... the first not
 * taken), from one set of each graph's names kept up to date, instead of a set of every node name built per
 * call (quadratic in the nodes a rewrite inserts). Valid while every node the rewrite adds is named here and
 * none is removed or renamed meanwhile.
 */
export class NodeNames {
  #taken = new Map<Graph, Set<string>>();
  /** Per graph and base: the suffix to try next (every smaller one is taken, and names are only added). */
  #next = new Map<Graph, Map<string, number>>();

  /** The name `g.uniqueNodeName(base)` would give now, reserved. */
  take(g: Graph, base: string): string {
    let taken = this.#taken.get(g), next = this.#next.get(g);
    if (!taken || !next) {
      this.#taken.set(g, taken = new Set(g.nodes.map((n) => n.name)));
      this.#next.set(g, next = new Map());
    }
    let k = next.get(base) ?? 0;
    let n = k === 0 ? base : `${base}_${k}`;
    while (taken.has(n)) n = `${base}_${++k}`;
    next.set(base, k + 1);
    taken.add(n);
    return n;
  }
}
