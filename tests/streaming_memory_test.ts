/**
 * Streaming calibration (issue 3): peak RSS does not grow with the number of calibration windows. A small
 * version of bench/calibration_memory.ts (run as a subprocess, each setting in its own fresh process): 64 vs
 * 512 windows of the byte LM, min/max of every LayerNorm output through collectValues + onnxruntime. The Gram
 * part is left to the bench (`--no-gram` here: its accumulators are a fixed O(k^2) allocation at the first
 * batch, and at ~0.25 s per window they would take minutes).
 */
import { assert, assertEquals } from "@std/assert";
import { repoPath } from "./_models.ts";

Deno.test("streaming calibration: peak RSS at 512 windows within 1.5x of 64 windows", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      repoPath("bench/calibration_memory.ts"),
      "--windows",
      "64,512",
      "--no-gram",
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text) as {
    rows: { windows: number; peakMiB: number; lnOutputs: number }[];
    ratios: number[];
  };
  assertEquals(r.rows.map((x) => [x.windows, x.lnOutputs]), [[64, 9], [512, 9]]);
  assert(r.rows[0]!.peakMiB > 50, `implausible peak ${r.rows[0]!.peakMiB} MiB`);
  assert(r.ratios[1]! < 1.5, `peak RSS ${r.rows.map((x) => x.peakMiB.toFixed(1)).join(" -> ")} MiB`);
});
