/**
 * Calibration runs of the DenseShift pass (passes/denseshift/dense_shift.ts): per-layer Gram matrices, their
 * diagonals, row-subsampled "sketch" Grams and mean inputs, on one model (the float model, or for sequential
 * calibration the partly converted one), all in one calibration run. Layers that read the same input with
 * the same geometry (q, k and v projections; gate and up) share one accumulator.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { GramAccumulator } from "../../quant/gram.ts";
import { RowsOrGramAccumulator, SketchAccumulator } from "../../quant/sketch.ts";
import { accumulate, RowMean, type RowSink, type Target } from "./dense_shift_calib.ts";
import { defaultSearchRank, type LayerStats } from "./dense_shift_layer.ts";
import type { PassRuntime } from "../pass.ts";

/** Run the calibration data through `model`, feeding each target's input rows to its sink. */
async function run(
  runtime: PassRuntime,
  model: Model,
  sinks: Map<Target, RowSink>,
  positions: number,
): Promise<void> {
  const byInput = new Map<string, Target[]>();
  for (const t of sinks.keys()) {
    const name = t.node.inputs[0]!.name;
    byInput.set(name, [...(byInput.get(name) ?? []), t]);
  }
  await runtime.collect(model, [...byInput.keys()], (values, b) => {
    for (const [name, ts] of byInput) {
      const x = values[name];
      if (x) { for (const t of ts) accumulate(t, x, positions, b, sinks.get(t)!); }
    }
  });
}

/** Targets with this key see the same rows (same input, same patch geometry). */
function rowKey(t: Target): string {
  const geom = t.kind === "conv" ? `${JSON.stringify(t.conv)}|${t.groups}` : t.kind;
  return `${t.node.inputs[0]!.name}|${geom}|${t.fanIn}`;
}

/** What {@linkcode collectStats} gathers, by target. */
export interface StatsRequest {
  /** Full Gram matrices and means (learned rounding, fallback decisions). */
  gramFor: Target[];
  /** Means only. */
  meanFor: Target[];
  /**
   * Means, the Gram's diagonal E[x_k^2] over every row, and a Gram over at most `sketchRows` evenly spaced
   * rows per calibration sample (nearest rounding's diagonal-plus-low-rank search).
   */
  sketchFor?: Target[];
  /**
   * Rows per calibration sample in the sketch.
   * @default 32
   */
  sketchRows?: number;
  /**
   * Rank of the approximations the sketches serve (kept as rows or as a Gram, whichever that is cheaper
   * from: quant/sketch.ts).
   * @default by layer kind (dense_shift_layer.ts defaultSearchRank)
   */
  searchRank?: number | undefined;
  /**
   * `gramFor` targets keep every row instead of their Gram where that is cheaper ({@linkcode rowsKept}); their
   * statistics then come as `rows` (exact, no Gram formed). Only for nearest rounding without fallback
   * decisions: learned rounding and the int8 noise estimate read the Gram itself.
   * @default false
   */
  rowsWhenCheaper?: boolean;
}

/**
 * How many calibration rows of a layer stay rows rather than a Gram matrix (the cost rule of
 * {@linkcode RowsOrGramAccumulator}, nearest rounding): with m rows of K features, n output channels per
 * group, rank r and `it` subspace iterations, the Gram costs `m K^2 / 2` to form, `(it + 1) K^2 r` for the
 * alpha search's approximation and `2 n K^2` for the per-channel quadratic forms; the rows cost nothing to
 * keep, `2 (it + 1) m K r`, `2 n m K` and `m K` for their diagonal. The rows win while
 * `m (2 (it + 1) r + 2 n + 1 - K / 2) < K ((it + 1) r + 2 n)`; never more than `4 K` rows (twice the Gram's
 * memory).
 *
 * @param k fan-in K (per group)
 * @param nOut output channels per group
 * @param rank rank of the search's approximation (capped at K)
 * @param iterations its subspace iterations
 * @returns the largest number of rows kept as rows (0: always the Gram)
 */
export function rowsKept(k: number, nOut: number, rank: number, iterations = 8): number {
  const r = Math.min(rank, k), it = iterations + 1;
  const a = 2 * it * r + 2 * nOut + 1 - k / 2, b = k * (it * r + 2 * nOut);
  if (r >= k) return 0; // exact eigendecomposition of the (small) Gram
  return Math.max(0, Math.min(4 * k, a <= 0 ? Infinity : Math.ceil(b / a) - 1));
}

/**
 * Gram matrices, sketches and means of the targets' inputs on `model` (see {@linkcode StatsRequest}), in one
 * calibration run. A target whose input never showed up is left out.
 */
