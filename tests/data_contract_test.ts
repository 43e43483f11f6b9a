import { assert, assertEquals, assertGreater, assertRejects, assertStringIncludes } from "@std/assert";
import { evaluate } from "../api/evaluate.ts";
import { quantize } from "../api/quantize.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { isOp, Op } from "../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import {
  DataMismatchError,
  modelInputs,
  openDataSource,
  samplesIn,
  tensorSource,
} from "../runtime/data/mod.ts";
import { modelPath } from "./_models.ts";
import { encodeNpz } from "../runtime/npy.ts";
import { OrtRuntime, ortRuntimeFactory } from "../runtime/ort.ts";
import type { RuntimeFactory } from "../runtime/runtime.ts";
import { fixedBatchConvModel, noise, stateModel } from "./_intake_models.ts";
import { withTempDir as withDir } from "./_cli.ts";

const float = (dims: number[], seed: number) =>
  makeTensor(DataType.FLOAT, dims, noise(dims.reduce((a, b) => a * b, 1), seed));

/** The real onnxruntime factory, counting the models it creates (to prove nothing ran). */
function countingFactory(): { factory: RuntimeFactory; sessions: () => number } {
  let n = 0;
  const inner = ortRuntimeFactory({ intraOpNumThreads: 1 });
  return { factory: (bytes) => (n++, inner(bytes)), sessions: () => n };
}

function vadData(n: number): Map<string, Tensor> {
  const sr = makeTensor(
    DataType.INT64,
    [n],
    BigInt64Array.from({ length: n }, (_, i) => i % 2 ? 16000n : 8000n),
  );
  return new Map([["x", float([n, 1, 16], 7)], ["sr", sr], ["h", float([n, 2, 1, 8], 8)]]);
}

Deno.test("data contract: a fixed-batch-1 model calibrates on 8 stacked images, one call each (was: onnxruntime 'Got: 8 Expected: 1')", async () => {
  await withDir(async (dir) => {
    const model = fixedBatchConvModel();
    const calib = `${dir}/calib.npz`;
    await Deno.writeFile(calib, encodeNpz(new Map([["x", float([8, 3, 8, 8], 11)]])));
    const src = await openDataSource(calib, { inputs: modelInputs(model) });
    const dims = [];
    for await (const b of src.batches(8)) dims.push(b.x!.dims);
    assertEquals(dims, Array(8).fill([1, 3, 8, 8]));
    const { factory, sessions } = countingFactory();
    const float0 = encodeModel(model);
    const report = await quantize(model, { method: "qdq", calib, runtime: factory });
    assertEquals(report.calibrationSamples, 8);
    assertGreater(sessions(), 0);
    // Structure: Conv and Gemm read dequantized weights; validity: onnxruntime loads it.
    assert([...model.allNodes()].some((n) => isOp(n, Op.DequantizeLinear)));
    const evalSet = `${dir}/eval.npz`;
    // Per-sample form [samples, 1, 3, 8, 8] of other samples: agreement with the float model.
    await Deno.writeFile(evalSet, encodeNpz(new Map([["x", float([6, 1, 3, 8, 8], 12)]])));
    const r = await evaluate(model, { task: "compare", data: evalSet, reference: float0 });
    assertEquals(r.samples, 6);
    assertGreater(r.metrics.cosine!, 0.99);
  });
});

Deno.test("data contract: scalar input [samples] and recurrent state [2, batch, 8] in per-sample form", async () => {
  await withDir(async (dir) => {
    const model = stateModel();
    const path = `${dir}/vad.npz`;
    await Deno.writeFile(path, encodeNpz(vadData(5)));
    const src = await openDataSource(path, { inputs: modelInputs(model) });
    const seen: unknown[] = [];
    for await (const b of src.batches(4)) seen.push([b.x!.dims, b.sr!.dims, b.h!.dims, samplesIn(src, b)]);
    assertEquals(seen, Array(5).fill([[1, 16], [], [2, 1, 8], 1]));
    // The fed values are the data's, checked through onnxruntime against a hand computation of sample 3.
    const rt = await OrtRuntime.create(encodeModel(model));
    let i = 0, y3: Float32Array | undefined;
    for await (const b of src.batches(1)) {
      const out = await rt.run(b);
      if (i++ === 3) y3 = out.y!.data as Float32Array;
    }
    await rt.release();
    const d = vadData(5);
    const x = (d.get("x")!.data as Float32Array).subarray(3 * 16, 4 * 16);
    const h = (d.get("h")!.data as Float32Array).subarray(3 * 16, 4 * 16);
    const w = model.graph.initializers.find((v) => v.name === "proj.weight")!.const!.data as Float32Array;
    for (let j = 0; j < 8; j++) {
      let acc = 0;
      for (let k = 0; k < 16; k++) acc += x[k]! * w[k * 8 + j]!;
      const want = acc * (16000 / 16000) + (h[j]! + h[8 + j]!) / 2;
      assert(Math.abs(y3![j]! - want) < 1e-5, `y[${j}] = ${y3![j]}, expected ${want}`);
    }
    // Quantize and evaluate end to end with these inputs.
    const float0 = encodeModel(model);
    const report = await quantize(model, { method: "qdq", calib: path });
    assertEquals(report.calibrationSamples, 5);
    await Deno.writeFile(`${dir}/eval.npz`, encodeNpz(vadData(3)));
    const r = await evaluate(model, { task: "compare", data: `${dir}/eval.npz`, reference: float0 });
    assertEquals(r.samples, 3);
    assertGreater(r.metrics.cosine!, 0.99);
  });
});

