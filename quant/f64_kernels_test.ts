import { assert, assertEquals, assertThrows } from "@std/assert";
import { mulberry32 } from "./_rng.ts";
import {
  arenaBytes,
  arenaMatrix,
  choleskyInverseUpperArena,
  F64Arena,
  f64KernelsAvailable,
} from "./f64_kernels.ts";
import { choleskyInverseUpperInPlace } from "./linalg.ts";

/** Every entry the same float64, signed zeros told apart. */
function assertBitIdentical(got: Float64Array, want: Float64Array, what: string): void {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: entry ${i} is ${got[i]}, want ${want[i]}`);
  }
}

/** A random symmetric positive-definite matrix `X Xᵀ / m + δ I` (dense, like a damped Gram matrix). */
function spd(n: number, rnd: () => number): Float64Array {
  const m = n + 3, x = Float64Array.from({ length: n * m }, () => Math.fround(rnd() - 0.5));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += x[i * m + k]! * x[j * m + k]!;
      a[i * n + j] = a[j * n + i] = s / m + (i === j ? 0.01 : 0);
    }
  }
  return a;
}

Deno.test("f64 kernels: WebAssembly SIMD is available in this engine (else every path below is JavaScript)", () => {
  assert(f64KernelsAvailable);
});

Deno.test("F64Arena.msub: ordered multi-term row updates match d -= c * s in JavaScript, bit for bit", () => {
  const rnd = mulberry32(3);
  // rows 1..9 (groups of 4 and single rows), column counts with and without a tail, panels, zeros
  for (
    const [rows, T, nc] of [[1, 1, 1], [4, 3, 4], [5, 7, 9], [9, 12, 17], [8, 33, 31], [3, 2, 40]] as const
  ) {
    for (const options of [{}, { skipZeros: true }, { srcPanel: 4 * T, coefPanel: 4 * T }]) {
      const packed = "srcPanel" in options;
      const srcStride = packed ? 4 : nc + 3, dstStride = nc + 1;
      const srcSize = packed ? 4 * T * Math.ceil(nc / 4) : T * srcStride;
      const coefSize = packed ? 4 * T * Math.ceil(rows / 4) : rows * T;
      const arena = F64Arena.create(rows * dstStride + srcSize + coefSize + 64)!;
      const f = arena.f64, dst = 5, src = dst + rows * dstStride, coef = src + srcSize;
      // S[t, c] and C[r, t] where the layout puts them
      const sAt = (t: number, c: number) =>
        packed ? src + (c >> 2) * 4 * T + 4 * t + (c & 3) : src + t * srcStride + c;
      const cAt = (r: number, t: number) =>
        packed ? coef + (r >> 2) * 4 * T + 4 * t + (r & 3) : coef + r * T + t;
      for (let i = 0; i < f.length; i++) f[i] = (rnd() - 0.5) * 2 ** (rnd() * 10 - 5);
      for (let r = 0; r < rows; r++) {
        for (let t = 0; t < T; t++) {
          if (rnd() < 0.2) {
            f[cAt(r, t)] = rnd() < 0.5 ? 0 : -0;
          }
        }
      }
      for (let i = 0; i < rows * dstStride; i++) if (rnd() < 0.1) f[dst + i] = -0;
      const want = f.slice();
      for (let r = 0; r < rows; r++) {
        for (let t = 0; t < T; t++) {
          const cf = want[cAt(r, t)]!;
          if ("skipZeros" in options && cf === 0) continue;
          for (let c = 0; c < nc; c++) want[dst + r * dstStride + c]! -= cf * want[sAt(t, c)]!;
        }
      }
      if (packed) arena.msub(rows, T, nc, dst, dstStride, coef, 1, 4, src, 4, options);
      else arena.msub(rows, T, nc, dst, dstStride, coef, T, 1, src, srcStride, options);
      assertBitIdentical(f, want, `msub ${rows}x${T}x${nc} ${JSON.stringify(options)}`);
    }
  }
});

Deno.test("choleskyInverseUpperArena: bit-identical to the JavaScript factor, small and odd orders", () => {
  const rnd = mulberry32(11);
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 63, 64, 65, 97, 130, 333]) {
    const a = spd(n, rnd);
    const want = choleskyInverseUpperInPlace(Float64Array.from(a)); // a plain array: the JavaScript loops
    const m = arenaMatrix(n)!;
    m.set(a);
    const got = choleskyInverseUpperInPlace(m); // an arena matrix: the kernels
    assert(got === m);
    assertBitIdentical(got, want, `n = ${n}`);
  }
});

Deno.test("choleskyInverseUpperArena: a 600x600 damped Gram matrix with dead features, bit-identical", () => {
  const rnd = mulberry32(12);
  const n = 600, a = spd(n, rnd);
  for (const k of [3, 200, 599]) {
    for (let j = 0; j < n; j++) a[k * n + j] = a[j * n + k] = 0;
    a[k * n + k] = 1; // what prepareGptq gives a dead feature
  }
  const want = choleskyInverseUpperInPlace(Float64Array.from(a));
  const m = arenaMatrix(n)!;
  m.set(a);
  assertBitIdentical(choleskyInverseUpperArena(m), want, "600x600");
});

Deno.test("choleskyInverseUpperArena: rejects a matrix that is not positive definite, with the same pivot", () => {
  const a = new Float64Array([1, 2, 0, 2, 1, 0, 0, 0, 1]);
  const m = arenaMatrix(3)!;
  m.set(a);
  const js = assertThrows(() => choleskyInverseUpperInPlace(Float64Array.from(a)), RangeError);
  const wasm = assertThrows(() => choleskyInverseUpperArena(m), RangeError);
  assertEquals(wasm.message, js.message);
  assertThrows(() => choleskyInverseUpperArena(new Float64Array(4)), TypeError);
});

Deno.test("arenaBytes: the memory behind an arena view, 0 for a plain array", () => {
  assert(arenaBytes(arenaMatrix(4)) >= 65536);
  assertEquals(arenaBytes(new Float64Array(16)), 0);
  assertEquals(arenaBytes(null), 0);
});
