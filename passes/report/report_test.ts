import { assert, assertEquals } from "@std/assert";
import type { OsPlusResult } from "../osplus/os_plus.ts";
import { escapeHtml, osPlusSection, renderReport } from "./report.ts";

const C = 16;
const mins = Float32Array.from({ length: C }, (_, j) => (j === 3 ? -60 : -1));
const maxs = Float32Array.from({ length: C }, (_, j) => (j === 3 ? 90 : 1));
const result: OsPlusResult = {
  sites: [{
    name: "/blocks.0/ln1/LayerNormalization",
    kind: "fused",
    output: "ln1_out",
    consumers: ["q", "k", "v"],
    channels: C,
    t: 1.5,
    t0: 75,
    gridPoints: 151,
    loss: 1e-4,
    lossShiftOnly: 3e-2,
    outlierRatioBefore: 75,
    outlierRatioAfter: 1.5,
    minsBefore: mins,
    maxsBefore: maxs,
    minsAfter: mins.map((v) => Math.max(v / 50, -1)),
    maxsAfter: maxs.map((v) => Math.min(v / 50, 1)),
    shift: new Float32Array(C),
    scale: new Float32Array(C).fill(1),
    createdNodes: [],
    residual: [],
    lossKind: "moments",
  }],
  skipped: [{ name: "post_ln", reason: `output "y" also feeds Add "res" (a residual branch)` }],
};

Deno.test("report: a self-contained page with the OS+ tables, plots and skipped sites", () => {
  const html = renderReport({
    title: "byte-lm-opt-outliers <W8A8>",
    subtitle: ["shiftkit quantize --method osplus"],
    sections: [{
      title: "W8A8",
      summary: [["size before", "13.3 MB"], ["size after", "3.4 MB"], ["bits/byte", 2.435]],
      tables: [{
        caption: "per-layer SQNR (dB)",
        columns: ["layer", "QDQ", "OS+"],
        rows: [["q", 12.5, 31.25]],
      }],
      bars: [{
        caption: "bits/byte",
        labels: ["float", "QDQ", "OS+"],
        series: [{ name: "W8A8", values: [2.43, 2.61, 2.44] }],
      }],
      osPlus: result,
    }],
  });
  assert(html.startsWith("<!DOCTYPE html>"));
  // Self-contained: no scripts, stylesheets, images or other fetched assets.
  for (const bad of ["<script", "<link", "<img", "src=", "href=", "@import", "url("]) {
    assert(!html.includes(bad), bad);
  }
  assert(html.includes("byte-lm-opt-outliers &lt;W8A8&gt;"), "title escaped");
  assertEquals(html.match(/<svg /g)?.length, 1 + 1 + 2); // bits/byte bars, outlier-ratio bars, before + after
  assertEquals(html.match(/<section>/g)?.length, 1);
  for (
    const s of ["13.3 MB", "per-layer SQNR (dB)", "31.25", "chosen t", "outlier ratio before", "75", "1.5"]
  ) {
    assert(html.includes(s), s);
  }
  assert(
    html.includes("skipped post_ln: output &quot;y&quot; also feeds Add &quot;res&quot; (a residual branch)"),
  );
  // One vertical segment per channel in each range plot.
  const paths = [...html.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!.split("M").length - 1);
  assertEquals(paths, [C, C]);
});

Deno.test("report: osPlusSection rows hold the per-site numbers", () => {
  const s = osPlusSection(result);
  assertEquals(s.tables![0]!.rows, [[
    "/blocks.0/ln1/LayerNormalization",
    "fused",
    16,
    3,
    75,
    1.5,
    3e-2,
    1e-4,
    "moments",
    "-",
    75,
    1.5,
  ]]);
  assertEquals(s.ranges!.length, 1);
  assertEquals(s.bars![0]!.series.map((x) => x.values), [[75], [1.5]]);
});

Deno.test("report: escapeHtml", () => {
  assertEquals(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
});
