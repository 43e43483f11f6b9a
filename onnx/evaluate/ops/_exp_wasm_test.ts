import { assert } from "@std/assert";
import { sigmoidF32, siluF32, softmaxRowsF32 } from "./_exp_wasm.ts";

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

Deno.test("sigmoidF32 matches the scalar Sigmoid within 1 float32 ulp (tails, denormal results, specials)", () => {
  const n = 200003;
  const X = new Float32Array(n).map((_, i) => Math.sin(i * 0.77) * (i % 5 ? 8 : 150));
  const XI = new Int32Array(X.buffer);
  [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 1, 0x80000001].forEach((b, i) => XI[i] = b | 0);
  [-110, -104, -87.5, 110.5, -103.2].forEach((v, i) => X[10 + i] = v);
  const want = X.map((x) => x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
  const got = new Float32Array(n);
  assert(sigmoidF32(X, got), "WebAssembly SIMD is available in Deno");
  let differ = 0;
  for (let i = 0; i < n; i++) {
    if (Object.is(got[i], want[i])) continue;
    differ++;
    const ulp = Math.max(2 ** (Math.floor(Math.log2(Math.abs(want[i]!))) - 23), 2 ** -149);
    assert(Math.abs(got[i]! - want[i]!) <= ulp, `sigmoid(${X[i]}): ${got[i]} vs ${want[i]}`);
  }
  assert(differ <= 10, `${differ} of ${n} differ`);
});

Deno.test("softmaxRowsF32 on causal rows: the masked tail is 0 and the rest is the unmasked row's softmax, bit for bit", () => {
  const D = 37;
  const X = new Float32Array(D * D).map((_, i) => Math.cos(i * 0.37) * 6);
  for (let r = 0; r < D; r++) {
    for (let j = r + 1; j < D; j++) {
      X[r * D + j] = r % 3 ? -3.4028234663852886e38 : -Infinity;
    }
  }
  X[5 * D + D - 1] = NaN; // a NaN at the end of a masked row is not skipped: that row is NaN, as the scalar loop's
  X[7 * D + D - 1] = -100; // d >= -110 ends the masked run: exp runs up to it
  const got = new Float32Array(D * D);
  assert(softmaxRowsF32(X, got, D, D));
  const want = new Float32Array(D * D);
  scalar(X, want, D, D);
  for (let r = 0; r < D; r++) {
    const last = r === 5 ? D : r === 7 ? D : r + 1; // elements before the masked tail
    const alone = new Float32Array(last);
    assert(softmaxRowsF32(X.subarray(r * D, r * D + last), alone, 1, last));
    for (let j = 0; j < D; j++) {
      const g = got[r * D + j]!, e = j < last ? alone[j]! : 0;
      assert(Object.is(g, e), `row ${r} [${j}]: ${g}, expected ${e}`);
    }
    if (r === 5) assert(Number.isNaN(got[r * D]!) && Number.isNaN(want[r * D]!));
  }
});

Deno.test("softmaxRowsF32: the lane-wise maximum gives the scalar loop's outputs (signed zero maxima, NaN, -Infinity rows)", () => {
  const rows = [
    [-0, 0, -1, -0, 0, -2, -0],
    [0, -0, -0, -0, -3],
    [NaN, -1, 2, NaN, 2, 1, -Infinity, 0, 2],
    [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
    [1e-45, -1e-45, 0, -0, 1e-45, 3e-45, -3e-45, 0],
  ];
  for (const r of rows) {
    const X = Float32Array.from(r), got = new Float32Array(r.length), want = new Float32Array(r.length);
    assert(softmaxRowsF32(X, got, 1, r.length));
    scalar(X, want, 1, r.length);
    for (let i = 0; i < r.length; i++) {
      assert(Object.is(got[i], want[i]), `[${r}] [${i}]: ${got[i]} vs ${want[i]}`);
    }
  }
});

Deno.test("siluF32 is fl(x * fl(sigmoid(x))) with sigmoidF32's sigmoid, bit for bit (odd lengths, specials)", () => {
  for (const n of [1, 3, 4, 7, 70001]) {
    const X = new Float32Array(n).map((_, i) => Math.sin(i * 0.9) * (i % 7 ? 6 : 120));
    if (n > 5) X[1] = NaN, X[2] = -Infinity, X[3] = Infinity, X[4] = -0;
    const s = new Float32Array(n), got = new Float32Array(n);
    assert(sigmoidF32(X, s) && siluF32(X, got));
    for (let i = 0; i < n; i++) {
      const want = Math.fround(X[i]! * s[i]!);
      assert(Object.is(got[i], want), `n=${n} silu(${X[i]}): ${got[i]} vs ${want}`);
    }
  }
});
