/**
 * A self-contained HTML report (`--report report.html`, issue 7): one page, inline CSS and SVG, no external
 * assets or scripts. Generic sections (summary key/values, tables, grouped bar plots, per-channel range
 * plots) so any method can hand its data over; {@link osPlusSection} turns an OS+ result into such a section
 * (per-site activation ranges per channel before / after migration, chosen t, outlier ratios).
 * @module
 */
import type { OsPlusResult } from "../osplus/os_plus.ts";
import { linePlotSvg, type ReportLines } from "./line_plot.ts";

export type { ReportLines };

/** A table: header and rows of cells. */
export interface ReportTable {
  caption?: string;
  columns: string[];
  rows: (string | number)[][];
}

/** Grouped horizontal bars: one group per label, one bar per series. */
export interface ReportBars {
  caption?: string;
  labels: string[];
  series: { name: string; values: number[] }[];
  /** Unit shown after values. @default "" */
  unit?: string;
}

/** Per-channel [min, max] ranges of one tensor, before and (optionally) after a transform. */
export interface ReportRanges {
  caption?: string;
  before: { mins: ArrayLike<number>; maxs: ArrayLike<number> };
  after?: { mins: ArrayLike<number>; maxs: ArrayLike<number> };
}

/** One section of the report. */
export interface ReportSection {
  title: string;
  /** Key / value rows shown first (sizes, task metrics before / after...). */
  summary?: [string, string | number][];
  /** Free text paragraphs (notes, skipped sites). */
  notes?: string[];
  tables?: ReportTable[];
  bars?: ReportBars[];
  ranges?: ReportRanges[];
  /** Line plots (./line_plot.ts). */
  lines?: ReportLines[];
  /** An OS+ result, rendered with {@link osPlusSection}'s tables and plots. */
  osPlus?: OsPlusResult;
}

/** Everything the page shows. */
export interface ReportData {
  title: string;
  /** Lines under the title (command, model, date). */
  subtitle?: string[];
  sections: ReportSection[];
}

/** Numbers (and numeric strings such as "12.3 dB") align right; text aligns left. */
function isNumeric(c: string | number): boolean {
  return typeof c === "number" || /^[-+]?[\d.]+(e[-+]?\d+)?(\s*\S{0,3})?$/i.test(c);
}

const PALETTE = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1"];

