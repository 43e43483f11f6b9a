/**
 * A line plot as standalone SVG text (x / y axes with ticks, one polyline + markers per series, a legend):
 * the report's `lines` plots (e.g. bits/byte against bits per weight, one line per method) and the SVG files
 * in docs/ that bench scripts write from the same data.
 * @module
 */

/** Series of (x, y) points drawn as one line each. */
export interface ReportLines {
  caption?: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; points: [number, number][] }[];
}

const PALETTE = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1", "#9c755f"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const span = hi - lo || 1, step0 = span / 5, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/**
 * Render a line plot as an `<svg>` element (no scripts, no external references).
 *
 * @param p axes labels and series
 * @returns the SVG text
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { linePlotSvg } from "./line_plot.ts";
 * const svg = linePlotSvg({ xLabel: "bits", yLabel: "bpb", series: [{ name: "rtn", points: [[2, 3], [4, 2.5]] }] });
 * assert(svg.startsWith("<svg") && svg.includes("<polyline") && svg.includes(">rtn<"));
 * ```
 */
export function linePlotSvg(p: ReportLines): string {
  const W = 640, H = 380, L = 64, R = 150, T = 16, B = 48;
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map((q) => q[0]), ys = pts.map((q) => q[1]);
  const x0 = Math.min(...xs, Infinity), x1 = Math.max(...xs, -Infinity);
  const y0 = Math.min(...ys, Infinity), y1 = Math.max(...ys, -Infinity);
  const xPad = (x1 - x0) * 0.05 || 0.5, yPad = (y1 - y0) * 0.05 || 0.05;
  const [a, b, c, d] = pts.length ? [x0 - xPad, x1 + xPad, y0 - yPad, y1 + yPad] : [0, 1, 0, 1];
  const sx = (x: number) => L + ((x - a) / (b - a)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - c) / (d - c)) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`,
  ];
  for (const v of ticks(a, b)) {
    out.push(
      `<line x1="${sx(v)}" x2="${sx(v)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`,
      `<text x="${sx(v)}" y="${H - B + 14}" text-anchor="middle">${v}</text>`,
    );
  }
  for (const v of ticks(c, d)) {
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eee"/>`,
      `<text x="${L - 4}" y="${sy(v) + 4}" text-anchor="end">${v}</text>`,
    );
  }
  out.push(
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(p.xLabel)}</text>`,
    `<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${
      esc(p.yLabel)
    }</text>`,
  );
  p.series.forEach((s, i) => {
    const col = PALETTE[i % PALETTE.length]!;
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((u, v) =>
      u[0] - v[0]
    );
    out.push(
      `<polyline fill="none" stroke="${col}" stroke-width="2" points="${
        ok.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")
      }"/>`,
      ...ok.map(([x, y]) =>
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${col}"/>`
      ),
      `<line x1="${W - R + 10}" x2="${W - R + 28}" y1="${T + 10 + i * 16}" y2="${
        T + 10 + i * 16
      }" stroke="${col}" stroke-width="2"/>`,
      `<text x="${W - R + 32}" y="${T + 14 + i * 16}">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("");
}