export async function collectStats(
  runtime: PassRuntime,
  model: Model,
  targets: StatsRequest,
  positions: number,
): Promise<Map<Target, LayerStats>> {
  type Acc = {
    gram?: GramAccumulator[];
    exact?: RowsOrGramAccumulator[];
    sketch?: SketchAccumulator[];
    mean?: RowMean[];
  };
  const perRow = targets.sketchRows ?? 32;
  const accs = new Map<string, Acc>(), owner = new Map<Target, Acc>();
  const want = (ts: Target[], what: "gram" | "sketch" | "mean") => {
    for (const t of ts) {
      const key = rowKey(t);
      const acc = accs.get(key) ?? {};
      accs.set(key, acc);
      if (!owner.has(t)) owner.set(t, acc);
      const g = () => Array.from({ length: t.groups }, () => new GramAccumulator(t.fanIn));
      if (what === "gram" && targets.rowsWhenCheaper && !acc.gram) {
        const maxRows = rowsKept(t.fanIn, t.nOut / t.groups, targets.searchRank ?? defaultSearchRank(t.kind));
        acc.exact ??= Array.from({ length: t.groups }, () => new RowsOrGramAccumulator(t.fanIn, { maxRows }));
      } else if (what === "gram") acc.gram ??= g();
      if (what === "sketch") {
        const rank = targets.searchRank ?? defaultSearchRank(t.kind);
        acc.sketch ??= Array.from({ length: t.groups }, () => new SketchAccumulator(t.fanIn, { rank }));
        acc.mean = Array.from({ length: t.groups }, () => new RowMean(t.fanIn, true));
      }
      if (what === "mean" && !acc.mean) {
        acc.mean = Array.from({ length: t.groups }, () => new RowMean(t.fanIn));
      }
    }
  };
  want(targets.gramFor, "gram");
  want(targets.sketchFor ?? [], "sketch");
  want(targets.meanFor, "mean");
  const stats = new Map<Target, LayerStats>();
  if (owner.size === 0) return stats;
  // One representative target per key reads the rows.
  const sinks = new Map<Target, RowSink>();
  const fed = new Set<Acc>();
  for (const [t, acc] of owner) {
    if (fed.has(acc)) continue;
    fed.add(acc);
    let buf = new Float32Array(0);
    sinks.set(t, (gi, rows, n, samples) => {
      if (acc.gram) acc.gram[gi]!.add(rows, n);
      else if (acc.exact) acc.exact[gi]!.add(rows, n);
      else if (acc.mean) acc.mean[gi]!.add(rows, n);
      if (acc.sketch) {
        const m = Math.min(n, perRow * samples), k = t.fanIn;
        if (m === n) return acc.sketch[gi]!.add(rows, n);
        if (buf.length < m * k) buf = new Float32Array(m * k);
        for (let i = 0; i < m; i++) {
          const r = Math.floor(((i + 0.5) * n) / m);
          buf.set(rows.subarray(r * k, (r + 1) * k), i * k);
        }
        acc.sketch[gi]!.add(buf, m);
      }
    });
  }
  await run(runtime, model, sinks, positions);
  const wantSketch = new Set(targets.sketchFor ?? []);
  const done = new Map<Acc, LayerStats>(); // targets on the same rows share their statistics
  for (const [t, acc] of owner) {
    const same = done.get(acc);
    if (same) {
      if (!acc.gram && !acc.exact && !wantSketch.has(t)) stats.set(t, { gram: [], mean: same.mean });
      else stats.set(t, same);
      continue;
    }
    if (acc.gram) {
      // A full Gram (asked for by this or another layer on the same rows) serves every request.
      if (acc.gram[0]!.count === 0) continue;
      stats.set(t, { gram: acc.gram.map((a) => a.mean()), mean: acc.gram.map((a) => a.featureMean()) });
      done.set(acc, stats.get(t)!);
    } else if (acc.exact) {
      if (acc.exact[0]!.count === 0) continue;
      const res = acc.exact.map((a) => a.result());
      if (res.every((r) => "rows" in r)) {
        const rows = res as Extract<(typeof res)[number], { rows: Float32Array }>[];
        stats.set(t, {
          gram: [],
          rows: rows.map((r) => ({ k: t.fanIn, rows: r.rows, count: r.count })),
          mean: rows.map((r) => r.mean),
          diag: rows.map((r) => r.secondMoment),
        });
      } else {
        // every group has as many rows, so all are rows or all a Gram; fold any rows to be safe
        const grams = res.map((r) => {
          if ("gram" in r) return r.gram;
          const g = new GramAccumulator(t.fanIn);
          g.add(r.rows, r.count);
          return g;
        });
        stats.set(t, { gram: grams.map((a) => a.mean()), mean: grams.map((a) => a.featureMean()) });
      }
      done.set(acc, stats.get(t)!);
    } else if (wantSketch.has(t)) {
      if (!acc.mean || acc.mean[0]!.count === 0) continue;
      stats.set(t, {
        gram: [],
        mean: acc.mean.map((a) => a.mean()),
        diag: acc.mean.map((a) => a.secondMoment()),
        sketch: acc.sketch!.map((a) => a.result()),
      });
      done.set(acc, stats.get(t)!);
    } else if (acc.mean && acc.mean[0]!.count > 0) {
      stats.set(t, { gram: [], mean: acc.mean.map((a) => a.mean()) });
    }
  }
  return stats;
}