/**
 * Escape text for HTML content and attribute values.
 *
 * @param s any text
 * @returns the text with & < > " ' escaped
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { escapeHtml } from "./report.ts";
 * assertEquals(escapeHtml("<b>&"), "&lt;b&gt;&amp;");
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(
    /'/g,
    "&#39;",
  );
}

function num(x: number | string): string {
  if (typeof x === "string") return x;
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(3) : x.toPrecision(4).replace(/\.?0+$/, "");
}

function table(t: ReportTable): string {
  const head = t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = t.rows.map((r) =>
    `<tr>${r.map((c) => `<td${isNumeric(c) ? "" : ' class="t"'}>${escapeHtml(num(c))}</td>`).join("")}</tr>`
  ).join(
    "\n",
  );
  const cap = t.caption ? `<caption>${escapeHtml(t.caption)}</caption>` : "";
  return `<table>${cap}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function bars(b: ReportBars): string {
  const unit = b.unit ?? "";
  const all = b.series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = Math.min(0, ...all), hi = Math.max(0, ...all);
  const span = hi - lo || 1;
  const labelW = 220, plotW = 420, barH = 12, gap = 8;
  const groupH = b.series.length * barH + gap;
  const h = b.labels.length * groupH + 30;
  const x = (v: number) => labelW + ((v - lo) / span) * plotW;
  const parts: string[] = [];
  b.labels.forEach((label, i) => {
    const y0 = 10 + i * groupH;
    parts.push(
      `<text x="${labelW - 6}" y="${y0 + groupH / 2}" text-anchor="end" class="l">${
        escapeHtml(label)
      }</text>`,
    );
    b.series.forEach((s, k) => {
      const v = s.values[i] ?? NaN;
      if (!Number.isFinite(v)) return;
      const [a, c] = [x(Math.min(0, v)), x(Math.max(0, v))];
      const y = y0 + k * barH;
      parts.push(
        `<rect x="${a.toFixed(1)}" y="${y}" width="${Math.max(0.5, c - a).toFixed(1)}" height="${
          barH - 2
        }" fill="${PALETTE[k % PALETTE.length]}"><title>${
          escapeHtml(`${s.name}: ${num(v)}${unit}`)
        }</title></rect>`,
        `<text x="${(c + 3).toFixed(1)}" y="${y + barH - 3}" class="v">${escapeHtml(num(v) + unit)}</text>`,
      );
    });
  });
  const legend = b.series.map((s, k) =>
    `<rect x="${labelW + k * 140}" y="${h - 14}" width="10" height="10" fill="${
      PALETTE[k % PALETTE.length]
    }"/>` +
    `<text x="${labelW + k * 140 + 14}" y="${h - 5}" class="l2">${escapeHtml(s.name)}</text>`
  ).join("");
  const cap = b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : "";
  return `<figure>${cap}<svg xmlns="http://www.w3.org/2000/svg" width="${
    labelW + plotW + 90
  }" height="${h}">` +
    `${parts.join("")}${legend}</svg></figure>`;
}

/** One per-channel range plot: a vertical segment [min, max] per channel. */
function rangePlot(mins: ArrayLike<number>, maxs: ArrayLike<number>, color: string, title: string): string {
  const C = mins.length, W = 460, H = 160, left = 48, top = 16, plotW = W - left - 8, plotH = H - top - 20;
  let lo = 0, hi = 0;
  for (let j = 0; j < C; j++) [lo, hi] = [Math.min(lo, mins[j]!), Math.max(hi, maxs[j]!)];
  const span = hi - lo || 1;
  const y = (v: number) => top + (1 - (v - lo) / span) * plotH;
  const step = plotW / Math.max(1, C);
  let path = "";
  for (let j = 0; j < C; j++) {
    const xj = (left + (j + 0.5) * step).toFixed(1);
    path += `M${xj} ${y(maxs[j]!).toFixed(1)}V${y(mins[j]!).toFixed(1)}`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">` +
    `<text x="${left}" y="11" class="l2">${escapeHtml(title)}</text>` +
    `<line x1="${left}" x2="${W - 8}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}" stroke="#bbb"/>` +
    `<path d="${path}" stroke="${color}" stroke-width="${Math.max(1, step * 0.7).toFixed(1)}"/>` +
    `<text x="${left - 4}" y="${top + 4}" text-anchor="end" class="v">${escapeHtml(num(hi))}</text>` +
    `<text x="${left - 4}" y="${top + plotH}" text-anchor="end" class="v">${escapeHtml(num(lo))}</text>` +
    `<text x="${left}" y="${H - 4}" class="v">channel 0</text>` +
    `<text x="${W - 8}" y="${H - 4}" text-anchor="end" class="v">${C - 1}</text></svg>`;
}

function ranges(r: ReportRanges): string {
  const cap = r.caption ? `<figcaption>${escapeHtml(r.caption)}</figcaption>` : "";
  const after = r.after ? rangePlot(r.after.mins, r.after.maxs, PALETTE[0]!, "after") : "";
  return `<figure class="ranges">${cap}${
    rangePlot(r.before.mins, r.before.maxs, PALETTE[1]!, "before")
  }${after}</figure>`;
}

/**
 * The tables and plots of an OS+ result: one row per site (channels, T0, chosen t, search losses, outlier
 * ratios), the skipped norms with their reasons, and per-site channel-range plots before / after.
 *
 * @param result what `migrateOsPlus` / `osPlusPass` returned
 * @returns a section body (title left to the caller)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { osPlusSection } from "./report.ts";
 * const s = osPlusSection({ sites: [], skipped: [{ name: "ln", reason: "residual" }] });
 * assertEquals(s.notes, ["0 site(s) migrated, 1 norm(s) skipped", "skipped ln: residual"]);
 * ```
 */
export function osPlusSection(result: OsPlusResult): Omit<ReportSection, "title"> {
  const rows = result.sites.map((s) => [
    s.name,
    s.kind,
    s.channels,
    s.consumers.length,
    s.t0,
    s.t,
    s.lossShiftOnly,
    s.loss,
    s.lossKind,
    s.residual.length ? s.residual.join(", ") : "-",
    s.outlierRatioBefore,
    s.outlierRatioAfter,
  ]);
  return {
    tables: [{
      caption: "OS+ sites",
      columns: [
        "site",
        "kind",
        "channels",
        "consumers",
        "T0",
        "chosen t",
        "loss (shift only)",
        "loss (chosen t)",
        "loss on",
        "residual kept",
        "outlier ratio before",
        "outlier ratio after",
      ],
      rows,
    }],
    bars: result.sites.length
      ? [{
        caption: "Outlier ratio (max / median of per-channel ranges)",
        labels: result.sites.map((s) => s.name),
        series: [
          { name: "before", values: result.sites.map((s) => s.outlierRatioBefore) },
          { name: "after", values: result.sites.map((s) => s.outlierRatioAfter) },
        ],
      }]
      : [],
    ranges: result.sites.map((s) => ({
      caption: `${s.name}: per-channel range of "${s.output}", t = ${num(s.t)}`,
      before: { mins: s.minsBefore, maxs: s.maxsBefore },
      after: { mins: s.minsAfter, maxs: s.maxsAfter },
    })),
    notes: [
      `${result.sites.length} site(s) migrated, ${result.skipped.length} norm(s) skipped`,
      ...result.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
      ...result.sites.flatMap((s) =>
        s.attentionNote
          ? [`${s.name}: attention not recognised (${s.attentionNote}); consumers' loss used`]
          : []
      ),
    ],
  };
}

function section(s: ReportSection): string {
  const extra = s.osPlus ? osPlusSection(s.osPlus) : {};
  const out: string[] = [`<section><h2>${escapeHtml(s.title)}</h2>`];
  if (s.summary?.length) out.push(table({ columns: ["", ""], rows: s.summary }));
  for (const n of [...(s.notes ?? []), ...(extra.notes ?? [])]) out.push(`<p>${escapeHtml(n)}</p>`);
  for (const t of [...(s.tables ?? []), ...(extra.tables ?? [])]) out.push(table(t));
  for (const b of [...(s.bars ?? []), ...(extra.bars ?? [])]) out.push(bars(b));
  for (const r of [...(s.ranges ?? []), ...(extra.ranges ?? [])]) out.push(ranges(r));
  for (const l of s.lines ?? []) {
    out.push(
      `<figure>${l.caption ? `<figcaption>${escapeHtml(l.caption)}</figcaption>` : ""}${
        linePlotSvg(l)
      }</figure>`,
    );
  }
  out.push("</section>");
  return out.join("\n");
}

/**
 * Render the report as one self-contained HTML page.
 *
 * @param data title, subtitle lines and sections
 * @returns the HTML text
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { renderReport } from "./report.ts";
 * const html = renderReport({ title: "W8A8", sections: [{ title: "size", summary: [["before", "3.2 MB"]] }] });
 * assert(html.startsWith("<!DOCTYPE html>") && html.includes("3.2 MB") && !html.includes("<script"));
 * ```
 */
export function renderReport(data: ReportData): string {
  const css =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}" +
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child,td.t{text-align:left}" +
    "caption{font-weight:600;text-align:left}figure{margin:8px 0}figcaption{font-weight:600}" +
    "svg .l{font-size:11px}svg .l2{font-size:11px;font-weight:600}svg .v{font-size:10px;fill:#555}" +
    "figure.ranges svg{margin-right:12px}section{border-top:1px solid #ddd;margin-top:16px}";
  const sub = (data.subtitle ?? []).map((l) => `<p>${escapeHtml(l)}</p>`).join("\n");
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${
    escapeHtml(data.title)
  }</title>` +
    `<style>${css}</style></head><body>\n<h1>${escapeHtml(data.title)}</h1>\n${sub}\n` +
    `${data.sections.map(section).join("\n")}\n</body></html>\n`;
}
