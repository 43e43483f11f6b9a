/**
 * What a pass is, and how pipelines run. A pass is `{ name, run(model, ctx) -> { modified } }` (the
 * onnxscript / onnx-ir convention); a pipeline is a list of passes, optionally repeated until nothing
 * changes, with the IR verified after each pass when asked (tests always ask).
 * @module
 */
import type { Model, Value } from "../onnx/ir.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import { verify } from "../onnx/verify.ts";
import type { ReportSection } from "./report/report.ts";
import type { LayerPool, PassRuntime, PoolJob, PoolTask } from "../runtime/runtime.ts";
import type { LayerStorage } from "./storage.ts";
import type { CalibrationInfo } from "./sequential.ts";

export type { LayerPool, PassRuntime, PoolJob, PoolTask };

/** What a pass may use besides the model. */
export interface PassContext {
  /** Progress and diagnostics. */
  reporter: Reporter;
  /** Float inference over the calibration data, when the pass needs it. */
  runtime?: PassRuntime;
  /** Runs independent per-layer work on worker threads (passes/layer_map.ts); absent: serially. */
  pool?: LayerPool;
  /**
   * Move initializers a pass emitted for a finished layer out of memory (onnx/spill.ts: their data then
   * lives in a file range); absent, they stay in memory. Per-layer conversions call it layer by layer.
   */
  spill?: (values: readonly Value[]) => void;
}

/**
 * What a converting pass did with its candidate sites (nodes it could rewrite, norm -> linear pairs, ...).
 * api/quantize.ts refuses a result where no pass converted anything (exit 2) and reports partial ones.
 */
export interface SiteCount {
  /** Sites converted. */
  converted: number;
  /** Candidates left as they were, each `"<node or site>: <reason>"`. */
  skipped: string[];
  /** What a site is, plural, for messages. @default "nodes" */
  what?: string;
}

/** What a pass reports. */
export interface PassResult {
  /** Whether the model changed. */
  modified: boolean;
  /** Human-readable notes for the report (what was rewritten, what was skipped and why). */
  notes?: string[];
  /** Tables and plots for the HTML report (passes/report/report.ts). */
  sections?: ReportSection[];
  /**
   * What each converted layer stores (passes/storage.ts): the generic bits-per-weight account reads the
   * named initializers from the emitted model, so a change of storage format shows up without other edits.
   */
  storage?: LayerStorage[];
  /** For a pass that converts sites (a method's pass): how many, and why the others were left. */
  sites?: SiteCount;
  /** For a pass that calibrated layer Hessians: whole-model or per-layer, and why (passes/sequential.ts). */
  calibration?: CalibrationInfo;
}

/** A graph pass. */
export interface Pass {
  /** Name shown in reports and progress. */
  readonly name: string;
  /** Rewrite the model in place and say what changed. */
  run(model: Model, ctx: PassContext): PassResult | Promise<PassResult>;
}

/** Options for {@link runPipeline}. */
export interface PipelineOptions {
  /** Repeat the whole list until no pass modifies the model. @default false */
  untilFixedPoint?: boolean;
  /** Maximum rounds when repeating. @default 10 */
  maxRounds?: number;
  /** Run verify() after every pass and throw on the first problem. @default false */
  verifyEach?: boolean;
}

/** Result of a pipeline: one entry per pass run. */
export interface PipelineResult {
  /** Whether any pass changed the model. */
  modified: boolean;
  /** One entry per pass run: what it changed, its notes, time, report sections and site counts. */
  steps: {
    pass: string;
    modified: boolean;
    notes: string[];
    ms: number;
    sections: ReportSection[];
    storage?: LayerStorage[];
    sites?: SiteCount;
    calibration?: CalibrationInfo;
  }[];
}

/**
 * Run passes in order.
 *
 * @param model the model (changed in place)
 * @param passes the passes
 * @param ctx context handed to each pass (a silent reporter when omitted)
 * @param options repetition and verification
 * @returns what each pass did
 */
export async function runPipeline(
  model: Model,
  passes: readonly Pass[],
  ctx: Partial<PassContext> = {},
  options: PipelineOptions = {},
): Promise<PipelineResult> {
  const full: PassContext = {
    reporter: ctx.reporter ?? silentReporter,
    ...(ctx.runtime ? { runtime: ctx.runtime } : {}),
    ...(ctx.pool ? { pool: ctx.pool } : {}),
    ...(ctx.spill ? { spill: ctx.spill } : {}),
  };
  const steps: PipelineResult["steps"] = [];
  let any = false;
  const rounds = options.untilFixedPoint ? (options.maxRounds ?? 10) : 1;
  for (let r = 0; r < rounds; r++) {
    let changed = false;
    for (const p of passes) {
      const t0 = performance.now();
      const res = await p.run(model, full);
      steps.push({
        pass: p.name,
        modified: res.modified,
        notes: res.notes ?? [],
        ms: performance.now() - t0,
        sections: res.sections ?? [],
        ...(res.storage ? { storage: res.storage } : {}),
        ...(res.sites ? { sites: res.sites } : {}),
        ...(res.calibration ? { calibration: res.calibration } : {}),
      });
      if (res.modified) changed = any = true;
      if (options.verifyEach) {
        const problems = verify(model);
        if (problems.length) {
          throw new Error(`IR invalid after pass "${p.name}":\n  ${problems.slice(0, 10).join("\n  ")}`);
        }
      }
    }
    if (!changed) break;
  }
  return { modified: any, steps };
}
