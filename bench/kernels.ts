/**
 * int8 GEMM throughput: the WebGPU tiled and naive kernels, onnxruntime-node's MatMulInteger and the plain
 * TypeScript loop (quant/int_gemm.ts), on M=N=K=1024 and transformer-like shapes. The host's load average is
 * printed with the table: on a shared machine compare the tiled/naive ratio within one run, not GOPS across
 * runs.
 *
 *   deno run -A bench/kernels.ts [--json] [--runs N] [--shapes 1024x1024x1024,128x256x1024]
 *
 * GOPS = 2*M*N*K / time. Each timing is the median of `--runs` runs after one warm-up run; the two GPU kernels
 * are timed alternately. GPU runs exclude packing and upload (reported separately) and batch several
 * dispatches per submission so the fixed submit-and-wait latency of the runtime (~12 ms with Deno on llvmpipe)
 * is amortised; onnxruntime timings are `session.run` on host tensors.
 * @module
 */

import onnxProto from "npm:onnx-proto@8.0.1";
import * as ort from "npm:onnxruntime-node@1.30.0";
import { prepareGemmI8 } from "../kernels/gemm_i8.ts";
import { getGpu } from "../kernels/gpu.ts";
import { matMulInteger } from "../quant/int_gemm.ts";

// deno-lint-ignore no-explicit-any
const onnx = (onnxProto as any).onnx ?? onnxProto;

type Shape = [number, number, number];
const DEFAULT_SHAPES: Shape[] = [[1024, 1024, 1024], [128, 256, 1024], [128, 1024, 256], [1024, 120, 360]];

function argValue(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const json = Deno.args.includes("--json");
const runs = Number(argValue("--runs") ?? 5);
const shapes: Shape[] = argValue("--shapes")?.split(",").map((s) => s.split("x").map(Number) as Shape) ??
  DEFAULT_SHAPES;

function randomInt8(n: number, seed: number): Int8Array {
  let s = seed;
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) & 0xff) - 128;
  }
  return out;
}

/** Median milliseconds of `fn` over `runs` runs after one warm-up; `per` divides each run's time. */
async function medianMs(fn: () => Promise<unknown> | unknown, per = 1, n = runs): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / per);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** One-node opset-13 MatMulInteger model: A int8 [M,K], B int8 [K,N] -> Y int32 [M,N]. */
function matMulIntegerModel([m, k, n]: Shape): Uint8Array {
  const vi = (name: string, t: number, dims: number[]) => ({
    name,
    type: { tensorType: { elemType: t, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "matmulinteger",
      node: [{ opType: "MatMulInteger", input: ["A", "B"], output: ["Y"] }],
      input: [vi("A", 3, [m, k]), vi("B", 3, [k, n])],
      output: [vi("Y", 6, [m, n])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

interface Row {
  shape: Shape;
  gops: { tiled: number; naive: number; ort: number; ts: number };
  ms: { tiled: number; naive: number; ort: number; ts: number };
  packMs: number;
  uploadMs: number;
  exact: boolean;
}

const gpu = await getGpu();
const rows: Row[] = [];
for (const shape of shapes) {
  const [m, k, n] = shape;
  const ops = 2 * m * n * k;
  const a = { data: randomInt8(m * k, 1), dims: [m, k] }, b = { data: randomInt8(k * n, 2), dims: [k, n] };
  const opts = { aZeroPoint: 3, bZeroPoint: -5 };
  // Enough dispatches per submission for ~0.25-1 s of work at 10-40 GOPS (at least 4 at 1024^3), so the fixed
  // submit-and-wait latency (several ms) does not cap the faster kernel.
  const repeat = Math.max(1, Math.min(50, Math.round(1e10 / ops)));
  const ms = { tiled: 0, naive: 0, ort: 0, ts: 0 };
  let packMs = 0, uploadMs = 0, exact = true;
  const want = matMulInteger(a, b, opts);
  {
    // The two kernels are timed alternately (tiled, naive, tiled, ...) so that load from other processes on a
    // shared host falls on both alike and the tiled/naive ratio stays meaningful.
    using tiled = await prepareGemmI8(a, b, { ...opts, variant: "tiled" });
    using naive = await prepareGemmI8(a, b, { ...opts, variant: "naive" });
    [packMs, uploadMs] = [tiled.packMs, tiled.uploadMs];
    const jobs = { tiled, naive };
    const times = { tiled: [] as number[], naive: [] as number[] };
    for (let i = -1; i < runs; i++) { // i = -1: warm-up
      for (const variant of ["tiled", "naive"] as const) {
        const t = performance.now();
        await jobs[variant].run(repeat);
        if (i >= 0) times[variant].push((performance.now() - t) / repeat);
      }
    }
    for (const variant of ["tiled", "naive"] as const) {
      ms[variant] = times[variant].sort((x, y) => x - y)[Math.floor(runs / 2)]!;
      const got = await jobs[variant].read();
      exact &&= got.every((v, i) => v === want[i]);
    }
  }
  const session = await ort.InferenceSession.create(matMulIntegerModel(shape));
  const feeds = { A: new ort.Tensor("int8", a.data, [m, k]), B: new ort.Tensor("int8", b.data, [k, n]) };
  ms.ort = await medianMs(() => session.run(feeds));
  await session.release();
  ms.ts = await medianMs(() => matMulInteger(a, b), 1, Math.min(runs, 3));
  const gops = {
    tiled: ops / ms.tiled / 1e6,
    naive: ops / ms.naive / 1e6,
    ort: ops / ms.ort / 1e6,
    ts: ops / ms.ts / 1e6,
  };
  rows.push({ shape, gops, ms, packMs, uploadMs, exact });
}

if (json) {
  console.log(JSON.stringify({ adapter: gpu.description, runs, loadAverage: Deno.loadavg(), rows }));
} else {
  const f = (x: number) => x.toFixed(2);
  console.log(
    `int8 GEMM throughput, GOPS = 2MNK/time, median of ${runs} runs; adapter: ${gpu.description}; ` +
      `load average ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}\n`,
  );
  console.log(
    "| M x K x N | tiled | naive | onnxruntime | TS loop | tiled/naive | tiled/ort | tiled/TS | pack + upload ms | exact |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const [m, k, n] = r.shape;
    console.log(
      `| ${m} x ${k} x ${n} | ${f(r.gops.tiled)} | ${f(r.gops.naive)} | ${f(r.gops.ort)} | ${
        f(r.gops.ts)
      } | ` +
        `${f(r.gops.tiled / r.gops.naive)} | ${f(r.gops.tiled / r.gops.ort)} | ${
          f(r.gops.tiled / r.gops.ts)
        } | ` +
        `${f(r.packMs)} + ${f(r.uploadMs)} | ${r.exact ? "yes" : "NO"} |`,
    );
  }
  console.log("\nGPU times exclude packing and upload (last columns); onnxruntime runs on the CPU.");
}
