import { assertEquals, assertThrows } from "@std/assert";
import { Model } from "../onnx/ir.ts";
import type { PipelineResult } from "../passes/pass.ts";
import { ifModel } from "../tests/_intake_models.ts";
import { modelLevelReasons, NothingConvertedError, refuseNoSites, summarizeSites } from "./sites.ts";

type Step = PipelineResult["steps"][number];
const step = (pass: string, modified: boolean, extra: Partial<Step> = {}): Step => ({
  pass,
  modified,
  notes: [],
  ms: 0,
  sections: [],
  ...extra,
});

Deno.test("sites: a pass that reports zero sites is refused even though it changed the model (OS+ without a norm -> linear site)", () => {
  const steps = [
    step("opset-upgrade", true),
    step("os-plus", true, {
      notes: ["no norm -> linear site"],
      sites: {
        converted: 0,
        skipped: ["ln_f: no norm -> linear site: consumer is Add"],
        what: "norm -> linear sites",
      },
    }),
  ];
  const s = summarizeSites(steps);
  assertEquals([s.converted, s.what, s.counted], [0, "norm -> linear sites", true]);
  assertThrows(
    () => refuseNoSites("osplus", new Model(), steps, s),
    NothingConvertedError,
    "--method osplus converted nothing, so the output would be a copy of the input: ln_f: no norm -> linear site: consumer is Add",
  );
});

Deno.test("sites: passes without counts are judged by whether the method's last pass changed the model", () => {
  const unchanged = [
    step("opset-upgrade", true),
    step("dense-shift", false, { notes: ["no Conv/Gemm/MatMul"] }),
  ];
  const s = summarizeSites(unchanged);
  assertEquals([s.converted, s.counted], [0, false]);
  assertThrows(
    () => refuseNoSites("denseshift", new Model(), unchanged, s),
    NothingConvertedError,
    "no Conv/Gemm/MatMul",
  );
  assertEquals(summarizeSites([step("dense-shift", true)]).converted, 1);
});

Deno.test("sites: compute only inside If branches is named as the reason", () => {
  assertEquals(modelLevelReasons(ifModel()), [
    `all compute is inside If/Loop/Scan bodies (2 MatMul/Gemm/Conv nodes in If "branch")`,
  ]);
});
