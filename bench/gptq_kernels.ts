/**
 * GPTQ's float64 hot loops, JavaScript vs the WebAssembly SIMD kernels of quant/f64_kernels.ts (issue 17,
 * items 2 and 3): the factor of a damped `K x K` Hessian (Cholesky + triangular inverse, `prepareGptq`) and
 * the column loop with its lazy batch update (`runGptq`, K x N weight, 4-bit-like rounding), each timed both
 * ways on the same input and checked bit-identical.
 *
 *   nice -n 10 deno run -A bench/gptq_kernels.ts [--k 1536] [--n 1536] [--json]
 *
 * A full-width OPT block's largest layer is fc2, K = 6144, N = 1536 (`--k 6144`: the JavaScript factor alone
 * takes minutes there).
 * @module
 */
import { numArg } from "./_cases.ts";
import { prepareGptq, type QuantizeRow, runGptq } from "../quant/gptq.ts";
import { GramAccumulator } from "../quant/gram.ts";
import { mulberry32 } from "../quant/_rng.ts";

const K = numArg(Deno.args, "--k", 1536), N = numArg(Deno.args, "--n", 1536);
const rnd = mulberry32(1);
const rows = K + 64; // a full-rank Gram matrix, as calibration on more tokens than features gives
const g = new GramAccumulator(K);
g.add(Float32Array.from({ length: rows * K }, () => rnd() - 0.5), rows);
const h = g.takeMean();
const w0 = Float64Array.from({ length: K * N }, () => (rnd() - 0.5) * 0.04);
const q: QuantizeRow = (k, w, d) => {
  for (let n = 0; n < N; n++) d[k * N + n] = Math.round(w[k * N + n]! * 400) / 400;
};

const time = <T>(f: () => T): [T, number] => {
  const t0 = performance.now();
  const r = f();
  return [r, (performance.now() - t0) / 1000];
};
const run = (scalar: boolean) => {
  const w = w0.slice();
  const [plan, factorS] = time(() => prepareGptq(w, K, N, h, { scalar }));
  const [deq, loopS] = time(() => runGptq(w, K, N, plan, q, { scalar }));
  return { u: plan.u!, w, deq, factorS, loopS };
};
const wasm = run(false);
const js = run(true);
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return a.length === b.length;
};
const row = {
  K,
  N,
  factor: { jsS: js.factorS, wasmS: wasm.factorS, bitIdentical: same(js.u, wasm.u) },
  loop: { jsS: js.loopS, wasmS: wasm.loopS, bitIdentical: same(js.w, wasm.w) && same(js.deq, wasm.deq) },
};
if (Deno.args.includes("--json")) console.log(JSON.stringify(row));
else {
  console.log("| K x N | step | JavaScript | WebAssembly SIMD | speed-up | bit-identical |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (
    const [name, r] of [["factor (Cholesky + inverse)", row.factor], [
      "column loop + lazy update",
      row.loop,
    ]] as const
  ) {
    console.log(
      `| ${K} x ${N} | ${name} | ${r.jsS.toFixed(2)} s | ${r.wasmS.toFixed(2)} s | ${
        (r.jsS / r.wasmS).toFixed(1)
      }x | ${r.bitIdentical ? "yes" : "NO"} |`,
    );
  }
}
if (!row.factor.bitIdentical || !row.loop.bitIdentical) Deno.exit(1);
