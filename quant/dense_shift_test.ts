import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { packBits } from "./bitpack.ts";
import {
  decodeShiftWeight,
  packShiftWeight,
  shiftAccumulatorBound,
  shiftMatMul,
  shiftMatMulInteger,
} from "./dense_shift.ts";
import { decodePow2, encodePow2, pow2AlphaMse } from "./pow2.ts";
import { mulberry32 } from "./_rng.ts";

/** A random ShiftMatMul weight [K, N]: float weights W^T [N, K], their codes and the packed weight. */
function matMulWeight(seed: number, k: number, n: number, bits: number) {
  const u = mulberry32(seed);
  const wt = new Float32Array(n * k).map(() => (u() - 0.5) * 2 ** (u() * 6 - 3));
  const alpha = pow2AlphaMse(wt, k, { bits });
  const codes = encodePow2(wt, alpha, { bits });
  return { wt, alpha, codes, weight: packShiftWeight(codes, { alpha, bits, shape: [k, n], axis: 1 }) };
}

Deno.test("decodeShiftWeight: ShiftMatMul weight is the transpose of the channel-major decode", () => {
  for (const bits of [3, 4, 5, 6]) {
    const k = 13, n = 5;
    const { alpha, codes, weight } = matMulWeight(bits, k, n, bits);
    assertEquals(weight.packed.length, Math.ceil((k * n * bits) / 8));
    const channelMajor = decodePow2(codes, alpha, { bits });
    const w = decodeShiftWeight(weight);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < n; j++) assertEquals(w[i * n + j], channelMajor[j * k + i]);
    }
  }
});

Deno.test("decodeShiftWeight: ShiftConv weight [Cout, Cin/g, kh, kw] keeps the channel-major order", () => {
  const u = mulberry32(4);
  const shape = [4, 3, 3, 3], fanIn = 27, bits = 4;
  const w = new Float32Array(4 * fanIn).map(() => u() - 0.5);
  const alpha = pow2AlphaMse(w, fanIn, { bits });
  const codes = encodePow2(w, alpha, { bits });
  const weight = packShiftWeight(codes, { alpha, bits, shape, axis: 0 });
  assertEquals(weight.packed, packBits(codes, bits)); // axis 0: no reordering
  assertEquals(decodeShiftWeight(weight), decodePow2(codes, alpha, { bits }));
});

Deno.test("shiftMatMul equals X @ decode(W) (+ bias) for rank-1, 2 and 3 X", () => {
  const k = 7, n = 3, bits = 3;
  const { weight } = matMulWeight(9, k, n, bits);
  const w = decodeShiftWeight(weight);
  const u = mulberry32(10);
  const bias = new Float32Array([0.5, -1, 2]);
  for (const xShape of [[k], [4, k], [2, 3, k]]) {
    const rows = xShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const x = new Float32Array(rows * k).map(() => u() * 4 - 2);
    const y = shiftMatMul({ data: x, shape: xShape }, weight, { bias });
    assertEquals(y.shape, [...xShape.slice(0, -1), n]);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += x[r * k + i]! * w[i * n + j]!;
        assertAlmostEquals(y.data[r * n + j]!, s + bias[j]!, 1e-5);
      }
    }
  }
  assertThrows(
    () => shiftMatMul({ data: new Float32Array(6), shape: [6] }, weight),
    RangeError,
    "does not end in K = 7",
  );
  assertThrows(
    () => shiftMatMul({ data: new Float32Array(7), shape: [7] }, weight, { bias: new Float32Array(2) }),
    RangeError,
    "bias has 2 values",
  );
});

Deno.test("shiftMatMulInteger: exact shift-and-add accumulator, y matches the float path", () => {
  for (const bits of [3, 4, 5]) {
    const k = bits === 5 ? 9 : 21, n = 4, m = 3;
    const { weight } = matMulWeight(20 + bits, k, n, bits);
    const u = mulberry32(bits);
    const xq = new Int8Array(m * k).map(() => Math.floor(u() * 256) - 128);
    xq[0] = -128; // the extreme value
    const xScale = 0.03125;
    const r = shiftMatMulInteger({ data: xq, shape: [m, k] }, weight, { xScale });
    const levels = decodeShiftWeight({ ...weight, alpha: new Float32Array(n).fill(1) }); // ±2^p
    for (let a = 0; a < m; a++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += xq[a * k + i]! * levels[i * n + j]!;
        assertEquals(r.acc[a * n + j], s, `bits=${bits}`);
      }
    }
    const yf = shiftMatMul({ data: Float32Array.from(xq, (v) => v * xScale), shape: [m, k] }, weight);
    for (let i = 0; i < yf.data.length; i++) {
      assertAlmostEquals(r.y[i]!, yf.data[i]!, 1e-6 * (1 + Math.abs(yf.data[i]!)));
    }
  }
});

Deno.test("shiftAccumulatorBound: exact worst case, and the integer path refuses int32 overflow", () => {
  // K = 3, N = 2, 6 bits: column 0 has p = 31, 0, 0 -> 128 * (2^31 + 2) > 2^31 - 1.
  const codes = new Uint8Array([31, 0, 32, 0, 0, 5]); // channel-major [N=2, K=3]
  const w = packShiftWeight(codes, { alpha: new Float32Array([1, 1]), bits: 6, shape: [3, 2], axis: 1 });
  assertEquals(shiftAccumulatorBound(w), 128 * (2 ** 31 + 2));
  assertThrows(
    () => shiftMatMulInteger({ data: new Int8Array(3), shape: [1, 3] }, w),
    RangeError,
    "exceeds int32",
  );
  // The largest admissible exponent: 128 * 2^23 = 2^30, twice (K = 2) = 2^31 > 2^31 - 1; once plus 1 fits.
  const edge = packShiftWeight(new Uint8Array([23, 0]), {
    alpha: new Float32Array([1]),
    bits: 6,
    shape: [2, 1],
    axis: 1,
  });
  assertEquals(shiftAccumulatorBound(edge), 2 ** 30 + 128);
  const r = shiftMatMulInteger({ data: new Int8Array([-128, -128]), shape: [2] }, edge);
  assertEquals([...r.acc], [-(2 ** 30) - 128]);
});

Deno.test("ShiftWeight validation: sizes, alpha and axis", () => {
  const base = { alpha: new Float32Array([1, 1]), bits: 3, shape: [2, 2], axis: 1 } as const;
  assertThrows(
    () => decodeShiftWeight({ ...base, packed: new Uint8Array(3) }),
    RangeError,
    "have 3 bytes, expected 2",
  );
  assertThrows(
    () => decodeShiftWeight({ ...base, packed: new Uint8Array(2), alpha: new Float32Array(3) }),
    RangeError,
    "alpha has 3 values, expected 2",
  );
  assertThrows(
    () => decodeShiftWeight({ ...base, packed: new Uint8Array(2), axis: 2 }),
    RangeError,
    "channel axis 2",
  );
  assertThrows(
    () => decodeShiftWeight({ ...base, packed: new Uint8Array(2), alpha: new Float32Array([1, NaN]) }),
    RangeError,
    "alpha[1] = NaN",
  );
  assertThrows(() => packShiftWeight(new Uint8Array(3), base), RangeError, "3 codes for weight_shape [2,2]");
  assertThrows(
    () =>
      shiftMatMul({ data: new Float32Array(2), shape: [2] }, { ...base, packed: new Uint8Array(2), axis: 0 }),
    RangeError,
    "must be [K, N] with alpha on axis 1",
  );
});
