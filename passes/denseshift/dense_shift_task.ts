/**
 * DenseShift layers as a {@link PoolTask}: without sequential rounds (`sequential: 1`, the default) each
 * layer is converted from the float model's statistics alone, with nearest or learned rounding, so the layers
 * are independent and passes/denseshift/dense_shift.ts fits them through `ctx.pool` (worker threads where it
 * has them). With sequential rounds each round's statistics come from the converted earlier layers: serial. Layers sharing statistics (q, k, v on one
 * input) go in one job, so their shared low-rank approximation is built once, as in the serial path; the job
 * calls the same `quantizeLayer` on the same data, so the codes are the serial ones bit for bit.
 * @module
 */
import type { Attribute } from "../../onnx/attributes.ts";
import { Node } from "../../onnx/ir.ts";
import type { PassContext, PoolJob, PoolTask } from "../pass.ts";
import { mapLayers } from "../layer_map.ts";
import type { Target } from "./dense_shift_calib.ts";
import {
  type LayerQuantOptions,
  type LayerStats,
  type QuantizedLayer,
  quantizeLayer,
} from "./dense_shift_layer.ts";

/** A {@link Target} without its graph: the node's type, name and attributes only (a worker has no graph). */
export interface DetachedTarget extends Omit<Target, "node"> {
  node: { opType: string; domain: string; name: string; attrs: Attribute[] };
}

/** Layers sharing calibration statistics, fitted in order. */
export interface DenseShiftGroupJob {
  /**
   * Each layer and its statistics (shared objects stay shared: they cross in one message); the target
   * itself in this thread, detached on a worker.
   */
  layers: { target: Target | DetachedTarget; stats: LayerStats | undefined }[];
  /** How the layers are quantized. */
  options: LayerQuantOptions;
}

/**
 * Fit a group's layers in order (passes/denseshift/dense_shift_layer.ts `quantizeLayer`), each on a detached
 * copy of its node.
 *
 * @param job the layers, their statistics and the options
 * @returns one quantized layer per layer
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { denseShiftGroup } from "./dense_shift_task.ts";
 * const target = {
 *   node: { opType: "MatMul", domain: "", name: "mm", attrs: [] }, kind: "matmul" as const,
 *   rows: new Float32Array([0.5, -0.25, 1, 0.125]), nOut: 2, fanIn: 2, groups: 1, bias: null,
 * };
 * const [q] = denseShiftGroup({
 *   layers: [{ target, stats: undefined }],
 *   options: { bits: 4, alpha: "max", biasCorrection: false, centered: false, rounding: "nearest" },
 * });
 * assertEquals(q!.codes.length, 4);
 * ```
 */
export function denseShiftGroup(job: DenseShiftGroupJob): QuantizedLayer[] {
  return job.layers.map(({ target, stats }) => {
    const n = target.node;
    const t = n instanceof Node
      ? target as Target
      : { ...target, node: new Node(n.opType, n.domain, n.name, n.attrs) };
    return quantizeLayer(t, stats, job.options);
  });
}

/** {@linkcode denseShiftGroup} as a pool task that starts workers from `minWeights` weights per map. */
const task = (minWeights: number): PoolTask<DenseShiftGroupJob, QuantizedLayer[]> => ({
  url: import.meta.url,
  name: "denseShiftGroup",
  fn: denseShiftGroup,
  minWeights,
});

/**
 * Learned rounding: workers from 2^18 weights. On a quiet 2-core machine (bench/README.md "Worker threads")
 * 2 threads took byte-lm-opt from 12.1 to 8.6 s, byte-lm-llama 6.7 to 4.9 s, segmenter-base 4.1 to 3.3 s,
 * segmenter-tiny 1.3 to 1.2 s.
 */
export const DENSE_SHIFT_LEARNED_TASK: PoolTask<DenseShiftGroupJob, QuantizedLayer[]> = task(2 ** 18);

/**
 * Nearest rounding: its fits are about a third of a 0.3-1.1 s conversion on the repository models, less than
 * two workers' start-up and JIT warm-up (2 threads were 0.1-0.2 s slower on every one of them, quiet machine),
 * so workers start only from 2^23 weights.
 */
export const DENSE_SHIFT_NEAREST_TASK: PoolTask<DenseShiftGroupJob, QuantizedLayer[]> = task(2 ** 23);

/**
 * Fit independent layers through `ctx.pool`, grouped by shared statistics.
 *
 * @param ctx the pass context
 * @param targets the layers, in graph order
 * @param stats their calibration statistics
 * @param options how they are quantized
 * @returns each layer's fit
 */
export async function fitLayers(
  ctx: PassContext,
  targets: readonly Target[],
  stats: Map<Target, LayerStats>,
  options: LayerQuantOptions,
): Promise<Map<Target, QuantizedLayer>> {
  const groups: Target[][] = [];
  const byKey = new Map<object, Target[]>();
  for (const t of targets) {
    const st = stats.get(t);
    // Layers on the same rows share their statistics' arrays (dense_shift_collect.ts).
    const key = st?.gram[0] ?? st?.sketch?.[0] ?? st?.diag?.[0] ?? st?.mean[0];
    let grp = key ? byKey.get(key) : undefined;
    if (!grp) groups.push(grp = []);
    if (key) byKey.set(key, grp);
    grp.push(t);
  }
  const jobs: PoolJob<DenseShiftGroupJob>[] = groups.map((ts) => ({
    label: ts.map((t) => t.node.name).join(", "),
    weights: ts.reduce((s, t) => s + t.rows.length, 0),
    cost: ts.reduce((s, t) => s + t.rows.length * t.fanIn, 0),
    bytes: ts.reduce((s, t) => s + t.rows.byteLength, statsBytes(ts.map((t) => stats.get(t)))),
    args: (onWorker: boolean) => ({
      args: {
        layers: ts.map((t) => {
          if (!onWorker) return { target: t, stats: stats.get(t) };
          const { node, ...rest } = t;
          const target = {
            ...rest,
            node: {
              opType: node.opType,
              domain: node.domain,
              name: node.name,
              attrs: [...node.attrs.values()],
            },
          };
          return { target, stats: stats.get(t) };
        }),
        options,
      },
    }),
  }));
  const out = new Map<Target, QuantizedLayer>();
  const t = options.rounding === "learned" ? DENSE_SHIFT_LEARNED_TASK : DENSE_SHIFT_NEAREST_TASK;
  await mapLayers(ctx, t, jobs, (qs, i) => {
    groups[i]!.forEach((t, j) => out.set(t, qs[j]!));
    ctx.reporter.progress("dense-shift fit", out.size, targets.length);
  });
  return out;
}

/** Bytes of the distinct typed arrays in some layers' statistics (shared arrays counted once). */
function statsBytes(stats: (LayerStats | undefined)[]): number {
  const seen = new Set<ArrayBuffer | SharedArrayBuffer>();
  let bytes = 0;
  const visit = (v: unknown, depth: number): void => {
    if (depth > 4 || v === null || typeof v !== "object") return;
    if (ArrayBuffer.isView(v)) {
      if (!seen.has(v.buffer)) (seen.add(v.buffer), bytes += v.buffer.byteLength); // a view clones its buffer
      return;
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) visit(x, depth + 1);
  };
  stats.forEach((st) => visit(st, 0));
  return bytes;
}
