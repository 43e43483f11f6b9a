import { assert, assertEquals } from "@std/assert";
import { intAttr } from "../onnx/attributes.ts";
import { Model } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { getOp, registerOp } from "../onnx/evaluate/registry.ts";
import { gpuUnavailableReason } from "../kernels/gpu.ts";
import { validate } from "./validate.ts";

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU tests in api/validate_test.ts: ${noGpu} !!!\n`);

/** float: x -> Relu "h" -> Mul "y";  quantized: x -> Q -> DQ -> Relu "h" -> Q -> Requantize -> DQ "y". */
function models(): { float: Model; quant: Model } {
  const float = new Model();
  float.opsets.set("", 13);
  const x = float.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", 10] };
  float.graph.inputs.push(x);
  const h = float.graph.addNode("Relu", [x], ["h"]).outputs[0]!;
  const two = float.graph.addInitializer("two", makeTensor(DataType.FLOAT, [], new Float32Array([0.5])));
  float.graph.outputs.push(float.graph.addNode("Mul", [h, two], ["y"]).outputs[0]!);

  const quant = new Model();
  quant.opsets.set("", 13);
  quant.opsets.set("shiftkit", 1);
  const g = quant.graph;
  const qx = g.value("x");
  qx.type = { elemType: DataType.FLOAT, shape: ["batch", 10] };
  g.inputs.push(qx);
  const s = g.addInitializer("s", makeTensor(DataType.FLOAT, [], new Float32Array([1 / 64])));
  const z = g.addInitializer("z", makeTensor(DataType.INT8, [], new Int8Array([0])));
  const q = g.addNode("QuantizeLinear", [qx, s, z], ["q"]).outputs[0]!;
  const dq = g.addNode("DequantizeLinear", [q, s, z], ["dq"]).outputs[0]!;
  const qh = g.addNode("Relu", [dq], ["h"]).outputs[0]!;
  const q2 = g.addNode("QuantizeLinear", [qh, s, z], ["q2"]).outputs[0]!;
  const mul = g.addInitializer("mul", makeTensor(DataType.INT32, [], new Int32Array([2 ** 30])));
  const sh = g.addInitializer("sh", makeTensor(DataType.INT32, [], new Int32Array([31])));
  const r = g.addNode("Requantize", [q2, mul, sh], ["r"], {
    domain: "shiftkit",
    attrs: [intAttr("output_bits", 8)],
  }).outputs[0]!;
  g.outputs.push(g.addNode("DequantizeLinear", [r, s, z], ["y"]).outputs[0]!);
  return { float, quant };
}

Deno.test({
  name: "validate: GPU ops agree bit for bit, per-layer and output error vs the float reference",
  ignore: noGpu !== null,
  async fn() {
    const { float, quant } = models();
    const r = await validate(quant, { reference: float, samples: 3 });
    assert(r.ok);
    assertEquals([r.samples, r.inputs, r.integerMismatches], [3, "random", 0]);
    const byOp = Object.fromEntries(r.ops.map((o) => [o.op, o]));
    assertEquals(byOp["QuantizeLinear"], {
      op: "QuantizeLinear",
      role: "kernel",
      runs: 6,
      gpu: 6,
      cpu: 0,
      fallbacks: 0,
      fallbackReasons: [],
      compared: 6,
      exact: 6,
      withinTolerance: 6,
      integer: true,
      maxAbsDiff: 0,
      tolerance: "exact",
      notes: [],
    });
    assertEquals([r.cpuFallbacks, r.toleranceFailures, r.failures], [0, 0, []]);
    assertEquals([byOp["shiftkit.Requantize"]!.gpu, byOp["shiftkit.Requantize"]!.exact], [3, 3]);
    assertEquals([byOp["Relu"]!.gpu, byOp["Relu"]!.role], [0, "float"]);
    assertEquals(r.layers.map((l) => l.name), ["h", "y"]);
    assert(r.layers[0]!.sqnrDb > 30 && r.layers[0]!.cosine > 0.999, JSON.stringify(r.layers));
    assertEquals(r.outputs.map((o) => o.name), ["y"]);
    assert(r.outputs[0]!.sqnrDb > 25 && r.outputs[0]!.ok, JSON.stringify(r.outputs));
    assert(r.adapter.length > 0);
  },
});

Deno.test({
  name: "validate reports an integer mismatch when the CPU reference disagrees with a kernel",
  ignore: noGpu !== null,
  async fn() {
    const { quant } = models();
    const real = getOp("shiftkit", "Requantize");
    registerOp("shiftkit", "Requantize", (ins, attrs, ctx) => {
      const [y] = real(ins, attrs, ctx);
      const d = Int8Array.from(y!.data as Int8Array);
      d[0] = d[0]! ^ 1; // one flipped bit
      return [makeTensor(y!.dtype, y!.dims, d)];
    });
    try {
      const r = await validate(quant, { samples: 1 });
      assertEquals([r.ok, r.integerMismatches], [false, 1]);
      const op = r.ops.find((o) => o.op === "shiftkit.Requantize")!;
      assertEquals([op.compared, op.exact, op.maxAbsDiff], [1, 0, 1]);
    } finally {
      registerOp("shiftkit", "Requantize", real);
    }
  },
});

Deno.test({
  name: "validate fails on a CPU fallback unless allowed, and on outputs far from the reference",
  ignore: noGpu !== null,
  async fn() {
    const { float, quant } = models();
    // An int8 Where (no GPU kernel) in the quantized path.
    const g = quant.graph;
    const q2 = g.nodes.find((n) => n.outputs[0]!.name === "q2")!.outputs[0]!;
    const zero = g.addInitializer("zero8", makeTensor(DataType.INT8, [], new Int8Array([0])));
    const pos = g.addNode("Greater", [q2, zero], ["pos"]).outputs[0]!;
    const w = g.addNode("Where", [pos, q2, zero], ["w"]).outputs[0]!;
    const req = g.nodes.find((n) => n.opType === "Requantize")!;
    req.setInput(0, w);
    g.sort();
    const strict = await validate(quant, { samples: 1 });
    assertEquals([strict.ok, strict.cpuFallbacks], [false, 2]);
    assert(strict.failures[0]!.includes("2 CPU fallbacks"), strict.failures.join());
    assertEquals(strict.ops.find((o) => o.op === "Where")!.fallbackReasons, ["no GPU kernel for Where"]);
    const lenient = await validate(quant, { samples: 1, allowCpuFallback: true });
    assertEquals([lenient.ok, lenient.cpuFallbacks], [true, 2]);
    // A reference whose output is unrelated: cosine far below the tolerance.
    const neg = float.graph.initializers.find((v) => v.name === "two")!;
    neg.const = makeTensor(DataType.FLOAT, [], new Float32Array([-0.5]));
    const off = await validate(models().quant, { reference: float, samples: 2 });
    assertEquals(off.ok, false);
    assert(off.outputs[0]!.cosine < 0 && !off.outputs[0]!.ok, JSON.stringify(off.outputs));
    assert(
      off.failures[0]!.includes('"y"') && off.failures[0]!.includes("cosine >= 0.9"),
      off.failures.join(),
    );
  },
});

Deno.test({
  name: "validate fails on a float output beyond its spec's tolerance (DequantizeLinear: exact)",
  ignore: noGpu !== null,
  async fn() {
    const { quant } = models();
    const real = getOp("", "DequantizeLinear");
    registerOp("", "DequantizeLinear", (ins, attrs, ctx) => {
      const [y] = real(ins, attrs, ctx);
      const d = Float32Array.from(y!.data as Float32Array);
      d[0] = d[0]! + 2 ** -20; // off by far less than one quantization step, but not exact
      return [makeTensor(y!.dtype, y!.dims, d)];
    });
    try {
      const r = await validate(quant, { samples: 1 });
      assertEquals([r.ok, r.integerMismatches, r.toleranceFailures], [false, 0, 2]);
      const dq = r.ops.find((o) => o.op === "DequantizeLinear")!;
      assertEquals([dq.compared, dq.withinTolerance, dq.tolerance], [2, 0, "exact"]);
      assert(r.failures[0]!.includes("2 float outputs beyond tolerance"), r.failures.join());
    } finally {
      registerOp("", "DequantizeLinear", real);
    }
  },
});
