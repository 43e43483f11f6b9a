import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { allocatorAdvice } from "../cli/quantize.ts";
import type { QuantizeReport } from "../api/quantize.ts";
import { repoPath } from "./_models.ts";
import { cliInProcess, quantizeArgs, withTempDir } from "./_cli.ts";

type Steps = QuantizeReport["steps"];
const step = (mode?: "whole" | "per-layer"): Steps[number] => ({
  pass: "weight-only-gptq",
  modified: true,
  notes: [],
  ms: 1,
  sections: [],
  ...(mode ? { calibration: { mode, reason: "test", segments: 1, rows: 1, seconds: 0 } } : {}),
});
const unset = () => undefined;

Deno.test("allocatorAdvice: only after per-layer calibration on Linux without MALLOC_MMAP_THRESHOLD_", () => {
  assertStringIncludes(
    allocatorAdvice({ steps: [step("per-layer")] }, unset, "linux")!,
    "MALLOC_MMAP_THRESHOLD_",
  );
  assertEquals(allocatorAdvice({ steps: [step("whole"), step()] }, unset, "linux"), undefined);
  assertEquals(allocatorAdvice({ steps: [step("per-layer")] }, unset, "darwin"), undefined);
  const set = (n: string) => n === "MALLOC_MMAP_THRESHOLD_" ? "131072" : undefined;
  assertEquals(allocatorAdvice({ steps: [step("per-layer")] }, set, "linux"), undefined);
});

Deno.test("quantize CLI: per-layer GPTQ says how to bound its peak memory, in the summary and --json", async () => {
  await withTempDir(async (dir) => {
    const args = quantizeArgs(
      repoPath("testdata/byte-lm-opt.onnx"),
      `${dir}/q.onnx`,
      "gptq",
      repoPath("testdata/lm-calib.txt"),
      "--samples",
      "2",
      "--calibrate",
      "per-layer",
      "--max-load-mb",
      "0",
    );
    const text = await cliInProcess(args);
    assertEquals(text.code, 0, text.stderr);
    const expected = Deno.build.os === "linux" ? 1 : 0;
    assertEquals(
      text.stdout.split("\n").filter((l) => l.startsWith("note: per-layer calibration")).length,
      expected,
    );
    const json = await cliInProcess([...args, "--json"]);
    assertEquals(json.code, 0, json.stderr);
    assert(expected ? json.json.advice?.[0]?.includes("MALLOC_MMAP_THRESHOLD_=131072") : !json.json.advice);
  });
});
