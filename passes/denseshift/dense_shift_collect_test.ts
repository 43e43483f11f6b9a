import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { Model } from "../../onnx/ir.ts";
import { Op } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { makePassRuntime } from "../../runtime/collect.ts";
import { tensorSource } from "../../runtime/data/mod.ts";
import { ortRuntimeFactory } from "../../runtime/ort.ts";
import { mulberry32 } from "../../quant/_rng.ts";
import { plan, type Target } from "./dense_shift_calib.ts";
import { collectStats, rowsKept } from "./dense_shift_collect.ts";
import { quantizeLayer } from "./dense_shift_layer.ts";
import { decodePow2 } from "../../quant/pow2.ts";

/** x [N, T, 6] -> MatMul [6, 4] -> a; x -> MatMul [6, 3] -> b (two layers on the same input). */
function twoHeads(): Model {
  const m = new Model();
  m.opsets.set("", 13);
  const g = m.graph, u = mulberry32(1);
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["N", 5, 6] };
  g.inputs.push(x);
  for (const [name, n] of [["a", 4], ["b", 3]] as const) {
    const w = g.addInitializer(
      `w${name}`,
      makeTensor(DataType.FLOAT, [6, n], Float32Array.from({ length: 6 * n }, u)),
    );
    const y = g.addNode(Op.MatMul.type, [x, w], [name], { name }).outputs[0]!;
    y.type = { elemType: DataType.FLOAT, shape: ["N", 5, n] };
    g.outputs.push(y);
  }
  return m;
}

const u = mulberry32(2);
const X = Float32Array.from({ length: 12 * 5 * 6 }, () => u() - 0.3);
const runtime = () =>
  makePassRuntime(
    tensorSource(new Map([["x", makeTensor(DataType.FLOAT, [12, 5, 6], X)]])),
    ortRuntimeFactory(),
    {
      batchSize: 4,
    },
  );

Deno.test("collectStats: layers on the same input share one set of statistics, in one calibration run", async () => {
  const m = twoHeads();
  const { targets } = plan(m, new Set());
  assertEquals(targets.length, 2);
  let runs = 0;
  const rt = runtime();
  const counted = { collect: (...a: Parameters<typeof rt.collect>) => (runs++, rt.collect(...a)) };
  const full = await collectStats(counted, m, { gramFor: targets, meanFor: [] }, 256);
  assertEquals(runs, 1);
  assert(full.get(targets[0]!) === full.get(targets[1]!));
  // Full Gram = E[x x^T] over all 60 token rows.
  const H = full.get(targets[0]!)!.gram[0]!;
  for (const [i, j] of [[0, 0], [1, 4], [5, 5]] as const) {
    let s = 0;
    for (let r = 0; r < 60; r++) s += X[r * 6 + i]! * X[r * 6 + j]!;
    assertAlmostEquals(H[i * 6 + j]!, s / 60, 1e-6);
  }
  const sk = await collectStats(
    counted,
    m,
    { gramFor: [], meanFor: [], sketchFor: targets, sketchRows: 2 },
    256,
  );
  assertEquals(runs, 2);
  const st = sk.get(targets[0]!)!;
  assert(st === sk.get(targets[1]!));
  assertEquals(st.gram, []);
  // The diagonal and the mean come from every row; the sketch from rows 1 and 3 of each sample's 5 tokens
  // (2 evenly spaced rows per sample: floor((i + 0.5) * 20 / 8) of each batch of 4 samples, 20 rows).
  for (let k = 0; k < 6; k++) {
    assertAlmostEquals(st.diag![0]![k]!, H[k * 6 + k]!, 1e-9);
    let mean = 0;
    for (let r = 0; r < 60; r++) mean += X[r * 6 + k]! / 60;
    assertAlmostEquals(st.mean[0]![k]!, mean, 1e-9);
  }
  const picked: number[] = [];
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < 8; i++) picked.push(b * 20 + Math.floor(((i + 0.5) * 20) / 8));
  }
  let s01 = 0;
  for (const r of picked) s01 += X[r * 6]! * X[r * 6 + 1]!;
  const sketch = st.sketch![0]!;
  assert("gram" in sketch, "6-wide rows: the Gram matrix is the cheaper sketch (quant/sketch.ts)");
  assertAlmostEquals(sketch.gram[1]!, s01 / picked.length, 1e-9);
});

Deno.test("quantizeLayer: every row as rows gives the layer the Gram gives (fewer rows than features)", () => {
  const r = mulberry32(9), k = 96, m = 40, nOut = 5;
  const X = Float32Array.from({ length: m * k }, (_, i) => (r() - 0.4) * (1 + (i % k) / k));
  const W = Float32Array.from({ length: nOut * k }, () => r() - 0.5);
  const H = new Float64Array(k * k), mean = new Float64Array(k), diag = new Float64Array(k);
  for (let i = 0; i < m; i++) {
    for (let a = 0; a < k; a++) {
      mean[a]! += X[i * k + a]! / m;
      diag[a]! += X[i * k + a]! ** 2 / m;
      for (let b = 0; b < k; b++) H[a * k + b]! += (X[i * k + a]! * X[i * k + b]!) / m;
    }
  }
  const t = {
    node: { name: "c" },
    kind: "conv",
    rows: W,
    nOut,
    fanIn: k,
    groups: 1,
    bias: null,
  } as unknown as Target;
  const o = {
    bits: 4,
    alpha: "output",
    biasCorrection: true,
    centered: true,
    energy: true,
    rounding: "nearest",
    search: { stepsPerOctave: 16 },
  } as const;
  const fromGram = quantizeLayer(t, { gram: [H], mean: [mean] }, o);
  const fromRows = quantizeLayer(t, {
    gram: [],
    rows: [{ k, rows: X, count: m }],
    mean: [mean],
    diag: [diag],
  }, o);
  // the same weights (an alpha twice as large with every exponent one lower is the same level set: such
  // exact ties may break either way on round-off)
  const a = decodePow2(fromRows.codes, fromRows.alpha, { bits: 4 });
  const b = decodePow2(fromGram.codes, fromGram.alpha, { bits: 4 });
  for (let i = 0; i < a.length; i++) assertAlmostEquals(a[i]!, b[i]!, 1e-6 * Math.abs(b[i]!));
  for (let j = 0; j < nOut; j++) assertAlmostEquals(fromRows.bias![j]!, fromGram.bias![j]!, 1e-9);
  assertAlmostEquals(fromRows.sqnrDb!, fromGram.sqnrDb!, 1e-6);
  assertAlmostEquals(fromRows.noise, fromGram.noise, 1e-9 * fromGram.noise);
  assert(rowsKept(k, nOut, 32) >= m, `rowsKept(${k}, ${nOut}, 32) = ${rowsKept(k, nOut, 32)}`);
  assertEquals(rowsKept(9, 1, 32), 0); // rank covers K: the Gram's exact eigendecomposition
});
