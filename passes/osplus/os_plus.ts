/**
 * Outlier Suppression+ (OS+, arXiv 2304.09145; METHODS.md section 1) followed by the standard QDQ
 * quantization (insert_qdq.ts). For every norm -> linear site (os_plus_fold.ts) the pass
 *
 * 1. observes the norm output per channel over the whole calibration set (min / max) and keeps a few hundred
 *    tokens of the first batch for the loss;
 * 2. shifts each channel to the centre of its range, z_j = (max_t X_tj + min_t X_tj) / 2 (no shift for
 *    RMSNorm: scale only);
 * 3. searches the scales with the paper's "fast and stable" grid (os_plus_search.ts): t from T0 down to
 *    1.0 (0.1 for RMSNorm) in max(100, T0 / 0.5) steps, s_j = max(1, max(cmax_j, -cmin_j) / t), loss = MSE
 *    of the consumers' outputs with fake-quantized activations and weights at the target bits;
 * 4. folds z and s into gamma / beta and the consumers' weights and biases (no new nodes except bias Adds
 *    where a consumer had no bias).
 *
 * Choices, where the released code differs or is heavier:
 * - The loss is on the consumers' outputs (Q, K, V projections; FC1), not on the attention output the
 *   released code uses for the QKV site (documented simplification).
 * - z and the per-channel ranges come from all calibration samples (the released code uses one batch); the
 *   loss uses `calibTokens` tokens of the first batch. Using the full ranges makes the search's activation
 *   quantizer exactly the one the min-max calibrator builds afterwards.
 * - With the min-max calibrator the activation ranges for QDQ come from the same single calibration pass
 *   (the migrated norm outputs' ranges are exact affine images of the observed per-channel ranges; every
 *   other activation is unchanged in float); other calibrators run a second pass on the migrated model.
 * - The gated-MLP (up -> down projection) migration of the paper is not implemented: none of the project's
 *   models has a gated MLP.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { MinMaxObserver } from "../../quant/observers.ts";
import {
  activationValues,
  applyQdq,
  calibrateRanges,
  planQdq,
  type QdqOptions,
  qdqSection,
  type QdqStats,
  reachedTargets,
} from "../qdq/insert_qdq.ts";
import { findOsPlusSites, foldOsPlusSite, type OsPlusSitePlan, type OsPlusSkip } from "./os_plus_fold.ts";
import { searchMigrationScale } from "./os_plus_search.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import type { ReportSection } from "../report/report.ts";

export type { OsPlusSitePlan, OsPlusSkip } from "./os_plus_fold.ts";

/** Options of {@link osPlusPass} and {@link migrateOsPlus}. */
export interface OsPlusOptions extends QdqOptions {
  /** Grid steps of the scale search. @default max(100, floor(T0 / 0.5)) per site (the paper's) */
  gridSteps?: number;
  /** Smallest threshold t of the grid. @default 1.0 for LayerNorm sites, 0.1 for RMSNorm sites */
  lowerBound?: number;
  /** Tokens (of the first calibration batch, evenly strided) the search loss uses. @default 256 */
  calibTokens?: number;
  /** Quantize with QDQ after migrating (false: migrate only, the float function is unchanged). @default true */
  quantize?: boolean;
}

/** What OS+ did at one site. */
export interface OsPlusSiteReport {
  /** Site name (the norm's first node). */
  name: string;
  kind: "fused" | "decomposed" | "rms";
  /** The norm output value. */
  output: string;
  /** Consumer node names. */
  consumers: string[];
  channels: number;
  /** Chosen threshold t, and the first grid point T0 (max |shifted activation|). */
  t: number;
  t0: number;
  /** Grid points evaluated. */
  gridPoints: number;
  /** Search loss at the chosen t, and with the shift alone (t = T0). */
  loss: number;
  lossShiftOnly: number;
  /** Max over median of the per-channel ranges, before and after migration. */
  outlierRatioBefore: number;
  outlierRatioAfter: number;
  /** Per-channel min / max of the norm output over the calibration set, before and after migration. */
  minsBefore: Float32Array;
  maxsBefore: Float32Array;
  minsAfter: Float32Array;
  maxsAfter: Float32Array;
  /** The shift z and scale s. */
  shift: Float32Array;
  scale: Float32Array;
  /** Nodes the fold created (bias Adds). */
  createdNodes: string[];
}

/** What {@link migrateOsPlus} did. */
export interface OsPlusResult {
  sites: OsPlusSiteReport[];
  skipped: OsPlusSkip[];
  /** Per-tensor min-max ranges of the planned QDQ activations on the migrated model (min-max calibrator only). */
  ranges?: Map<string, [number, number]>;
}

/**
 * Max over median of per-channel ranges (max - min): how much one channel dominates a per-tensor scale.
 *
 * @param mins per-channel minima
 * @param maxs per-channel maxima
 * @returns the ratio (1 when all channels span the same range)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { outlierRatio } from "./os_plus.ts";
 * assertEquals(outlierRatio(new Float32Array([-1, -1, -50]), new Float32Array([1, 1, 50])), 50);
 * ```
 */
