/**
 * A small rewrite-rule engine in the style of onnxscript's rewriter: a rule is a pattern rooted at one op,
 * a check that returns the match or the reason it does not apply (never an exception), and a rewrite.
 * {@link canonicalizePass} runs the canonical-form rules of ./canonical_rules.ts until nothing changes, so
 * that the matchers of every method (onnx/patterns.ts: LayerNorm, RMSNorm) see one spelling of each
 * computation whatever exporter wrote the model (`Div(1, x)` -> `Reciprocal(x)`, `Pow(x, 2)` -> `Mul(x, x)`,
 * no-op Casts dropped, ...).
 * @module
 */
import type { Graph, Model, Node } from "../../onnx/ir.ts";
import { inferShapes } from "../../onnx/infer.ts";
import { isOp, Op, type OpSchema } from "../../onnx/ops.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import { CANONICAL_RULES } from "./canonical_rules.ts";

/** A rewrite rule: pattern (root op + check) and rewrite. */
export interface RewriteRule<M extends object = object> {
  /** Short name, e.g. "div-one-to-reciprocal". */
  readonly name: string;
  /** What the rule does, in words (for reports). */
  readonly description: string;
  /** The op the pattern is rooted at. */
  readonly root: OpSchema;
  /**
   * The match at `node` (a `root` op), or the reason the rule does not apply there.
   *
   * @param node a node of op `root`
   * @returns the match, or a reason
   */
  check(node: Node): M | string;
  /**
   * Rewrite a match in place. The values read by the rest of the graph keep their names.
   *
   * @param node the root node
   * @param match what {@link check} returned
   */
  rewrite(node: Node, match: M): void;
}

/** A rule that did not apply at a node whose op it is rooted at. */
export interface RuleMiss {
  rule: string;
  node: string;
  reason: string;
}

/** Options of {@link applyRules}. */
export interface ApplyRulesOptions {
  /** Rounds over the graph at most (a round that rewrites nothing ends early). @default 10 */
  maxRounds?: number;
  /** Receives every miss (rule rooted at the node's op that did not apply), with its reason. @default undefined */
  onMiss?: (miss: RuleMiss) => void;
}

/** What {@link applyRules} did. */
export interface ApplyRulesResult {
  /** Rewrites per rule name. */
  counts: Map<string, number>;
  /** Total rewrites. */
  total: number;
}

/**
 * Apply rules to a graph (and its subgraphs) until none fires.
 *
 * @param graph the graph (changed in place)
 * @param rules the rules, tried in order at each node
 * @param options rounds, miss callback
 * @returns rewrites per rule
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { applyRules } from "./canonicalize.ts";
 * import { CANONICAL_RULES } from "./canonical_rules.ts";
 * const g = new Graph();
 * const one = g.addInitializer("one", makeTensor(DataType.FLOAT, [], Float32Array.of(1)));
 * g.outputs.push(g.addNode("Div", [one, g.value("x")], ["y"]).outputs[0]!);
 * const r = applyRules(g, CANONICAL_RULES);
 * assertEquals([r.total, g.nodes.map((n) => n.opType)], [1, ["Reciprocal"]]);
 * ```
 */
export function applyRules(
  graph: Graph,
  rules: readonly RewriteRule[],
  options: ApplyRulesOptions = {},
): ApplyRulesResult {
  const counts = new Map<string, number>();
  let total = 0;
  const maxRounds = options.maxRounds ?? 10;
  const visit = (g: Graph) => {
    for (let round = 0; round < maxRounds; round++) {
      let fired = 0;
      for (const node of [...g.nodes]) {
        for (const sg of node.subgraphs()) visit(sg);
        if (node.graph !== g) continue; // removed by an earlier rewrite this round
        for (const rule of rules) {
          if (!isOp(node, rule.root)) continue;
          const m = rule.check(node);
          if (typeof m === "string") {
            options.onMiss?.({ rule: rule.name, node: node.name, reason: m });
            continue;
          }
          rule.rewrite(node, m);
          counts.set(rule.name, (counts.get(rule.name) ?? 0) + 1);
          fired++;
          break;
        }
      }
      total += fired;
      if (fired === 0) break;
    }
  };
  visit(graph);
  return { counts, total };
}

/**
 * Bring a model to the canonical forms the matchers expect (see ./canonical_rules.ts). The float function is
 * unchanged (up to float32 rounding of `Pow(x, 0.5)` vs `Sqrt`).
 *
 * @param model the model (changed in place)
 * @param options rounds, miss callback
 * @returns rewrites per rule
 */
export function canonicalize(model: Model, options: ApplyRulesOptions = {}): ApplyRulesResult {
  // The Cast rules need element types; exporters rarely write them for intermediate values.
  const untyped = model.graph.nodes.some((n) => isOp(n, Op.Cast) && n.input(0) && !n.input(0)!.type);
  if (untyped) {
    try {
      inferShapes(model);
    } catch (_) {
      // Types stay unknown where inference failed: those Casts are kept (the rule reports why).
    }
  }
  return applyRules(model.graph, CANONICAL_RULES, options);
}

/**
 * The canonicalization pass: every canonical-form rule until nothing changes; its notes count the rewrites
 * per rule. Dead constants it leaves behind are removed by `dce`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { canonicalizePass } from "./canonicalize.ts";
 * assertEquals(canonicalizePass.name, "canonicalize");
 * ```
 */
export const canonicalizePass: Pass = {
  name: "canonicalize",
  run(model: Model, _ctx: PassContext): PassResult {
    const r = canonicalize(model);
    const notes = [...r.counts].map(([rule, n]) => `${rule}: ${n}`);
    return { modified: r.total > 0, notes };
  },
};
