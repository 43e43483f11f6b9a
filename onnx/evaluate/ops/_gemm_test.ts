import { assert, assertEquals } from "@std/assert";
import { gemm, gemmBatch, gemmView, packB, residentB } from "./_gemm.ts";
import { GemmMemory } from "./_gemm_memory.ts";
import { wasmGemmF32 } from "../../../quant/wasm_gemm_f32.ts";

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

/** The documented arithmetic: each output summed over k = 0..K-1 in order, products and sums in float32. */
function reference32(M: number, N: number, K: number, A: Float32Array, B: Float32Array, trA: boolean) {
  const C = new Float32Array(M * N), f = Math.fround;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s = f(s + f((trA ? A[k * M + i]! : A[i * K + k]!) * B[k * N + j]!));
      C[i * N + j] = s;
    }
  }
  return C;
}

/** The exact dot products (float64: float32 products are exact) and sum_k |a_k b_k|. */
function reference64(M: number, N: number, K: number, A: Float32Array, B: Float32Array) {
  const C = new Float64Array(M * N), abs = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, t = 0;
      for (let k = 0; k < K; k++) {
        const p = A[i * K + k]! * B[k * N + j]!;
        s += p, t += Math.abs(p);
      }
      C[i * N + j] = s, abs[i * N + j] = t;
    }
  }
  return { C, abs };
}

// odd sizes, tiles cut at every edge (M % 6, N % 8), K = 0 and 1, a block boundary of packed A (M = 2100 rows
// of K = 5 fit one block; K = 300 splits M = 70 into blocks of 18 panels... every M > 108 rows splits)
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [6, 8, 4],
  [7, 9, 2],
  [17, 33, 65],
  [64, 70, 300],
  [2, 2100, 5],
  [2100, 3, 5],
  [130, 17, 400],
  [6, 3, 0],
];

Deno.test("gemm: bit-identical to the in-order float32 sum, edge tiles, strides and accumulate", () => {
  for (const [M, N, K] of SHAPES) {
    const A = values(M * K, M + 7 * N), B = values(K * N, K + 3);
    const BT = new Float32Array(K * N); // B stored transposed (N x K), read through a strided view
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) BT[j * K + k] = B[k * N + j]!;
    for (const trA of [false, true]) {
      const a = trA ? { data: A, off: 0, rs: 1, cs: M } : { data: A, off: 0, rs: K, cs: 1 };
      const want = reference32(M, N, K, A, B, trA);
      for (const trB of [false, true]) {
        const bv = trB ? { data: BT, off: 0, rs: 1, cs: K } : { data: B, off: 0, rs: N, cs: 1 };
        const C = new Float32Array(M * N);
        gemm(M, a, packB(bv, K, N), C, 0, N);
        assertEquals(C, want, `M=${M} N=${N} K=${K} transA=${trA} transB=${trB}`);
        // B packed once into the kernel memory and read there in place
        const R = new Float32Array(M * N).fill(NaN), rb = residentB(bv, K, N);
        assert(rb.at !== undefined && rb.data === undefined, "resident where WebAssembly runs");
        gemm(M, a, rb, R, 0, N);
        assertEquals(R, want, `resident M=${M} N=${N} K=${K} transA=${trA} transB=${trB}`);
        // B packed on the fly (in WebAssembly) from the view
        const V = new Float32Array(M * N).fill(NaN);
        gemmView(M, a, bv, K, N, V, 0, N);
        assertEquals(V, want, `gemmView M=${M} N=${N} K=${K} transA=${trA} transB=${trB}`);
        // with a bias row: the float32 product plus the bias, rounded again (a separate Add's bits)
        const bias = values(N, 17 + N), withBias = want.map((v, i) => Math.fround(v + bias[i % N]!));
        const P = new Float32Array(M * N), Q = new Float32Array(M * N);
        gemm(M, a, packB(bv, K, N), P, 0, N, false, bias);
        gemmView(M, a, bv, K, N, Q, 0, N, bias);
        assertEquals(P, withBias, `bias M=${M} N=${N} K=${K}`);
        assertEquals(Q, withBias, `gemmView bias M=${M} N=${N} K=${K}`);
      }
      // accumulate adds the float32 sum to what is there and rounds once
      const D = values(M * N, 99);
      const acc = new Float32Array(D);
      gemm(M, a, packB({ data: B, off: 0, rs: N, cs: 1 }, K, N), acc, 0, N, true);
      assertEquals(acc, D.map((d, i) => Math.fround(d + want[i]!)), `accumulate M=${M} N=${N} K=${K}`);
    }
  }
});