Deno.test("data contract: dynamic batch axes batch per-sample data with the requested batch size", async () => {
  const model = decodeModel(encodeModel(stateModel()));
  // Without the scalar and the state (a model whose only input is x [batch, 16]).
  model.graph.inputs.splice(1, 2);
  await withDir(async (dir) => {
    const path = `${dir}/x.npz`;
    await Deno.writeFile(path, encodeNpz(new Map([["x", float([5, 1, 16], 3)]])));
    const inputs = [{ name: "x", dtype: DataType.FLOAT, dims: ["batch", 16] }];
    const src = await openDataSource(path, { inputs });
    const dims = [];
    for await (const b of src.batches(2)) dims.push([b.x!.dims, samplesIn(src, b)]);
    assertEquals(dims, [[[2, 16], 2], [[2, 16], 2], [[1, 16], 1]]);
  });
});

Deno.test("data contract: a folder of .npz files, one sample each", async () => {
  await withDir(async (dir) => {
    const d = vadData(3);
    for (let i = 0; i < 3; i++) {
      const one = new Map<string, Tensor>();
      for (const [k, t] of d) {
        const per = t.dims.slice(1);
        const n = per.reduce((a, b) => a * b, 1);
        one.set(k, makeTensor(t.dtype, per, (t.data as Float32Array).slice(i * n, (i + 1) * n)));
      }
      await Deno.writeFile(`${dir}/s${i}.npz`, encodeNpz(one));
    }
    const src = await openDataSource(dir, { inputs: modelInputs(stateModel()) });
    assertEquals([src.kind, src.count], ["tensors", 3]);
    const srs = [];
    for await (const b of src.batches(8)) srs.push((b.sr!.data as BigInt64Array)[0]);
    assertEquals(srs, [8000n, 16000n, 8000n]);
  });
});

Deno.test("data contract: mismatches are refused before any inference, naming the input and both shapes", async () => {
  const cases: [Map<string, Tensor>, string][] = [
    [
      new Map([["x", float([4, 1, 16], 1)], ["h", float([4, 2, 1, 8], 2)]]),
      `input "sr": expected an array [] of int64, given no array`,
    ],
    [
      new Map([...vadData(4)].map(([k, t]) => [k, k === "sr" ? makeTensor(DataType.INT32, [4]) : t])),
      `input "sr": expected element type int64, given int32 [4]`,
    ],
    [
      new Map([...vadData(4)].map(([k, t]) => [k, k === "h" ? float([4, 2, 1, 9], 3) : t])),
      `input "h": expected [2, batch, 8] per sample, i.e. [samples, 2, batch, 8], or stacked [2, batch, 8], given [4, 2, 1, 9]`,
    ],
    [
      new Map([...vadData(4)].map(([k, t]) => [k, k === "x" ? float([3, 1, 16], 4) : t])),
      `given 4 samples [4]`,
    ],
    [
      new Map([...vadData(2), ["extra", float([2], 1)]]),
      `input "extra": expected one of the model inputs [x, sr, h]`,
    ],
  ];
  for (const [arrays, message] of cases) {
    await withDir(async (dir) => {
      const path = `${dir}/bad.npz`;
      await Deno.writeFile(path, encodeNpz(arrays));
      const { factory, sessions } = countingFactory();
      const model: Model = stateModel();
      await assertRejects(
        () => quantize(model, { method: "qdq", calib: path, runtime: factory }),
        DataMismatchError,
        message,
      );
      assertEquals(sessions(), 0, "no inference before the data check");
    });
  }
  // A fixed batch of 4 and 6 stacked rows.
  const inputs = [{ name: "x", dtype: DataType.FLOAT, dims: [4, 16] }];
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/x.npz`, encodeNpz(new Map([["x", float([6, 16], 1)]])));
    const e = await assertRejects(() => openDataSource(`${dir}/x.npz`, { inputs }), DataMismatchError);
    assertStringIncludes(e.message, "6 stacked rows are not a multiple of the model's fixed batch 4");
  });
});

Deno.test("data contract: the real Silero VAD (npm) runs on per-sample audio, a scalar sr and [2, batch, 64] state", async () => {
  const path = modelPath("silero-vad");
  const model = decodeModel(await Deno.readFile(path));
  const n = 3;
  const audio = Float32Array.from(
    { length: n * 512 },
    (_, i) => Math.sin(i / (5 + Math.floor(i / 512))) * 0.3,
  );
  const state = float([n, 2, 1, 64], 9);
  const src = tensorSource(
    new Map([
      ["input", makeTensor(DataType.FLOAT, [n, 1, 512], audio)],
      ["sr", makeTensor(DataType.INT64, [n], new BigInt64Array([16000n, 16000n, 16000n]))],
      ["h", state],
      ["c", state],
    ]),
    { inputs: modelInputs(model) },
  );
  const rt = await OrtRuntime.create(await Deno.readFile(path));
  try {
    const outs: number[] = [];
    for await (const b of src.batches(8)) outs.push((await rt.run(b)).output!.data[0] as number);
    assertEquals(outs.length, n);
    // Sample 2 fed by hand in the model's own shapes gives the same probability.
    const h2 = makeTensor(DataType.FLOAT, [2, 1, 64], (state.data as Float32Array).slice(2 * 128, 3 * 128));
    const direct = await rt.run({
      input: makeTensor(DataType.FLOAT, [1, 512], audio.slice(2 * 512)),
      sr: makeTensor(DataType.INT64, [], new BigInt64Array([16000n])),
      h: h2,
      c: h2,
    });
    assertEquals(outs[2], direct.output!.data[0]);
  } finally {
    await rt.release();
  }
});
