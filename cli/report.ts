/**
 * The `--report FILE.html` writer of `shiftkit quantize`: renders the pass report (passes/report.ts) and
 * writes it atomically.
 * @module
 */
import type { QuantizeReport } from "../api/quantize.ts";

/**
 * Write a self-contained HTML report.
 *
 * @param path destination
 * @param data what to render
 */
export async function writeQuantizeReport(
  path: string,
  data: { model: string; output: string; report: QuantizeReport },
): Promise<void> {
  const { renderReport } = await import("../passes/report.ts");
  const html = renderReport(data as unknown as Parameters<typeof renderReport>[0]);
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, html);
  await Deno.rename(tmp, path);
}
