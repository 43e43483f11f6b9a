/**
 * What the QDQ pass rewrites: the MatMul / Gemm / Conv nodes with float inputs (weights per output channel,
 * activations per tensor), in the main graph and inside If / Loop / Scan bodies, minus excluded nodes and
 * signal-processing constants; and which of them the calibration data reached.
 * @module
 */
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, dtypeName } from "../../onnx/tensor.ts";
import { findSignalConstants } from "../normalize/signal_constants.ts";
import type { QdqOptions } from "./insert_qdq.ts";

/** One node the pass rewrites. */
export interface QdqTarget {
  node: Node;
  /** Input indices carrying activations to quantize per tensor. */
  activations: number[];
  /** Input index of the constant weight, or -1 (activation x activation MatMul). */
  weight: number;
  /** Axis of the weight that indexes output channels (per-channel scales), or -1 for per-tensor. */
  weightAxis: number;
}

/** A weight-bearing op whose weight is a constant, and the axis of its output channels. */
export function weightInput(node: Node): { index: number; axis: number } | undefined {
  const constAt = (i: number) => node.inputs[i]?.isConst === true;
  if (isOp(node, Op.Conv) && constAt(1)) return { index: 1, axis: 0 };
  if (isOp(node, Op.ConvTranspose) && constAt(1)) {
    return { index: 1, axis: node.a.int("group", 1) === 1 ? 1 : -1 };
  }
  if (isOp(node, Op.Gemm) && constAt(1)) return { index: 1, axis: node.a.int("transB", 0) ? 0 : 1 };
  if (isOp(node, Op.MatMul) && constAt(1)) {
    const rank = node.inputs[1]!.constInfo()!.dims.length;
    return { index: 1, axis: rank >= 2 ? rank - 1 : -1 };
  }
  return undefined;
}

/**
 * Find what the QDQ pass will rewrite.
 *
 * @param graph the main graph (normalized: weights are initializers); the bodies of its If, Loop and Scan
 *   nodes are planned too, after it
 * @param options exclusions and whether activation x activation MatMuls count
 * @returns the targets, in graph order (main graph first, then each subgraph)
 */
export function planQdq(graph: Graph, options: QdqOptions = {}): QdqTarget[] {
  const targets = planGraph(graph, options);
  for (const sg of graph.subgraphs()) targets.push(...planGraph(sg, options));
  return targets;
}

function planGraph(graph: Graph, options: QdqOptions): QdqTarget[] {
  const exclude = new Set(options.exclude ?? []);
  const fixed = findSignalConstants(graph);
  const targets: QdqTarget[] = [];
  for (const node of graph.nodes) {
    if (exclude.has(node.name) || node.outputs.some((o) => exclude.has(o.name))) {
      if (weightInput(node)) options.onSkip?.(node, "excluded");
      continue;
    }
    const why = fixed.get(node);
    if (why) {
      options.onSkip?.(node, why);
      continue;
    }
    const w = weightInput(node);
    const isFloat = (v: Value | null) =>
      v !== null && !v.isConst && (v.type?.elemType ?? DataType.FLOAT) === DataType.FLOAT;
    if (w) {
      const wt = node.inputs[w.index]!.const!.dtype;
      if (wt !== DataType.FLOAT) {
        options.onSkip?.(node, `weight is ${dtypeName(wt).toLowerCase()}, not float32`);
        continue;
      }
      if (!isFloat(node.inputs[0] ?? null)) {
        options.onSkip?.(node, "its input is not a float32 activation");
        continue;
      }
      targets.push({ node, activations: [0], weight: w.index, weightAxis: w.axis });
    } else if (isOp(node, Op.MatMul) && (options.activationMatMuls ?? true)) {
      if (isFloat(node.inputs[0] ?? null) && isFloat(node.inputs[1] ?? null)) {
        targets.push({ node, activations: [0, 1], weight: -1, weightAxis: -1 });
      }
    }
  }
  return targets;
}

/** The activation values (by name) the plan needs ranges for, without duplicates. */
export function activationValues(targets: readonly QdqTarget[]): string[] {
  const names = new Set<string>();
  for (const t of targets) for (const i of t.activations) names.add(t.node.inputs[i]!.name);
  return [...names];
}

/**
 * Split targets into those whose activations the calibration data reached and a note for each other one (a
 * node inside an If branch that no calibration sample takes): those stay float.
 *
 * @param targets from {@link planQdq}
 * @param ranges from {@link calibrateRanges}
 * @returns the reached targets and one "kept in float" note per unreached target
 */
export function reachedTargets(
  targets: readonly QdqTarget[],
  ranges: ReadonlyMap<string, [number, number]>,
): { reached: QdqTarget[]; unreached: string[] } {
  const reached: QdqTarget[] = [], unreached: string[] = [];
  for (const t of targets) {
    if (t.activations.every((i) => ranges.has(t.node.inputs[i]!.name))) reached.push(t);
    else unreached.push(`${t.node.name} kept in float: inside a branch no calibration sample reached`);
  }
  return { reached, unreached };
}
