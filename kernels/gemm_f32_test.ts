import { assert, assertEquals, assertRejects } from "@std/assert";
import { gemmF32 } from "./gemm_f32.ts";
import { gpuUnavailableReason } from "./gpu.ts";

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU kernel tests in gemm_f32_test.ts: ${noGpu} !!!\n`);

function floats(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

Deno.test({
  name: "gemmF32 matches a float64 TS loop within float32 rounding on ragged shapes",
  ignore: noGpu !== null,
  async fn() {
    let seed = 3;
    for (const [m, k, n] of [[1, 1, 1], [1, 70, 3], [17, 5, 65], [64, 64, 64], [65, 130, 66], [100, 17, 1]]) {
      const a = floats(m! * k!, seed++), b = floats(k! * n!, seed++);
      const c = await gemmF32({ data: a, dims: [m!, k!] }, { data: b, dims: [k!, n!] });
      assertEquals(c.length, m! * n!);
      for (let i = 0; i < m!; i++) {
        for (let j = 0; j < n!; j++) {
          let s = 0, mag = 0;
          for (let t = 0; t < k!; t++) {
            s += a[i * k! + t]! * b[t * n! + j]!;
            mag += Math.abs(a[i * k! + t]! * b[t * n! + j]!);
          }
          // Tolerance: k float32 roundings of partial sums bounded by the sum of magnitudes.
          const tol = 2 * k! * 2 ** -24 * mag + 1e-30;
          assert(
            Math.abs(c[i * n! + j]! - s) <= tol,
            `[${m},${k},${n}] C[${i},${j}] = ${c[i * n! + j]}, want ${s}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "gemmF32 computes small products exactly and rejects mismatched shapes",
  ignore: noGpu !== null,
  async fn() {
    const a = { data: new Float32Array([1, 2, 3, 4, 5, 6]), dims: [2, 3] };
    const b = { data: new Float32Array([1, 0, 0, 1, 1, 1]), dims: [3, 2] };
    assertEquals([...(await gemmF32(a, b))], [4, 5, 10, 11]);
    await assertRejects(() => gemmF32(a, a), RangeError, "Cannot multiply");
  },
});
