import { assert, assertEquals } from "@std/assert";
import { wasmGemm, wasmHeap } from "./wasm_gemm.ts";
import { mulberry32 } from "./_rng.ts";

/**
 * Run one kernel on an A panel and `nq` B panels of `K` steps filled by `fill`, returning the 4 x 4nq sums.
 */
function run(
  kernel: "panel" | "exactPanel",
  K: number,
  nq: number,
  fill: (i: number) => number,
): Float64Array {
  const w = wasmGemm!;
  const a = K * 4, b = nq * K * 4, c = 4 * nq * 4;
  const H = wasmHeap(w, (a + b + c) * 8);
  for (let i = 0; i < a + b; i++) H[i] = fill(i);
  w[kernel](0, a * 8, (a + b) * 8, K, nq, nq * 4 * 8);
  return H.slice(a + b, a + b + c);
}

/** The in-order sums the kernels define: C[r, 4q + c] = sum over k of A[k, r] B_q[k, c], multiply then add. */
function reference(K: number, nq: number, fill: (i: number) => number): Float64Array {
  const out = new Float64Array(4 * nq * 4);
  for (let r = 0; r < 4; r++) {
    for (let q = 0; q < nq; q++) {
      for (let c = 0; c < 4; c++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += fill(k * 4 + r) * fill(K * 4 + q * K * 4 + k * 4 + c);
        out[r * nq * 4 + q * 4 + c] = s;
      }
    }
  }
  return out;
}

Deno.test("wasm_gemm: relaxed SIMD is there in Deno, and the fused kernel gives the multiply-add bits on float32 values", () => {
  assert(wasmGemm !== undefined, "WebAssembly SIMD is available in Deno");
  assert(wasmGemm.fused, "relaxed SIMD (f64x2.relaxed_madd) is available in Deno");
  const r = mulberry32(3);
  // float32 values of mixed signs and exponents: every product is exact in double
  const vals = Float32Array.from({ length: 4096 }, () => (r() - 0.5) * 2 ** Math.floor(r() * 40 - 20));
  const fill = (i: number) => vals[i % vals.length]!;
  for (const [K, nq] of [[1, 1], [7, 3], [64, 5], [256, 2]] as const) {
    const want = reference(K, nq, fill);
    assertEquals(run("panel", K, nq, fill), want, `panel K=${K} nq=${nq}`);
    assertEquals(run("exactPanel", K, nq, fill), want, `exactPanel K=${K} nq=${nq}`);
  }
});

Deno.test("wasm_gemm: the fused kernel really fuses (a product that is not exact in double rounds once)", () => {
  // C[0, 0] = A[0, 0] B[0, 0] + A[1, 0] B[1, 0] over K = 2 steps (A[k, r] at 4 k + r, B[k, c] at 8 + 4 k + c):
  // -(1 + 2^-29), then x x with x = 1 + 2^-30, whose exact value 1 + 2^-29 + 2^-60 a multiply rounds to
  // 1 + 2^-29 (sum 0), and a fused multiply-add keeps against the sum (2^-60)
  const x = 1 + 2 ** -30;
  const at: Record<number, number> = { 0: -1, 4: x, 8: 1 + 2 ** -29, 12: x };
  const fill = (i: number) => at[i] ?? 0;
  assertEquals(run("panel", 2, 1, fill)[0], 0, "multiply then add: the 2^-60 is rounded away");
  assertEquals(reference(2, 1, fill)[0], 0);
  assertEquals(run("exactPanel", 2, 1, fill)[0], wasmGemm!.fused ? 2 ** -60 : 0, "fused: rounded once");
});
