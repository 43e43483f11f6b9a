/**
 * Outlier Suppression+ (OS+, arXiv 2304.09145; METHODS.md section 1) followed by the standard QDQ
 * quantization (insert_qdq.ts). The pass
 *
 * 0. canonicalizes the graph (passes/normalize/canonicalize.ts) and finds the sites (os_plus_sites.ts):
 *    norm -> linear (LayerNorm / RMSNorm in any form onnx/patterns.ts matches, fused ones included) and gated
 *    MLPs (down projection reading act(gate) * up); every norm that is not a site is reported with the reason;
 * 1. in one float pass over the calibration set, observes each site activation per channel (min / max,
 *    sum, sum of squares), keeps `calibTokens` tokens of the first batch (and, for q/k/v sites of a
 *    recognised attention, the first whole sequence and its mask), and the per-tensor ranges for QDQ;
 * 2. shifts each channel to the centre of its range, z_j = (max_t X_tj + min_t X_tj) / 2 (no shift for
 *    RMSNorm and gated MLPs: scale only);
 * 3. searches the scales on the paper's "fast and stable" grid (os_plus_search.ts): t from T0 down to 1.0
 *    (0.1 for scale-only sites) in max(100, T0 / 0.5) steps, s_j = max(1, max(cmax_j, -cmin_j) / t), loss =
 *    the consumers' output MSE with fake-quantized activations and weights at the target bits; for the q/k/v
 *    site of a recognised attention (os_plus_attention.ts) the best grid points are re-scored on the
 *    attention output, as the released code scores that site;
 * 4. folds z and s into gamma / beta (or the up projection) and the consumers' weights and biases
 *    (os_plus_fold.ts).
 *
 * Choices, where the released code differs or is heavier:
 * - The consumers' loss is estimated from second-order statistics (os_plus_search.ts,
 *   searchMigrationScaleMoments: per-channel activation-error mean / variance on the sample tokens, weight
 *   rounding errors, E[X~^2] over every calibration token), not by multiplying the fake-quantized tokens out
 *   at every grid point (`searchLoss: "samples"` does that); and the grid is searched coarse-to-fine
 *   (`gridCoarse`; 0 = every point). Together they keep conversion within a few float passes.
 * - The attention-output loss re-ranks the `attentionCandidates` best points of that search (on one
 *   calibration sequence) instead of scoring every grid point.
 * - z and the per-channel ranges come from all calibration samples (the released code uses one batch), so
 *   the search's activation quantizer is exactly the one the min-max calibrator builds afterwards.
 * - With the min-max calibrator the activation ranges for QDQ come from the same single calibration pass
 *   (the migrated activations' ranges are exact affine images of the observed per-channel ranges; every
 *   other quantized activation is unchanged in float); other calibrators run a second pass.
 * - Post-LN norms (BERT) whose output also feeds the residual are migrated; the residual branch reads a copy
 *   of the norm's affine tail with the original gamma / beta (`compensateResidual`).
 * - No site at all is an error (`OsPlusNoSiteError`) unless `allowNoSites`: the result would be plain QDQ.
 *   The pass reports its sites as a `SiteCount` ("OS+ sites"); `quantize()` passes `allowNoSites` and
 *   refuses a run with none itself (`NothingConvertedError`, exit 2, unless `--allow-no-sites`).
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { MinMaxObserver } from "../../quant/observers.ts";
import {
  activationValues,
  applyQdq,
  calibrateRanges,
  planQdq,
  qdqNote,
  type QdqOptions,
  qdqSection,
  type QdqStats,
  reachedTargets,
} from "../qdq/insert_qdq.ts";
import { findOsPlusSites, foldOsPlusSite, type OsPlusSitePlan } from "./os_plus_fold.ts";
import { searchMigrationScale } from "./os_plus_search.ts";
import { searchMigrationScaleMoments } from "./os_plus_search_moments.ts";
import { type AttentionMatch, recognizeAttention, rerankByAttention } from "./os_plus_attention.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import { canonicalize } from "../normalize/canonicalize.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import type { ReportSection } from "../report/report.ts";

export type { OsPlusSiteKind, OsPlusSitePlan, OsPlusSkip } from "./os_plus_fold.ts";
export {
  OsPlusNoSiteError,
  type OsPlusResult,
  type OsPlusSiteReport,
  outlierRatio,
} from "./os_plus_result.ts";
import {
  OsPlusNoSiteError,
  type OsPlusResult,
  type OsPlusSiteReport,
  outlierRatio,
} from "./os_plus_result.ts";

/** Options of {@link osPlusPass} and {@link migrateOsPlus}. */
export interface OsPlusOptions extends QdqOptions {
  /** Grid steps of the scale search. @default max(100, floor(T0 / 0.5)) per site (the paper's) */
  gridSteps?: number;
  /** Smallest threshold t of the grid. @default 1.0 for LayerNorm sites, 0.1 for scale-only (RMSNorm, gated-MLP) sites */
  lowerBound?: number;
  /**
   * Search the paper's grid coarse-to-fine: this many evenly spaced points first, then the grid points around
   * the best one at finer and finer strides; 0 evaluates every point (the released code). @default 10
   */
  gridCoarse?: number;
  /** Tokens (of the first calibration batch, evenly strided) the search loss uses. @default 128 */
  calibTokens?: number;
  /**
   * The search loss: "moments" estimates the consumers' output MSE from per-channel error statistics and
   * second moments (fast, os_plus_search.ts); "samples" multiplies the fake-quantized sample tokens out at
   * every grid point (exact on the samples, 20-100x slower). @default "moments"
   */
  searchLoss?: "moments" | "samples";
  /**
   * Where a site's consumers are recognised as the q, k, v of an attention (os_plus_attention.ts), re-rank
   * this many best grid points of the search by the loss on the attention output (as the released code
   * scores the QKV site), on the first 64 tokens of the first calibration sequence; 0 keeps the consumers'
   * loss. @default 2
   */
  attentionCandidates?: number;
  /** Migrate norms that also feed a residual Add (post-LN) by compensating that branch. @default true */
  compensateResidual?: boolean;
  /** Let the pass succeed when it finds no site (it throws {@link OsPlusNoSiteError} otherwise). @default false */
  allowNoSites?: boolean;
  /** Quantize with QDQ after migrating (false: migrate only, the float function is unchanged). @default true */
  quantize?: boolean;
}

