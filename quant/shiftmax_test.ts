import { assertEquals, assertThrows } from "@std/assert";
import { preShift, shiftExp, shiftExpParams, shiftmax } from "./shiftmax.ts";
import { gaussian, lcg } from "./_integer_test_util.ts";

Deno.test("shiftExp: exact steps, monotone, within 9% of p * 2^n * e^(-v/p), flushes past n octaves", () => {
  const p = 64, n = 10;
  assertEquals(shiftExp(0, p, n), p * 2 ** n);
  // v = 64: t = 64 + 32 - 4 = 92, q = 1, r = 28, E = (128 - 28) * 2^8
  assertEquals(shiftExp(64, p, n), 100 * 2 ** 8);
  let prev = Infinity;
  for (let v = 0; v < n * p; v++) {
    const e = shiftExp(v, p, n);
    assertEquals(e <= prev, true, `not monotone at ${v}`);
    prev = e;
    const ref = p * 2 ** n * Math.exp(-v / p);
    if (ref > 4 * p) assertEquals(Math.abs(e - ref) <= 0.09 * ref, true, `v ${v}: ${e} vs ${ref}`);
  }
  assertEquals(shiftExp(n * p, p, n), 0);
  assertEquals(shiftExp(2 ** 40, p, n), 0);
});

Deno.test("shiftExpParams: p, n from scale, auto pre-shift, overflow bound", () => {
  assertEquals(shiftExpParams(0.1), { p: 10, n: 15, expShift: 0 });
  assertEquals(shiftExpParams(0.1, { maxE0: Math.floor((2 ** 31 - 1) / 4096) }), {
    p: 10,
    n: 15,
    expShift: 0,
  });
  assertEquals(shiftExpParams(1e-4, { expShift: "auto" }), { p: 78, n: 15, expShift: -7 });
  assertEquals(shiftExpParams(1e-4, { maxE0: 2 ** 20 }), { p: 10000, n: 6, expShift: 0 });
  assertThrows(() => shiftExpParams(1e-6, { maxE0: 2 ** 20 }), RangeError);
  assertEquals(preShift(7, -2), 1);
});

Deno.test("shiftmax: uniform, one-hot, masked and single-element rows", () => {
  const p = 8, n = 15;
  // constant row of 4: each 127 / 4 -> 31
  assertEquals(Array.from(shiftmax(new Int8Array([5, 5, 5, 5]), { rowLength: 4, p, n })), [31, 31, 31, 31]);
  // one element far above the rest: 127 and zeros (flushed past n octaves)
  assertEquals(Array.from(shiftmax(new Int8Array([127, -128, -128]), { rowLength: 3, p, n })), [127, 0, 0]);
  assertEquals(Array.from(shiftmax(new Int32Array([-(2 ** 31)]), { rowLength: 1, p, n })), [127]);
  // int32 extremes in one row: the difference needs 32 bits unsigned, flushed to 0
  assertEquals(
    Array.from(shiftmax(new Int32Array([2 ** 31 - 1, -(2 ** 31)]), { rowLength: 2, p, n, outputBits: 16 })),
    [32764, 0], // floor((2^31 - 2^18) / 2^16): the floor costs 3 LSB at 2^-15
  );
  assertThrows(() => shiftmax(new Int8Array(5), { rowLength: 2, p, n }), RangeError);
  assertThrows(() => shiftmax(new Int8Array(4096), { rowLength: 4096, p: 64, n: 15 }), RangeError);
});

Deno.test("shiftmax vs float softmax: int8 logits, a few LSB at 2^-7", () => {
  const g = gaussian(lcg(11));
  for (
    const [len, scale, auto] of [[197, 0.08, false], [197, 0.08, true], [1024, 0.05, true], [
      64,
      0.2,
      false,
    ]] as const
  ) {
    const rows = 16;
    const x = new Int8Array(rows * len);
    for (let i = 0; i < x.length; i++) x[i] = Math.max(-128, Math.min(127, Math.round(g() * 3 / scale)));
    const prm = shiftExpParams(scale, {
      expShift: auto ? "auto" : 0,
      maxE0: Math.floor((2 ** 31 - 1) / len),
    });
    const y = shiftmax(x, { rowLength: len, ...prm });
    let maxErr = 0, meanErr = 0;
    for (let r = 0; r < rows; r++) {
      let m = -Infinity, s = 0;
      for (let j = 0; j < len; j++) m = Math.max(m, x[r * len + j]! * scale);
      for (let j = 0; j < len; j++) s += Math.exp(x[r * len + j]! * scale - m);
      for (let j = 0; j < len; j++) {
        const err = Math.abs(y[r * len + j]! - 128 * Math.exp(x[r * len + j]! * scale - m) / s);
        maxErr = Math.max(maxErr, err);
        meanErr += err / x.length;
      }
    }
    // measured: max 1.1..3.2 LSB, mean 0.06..0.19 LSB (floor bias about -0.1)
    assertEquals(maxErr < 4, true, `rows ${len} scale ${scale}: max ${maxErr}`);
    assertEquals(meanErr < 0.25, true, `rows ${len} scale ${scale}: mean ${meanErr}`);
  }
});
