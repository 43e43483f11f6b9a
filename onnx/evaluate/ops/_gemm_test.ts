import { assertEquals } from "@std/assert";
import { gemm, packB } from "./_gemm.ts";
import { wasmGemm } from "../../../quant/wasm_gemm.ts";

/** Deterministic values in [-1, 1) with float32 precision. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** The documented arithmetic: each output summed in double over k = 0..K-1 in order (not yet rounded). */
function reference(M: number, N: number, K: number, A: Float32Array, B: Float32Array, trA: boolean) {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (trA ? A[k * M + i]! : A[i * K + k]!) * B[k * N + j]!;
      C[i * N + j] = s;
    }
  }
  return C;
}

Deno.test("gemm: bit-identical to the in-order double sum, edge tiles, strides and accumulate", () => {
  const shapes = [[1, 1, 1], [3, 5, 7], [4, 4, 4], [5, 9, 2], [17, 33, 65], [64, 70, 300], [2, 2100, 5], [
    6,
    3,
    0,
  ]];
  for (const [M, N, K] of shapes as [number, number, number][]) {
    const A = values(M * K, M + 7 * N), B = values(K * N, K + 3);
    for (const trA of [false, true]) {
      const a = trA ? { data: A, off: 0, rs: 1, cs: M } : { data: A, off: 0, rs: K, cs: 1 };
      const C = new Float32Array(M * N);
      gemm(M, a, packB({ data: B, off: 0, rs: N, cs: 1 }, K, N), C, 0, N);
      const want = reference(M, N, K, A, B, trA);
      assertEquals(C, new Float32Array(want), `M=${M} N=${N} K=${K} transA=${trA}`);
      // accumulate adds the double sum to what is there and rounds once
      const D = values(M * N, 99);
      const acc = new Float32Array(D);
      gemm(M, a, packB({ data: B, off: 0, rs: N, cs: 1 }, K, N), acc, 0, N, true);
      assertEquals(acc, D.map((d, i) => Math.fround(d + want[i]!)), `accumulate M=${M} N=${N} K=${K}`);
    }
  }
});

Deno.test("gemm: writes only its block of a wider C (offset and leading dimension)", () => {
  const M = 5, N = 6, K = 9, ldc = 11, cOff = 13;
  const A = values(M * K, 1), B = values(K * N, 2);
  const C = new Float32Array(cOff + M * ldc).fill(7);
  gemm(M, { data: A, off: 0, rs: K, cs: 1 }, packB({ data: B, off: 0, rs: N, cs: 1 }, K, N), C, cOff, ldc);
  const want = reference(M, N, K, A, B, false);
  for (let i = 0; i < C.length; i++) {
    const r = Math.floor((i - cOff) / ldc), c = (i - cOff) % ldc;
    const inside = i >= cOff && r < M && c < N;
    assertEquals(C[i], inside ? Math.fround(want[r * N + c]!) : 7, `element ${i}`);
  }
});

Deno.test("gemm: the WebAssembly SIMD kernel is available in Deno", () => {
  assertEquals(wasmGemm !== undefined, true);
});
