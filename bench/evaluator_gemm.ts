/**
 * The CPU evaluator's float32 GEMM on the repository models' own matrix products: how long the GEMMs of one
 * evaluation take at the kernel's speed, against the whole evaluation. One observed run of each model
 * records the shape of every MatMul and Conv product (M, K, N and how many of them: batched attention
 * products count once per batch element); then the same products run through `gemm` / `gemmView` on random
 * data, the fastest of `--runs` rounds.
 *
 *   deno run -A bench/evaluator_gemm.ts [--runs N] [--only NAME] [--kernel]
 *
 * `--kernel` times the micro-kernel alone on packed operands in cache (typical blocks of these models) and a
 * register-only loop of its f32x4 mul + add pairs, its ceiling (`_gemm_kernel.ts`).
 *
 * Prints per model: GEMM FLOPs (2 M K N summed), the time of all its GEMMs (fastest round, wall and process
 * CPU time) and their GFLOP/s. Compare the time with onnxruntime's one-thread time from bench/evaluator.ts:
 * it bounds what the evaluator can reach.
 * @module
 */
import process from "node:process";
import { decodeModel } from "../onnx/codec.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import { gemm, gemmView, residentB } from "../onnx/evaluate/ops/_gemm.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import { kernelGflops, registerGflops } from "./_gemm_kernel.ts";

const ROOT = new URL("../", import.meta.url);
const path = (p: string) => new URL(p, ROOT).pathname;

const CASES = [
  { name: "byte-lm-opt", data: "testdata/lm-eval.txt", batch: 1 },
  { name: "byte-lm-llama", data: "testdata/lm-eval.txt", batch: 1 },
  { name: "segmenter-tiny", data: "testdata/segmenter-tiny-eval", batch: 8 },
  { name: "segmenter-base", data: "testdata/segmenter-base-eval", batch: 8 },
];

/** One product shape: `count` GEMMs of M x K by K x N, B a constant (packed once) or not. */
interface Product {
  M: number;
  K: number;
  N: number;
  count: number;
  constB: boolean;
}

function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const runs = Number(flag("runs") ?? 5), only = flag("only");
const size = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);

if (Deno.args.includes("--kernel")) {
  // the micro-kernel alone, operands in cache, on the repository models' typical blocks; and its ceiling
  console.log("| block (K x rows x columns) | kernel GFLOP/s |");
  console.log("|---|--:|");
  const blocks: [number, number, number][] = [
    [224, 26, 28],
    [576, 26, 28],
    [224, 26, 72],
    [96, 104, 12],
    [32, 26, 16],
    [128, 26, 4],
  ];
  for (const [K, np, nq] of blocks) {
    console.log(`| ${K} x ${np * 5} x ${nq * 8} | ${kernelGflops(K, np, nq, 10 * runs).toFixed(1)} |`);
  }
  console.log(`| register-only f32x4 mul + add (no loads) | ${registerGflops(1e6, 5 * runs).toFixed(1)} |`);
  Deno.exit(0);
}

console.log("| model | GEMM GFLOP | GEMM time (ms) | GFLOP/s | GEMM CPU time (ms) | GFLOP per CPU second |");
console.log("|---|--:|--:|--:|--:|--:|");
for (const c of CASES) {
  if (only !== undefined && !c.name.includes(only)) continue;
  const model = decodeModel(await Deno.readFile(path(`testdata/${c.name}.onnx`)));
  const inputName = model.graph.inputs[0]!.name;
  const data = await openDataSource(path(c.data), { inputName, maxSamples: c.batch });
  let feeds: Record<string, Tensor> | undefined;
  for await (const b of data.batches(c.batch)) feeds = b;
  const vals = new Map<string, Tensor>(Object.entries(feeds!));
  const products: Product[] = [];
  evaluateModel(model, feeds!, {
    onValue: (v, t) => {
      vals.set(v.name, t);
      const n = v.producer!;
      const ins = n.inputs.map((x) => x && (x.const ?? vals.get(x.name)));
      if (n.opType === "MatMul" && v === n.outputs[0] && ins[0] && ins[1]) {
        const a = ins[0].dims, b = ins[1].dims;
        const M = a[a.length - 2] ?? 1, K = a[a.length - 1]!, N = b[b.length - 1]!;
        products.push({ M, K, N, count: size(t.dims) / (M * N), constB: n.inputs[1]!.const !== undefined });
      } else if (n.opType === "Conv" && v === n.outputs[0] && ins[1]) {
        // im2col: M = output channels per group, K = input channels per group x kernel, N = output pixels
        const w = ins[1].dims, group = n.a.int("group", 1), out = t.dims;
        products.push({
          M: w[0]! / group,
          K: size(w.slice(1)),
          N: size(out.slice(2)),
          count: out[0]! * group,
          constB: false,
        });
      }
    },
  });
  const prepared = products.map((p) => {
    const A = Float32Array.from({ length: p.M * p.K }, () => Math.random() * 2 - 1);
    const B = Float32Array.from({ length: p.K * p.N }, () => Math.random() * 2 - 1);
    const bv = { data: B, off: 0, rs: p.N, cs: 1 };
    return {
      ...p,
      A,
      bv,
      packed: p.constB ? residentB(bv, p.K, p.N) : undefined, // as the evaluator keeps weights
      C: new Float32Array(p.M * p.N),
    };
  });
  const round = () => {
    for (const p of prepared) {
      const av = { data: p.A, off: 0, rs: p.K, cs: 1 };
      for (let i = 0; i < p.count; i++) {
        if (p.packed) gemm(p.M, av, p.packed, p.C, 0, p.N);
        else gemmView(p.M, av, p.bv, p.K, p.N, p.C, 0, p.N);
      }
    }
  };
  round();
  let best = Infinity, bestCpu = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    round();
    const c = process.cpuUsage(c0);
    best = Math.min(best, performance.now() - t0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
  }
  const flop = products.reduce((s, p) => s + 2 * p.M * p.K * p.N * p.count, 0);
  console.log(
    `| ${c.name} | ${(flop / 1e9).toFixed(3)} | ${best.toFixed(1)} | ${(flop / best / 1e6).toFixed(1)} | ` +
      `${bestCpu.toFixed(1)} | ${(flop / bestCpu / 1e6).toFixed(1)} |`,
  );
}