export function outlierRatio(mins: ArrayLike<number>, maxs: ArrayLike<number>): number {
  const r = Array.from(mins, (lo, j) => maxs[j]! - lo).sort((a, b) => a - b);
  if (r.length === 0) return NaN;
  const mid = r.length >> 1;
  const median = r.length % 2 ? r[mid]! : (r[mid - 1]! + r[mid]!) / 2;
  return r[r.length - 1]! / median;
}

interface SiteStats {
  observer: MinMaxObserver;
  tokens: Float32Array | undefined;
}

/**
 * Migrate every norm -> linear site of `model` (in place; the float function is unchanged up to float32
 * rounding). Needs calibration data through `ctx.runtime`.
 *
 * @param model the float model
 * @param ctx pass context with a runtime
 * @param options bit widths (the search's fake quantization), grid, tokens
 * @returns per-site reports, skipped norms, and (min-max calibrator) the QDQ activation ranges
 * @example
 * ```ts ignore
 * const runtime = makePassRuntime(textSource(calibBytes, { maxSamples: 64 }), ortRuntimeFactory());
 * const res = await migrateOsPlus(model, { reporter: silentReporter, runtime }, { quantize: false });
 * console.log(res.sites.map((s) => [s.name, s.t, s.outlierRatioBefore, s.outlierRatioAfter]));
 * ```
 */
export async function migrateOsPlus(
  model: Model,
  ctx: PassContext,
  options: OsPlusOptions = {},
): Promise<OsPlusResult> {
  if (!ctx.runtime) {
    throw new TypeError("The OS+ pass needs calibration data: the pass context has no runtime");
  }
  const g = model.graph;
  const { sites, skipped } = findOsPlusSites(g);
  for (const s of skipped) ctx.reporter.warn(`OS+: norm "${s.name}" skipped: ${s.reason}`);
  const calibTokens = options.calibTokens ?? 256;
  const minmax = (options.calibrator ?? "minmax") === "minmax";
  const qdqNames = minmax && (options.quantize ?? true) ? activationValues(planQdq(g, options)) : [];
  const stats = new Map<OsPlusSitePlan, SiteStats>(
    sites.map((s) => [s, { observer: new MinMaxObserver({ axis: -1 }), tokens: undefined }]),
  );
  const tensorObs = new Map(qdqNames.map((n) => [n, new MinMaxObserver()]));
  const names = [...new Set([...sites.map((s) => s.norm.output.name), ...qdqNames])];
  if (names.length > 0) {
    await ctx.runtime.collect(model, names, (batch) => {
      for (const [site, st] of stats) {
        const t = batch[site.norm.output.name];
        if (!t) throw new RangeError(`OS+: the runtime returned no value "${site.norm.output.name}"`);
        const x = t.data as Float32Array;
        st.observer.observe(x, t.dims);
        if (!st.tokens) st.tokens = strideTokens(x, site.channels, calibTokens);
      }
      for (const [n, o] of tensorObs) {
        const t = batch[n];
        if (t) o.observe(t.data as Float32Array);
      }
    });
  }

  const reports: OsPlusSiteReport[] = [];
  const siteRanges = new Map<string, [number, number]>();
  for (const site of sites) {
    const st = stats.get(site)!;
    const C = site.channels;
    const mins = st.observer.mins, maxs = st.observer.maxs;
    const rms = site.norm.kind === "rms";
    const shift = new Float32Array(C);
    if (!rms) { for (let j = 0; j < C; j++) shift[j] = (maxs[j]! + mins[j]!) / 2; }
    const cmin = mins.map((v, j) => v - shift[j]!), cmax = maxs.map((v, j) => v - shift[j]!);
    const x = st.tokens!.slice();
    for (let i = 0; i < x.length; i++) x[i] = x[i]! - shift[i % C]!;
    const weights = site.consumers.map((c) => ({
      data: matmulLayout(c.weight.const!.data as Float32Array, C, c.outputs, c.transposed),
      cols: c.outputs,
    }));
    const r = searchMigrationScale({ x, channels: C, cmin, cmax, weights }, {
      weightBits: options.weightBits ?? 8,
      activationBits: options.activationBits ?? 8,
      activationSymmetric: options.activationSymmetric ?? false,
      lowerBound: options.lowerBound ?? (rms ? 0.1 : 1.0),
      ...(options.gridSteps !== undefined ? { steps: options.gridSteps } : {}),
    });
    const minsAfter = cmin.map((v, j) => v / r.scale[j]!), maxsAfter = cmax.map((v, j) => v / r.scale[j]!);
    const changes = foldOsPlusSite(site, shift, r.scale);
    let lo = 0, hi = 0;
    for (let j = 0; j < C; j++) [lo, hi] = [Math.min(lo, minsAfter[j]!), Math.max(hi, maxsAfter[j]!)];
    siteRanges.set(site.norm.output.name, [lo, hi]);
    const report: OsPlusSiteReport = {
      name: site.name,
      kind: site.norm.kind,
      output: site.norm.output.name,
      consumers: site.consumers.map((c) => c.node.name),
      channels: C,
      t: r.t,
      t0: r.t0,
      gridPoints: r.evaluated,
      loss: r.loss,
      lossShiftOnly: r.lossShiftOnly,
      outlierRatioBefore: outlierRatio(mins, maxs),
      outlierRatioAfter: outlierRatio(minsAfter, maxsAfter),
      minsBefore: mins,
      maxsBefore: maxs,
      minsAfter,
      maxsAfter,
      shift,
      scale: r.scale,
      createdNodes: changes.createdNodes,
    };
    reports.push(report);
    ctx.reporter.info(
      `OS+ ${site.name}: ${C} channels, t = ${r.t.toFixed(3)} (T0 ${r.t0.toFixed(3)}), outlier ratio ` +
        `${report.outlierRatioBefore.toFixed(1)} -> ${report.outlierRatioAfter.toFixed(1)}`,
    );
  }
  g.sort();
  const result: OsPlusResult = { sites: reports, skipped };
  if (minmax && qdqNames.length > 0) {
    const ranges = new Map<string, [number, number]>();
    for (const [n, o] of tensorObs) if (o.count > 0) ranges.set(n, o.range());
    for (const [n, r] of siteRanges) ranges.set(n, r);
    result.ranges = ranges;
  }
  return result;
}