interface SiteStats {
  mins: Float32Array;
  maxs: Float32Array;
  tokens: Float32Array | undefined;
  /** The first calibration sequence [T, C] (attention sites). */
  sequence?: { data: Float32Array; tokens: number };
  mask?: Tensor;
  sum: Float64Array;
  sumSq: Float64Array;
  count: number;
}

/**
 * Migrate every OS+ site of `model` (in place; the float function is unchanged up to float32 rounding).
 * Canonicalizes the graph first (passes/normalize/canonicalize.ts). Needs calibration data through
 * `ctx.runtime`; one float pass collects everything the search needs.
 *
 * @param model the float model
 * @param ctx pass context with a runtime
 * @param options bit widths (the search's fake quantization), grid, tokens, loss
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
  const canon = canonicalize(model);
  const g = model.graph;
  const { sites, skipped } = findOsPlusSites(g, {
    compensateResidual: options.compensateResidual ?? true,
  });
  for (const s of skipped) ctx.reporter.warn(`OS+: norm "${s.name}" skipped: ${s.reason}`);
  const calibTokens = options.calibTokens ?? 128;
  const lossKind = options.searchLoss ?? "moments";
  const minmax = (options.calibrator ?? "minmax") === "minmax";
  const qdqNames = minmax && (options.quantize ?? true) ? activationValues(planQdq(g, options)) : [];
  const stats = new Map<OsPlusSitePlan, SiteStats>(
    sites.map((s) => [s, {
      mins: new Float32Array(s.channels).fill(Infinity),
      maxs: new Float32Array(s.channels).fill(-Infinity),
      tokens: undefined,
      sum: new Float64Array(s.channels),
      sumSq: new Float64Array(s.channels),
      count: 0,
    }]),
  );
  // Site activations (and their Reshape views) get their QDQ ranges from the per-channel statistics.
  const fromSites = new Set(
    sites.flatMap((
      s,
    ) => [s.output.name, ...s.consumers.flatMap((c) => c.via ? [c.via.outputs[0]!.name] : [])]),
  );
  const tensorObs = new Map(qdqNames.filter((n) => !fromSites.has(n)).map((n) => [n, new MinMaxObserver()]));
  const candidates = options.attentionCandidates ?? 2;
  const attention = new Map<OsPlusSitePlan, AttentionMatch | string>();
  if (candidates > 0) {
    for (const s of sites) if (s.consumers.length === 3) attention.set(s, recognizeAttention(s));
  }
  const masks = [...attention.values()].flatMap((a) =>
    typeof a !== "string" && a.mask && !a.mask.tensor ? [a.mask.value.name] : []
  );
  const names = [...new Set([...sites.map((s) => s.output.name), ...qdqNames, ...masks])];
  if (names.length > 0) {
    await ctx.runtime.collect(model, names, (batch) => {
      for (const [site, st] of stats) {
        const t = batch[site.output.name];
        if (!t) throw new RangeError(`OS+: the runtime returned no value "${site.output.name}"`);
        const x = t.data as Float32Array;
        const C = site.channels;
        if (x.length % C !== 0) {
          throw new RangeError(`OS+: "${site.output.name}" has ${x.length} values, not [.., ${C}]`);
        }
        const { mins, maxs, sum, sumSq } = st;
        for (let b = 0; b < x.length; b += C) {
          for (let j = 0; j < C; j++) {
            const v = x[b + j]!;
            if (v < mins[j]!) mins[j] = v;
            if (v > maxs[j]!) maxs[j] = v;
            sum[j] = sum[j]! + v, sumSq[j] = sumSq[j]! + v * v;
          }
        }
        st.count += x.length / C;
        if (!st.tokens) st.tokens = strideTokens(x, C, calibTokens);
        const att = attention.get(site);
        if (att && typeof att !== "string" && !st.sequence && t.dims.length === 3) {
          const T = t.dims[1]!;
          // The first sequence's first 64 tokens (the causal prefix is a sequence of its own; bounded cost).
          const use = Math.min(T, 64);
          st.sequence = { data: x.slice(0, use * C), tokens: use };
          const mt = att.mask ? att.mask.tensor ?? batch[att.mask.value.name] : undefined;
          if (mt) st.mask = mt;
        }
      }
      for (const [n, o] of tensorObs) {
        const t = batch[n];
        if (t) o.observe(t.data as Float32Array);
      }
    }, { minMax: [...tensorObs.keys()].filter((n) => !masks.includes(n)) });
  }

  const reports: OsPlusSiteReport[] = [];
  const siteRanges = new Map<string, [number, number]>();
  for (const site of sites) {
    const st = stats.get(site)!;
    const C = site.channels;
    const mins = st.mins, maxs = st.maxs;
    const shift = new Float32Array(C);
    if (!site.scaleOnly) { for (let j = 0; j < C; j++) shift[j] = (maxs[j]! + mins[j]!) / 2; }
    const cmin = mins.map((v, j) => v - shift[j]!), cmax = maxs.map((v, j) => v - shift[j]!);
    const x = st.tokens!.slice();
    for (let i = 0; i < x.length; i++) x[i] = x[i]! - shift[i % C]!;
    // E[(X - z)^2] = E[X^2] - 2 z E[X] + z^2 over every calibration token.
    const m2 = new Float64Array(C);
    for (let j = 0; j < C; j++) {
      const mean = st.sum[j]! / st.count, z = shift[j]!;
      m2[j] = Math.max(0, st.sumSq[j]! / st.count - 2 * z * mean + z * z);
    }
    const weights = site.consumers.map((c) => ({
      data: matmulLayout(c.weight.const!.data as Float32Array, C, c.outputs, c.transposed),
      cols: c.outputs,
    }));
    const searchOptions = {
      weightBits: options.weightBits ?? 8,
      activationBits: options.activationBits ?? 8,
      activationSymmetric: options.activationSymmetric ?? false,
      lowerBound: options.lowerBound ?? (site.scaleOnly ? 0.1 : 1.0),
      ...(options.gridSteps !== undefined ? { steps: options.gridSteps } : {}),
      coarse: options.gridCoarse ?? 10,
    };
    const r = lossKind === "samples"
      ? searchMigrationScale({ x, channels: C, cmin, cmax, weights }, searchOptions)
      : searchMigrationScaleMoments({ x, channels: C, cmin, cmax, weights, m2 }, searchOptions);
    let chosenKind: OsPlusSiteReport["lossKind"] = lossKind, attentionNote: string | undefined;
    const att = attention.get(site);
    if (typeof att === "string") attentionNote = att;
    else if (att && !st.sequence) attentionNote = "the calibration batches are not [batch, tokens, channels]";
    else if (att) {
      const pick = rerankByAttention(
        {
          site,
          att,
          sequence: st.sequence!,
          ...(st.mask ? { mask: st.mask } : {}),
          shift,
          weights,
          cmin,
          cmax,
        },
        r.points,
        candidates,
        searchOptions,
      );
      Object.assign(r, pick);
      chosenKind = "attention";
    }
    const minsAfter = cmin.map((v, j) => v / r.scale[j]!), maxsAfter = cmax.map((v, j) => v / r.scale[j]!);
    const changes = foldOsPlusSite(site, shift, r.scale);
    let lo = 0, hi = 0;
    for (let j = 0; j < C; j++) [lo, hi] = [Math.min(lo, minsAfter[j]!), Math.max(hi, maxsAfter[j]!)];
    siteRanges.set(site.output.name, [lo, hi]);
    for (const c of site.consumers) if (c.via) siteRanges.set(c.via.outputs[0]!.name, [lo, hi]);
    const report: OsPlusSiteReport = {
      name: site.name,
      kind: site.kind,
      output: site.output.name,
      consumers: site.consumers.map((c) => c.node.name),
      residual: site.residual.map((n) => n.name),
      channels: C,
      t: r.t,
      t0: r.t0,
      gridPoints: r.evaluated,
      loss: r.loss,
      lossShiftOnly: r.lossShiftOnly,
      lossKind: chosenKind,
      ...(attentionNote ? { attentionNote } : {}),
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
  if (canon.total > 0) result.canonicalized = Object.fromEntries(canon.counts);
  if (minmax && qdqNames.length > 0) {
    const ranges = new Map<string, [number, number]>();
    for (const [n, o] of tensorObs) if (o.count > 0) ranges.set(n, o.range());
    for (const [n, r] of siteRanges) if (qdqNames.includes(n)) ranges.set(n, r);
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
      if (result.sites.length === 0 && !options.allowNoSites) throw new OsPlusNoSiteError(result);
      const notes = [
        `${result.sites.length} site(s) migrated, ${result.skipped.length} norm(s) skipped`,
        ...result.sites.map((s) =>
          `migrated ${s.name} (${s.kind}, ${s.channels} channels -> ${s.consumers.length} consumers): t = ${
            s.t.toFixed(3)
          }, outlier ratio ${s.outlierRatioBefore.toFixed(1)} -> ${s.outlierRatioAfter.toFixed(1)}` +
          (s.residual.length ? `, residual ${s.residual.join(", ")} compensated` : "") +
          (s.createdNodes.length ? `, created ${s.createdNodes.length} node(s)` : "")
        ),
        ...result.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
      ];
      const sections: ReportSection[] = [{ title: "Outlier Suppression+", osPlus: result }];
      // OS+ converts sites (migrations); the QDQ that follows is the baseline, not what OS+ adds.
      const sites = {
        converted: result.sites.length,
        skipped: result.skipped.map((s) => `${s.name}: ${s.reason}`),
        what: "OS+ sites",
      };
      if (!(options.quantize ?? true)) return { modified: result.sites.length > 0, notes, sections, sites };
      const targets = planQdq(model.graph, options);
      if (targets.length === 0) {
        return {
          modified: result.sites.length > 0,
          notes: [...notes, "no MatMul/Gemm/Conv to quantize"],
          sections,
          sites,
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
      notes.push(qdqNote(stats, options));
      return { modified: true, notes, sections, sites, storage: stats.storage };
    },
  };
  return pass;
}
