/**
 * Issue 3 acceptance: calibration statistics computed through onnxruntime and through the CPU evaluator agree
 * (per-channel min/max within 1e-5 relative; X^T X within 1e-6 relative Frobenius). Both runs go through
 * `collectValues` (the values exposed as extra graph outputs) on the same calibration samples.
 *
 * "Relative" for min/max: |cpu - ort| <= 1e-5 * max(|ort min_c|, |ort max_c|) per channel c, i.e. relative
 * to the channel's range, which is the scale a quantizer derives from it (a channel whose minimum is near 0
 * would make a per-value relative error meaningless).
 */
import { assert, assertEquals } from "@std/assert";
import type { Model } from "../onnx/ir.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { constantsToInitializers } from "../passes/normalize/constants_to_initializers.ts";
import { GramAccumulator } from "../quant/gram.ts";
import { MinMaxObserver } from "../quant/observers.ts";
import { collectValues } from "../runtime/collect.ts";
import { cpuRuntimeFactory } from "../runtime/cpu.ts";
import { type DataSource, openDataSource } from "../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../runtime/ort.ts";
import type { RuntimeFactory } from "../runtime/runtime.ts";
import { loadModelFile, repoPath } from "./_models.ts";

const BACKENDS: [string, RuntimeFactory][] = [
  ["ort", ortRuntimeFactory({ intraOpNumThreads: 2 })],
  ["cpu", cpuRuntimeFactory()],
];

interface Stats {
  minmax: Map<string, MinMaxObserver>;
  gram: Map<string, GramAccumulator>;
}

/** Per-channel min/max (axis) of `minmax` values and X^T X of `gram` values (rows = all but the last axis). */
async function calibrate(
  model: Model,
  data: DataSource,
  factory: RuntimeFactory,
  minmax: readonly string[],
  gram: readonly string[],
  axis: number,
): Promise<Stats> {
  const stats: Stats = { minmax: new Map(), gram: new Map() };
  for (const v of minmax) stats.minmax.set(v, new MinMaxObserver({ axis }));
  await collectValues(model, [...new Set([...minmax, ...gram])], data, factory, (values) => {
    for (const v of minmax) {
      const t = values[v]!;
      stats.minmax.get(v)!.observe(t.data as Float32Array, t.dims);
    }
    for (const v of gram) {
      const t: Tensor = values[v]!;
      const k = t.dims.at(-1)!;
      if (!stats.gram.has(v)) stats.gram.set(v, new GramAccumulator(k));
      stats.gram.get(v)!.add(t.data as Float32Array, t.data.length / k);
    }
  }, { batchSize: 4 });
  return stats;
}

/** Largest per-channel error of min and max, relative to the channel's magnitude. */
function minMaxError(a: MinMaxObserver, b: MinMaxObserver): number {
  const [amin, amax, bmin, bmax] = [a.mins, a.maxs, b.mins, b.maxs];
  assertEquals(amin.length, bmin.length);
  let worst = 0;
  for (let c = 0; c < bmin.length; c++) {
    const scale = Math.max(Math.abs(bmin[c]!), Math.abs(bmax[c]!), 1e-30);
    worst = Math.max(worst, Math.abs(amin[c]! - bmin[c]!) / scale, Math.abs(amax[c]! - bmax[c]!) / scale);
  }
  return worst;
}

/** ||A - B||_F / ||B||_F. */
function relativeFrobenius(a: Float64Array, b: Float64Array): number {
  assertEquals(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

Deno.test("calibration agreement: byte-lm-opt first LayerNorm min/max and fc2 input X^T X, ort vs CPU", async () => {
  const model = await loadModelFile("byte-lm-opt");
  const ln = model.graph.nodes.find((n) => n.opType === "LayerNormalization")!.outputs[0]!.name;
  // fc2 of the first block: the widest linear layer (k = 1024), fed by the ReLU of fc1.
  const fc2 = model.graph.nodes.find((n) => n.opType === "MatMul" && n.inputs[1]?.const?.dims[0] === 1024)!;
  const x = fc2.inputs[0]!.name;
  assertEquals([ln, x], ["/blocks.0/ln1/LayerNormalization_output_0", "/blocks.0/Relu_output_0"]);
  const data = await openDataSource(repoPath("testdata/lm-calib.txt"), { maxSamples: 8 });
  const [ort, cpu] = await Promise.all(
    BACKENDS.map(([, f]) => calibrate(model, data, f, [ln], [x], -1)),
  ) as [Stats, Stats];
  const o = ort.minmax.get(ln)!, c = cpu.minmax.get(ln)!;
  assertEquals([o.count, c.count], [8 * 128 * 256, 8 * 128 * 256]);
  assertEquals(o.mins.length, 256);
  const mmErr = minMaxError(c, o);
  assert(mmErr <= 1e-5, `per-channel min/max relative error ${mmErr}`);
  const go = ort.gram.get(x)!, gc = cpu.gram.get(x)!;
  assertEquals([go.k, go.count, gc.count], [1024, 8 * 128, 8 * 128]);
  const gErr = relativeFrobenius(gc.mean(), go.mean());
  assert(gErr <= 1e-6, `X^T X relative Frobenius error ${gErr}`);
});

Deno.test("calibration agreement: ppocr-cls Conv outputs per-channel min/max, ort vs CPU", async () => {
  const model = await loadModelFile("ppocr-cls");
  constantsToInitializers.run(model);
  const convs = model.graph.nodes.filter((n) => n.opType === "Conv");
  // The first Conv (on the image) and a deep one (1x1, 200 channels, after ~40 layers of error build-up).
  const first = convs[0]!.outputs[0]!.name;
  const deep = convs.find((n) => n.inputs[1]!.const!.dims[0] === 200)!.outputs[0]!.name;
  assertEquals([first, deep], ["conv2d_53.tmp_0", "conv2d_86.tmp_0"]);
  const data = await openDataSource(repoPath("testdata/ocr-calib-sans"), {
    preset: "ppocr-cls",
    maxSamples: 8,
  });
  const [ort, cpu] = await Promise.all(
    BACKENDS.map(([, f]) => calibrate(model, data, f, [first, deep], [], 1)),
  ) as [Stats, Stats];
  for (const [v, channels] of [[first, 8], [deep, 200]] as const) {
    const o = ort.minmax.get(v)!, c = cpu.minmax.get(v)!;
    assertEquals([o.mins.length, c.count], [channels, o.count]);
    const err = minMaxError(c, o);
    assert(err <= 1e-5, `${v}: per-channel min/max relative error ${err}`);
  }
});
