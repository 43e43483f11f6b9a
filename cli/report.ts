/**
 * The `--report FILE.html` writer of `shiftkit quantize`: a self-contained HTML page, written atomically.
 * @module
 */
import type { QuantizeReport } from "../api/quantize.ts";

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/**
 * Render the report of one quantization run as HTML.
 *
 * @param data model paths and the quantize report
 * @returns the page
 */
export function renderQuantizeReport(data: { model: string; output: string; report: QuantizeReport }): string {
  const r = data.report;
  const rows = r.steps.map((s) =>
    `<tr><td>${esc(s.pass)}</td><td>${s.modified ? "yes" : "no"}</td><td>${s.ms.toFixed(0)} ms</td>` +
    `<td>${s.notes.map(esc).join("<br>")}</td></tr>`
  ).join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>shiftkit report: ${esc(data.model)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style>
</head><body><h1>shiftkit quantize</h1>
<p>${esc(data.model)} &rarr; ${esc(data.output)}: method <b>${esc(r.method)}</b>, bits <b>${esc(r.bits)}</b></p>
<table><tr><th>size before</th><td>${(r.sizeBefore / 1e6).toFixed(2)} MB</td></tr>
<tr><th>size after</th><td>${(r.sizeAfter / 1e6).toFixed(2)} MB</td></tr>
<tr><th>calibration samples</th><td>${r.calibrationSamples}</td></tr>
<tr><th>time</th><td>${(r.elapsedMs / 1000).toFixed(1)} s</td></tr></table>
<h2>Passes</h2><table><tr><th>pass</th><th>changed</th><th>time</th><th>notes</th></tr>
${rows}</table></body></html>\n`;
}

/**
 * Write the HTML report (temporary file + rename).
 *
 * @param path destination
 * @param data what to render
 */
export async function writeQuantizeReport(
  path: string,
  data: { model: string; output: string; report: QuantizeReport },
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, renderQuantizeReport(data));
  await Deno.rename(tmp, path);
}
