/**
 * The Gram accumulator's fold (quant/gram.ts; the Hessians of GPTQ / ShiftAdd and DenseShift's statistics):
 * the same rows as a Float32Array (the fused multiply-add kernel, quant/wasm_gemm.ts `exactPanel`) and as a
 * Float64Array (the multiply-and-add kernel `panel`), timed on one input and checked bit-identical (float32
 * values: every product is exact in double, so fusing changes no bit).
 *
 *   nice -n 10 deno run -A bench/gram.ts [--k 1024] [--rows 8192] [--reps 4] [--json]
 * @module
 */
import { numArg } from "./_cases.ts";
import { GramAccumulator } from "../quant/gram.ts";
import { wasmGemm } from "../quant/wasm_gemm.ts";
import { mulberry32 } from "../quant/_rng.ts";

const K = numArg(Deno.args, "--k", 1024), ROWS = numArg(Deno.args, "--rows", 8192);
const reps = numArg(Deno.args, "--reps", 4);
const rnd = mulberry32(1);
const x32 = Float32Array.from({ length: ROWS * K }, () => rnd() - 0.5);
const x64 = Float64Array.from(x32);
const BATCH = 1024; // rows per add, as a calibration batch of 8 windows of 128 tokens

function fold(x: Float32Array | Float64Array): [Float64Array, number] {
  const t0 = performance.now();
  const g = new GramAccumulator(K);
  for (let r = 0; r < ROWS; r += BATCH) {
    const n = Math.min(BATCH, ROWS - r);
    g.add(x.subarray(r * K, (r + n) * K), n);
  }
  const h = g.takeMean();
  return [h, performance.now() - t0];
}

const t32: number[] = [], t64: number[] = [];
let same = true;
for (let i = 0; i < reps; i++) {
  const [a, ta] = fold(x32), [b, tb] = fold(x64);
  t32.push(ta), t64.push(tb);
  same &&= a.every((v, j) => Object.is(v, b[j]));
}
const best = (t: number[]) => Math.min(...t);
const macs = (ROWS * K * (K + 1)) / 2;
const result = {
  k: K,
  rows: ROWS,
  fused: wasmGemm?.fused ?? false,
  float32RowsMs: best(t32),
  float64RowsMs: best(t64),
  gmacPerS: macs / best(t32) / 1e6,
  bitIdentical: same,
};
if (Deno.args.includes("--json")) console.log(JSON.stringify(result));
else {
  console.log(
    `k ${K}, ${ROWS} rows: float32 rows ${result.float32RowsMs.toFixed(0)} ms (${
      result.fused ? "fused multiply-add" : "no relaxed SIMD: multiply and add"
    }, ${result.gmacPerS.toFixed(1)} G multiply-adds/s), float64 rows ${
      result.float64RowsMs.toFixed(0)
    } ms (multiply and add); Hessians bit-identical: ${same}`,
  );
}
if (!same) Deno.exit(1);
