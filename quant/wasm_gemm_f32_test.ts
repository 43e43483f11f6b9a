import { assert, assertEquals } from "@std/assert";
import { gemmF32Scalar, MR, NR, wasmGemmF32 } from "./wasm_gemm_f32.ts";
import { mulberry32 } from "./_rng.ts";

const w = wasmGemmF32!;
const heap = (bytes: number): Float32Array => {
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float32Array(w.memory.buffer);
};
const rand = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
};

Deno.test("wasm_gemm_f32: the SIMD kernel is available and gives the scalar kernel's bits", () => {
  assert(wasmGemmF32 !== undefined, "WebAssembly SIMD is available in Deno");
  // K below, at and past the 4-step unrolled loop, with each remainder 0-3
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [2, 1, 3],
    [1, 2, 6],
    [3, 2, 37],
    [2, 5, 256],
    [1, 1, 0],
    [4, 3, 1000],
    [2, 2, 43],
  ];
  for (const [np, nq, K] of shapes) {
    const A = rand(np * K * MR, K + np), B = rand(nq * K * NR, 3 * K + nq);
    if (K >= 37) A[0] = -0, A[1] = 3e38, B[1] = 2, A[2] = 1e-30, B[2] = 1e-10; // -0, overflow, denormal
    for (const N of [nq * NR + 3, nq * NR, nq * NR - 5]) { // wider C, exact, compact with spill
      if (N <= (nq - 1) * NR) continue;
      const want = new Float32Array(np * MR * (nq * NR + 3));
      gemmF32Scalar(A, 0, B, 0, want, 0, K, np, nq, nq * NR + 3);
      const cF = A.length + B.length, H = heap((cF + np * MR * N + 8) * 4);
      H.set(B, 0);
      H.set(A, B.length);
      H.fill(NaN, cF, cF + np * MR * N + 8);
      w.gemm(B.length * 4, 0, cF * 4, K, np, nq, N * 4);
      for (let r = 0; r < np * MR; r++) {
        for (let j = 0; j < Math.min(N, nq * NR); j++) {
          const g = H[cF + r * N + j]!, e = want[r * (nq * NR + 3) + j]!;
          assert(Object.is(g, e), `np=${np} nq=${nq} K=${K} ldc=${N} C[${r}, ${j}] = ${g}, expected ${e}`);
        }
      }
    }
  }
});

Deno.test("wasm_gemm_f32: pack gathers strided matrices into panels (partial last panel left to the caller)", () => {
  const cases: [number, number, number, boolean][] = [
    [7, 3, MR, false],
    [17, 4, NR, false],
    [16, 5, NR, true],
    [3, 2, NR, true],
    [10, 6, MR, true], // whole MR-row panels (the unrolled path), strided
    [13, 3, NR, false], // a last panel of exactly MR rows in 8-wide panels
  ];
  for (const [I, J, W, trans] of cases) {
    const X = Float32Array.from({ length: I * J }, (_, i) => i + 1);
    const si = trans ? 4 : J * 4, sj = trans ? I * 4 : 4; // row-major I x J, or stored transposed
    const dst = X.length + 4, panels = Math.ceil(I / W) * J * W;
    const H = heap((dst + panels) * 4);
    H.set(X, 0);
    H.fill(0, dst, dst + panels);
    w.pack(0, dst * 4, I, J, si, sj, W);
    for (let i = 0; i < Math.ceil(I / W) * W; i++) {
      for (let j = 0; j < J; j++) {
        const want = i < I ? X[trans ? j * I + i : i * J + j]! : 0;
        assertEquals(
          H[dst + Math.floor(i / W) * J * W + j * W + (i % W)],
          want,
          `I=${I} J=${J} (${i}, ${j})`,
        );
      }
    }
  }
});

Deno.test("wasm_gemm_f32: addRows adds the bias row with float32 rounding (quads and a tail)", () => {
  for (const [rows, N] of [[3, 7], [2, 8], [5, 1], [1, 13]] as [number, number][]) {
    const C = rand(rows * N, N), bias = rand(N, 2 * N).map((v) => v * 1e-4);
    const H = heap((C.length + N + 4) * 4);
    H.set(C, 0);
    H.set(bias, C.length);
    w.addRows(0, C.length * 4, rows, N, N * 4, 0);
    const want = C.map((v, i) => Math.fround(v + bias[i % N]!));
    assertEquals(H.slice(0, C.length), want, `rows=${rows} N=${N}`);
  }
});

Deno.test("wasm_gemm_f32: addRows with a bias matrix (row stride) and mulRows by a scalar round as Add and Mul", () => {
  for (const [rows, N] of [[3, 7], [2, 8], [5, 1], [4, 13]] as [number, number][]) {
    const C = rand(rows * N, N), bias = rand(rows * N, 3 * N), s = Math.fround(0.1767766952966369);
    const H = heap((2 * C.length + 8) * 4);
    H.set(C, 0);
    H.set(bias, C.length);
    w.addRows(0, C.length * 4, rows, N, N * 4, N * 4);
    assertEquals(
      H.slice(0, C.length),
      C.map((v, i) => Math.fround(v + bias[i]!)),
      `matrix rows=${rows} N=${N}`,
    );
    H.set(C, 0);
    H[2 * C.length] = s;
    w.mulRows(0, 2 * C.length * 4, rows, N, N * 4);
    assertEquals(H.slice(0, C.length), C.map((v) => Math.fround(v * s)), `mul rows=${rows} N=${N}`);
    H.set(C, 0);
    w.mulMatRows(0, C.length * 4, rows, N, N * 4, N * 4);
    assertEquals(
      H.slice(0, C.length),
      C.map((v, i) => Math.fround(v * bias[i]!)),
      `mul matrix rows=${rows} N=${N}`,
    );
  }
});
