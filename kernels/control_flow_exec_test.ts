import { assert, assertEquals } from "@std/assert";
import { quantize } from "../api/quantize.ts";
import { validate } from "../api/validate.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import { tensorSource } from "../runtime/data/mod.ts";
import { cfInput, loopModel, scanModel } from "../tests/_control_flow_models.ts";
import { runOrt } from "../tests/_ort_compare.ts";
import { noGpuNotice } from "./_test_util.ts";
import { executeModel } from "./executor.ts";

const noGpu = await noGpuNotice("control_flow_exec_test.ts");

Deno.test({
  name:
    "executor: a QDQ Loop body runs op by op (QDQ on the GPU) and matches the CPU evaluator and onnxruntime",
  ignore: noGpu !== null,
  async fn() {
    const m = loopModel();
    await quantize(m, {
      method: "qdq",
      calib: tensorSource(new Map([["x", cfInput([16, 8], 6)]])),
      batchSize: 2,
    });
    const x = cfInput([2, 8], 11);
    const res = await executeModel(m, { x });
    // structure: the body's nodes are walked once per iteration, its QDQ ops on the GPU
    const body = res.records.filter((r) => r.op === "MatMul");
    assertEquals(body.length, 3);
    const q = res.records.filter((r) => r.op === "QuantizeLinear");
    assertEquals(q.length, 3);
    assert(q.every((r) => r.device === "gpu" && r.exact), JSON.stringify(q));
    assertEquals(res.records.at(-1)!.op, "Loop");
    const cpu = evaluateModel(m, { x });
    const ort = await runOrt(m, { x });
    for (const k of ["h_final", "h_all"]) {
      assertEquals(res.outputs[k]!.dims, ort[k]!.dims);
      for (let i = 0; i < cpu[k]!.data.length; i++) {
        const g = Number(res.outputs[k]!.data[i]);
        assert(Math.abs(g - Number(cpu[k]!.data[i])) < 1e-5 && Math.abs(g - Number(ort[k]!.data[i])) < 1e-4);
      }
    }
  },
});

Deno.test({
  name: "validate: walks a quantized Scan cell and compares it with the float model",
  ignore: noGpu !== null,
  async fn() {
    const float = scanModel();
    const m = decodeModel(encodeModel(float));
    await quantize(m, {
      method: "qdq",
      calib: tensorSource(new Map([["x", cfInput([16, 5, 8], 7)]])),
      batchSize: 2,
    });
    const r = await validate(m, {
      reference: float,
      data: tensorSource(new Map([["x", cfInput([2, 5, 8], 3)]])),
    });
    assertEquals(r.integerMismatches, 0);
    const dq = r.ops.find((o) => o.op === "DequantizeLinear")!;
    assertEquals(dq.runs, 2 * 5 * 4); // 2 samples x 5 steps x (2 weights + 2 activations)
    const out = r.outputs.find((o) => o.name === "states")!;
    assert(out.cosine > 0.995, `states cosine ${out.cosine}`);
    assert(r.layers.some((l) => l.name === "s_next"), "no per-layer error for the body value s_next");
  },
});
