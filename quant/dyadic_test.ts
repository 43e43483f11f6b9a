import { assertEquals, assertThrows } from "@std/assert";
import { dyadic, quantizeBias, requantize, roundingShift } from "./dyadic.ts";
import { lcg } from "./_integer_test_util.ts";

Deno.test("dyadic: frexp mantissa in [2^30, 2^31), value within 2^-31 relative, renormalises b = 2^31", () => {
  const rnd = lcg(1);
  for (let i = 0; i < 2000; i++) {
    const m = Math.exp((rnd() - 0.7) * 30) * (rnd() < 0.2 ? -1 : 1);
    const d = dyadic(m);
    if (d.shift < 62) {
      assertEquals(Math.abs(d.multiplier) >= 2 ** 30 && Math.abs(d.multiplier) < 2 ** 31, true);
    }
    const v = d.multiplier * 2 ** -d.shift;
    assertEquals(Math.abs(v - m) <= Math.abs(m) * 2 ** -31, true, `ratio ${m} -> ${v}`);
  }
  // 1 - 2^-33 rounds to b = 2^31: renormalised to 2^30 with one shift less
  assertEquals(dyadic(1 - 2 ** -33), { multiplier: 2 ** 30, shift: 30 });
  assertEquals(dyadic(1), { multiplier: 2 ** 30, shift: 30 });
  assertEquals(dyadic(0), { multiplier: 0, shift: 1 });
  // tiny ratio: shift capped at 62, multiplier rounded on the coarser grid
  assertEquals(dyadic(2 ** -40), { multiplier: 2 ** 22, shift: 62 });
  assertEquals(dyadic(2 ** -70).multiplier, 0);
  assertThrows(() => dyadic(2 ** 30), RangeError);
  assertThrows(() => dyadic(NaN), RangeError);
});

Deno.test("roundingShift equals the exact 64-bit (BigInt) result, including ties and extremes", () => {
  const rnd = lcg(2);
  const xs = [-(2 ** 31), 2 ** 31 - 1, 0, 1, -1, 3, -3];
  const bs = [2 ** 31 - 1, -(2 ** 31 - 1), 2 ** 30, 1, -1, 0, 12345];
  const exact = (x: number, b: number, c: number) =>
    (BigInt(x) * BigInt(b) + (1n << BigInt(c - 1))) >> BigInt(c);
  const check = (x: number, b: number, c: number) => {
    const r = roundingShift(x, { multiplier: b, shift: c });
    const e = exact(x, b, c);
    if (Math.abs(Number(e)) < 2 ** 53) assertEquals(BigInt(r), e, `x ${x} b ${b} c ${c}`);
    else assertEquals(Math.sign(r), Math.sign(Number(e)));
  };
  for (const x of xs) for (const b of bs) for (let c = 1; c <= 62; c++) check(x, b, c);
  for (let i = 0; i < 20000; i++) {
    check(
      Math.floor((rnd() * 2 - 1) * 2 ** 31),
      Math.floor((rnd() * 2 - 1) * (2 ** 31 - 1)),
      1 + Math.floor(rnd() * 62),
    );
  }
  // ties round half up (toward +inf)
  const half = { multiplier: 2 ** 30, shift: 31 };
  assertEquals([1, -1, 3, -3, 5, -5].map((x) => roundingShift(x, half)), [1, 0, 2, -1, 3, -2]);
});

Deno.test("requantize: saturation, zero point, widths, per-channel layout", () => {
  const x = new Int32Array([2 ** 31 - 1, -(2 ** 31), 255, -257, 256, 0]);
  const d = dyadic(0.5);
  assertEquals(Array.from(requantize(x, d)), [127, -128, 127, -128, 127, 0]);
  assertEquals(Array.from(requantize(x, d, { outputBits: 16 })), [32767, -32768, 128, -128, 128, 0]);
  assertEquals(Array.from(requantize(x, d, { outputBits: 32 })), [2 ** 30, -(2 ** 30), 128, -128, 128, 0]);
  assertEquals(Array.from(requantize(new Int32Array([10, -10]), d, { zeroPoint: -3 })), [2, -8]);
  // 2 channels on axis 1 of [1, 2, 3]: innerSize 3
  const pc = { multiplier: [2 ** 30, 2 ** 30], shift: [31, 32] };
  const y = requantize(new Int32Array([8, 8, 8, 8, 8, 8]), pc, { innerSize: 3 });
  assertEquals(Array.from(y), [4, 4, 4, 2, 2, 2]);
  assertThrows(() => requantize(x, { multiplier: 1, shift: 63 }), RangeError);
  assertThrows(() => requantize(x, { multiplier: 2 ** 31, shift: 3 }), RangeError);
});

Deno.test("requantize is fast enough for millions of elements and matches the float product", () => {
  const n = 2_000_000;
  const x = new Int32Array(n);
  const rnd = lcg(3);
  for (let i = 0; i < n; i++) x[i] = Math.floor((rnd() * 2 - 1) * 2 ** 20);
  const d = dyadic(0.000123);
  const t0 = performance.now();
  const y = requantize(x, d, { outputBits: 16 });
  const ms = performance.now() - t0;
  assertEquals(ms < 2000, true, `took ${ms} ms`);
  for (let i = 0; i < 1000; i++) {
    assertEquals(Math.abs(y[i]! - x[i]! * 0.000123) <= 0.5 + 1e-6, true);
  }
});

Deno.test("quantizeBias: round half even at s_w * s_x, saturates to int32", () => {
  assertEquals(Array.from(quantizeBias([0.25, 0.75, -0.25], { inputScale: 1, weightScale: 0.5 })), [0, 2, 0]);
  assertEquals(Array.from(quantizeBias([1e9], { inputScale: 1e-3, weightScale: 1e-3 })), [2 ** 31 - 1]);
  assertThrows(() => quantizeBias([1], { inputScale: 0, weightScale: 1 }), RangeError);
  assertThrows(() => quantizeBias([1, 2], { inputScale: 1, weightScale: [1] }), RangeError);
});
