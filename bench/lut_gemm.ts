/**
 * ShiftAdd LUT GEMM (kernels/lut_gemm.ts) at 2/3/4 bit planes versus the float32 GEMM kernel
 * (kernels/gemm_f32.ts) on the same WebGPU adapter and the same shapes: M=128, K=N=1024 and the byte-level
 * LM's linear layers (seq 128, d 256, MLP 1024).
 *
 *   deno run -A bench/lut_gemm.ts [--json] [--runs N] [--shapes 128x1024x1024,128x256x256] [--group 128]
 *
 * GOPS-equivalent = 2*M*N*K / time (the multiply-adds of the dense GEMM the op replaces). Each timing is the
 * median of `--runs` runs after one warm-up, several dispatches per submission, upload excluded. The LUT
 * results are checked bit for bit against quant/ `shiftAddMatMulRef` on the first rows.
 * @module
 */

import { gemmF32Pipeline } from "../kernels/gemm_f32.ts";
import { BufferScope, encodeDispatch, getGpu } from "../kernels/gpu.ts";
import { prepareLutGemm } from "../kernels/lut_gemm.ts";
import { defineStruct } from "../kernels/wgsl.ts";
import { shiftAddMatMulRef } from "../quant/shiftadd_matmul.ts";
import type { ShiftAddPacked } from "../quant/shiftadd_pack.ts";

type Shape = [number, number, number];
const DEFAULT_SHAPES: Shape[] = [[128, 1024, 1024], [128, 256, 768], [128, 256, 1024], [128, 1024, 256], [
  128,
  256,
  256,
]];

function argValue(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const json = Deno.args.includes("--json");
const runs = Number(argValue("--runs") ?? 5);
const groupSize = Number(argValue("--group") ?? 128);
const shapes: Shape[] = argValue("--shapes")?.split(",").map((s) => s.split("x").map(Number) as Shape) ??
  DEFAULT_SHAPES;

let seed = 12345;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}

function randomPacked(k: number, n: number, q: number): ShiftAddPacked {
  const J = Math.ceil(k / 8), G = Math.ceil(k / groupSize), T = 3;
  const planes = Uint8Array.from({ length: q * n * J }, () => Math.floor(rand() * 256));
  const alphaExp = new Int8Array(q * n * G), alphaTerms = new Uint8Array(q * n * G);
  for (let a = 0; a < q * n * G; a++) {
    const e = -Math.floor(rand() * 8);
    alphaExp[a] = e; // terms e, e - 2, e - 5: gaps 2 and 3
    alphaTerms[a] = 2 | (3 << 4);
  }
  return {
    k,
    n,
    bits: q,
    groupSize,
    terms: T,
    mode: "accuracy",
    planes,
    alphaExp,
    alphaTerms,
  };
}

async function medianMs(fn: () => Promise<unknown>, per: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / per);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** The float32 GEMM prepared for repeated dispatches (gemm_f32.ts's uniform layout: M, N, K). */
async function prepareF32(m: number, k: number, n: number) {
  const { device } = await getGpu();
  const scope = new BufferScope(device);
  const P = defineStruct("Params", { M: "u32", N: "u32", K: "u32" });
  const a = Float32Array.from({ length: m * k }, () => rand() - 0.5);
  const b = Float32Array.from({ length: k * n }, () => rand() - 0.5);
  const cmd = encodeDispatch(device, {
    pipeline: await gemmF32Pipeline(),
    buffers: [
      scope.storage(a),
      scope.storage(b),
      scope.storage(m * n * 4),
      scope.uniform(P.pack({ M: m, N: n, K: k })),
    ],
    workgroups: [Math.ceil(n / 64), Math.ceil(m / 64)],
  });
  return {
    async run(repeat: number) {
      device.queue.submit(Array.from({ length: repeat }, cmd));
      await device.queue.onSubmittedWorkDone();
    },
    destroy: () => scope.destroy(),
  };
}

interface Row {
  shape: Shape;
  f32: { ms: number; gops: number };
  lut: { bits: number; ms: number; gops: number; ratio: number; exact: boolean }[];
}

const gpu = await getGpu();
const rows: Row[] = [];
for (const shape of shapes) {
  const [m, k, n] = shape;
  const ops = 2 * m * n * k;
  const repeat = Math.max(1, Math.min(20, Math.round(5e8 / ops)));
  const f32 = await prepareF32(m, k, n);
  const f32Ms = await medianMs(() => f32.run(repeat), repeat);
  f32.destroy();
  const row: Row = { shape, f32: { ms: f32Ms, gops: ops / f32Ms / 1e6 }, lut: [] };
  for (const q of [2, 3, 4]) {
    const x = { data: Float32Array.from({ length: m * k }, () => rand() - 0.5), dims: [m, k] };
    const packed = randomPacked(k, n, q);
    using job = await prepareLutGemm(x, packed);
    const ms = await medianMs(() => job.run(repeat), repeat);
    const got = await job.read();
    const head = { data: x.data.subarray(0, 2 * k), dims: [2, k] };
    const want = shiftAddMatMulRef(head, packed).data;
    const exact = want.every((v, i) => Object.is(v, got[i]));
    const gops = ops / ms / 1e6;
    row.lut.push({ bits: q, ms, gops, ratio: gops / row.f32.gops, exact });
  }
  rows.push(row);
}

if (json) {
  console.log(JSON.stringify({ adapter: gpu.description, runs, groupSize, rows }));
} else {
  const f = (x: number) => x.toFixed(2);
  console.log(
    `ShiftAdd LUT GEMM vs float32 GEMM, GOPS-equivalent = 2MNK/time, median of ${runs} runs, group size ${groupSize}; adapter: ${gpu.description}\n`,
  );
  console.log(
    "| M x K x N | f32 GEMM | LUT 2-bit | LUT 3-bit | LUT 4-bit | 2-bit / f32 | 3-bit / f32 | 4-bit / f32 | bit-exact |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const [m, k, n] = r.shape;
    console.log(
      `| ${m} x ${k} x ${n} | ${f(r.f32.gops)} | ${r.lut.map((l) => f(l.gops)).join(" | ")} | ${
        r.lut.map((l) => f(l.ratio)).join(" | ")
      } | ${r.lut.every((l) => l.exact) ? "yes" : "NO"} |`,
    );
  }
}