Deno.test("gemm: within gamma(K) * sum|a b| of the exact dot product (float64 reference)", () => {
  const u = 2 ** -24;
  for (const [M, N, K] of [...SHAPES, [40, 24, 4096] as [number, number, number]]) {
    // values with a wide dynamic range and sign changes, so sums cancel
    const A = values(M * K, 5 + M).map((v, i) => v * 2 ** ((i % 7) - 3));
    const B = values(K * N, 11 + N).map((v, i) => v * 2 ** ((i % 5) - 2));
    const C = new Float32Array(M * N);
    gemm(M, { data: A, off: 0, rs: K, cs: 1 }, packB({ data: B, off: 0, rs: N, cs: 1 }, K, N), C, 0, N);
    const { C: exact, abs } = reference64(M, N, K, A, B);
    const gamma = (K * u) / (1 - K * u);
    let worst = 0;
    for (let i = 0; i < M * N; i++) {
      const err = Math.abs(C[i]! - exact[i]!);
      assert(
        err <= gamma * abs[i]!,
        `M=${M} N=${N} K=${K} [${i}]: |${C[i]} - ${exact[i]}| > ${gamma * abs[i]!}`,
      );
      worst = Math.max(worst, abs[i]! ? err / (gamma * abs[i]!) : 0);
    }
    // float32 accumulation is not exact: the bound is used, not vacuous, on the long sums
    if (K === 4096) assert(worst > 1e-4, `worst error / bound ${worst}`);
  }
});

Deno.test("gemm: operands at offsets inside larger arrays; writes only its block of a wider C", () => {
  const M = 7, N = 6, K = 9, ldc = 11, cOff = 13, aOff = 5, bOff = 3;
  const A = values(M * K, 1), B = values(K * N, 2);
  // A and B stored at an offset, with 2 unused elements after each row, inside arrays with more after them
  const As = new Float32Array(aOff + M * (K + 2) + 9).fill(NaN),
    Bs = new Float32Array(bOff + K * (N + 2) + 9);
  for (let i = 0; i < M; i++) As.set(A.subarray(i * K, i * K + K), aOff + i * (K + 2));
  for (let k = 0; k < K; k++) Bs.set(B.subarray(k * N, k * N + N), bOff + k * (N + 2));
  const a = { data: As, off: aOff, rs: K + 2, cs: 1 }, b = { data: Bs, off: bOff, rs: N + 2, cs: 1 };
  const want = reference32(M, N, K, A, B, false);
  for (const packed of [true, false]) {
    const C = new Float32Array(cOff + M * ldc).fill(7);
    if (packed) gemm(M, a, packB(b, K, N), C, cOff, ldc);
    else gemmView(M, a, b, K, N, C, cOff, ldc);
    for (let i = 0; i < C.length; i++) {
      const r = Math.floor((i - cOff) / ldc), c = (i - cOff) % ldc;
      const inside = i >= cOff && r < M && c < N;
      assertEquals(C[i], inside ? want[r * N + c]! : 7, `packed=${packed} element ${i}`);
    }
  }
});