/** Up to `want` tokens of a [.., C] batch, evenly strided. */
function strideTokens(x: Float32Array, C: number, want: number): Float32Array {
  const n = x.length / C;
  const stride = Math.max(1, Math.floor(n / Math.max(1, want)));
  const k = Math.min(want, Math.ceil(n / stride));
  const out = new Float32Array(k * C);
  for (let i = 0; i < k; i++) out.set(x.subarray(i * stride * C, (i * stride + 1) * C), i * C);
  return out;
}

/** A [C, O] copy of a weight stored [C, O] (as is) or [O, C] (transposed). */
function matmulLayout(w: Float32Array, C: number, O: number, transposed: boolean): Float32Array {
  if (!transposed) return w;
  const out = new Float32Array(C * O);
  for (let k = 0; k < O; k++) for (let j = 0; j < C; j++) out[j * O + k] = w[k * C + j]!;
  return out;
}

/**
 * The OS+ pass: migrate every norm -> linear site, then quantize with the standard QDQ pass (same bit widths
 * and activation calibrator). `pass.result` and `pass.stats` hold the per-site reports and QDQ statistics.
 *
 * @param options bit widths, calibrator, grid, tokens; `quantize: false` migrates only
 * @returns the pass
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { osPlusPass } from "./os_plus.ts";
 * assertEquals(osPlusPass({ weightBits: 8, activationBits: 8 }).name, "os-plus");
 * ```
 */
export function osPlusPass(options: OsPlusOptions = {}): Pass & { result?: OsPlusResult; stats?: QdqStats } {
  const pass: Pass & { result?: OsPlusResult; stats?: QdqStats } = {
    name: "os-plus",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const result = await migrateOsPlus(model, ctx, options);
      pass.result = result;
      const notes = [
        ...result.sites.map((s) =>
          `migrated ${s.name} (${s.kind}, ${s.channels} channels -> ${s.consumers.length} consumers): t = ${
            s.t.toFixed(3)
          }, outlier ratio ${s.outlierRatioBefore.toFixed(1)} -> ${s.outlierRatioAfter.toFixed(1)}` +
          (s.createdNodes.length ? `, created ${s.createdNodes.length} bias Add(s)` : "")
        ),
        ...result.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
      ];
      const sections: ReportSection[] = [{ title: "Outlier Suppression+", osPlus: result }];
      if (!(options.quantize ?? true)) return { modified: result.sites.length > 0, notes, sections };
      const targets = planQdq(model.graph, options);
      if (targets.length === 0) {
        return {
          modified: result.sites.length > 0,
          notes: [...notes, "no MatMul/Gemm/Conv to quantize"],
          sections,
        };
      }
      const needed = activationValues(targets);
      const ranges = result.ranges && needed.every((n) => result.ranges!.has(n))
        ? result.ranges
        : await calibrateRanges(model, needed, ctx, options);
      const { reached, unreached } = reachedTargets(targets, ranges);
      notes.push(...unreached);
      const stats = applyQdq(model, reached, ranges, options);
      pass.stats = stats;
      sections.push(qdqSection(stats));
      notes.push(
        `quantized ${stats.nodes} nodes: ${stats.weights} weights per channel (W${
          options.weightBits ?? 8
        }), ` +
          `${stats.activations} activations per tensor (A${options.activationBits ?? 8}, ${
            options.calibrator ?? "minmax"
          })`,
      );
      return { modified: true, notes, sections };
    },
  };
  return pass;
}
