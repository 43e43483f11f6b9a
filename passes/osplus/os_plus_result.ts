/**
 * What the OS+ pass reports: per-site results, skipped norms, the no-site error, and the outlier ratio.
 * @module
 */
import type { OsPlusSiteKind, OsPlusSkip } from "./os_plus_sites.ts";

/** What OS+ did at one site. */
export interface OsPlusSiteReport {
  /** Site name (the norm's first node; the gating Mul of a gated MLP). */
  name: string;
  kind: OsPlusSiteKind;
  /** The migrated activation (norm output, or act(gate) * up). */
  output: string;
  /** Consumer node names. */
  consumers: string[];
  /** Residual Adds that got a compensating Mul [+ Add] (post-LN). */
  residual: string[];
  channels: number;
  /** Chosen threshold t, and the first grid point T0 (max |shifted activation|). */
  t: number;
  t0: number;
  /** Grid points evaluated. */
  gridPoints: number;
  /** Search loss at the chosen t, and with the shift alone (t = T0). */
  loss: number;
  lossShiftOnly: number;
  /** Which loss chose t: the consumers' (moments / samples) or the attention output's. */
  lossKind: "moments" | "samples" | "attention";
  /** Why the attention-output loss was not used (q/k/v-like sites only). */
  attentionNote?: string;
  /** Max over median of the per-channel ranges, before and after migration. */
  outlierRatioBefore: number;
  outlierRatioAfter: number;
  /** Per-channel min / max of the site activation over the calibration set, before and after migration. */
  minsBefore: Float32Array;
  maxsBefore: Float32Array;
  minsAfter: Float32Array;
  maxsAfter: Float32Array;
  /** The shift z and scale s. */
  shift: Float32Array;
  scale: Float32Array;
  /** Nodes the fold created (bias Adds, residual compensation). */
  createdNodes: string[];
}

/** What {@link migrateOsPlus} did. */
export interface OsPlusResult {
  sites: OsPlusSiteReport[];
  skipped: OsPlusSkip[];
  /** Canonicalization rewrites per rule (passes/normalize/canonicalize.ts) done before matching. */
  canonicalized?: Record<string, number>;
  /** Per-tensor min-max ranges of the planned QDQ activations on the migrated model (min-max calibrator only). */
  ranges?: Map<string, [number, number]>;
}

/** OS+ found no site to migrate (and the caller did not allow that): the result would equal plain QDQ. */
export class OsPlusNoSiteError extends Error {
  /**
   * @param result what the pass found (the skipped norms with their reasons)
   */
  constructor(readonly result: OsPlusResult) {
    const why = result.skipped.slice(0, 3).map((s) => `${s.name}: ${s.reason}`).join("; ");
    super(
      `OS+ found no site to migrate (${result.skipped.length} norm(s) skipped${why ? `: ${why}` : ""}${
        result.skipped.length > 3 ? "; ..." : ""
      }); the result would be plain QDQ. Use --method qdq, or allow it (allowNoSites)`,
    );
    this.name = "OsPlusNoSiteError";
  }
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
 * import { outlierRatio } from "./os_plus_result.ts";
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