Deno.test("gemm: resident operands stay intact across other calls' scratch use; freed blocks are reused", () => {
  // two resident weights, then a large on-the-fly product whose scratch area lies above them
  const K = 37, N = 19, M = 11;
  const B1 = values(K * N, 3), B2 = values(K * N, 4), A = values(M * K, 5);
  const v1 = { data: B1, off: 0, rs: N, cs: 1 }, v2 = { data: B2, off: 0, rs: N, cs: 1 };
  const r1 = residentB(v1, K, N), r2 = residentB(v2, K, N);
  const big = values(300 * 400, 6), bigB = values(400 * 50, 7), out = new Float32Array(300 * 50);
  gemmView(
    300,
    { data: big, off: 0, rs: 400, cs: 1 },
    { data: bigB, off: 0, rs: 50, cs: 1 },
    400,
    50,
    out,
    0,
    50,
  );
  const a = { data: A, off: 0, rs: K, cs: 1 };
  for (const [r, B] of [[r1, B1], [r2, B2]] as const) {
    const C = new Float32Array(M * N);
    gemm(M, a, r, C, 0, N);
    assertEquals(C, reference32(M, N, K, A, B, false));
  }
  // the allocator: first fit from the free list, neighbours merged, a free top range lowers the scratch start
  const mem = new GemmMemory(wasmGemmF32!);
  const x = mem.alloc(100), y = mem.alloc(64), z = mem.alloc(1000);
  assertEquals([x, y, z], [0, 128, 192]);
  assertEquals(mem.scratch, 192 + 1024);
  mem.free(y, 64);
  assertEquals(mem.alloc(10), 128); // reused
  mem.free(128, 10);
  mem.free(x, 100); // merges with 128..191 into 0..191
  assertEquals(mem.alloc(150), 0);
  mem.free(0, 150);
  mem.free(z, 1000); // everything free: the scratch area starts at 0 again
  assertEquals(mem.scratch, 0);
});

Deno.test("gemmBatch: heads read by strides from one tensor, stored transposed, with each epilogue", () => {
  // X [T, H, d] read as H heads of T x d (Q) and of d x T (K^T); out [T, H, T] (head h at column h T)
  const T = 13, H = 3, d = 7;
  const X = values(T * H * d, 21), Y = values(T * H * d, 22);
  const mask = values(T * T, 23), bias = values(T, 24), s = Math.fround(0.37796447300922725);
  const f = Math.fround;
  const heads = Array.from({ length: H }, (_, h) => h * d);
  const q = { data: X, rs: H * d, cs: 1, offs: heads }, kt = { data: Y, rs: 1, cs: H * d, offs: heads };
  const R = values(H * T * T, 25); // a residual: every head's own T x T block
  const chain = { add: bias, then: { add: R, addMatrix: true, full: true } };
  for (const epi of [{}, { add: bias }, { add: mask, addMatrix: true }, { mul: s }, { mulBy: mask }, chain]) {
    const C = new Float32Array(T * H * T).fill(NaN);
    gemmBatch(H, T, d, T, q, kt, C, heads.map((h) => h / d * T), H * T, epi);
    // the JavaScript path (taken for accumulate): onto zeros, the same values
    const Z = new Float32Array(T * H * T);
    gemmBatch(H, T, d, T, q, kt, Z, heads.map((h) => h / d * T), H * T, epi, true);
    assertEquals(Z, C);
    for (let h = 0; h < H; h++) {
      // the head alone, row-major, through the reference
      const A = new Float32Array(T * d), B = new Float32Array(d * T);
      for (let i = 0; i < T; i++) for (let k = 0; k < d; k++) A[i * d + k] = X[i * H * d + h * d + k]!;
      for (let k = 0; k < d; k++) for (let j = 0; j < T; j++) B[k * T + j] = Y[j * H * d + h * d + k]!;
      const P = reference32(T, T, d, A, B, false);
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          const p = P[i * T + j]!;
          const want = "then" in epi
            ? f(f(p + bias[j]!) + R[(h * T + i) * T + j]!)
            : "mulBy" in epi
            ? f(p * mask[i * T + j]!)
            : "mul" in epi
            ? f(p * s)
            : "addMatrix" in epi
            ? f(p + mask[i * T + j]!)
            : "add" in epi
            ? f(p + bias[j]!)
            : p;
          assertEquals(
            C[i * H * T + h * T + j],
            want,
            `head ${h} (${i}, ${j}) ${JSON.stringify(Object.keys(epi))}`,
          );
        }
      }
    }
  }
});
