import { assert } from "@std/assert";
import { softmaxRowsF32 } from "./_softmax_wasm.ts";

/** softmax.ts's scalar loop over contiguous rows (Math.exp). */
function scalar(X: Float32Array, O: Float32Array, rows: number, D: number): void {
  const ex = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const b = r * D;
    let mx = -Infinity;
    for (let k = 0; k < D; k++) if (X[b + k]! > mx) mx = X[b + k]!;
    let sum = 0;
    for (let k = 0; k < D; k++) {
      const d = X[b + k]! - mx;
      sum += ex[k] = d < -110 ? 0 : Math.exp(d);
    }
    for (let k = 0; k < D; k++) O[b + k] = ex[k]! / sum;
  }
}

Deno.test("softmaxRowsF32 matches the scalar Softmax within 1 float32 ulp (masks, NaN, -Infinity, odd sizes)", () => {
  let identical = 0, total = 0;
  for (
    const [rows, D] of [[1, 1], [3, 5], [1560, 65], [512, 128], [2, 70001], [100, 4]] as [number, number][]
  ) {
    // scores with attention masks (-3e38), a NaN and a -Infinity
    const X = new Float32Array(rows * D).map((_, i) => Math.sin(i * 1.7) * 8 + (i % 13 === 0 ? -3e38 : 0));
    if (X.length > 10) X[3] = NaN, X[D + 5] = -Infinity;
    const want = new Float32Array(rows * D), got = new Float32Array(rows * D).fill(7);
    scalar(X, want, rows, D);
    assert(softmaxRowsF32(X, got, rows, D), "WebAssembly SIMD is available in Deno");
    for (let i = 0; i < want.length; i++) {
      total++;
      if (Object.is(got[i], want[i])) {
        identical++;
        continue;
      }
      // exp differs from Math.exp by about 1 ulp of double: at most 1 ulp of float32 after the division
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(want[i]!))) - 23);
      assert(Math.abs(got[i]! - want[i]!) <= ulp, `rows=${rows} D=${D} [${i}]: ${got[i]} vs ${want[i]}`);
    }
  }
  assert(identical >= total - 10, `${total - identical} of ${total} differ`);
});
