/**
 * The `--report FILE.html` writer of `shiftkit quantize`: one self-contained page (passes/report/report.ts) with a
 * summary (sizes, task metric before / after), what each pass did, and the sections the passes contributed
 * (OS+ per-channel ranges before / after, chosen t, per-layer SQNR...). Written atomically.
 * @module
 */
import type { QuantizeReport } from "../api/quantize.ts";
import { renderReport, type ReportData, type ReportSection } from "../passes/report/mod.ts";

/** What the quantize command hands over. */
export interface QuantizeReportInput {
  model: string;
  output: string;
  report: QuantizeReport;
  /** Task metric before and after, when the command was given --task / --data. */
  metric?: { task: string; name: string; before: number; after: number };
}

/**
 * Build the report page data.
 *
 * @param data the run
 * @returns sections for renderReport
 */
export function quantizeReportData(data: QuantizeReportInput): ReportData {
  const r = data.report;
  const summary: [string, string | number][] = [
    ["model", data.model],
    ["output", data.output],
    ["method", r.method],
    ["bits", r.bits],
    ["size before", `${(r.sizeBefore / 1e6).toFixed(2)} MB`],
    [
      "size after",
      `${(r.sizeAfter / 1e6).toFixed(2)} MB (${(r.sizeBefore / r.sizeAfter).toFixed(2)}x smaller)`,
    ],
    [
      "bits per weight (stored)",
      r.storage
        ? `${r.storage.bitsPerWeight.toFixed(3)} over ${r.storage.layers} layers`
        : "not declared by the method",
    ],
    ["calibration samples", r.calibrationSamples],
    ["conversion time", `${(r.elapsedMs / 1000).toFixed(1)} s`],
    ["threads", threadsLine(r.threads).replace(/^threads: /, "")],
  ];
  if (data.metric) {
    summary.push([`${data.metric.task} ${data.metric.name} before`, data.metric.before.toFixed(4)]);
    summary.push([`${data.metric.task} ${data.metric.name} after`, data.metric.after.toFixed(4)]);
  }
  const passes: ReportSection = {
    title: "Passes",
    tables: [{
      columns: ["pass", "changed", "time", "notes"],
      rows: r.steps.map((
        s,
      ) => [s.pass, s.modified ? "yes" : "no", `${s.ms.toFixed(0)} ms`, s.notes.join("; ")]),
    }],
  };
  const storage: ReportSection[] = r.storage
    ? [{
      title: "Storage per converted layer",
      notes: [
        "All bits the layer's initializers hold (codes, scales, zero points, alphas, exponents) / its weight count.",
      ],
      bars: [{
        labels: r.storage.perLayer.map((l) => l.layer),
        series: [{ name: "bits per weight", values: r.storage.perLayer.map((l) => l.bitsPerWeight) }],
      }],
    }]
    : [];
  return {
    title: `shiftkit quantize: ${r.method} ${r.bits}`,
    subtitle: [`${data.model} -> ${data.output}`, new Date().toISOString()],
    sections: [{ title: "Summary", summary }, passes, ...storage, ...r.steps.flatMap((s) => s.sections)],
  };
}

/**
 * Write the HTML report (temporary file + rename).
 *
 * @param path destination
 * @param data the run
 */
export async function writeQuantizeReport(path: string, data: QuantizeReportInput): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, renderReport(quantizeReportData(data)));
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * How many threads ran the per-layer work (the fits, and the calibration's Gram folds: one job per layer input
 * and batch), and why any ran serially (the summary line and the report's row).
 *
 * @param t the report's `threads`
 * @returns e.g. `threads: 2 asked; 36 of 36 per-layer jobs ran on 2 workers`, or with fits and folds
 *   `threads: 2 asked; 161 of 161 per-layer jobs (gramFold 136, blockwiseLayer 25) ran on 2 workers`
 */
export function threadsLine(t: QuantizeReport["threads"]): string {
  const jobs = t.parallelJobs + t.serialJobs;
  if (jobs === 0) return `threads: ${t.threads} asked; this method has no per-layer work for them`;
  const serially = t.serialReasons.join("; ");
  // jobs per task where there is more than one kind (fits and the calibration's Gram folds)
  const names = Object.keys(t.tasks ?? {});
  const kinds = names.length > 1
    ? ` (${names.map((n) => `${n} ${t.tasks[n]!.parallel + t.tasks[n]!.serial}`).join(", ")})`
    : "";
  if (t.parallelJobs === 0) {
    return `threads: ${t.threads} asked; all ${jobs} per-layer jobs${kinds} ran serially: ${serially}`;
  }
  return `threads: ${t.threads} asked; ${t.parallelJobs} of ${jobs} per-layer jobs${kinds} ran on ${t.workers} ` +
    `worker${t.workers === 1 ? "" : "s"}` + (serially ? `; serially: ${serially}` : "");
}
