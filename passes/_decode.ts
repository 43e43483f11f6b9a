/**
 * What the decode-at-load passes share (passes/shiftadd/decode.ts, passes/denseshift/decode.ts; composed by
 * api/decode.ts): their statistics and the clean-up of the packed ops' model-local functions and of the
 * `shiftkit` opset import once no node uses them.
 * @module
 */
import type { Graph, Model, Node, Value } from "../onnx/ir.ts";
import { DataType } from "../onnx/tensor.ts";
import { SHIFTKIT_DOMAIN } from "../onnx/ops.ts";
import type { Pass } from "./pass.ts";

/** What a decode pass did. */
export interface DecodeStats {
  /** Packed nodes replaced by float ones. */
  layers: number;
  /** Of `layers`, per packed op type (e.g. `ShiftConv`). */
  byOp: Record<string, number>;
  /** Bytes of the float weights written. */
  floatBytes: number;
  /** Bytes of the packed tensors they replace. */
  packedBytes: number;
}

/** A decode pass: the packed `shiftkit` op types it decodes and, after a run, its statistics. */
export interface DecodePass extends Pass {
  /** The `shiftkit`-domain op types this pass turns into float ops. */
  readonly ops: readonly string[];
  /** Set by a run. */
  stats?: DecodeStats;
}

/**
 * Drop the model-local functions of `ops` (domain `shiftkit`) that no node uses any more, then the
 * `shiftkit` opset import when no node of that domain is left.
 *
 * @param model the model (changed in place)
 * @param ops the op types whose functions may go
 * @returns nothing
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { dropUnusedShiftkit } from "./_decode.ts";
 * const m = new Model();
 * m.opsets.set("", 13).set("shiftkit", 1);
 * dropUnusedShiftkit(m, ["ShiftConv"]);
 * assertEquals(m.opsets.has("shiftkit"), false);
 * ```
 */
export function dropUnusedShiftkit(model: Model, ops: readonly string[]): void {
  const used = new Set<string>();
  for (const n of model.allNodes()) if (n.domain === SHIFTKIT_DOMAIN) used.add(n.opType);
  for (let i = model.functions.length - 1; i >= 0; i--) {
    const f = model.functions[i]!;
    if (f.domain === SHIFTKIT_DOMAIN && ops.includes(f.name) && !used.has(f.name)) {
      model.functions.splice(i, 1);
    }
  }
  if (used.size === 0) model.opsets.delete(SHIFTKIT_DOMAIN);
}

/**
 * Put the decoded float value `y` where the packed `node`'s output was (its name and type, every use), remove
 * the node, and count it in `stats` (`floatBytes`: the decoded weight's bytes).
 *
 * @param g the graph holding the node
 * @param node the packed node (first output replaced)
 * @param y its decoded replacement
 * @param stats the pass's running statistics
 * @param floatBytes bytes of the decoded float weight
 */
export function replaceDecoded(g: Graph, node: Node, y: Value, stats: DecodeStats, floatBytes: number): void {
  const out = node.outputs[0]!;
  y.type = out.type ? { ...out.type } : { elemType: DataType.FLOAT };
  out.replaceAllUsesWith(y);
  g.removeNode(node);
  g.rename(y, out.name);
  stats.layers++;
  stats.byOp[node.opType] = (stats.byOp[node.opType] ?? 0) + 1;
  stats.floatBytes += floatBytes;
}
