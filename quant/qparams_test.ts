import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { computeQParams, computeQParamsPerChannel, qRange } from "./qparams.ts";

Deno.test("qRange: N-bit signed, unsigned and narrow ranges", () => {
  assertEquals(qRange({ bits: 2 }), [-2, 1]);
  assertEquals(qRange({ bits: 6, signed: false }), [0, 63]);
  assertEquals(qRange({ bits: 16, narrowRange: true }), [-32767, 32767]);
  assertEquals(qRange({ bits: 8, signed: false, narrowRange: true }), [0, 255]);
  assertThrows(() => qRange({ bits: 1 }), RangeError);
  assertThrows(() => qRange({ bits: 17 }), RangeError);
});

Deno.test("computeQParams: asymmetric includes zero, zero point rounds half to even", () => {
  // [2, 6] widens to [0, 6]: zero point is qmin
  assertEquals(computeQParams(2, 6, { signed: false }), {
    scale: Math.fround(6 / 255),
    zeroPoint: 0,
    qmin: 0,
    qmax: 255,
  });
  // [-6, -2] widens to [-6, 0]: zero point is qmax
  assertEquals(computeQParams(-6, -2).zeroPoint, 127);
  // [-1, 1] int8: s = 2/255, z = round(-128 + 127.5) = round(-0.5) = 0 (half to even), stored as +0
  const p = computeQParams(-1, 1);
  assertEquals(p.zeroPoint, 0);
  assertEquals(Object.is(p.zeroPoint, -0), false);
  // uint4 over [-1, 2]: s = 3/15 = 0.2, z = round(5) = 5
  const q = computeQParams(-1, 2, { bits: 4, signed: false });
  assertEquals([q.zeroPoint, q.qmin, q.qmax], [5, 0, 15]);
  assertAlmostEquals(q.scale, 0.2, 1e-7);
  // ties: scale (253.5 + 1.5) / 255 = 1, z = 1.5 -> 2; z = 2.5 -> 2
  assertEquals(computeQParams(-1.5, 253.5, { signed: false }).zeroPoint, 2);
  assertEquals(computeQParams(-2.5, 252.5, { signed: false }).zeroPoint, 2);
});

Deno.test("computeQParams: symmetric scale = max|x| / qmax, zero point mid-range", () => {
  assertEquals(computeQParams(-3, 1, { symmetric: true }), {
    scale: Math.fround(3 / 127),
    zeroPoint: 0,
    qmin: -128,
    qmax: 127,
  });
  assertEquals(computeQParams(0, 7, { symmetric: true, bits: 4 }).scale, 1);
  assertEquals(computeQParams(-1, 1, { symmetric: true, signed: false }), {
    scale: Math.fround(1 / 127),
    zeroPoint: 128,
    qmin: 0,
    qmax: 255,
  });
  assertEquals(computeQParams(-1, 1, { symmetric: true, narrowRange: true }).qmin, -127);
});

Deno.test("computeQParams: degenerate and invalid ranges", () => {
  assertEquals(computeQParams(0, 0), { scale: 1, zeroPoint: 0, qmin: -128, qmax: 127 });
  assertEquals(computeQParams(0, 0, { symmetric: true, signed: false }).zeroPoint, 128);
  assertEquals(computeQParams(0, 1e-40).scale, 1); // scale would be subnormal
  assertThrows(() => computeQParams(1, -1), RangeError);
  assertThrows(() => computeQParams(NaN, 1), RangeError);
  assertThrows(() => computeQParams(0, Infinity), RangeError);
});

Deno.test("computeQParamsPerChannel matches per-tensor on each channel", () => {
  const mins = new Float32Array([-1, -0.25, 0, 3]);
  const maxs = new Float32Array([2, 0.5, 0, 4]);
  const p = computeQParamsPerChannel(mins, maxs, { bits: 6, signed: false });
  for (let c = 0; c < 4; c++) {
    const r = computeQParams(mins[c]!, maxs[c]!, { bits: 6, signed: false });
    assertEquals([p.scale[c], p.zeroPoint[c]], [r.scale, r.zeroPoint]);
  }
  assertEquals([p.qmin, p.qmax], [0, 63]);
  assertThrows(() => computeQParamsPerChannel(mins, new Float32Array(3)), RangeError);
});
