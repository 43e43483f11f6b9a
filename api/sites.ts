/**
 * No silent no-ops: what a method's passes converted, summed over the {@link SiteCount}s they report, and
 * the refusal when they converted nothing. A pass that reports no count is judged by `modified`.
 * @module
 */
import type { Graph, Model } from "../onnx/ir.ts";
import { isAnyOp, WEIGHTED_OPS } from "../onnx/ops.ts";
import type { PipelineResult, SiteCount } from "../passes/pass.ts";

/** What the method converted, for the summary and `--json`. */
export interface SiteSummary {
  /** Sites converted, over every pass of the method. */
  converted: number;
  /** Candidates left unconverted, `"<site>: <reason>"` (all of them). */
  skipped: string[];
  /** What the counted sites are (e.g. "nodes"). */
  what: string;
  /** Whether every converting pass reported counts (false: judged by whether the model changed). */
  counted: boolean;
}

/** A method converted nothing: the output would be a copy of the input. Exit code 2 in the CLI. */
export class NothingConvertedError extends TypeError {
  /**
   * @param method the method
   * @param reasons why, per candidate node (or for the whole model)
   */
  constructor(readonly method: string, readonly reasons: readonly string[]) {
    super(
      `--method ${method} converted nothing, so the output would be a copy of the input: ${
        reasons.join("; ")
      } (pass --allow-no-sites to write the copy anyway)`,
    );
    this.name = "NothingConvertedError";
  }
}

/**
 * Sum the site counts of a method's steps.
 *
 * @param steps the pipeline steps of the method's passes (normalization left out)
 * @returns the summary
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { summarizeSites } from "./sites.ts";
 * const step = { pass: "p", modified: true, notes: [], ms: 0, sections: [] };
 * const s = summarizeSites([{ ...step, sites: { converted: 2, skipped: ["fc3: excluded"] } }]);
 * assertEquals([s.converted, s.skipped, s.counted], [2, ["fc3: excluded"], true]);
 * ```
 */
export function summarizeSites(steps: PipelineResult["steps"]): SiteSummary {
  const counted = steps.filter((s) => s.sites !== undefined);
  if (counted.length === 0) {
    // No pass counts sites: the method converted something exactly when its last pass changed the model
    // (earlier ones are preparation, e.g. the opset upgrade).
    const last = steps.at(-1);
    return { converted: last?.modified ? 1 : 0, skipped: [], what: "passes", counted: false };
  }
  const all: SiteCount[] = counted.map((s) => s.sites!);
  return {
    converted: all.reduce((a, s) => a + s.converted, 0),
    skipped: all.flatMap((s) => s.skipped),
    what: all.find((s) => s.what)?.what ?? "nodes",
    counted: true,
  };
}

/**
 * Reasons that apply to the whole model when a method found no candidate: compute that sits only inside
 * If/Loop/Scan bodies, which the method's passes do not enter.
 *
 * @param model the model
 * @returns reasons (empty when none applies)
 */
export function modelLevelReasons(model: Model): string[] {
  const weighted = (g: Graph) => g.nodes.filter((n) => isAnyOp(n, WEIGHTED_OPS)).length;
  if (weighted(model.graph) > 0) return [];
  const holders: string[] = [];
  let inside = 0;
  for (const n of model.graph.nodes) {
    let here = 0;
    for (const g of n.subgraphs()) {
      here += weighted(g) + [...g.subgraphs()].reduce((a, s) => a + weighted(s), 0);
    }
    if (here > 0) holders.push(`${n.opType} "${n.name}"`);
    inside += here;
  }
  if (inside === 0) return [];
  return [
    `all compute is inside If/Loop/Scan bodies (${inside} MatMul/Gemm/Conv nodes in ${holders.join(", ")})`,
  ];
}

/**
 * Throw {@link NothingConvertedError} when the method converted nothing.
 *
 * @param method the method name
 * @param model the model after the method's passes
 * @param steps the method's steps
 * @param summary their {@link summarizeSites}
 * @throws {NothingConvertedError} with the reason per candidate node, or for the whole model
 */
export function refuseNoSites(
  method: string,
  model: Model,
  steps: PipelineResult["steps"],
  summary: SiteSummary,
): void {
  if (summary.converted > 0) return;
  const reasons = [
    ...modelLevelReasons(model),
    ...summary.skipped,
  ];
  if (reasons.length === 0) {
    // The passes' own first notes say what they looked for ("no MatMul/Gemm with a constant float weight").
    reasons.push(...steps.flatMap((s) => s.notes.slice(0, 1)));
  }
  throw new NothingConvertedError(method, reasons.length ? reasons : ["no pass changed the model"]);
}
