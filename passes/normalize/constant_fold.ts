/**
 * Constant folding of shape computations: a `Shape` of a statically shaped value becomes an initializer,
 * and any node whose inputs are all constant (initializers or Constant nodes) and whose outputs are small is
 * evaluated with the CPU reference evaluator (onnx/evaluate) and replaced by initializers. This collapses
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains once input shapes are fixed (see
 * {@link inferShapes}'s `inputShapes`). Run dce afterwards to drop what became unused.
 * @module
 */
import { getOp } from "../../onnx/evaluate/registry.ts";
import { inferShapes } from "../../onnx/infer.ts";
import type { Graph, Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { constValue } from "../../onnx/patterns.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../onnx/tensor.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/** Options of {@link foldConstants}. */
export interface FoldOptions {
  /** Largest output (elements) folded into an initializer; bigger results stay computed. @default 4096 */
  maxElements?: number;
  /** Run shape inference first (so Shape of static values folds). @default true */
  inferShapes?: boolean;
}

/** Ops never folded: nondeterministic, or producing values that are not pure functions of their inputs. */
const NEVER = new Set([
  "RandomNormal",
  "RandomUniform",
  "RandomNormalLike",
  "RandomUniformLike",
  "Multinomial",
  "Dropout",
]);

function toInitializer(g: Graph, n: Node, outs: Tensor[]): void {
  const values: Value[] = [...n.outputs];
  g.removeNode(n, true);
  values.forEach((v, i) => {
    if (g.local(v.name) !== v) g.adopt(v);
    v.producer = null;
    v.producerIndex = -1;
    v.const = outs[i]!;
    g.initializers.push(v);
  });
}

function foldNode(n: Node, opset: number, max: number): Tensor[] | undefined {
  if (n.domain !== "" && n.domain !== "ai.onnx") return undefined;
  if (NEVER.has(n.opType) || isOp(n, Op.Constant) || n.subgraphs().length) return undefined;
  if (n.outputs.some((o) => o.isGraphOutput)) return undefined;
  if (isOp(n, Op.Shape)) {
    const s = n.input(0)?.type?.shape;
    if (!s || !s.every((d) => typeof d === "number")) return undefined;
    const r = s.length;
    const norm = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    const dims = (s as number[]).slice(norm(n.a.int("start", 0)), norm(n.a.int("end", r)));
    return [makeTensor(DataType.INT64, [dims.length], BigInt64Array.from(dims.map(BigInt)))];
  }
  if (isOp(n, Op.Size)) {
    const s = n.input(0)?.type?.shape;
    if (!s || !s.every((d) => typeof d === "number")) return undefined;
    return [makeTensor(DataType.INT64, [], BigInt64Array.of(BigInt(sizeOf(s as number[]))))];
  }
  if (n.inputs.length === 0 || n.inputs.every((v) => !v)) return undefined;
  const ins = n.inputs.map((v) => (v ? constValue(v) : undefined));
  if (n.inputs.some((v, i) => v && !ins[i])) return undefined;
  let kernel;
  try {
    kernel = getOp(n.domain, n.opType);
  } catch {
    return undefined;
  }
  try {
    const outs = kernel(ins, n.a, { opset, numOutputs: n.outputs.length });
    if (outs.length < n.outputs.length || outs.some((t) => t.data.length > max)) return undefined;
    return outs.slice(0, n.outputs.length);
  } catch {
    return undefined; // an op the evaluator cannot run on these inputs stays in the graph
  }
}

/**
 * Fold constant subexpressions of the main graph (not subgraphs, not function bodies).
 *
 * @param model the model (changed in place)
 * @param options see {@link FoldOptions}
 * @returns the number of nodes folded
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { foldConstants } from "./constant_fold.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * const x = m.graph.value("x");
 * x.type = { elemType: 1, shape: [2, 3] };
 * m.graph.inputs.push(x);
 * const s = m.graph.addNode("Shape", [x], ["s"]);
 * const r = m.graph.addNode("Reshape", [x, s.outputs[0]!], ["y"]);
 * m.graph.outputs.push(r.outputs[0]!);
 * assertEquals(foldConstants(m), 1);
 * assertEquals(m.graph.nodes.map((n) => n.opType), ["Reshape"]);
 * ```
 */
export function foldConstants(model: Model, options: FoldOptions = {}): number {
  if (options.inferShapes ?? true) inferShapes(model);
  const max = options.maxElements ?? 4096;
  const g = model.graph;
  let n = 0;
  for (const node of [...g.nodes]) {
    const outs = foldNode(node, model.opset, max);
    if (!outs) continue;
    toInitializer(g, node, outs);
    n++;
  }
  return n;
}

/** The constant-folding pass (see {@link foldConstants}). */
export const constantFold = {
  name: "constant-fold",
  run(model: Model, _ctx?: PassContext): PassResult {
    const n = foldConstants(model);
    return { modified: n > 0, notes: n > 0 ? [`folded ${n} nodes into initializers`] : [] };
  },
} satisfies Pass;
