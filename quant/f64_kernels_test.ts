import { assert, assertEquals } from "@std/assert";
import { mulberry32 } from "./_rng.ts";
import { arenaMatrix } from "./f64_factor.ts";
import { arenaBytes, F64Arena, f64KernelsAvailable } from "./f64_kernels.ts";

/** Every entry the same float64, signed zeros told apart. */
function assertBitIdentical(got: Float64Array, want: Float64Array, what: string): void {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: entry ${i} is ${got[i]}, want ${want[i]}`);
  }
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

Deno.test("arenaBytes: the memory behind an arena view, 0 for a plain array", () => {
  assert(arenaBytes(arenaMatrix(4)) >= 65536);
  assertEquals(arenaBytes(new Float64Array(16)), 0);
  assertEquals(arenaBytes(null), 0);
});
