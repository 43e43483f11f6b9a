import { assertEquals, assertThrows } from "@std/assert";
import { dyadic } from "./dyadic.ts";
import { intAdd, intAddParams } from "./int_add.ts";
import { lcg } from "./_integer_test_util.ts";

Deno.test("intAdd: per-branch round half up, int16 and int8 saturation, branch guard", () => {
  const one = dyadic(1), half = dyadic(0.5);
  const a = new Int16Array([1, -1, 32767, -32768, 3]);
  const b = new Int16Array([1, -1, 32767, -32768, -3]);
  // halves: 0.5 -> 1, -0.5 -> 0 (ties up) per branch
  assertEquals(Array.from(intAdd([a, b], { a: half, b: half })), [2, 0, 32767, -32768, 1]);
  assertEquals(Array.from(intAdd([a, b], { a: one, b: one, outputBits: 8 })), [2, -2, 127, -128, 0]);
  const big = new Int32Array([2 ** 31 - 1]);
  assertEquals(Array.from(intAdd([big, new Int32Array([-(2 ** 31)])], { a: one, b: one })), [-1]);
  assertThrows(() => intAdd([a, new Int16Array(2)], { a: one, b: one }), RangeError);
});

Deno.test("intAdd vs float residual add: within 1 LSB", () => {
  const rnd = lcg(9);
  const [sa, sb, so] = [0.013, 0.0071, 0.02];
  const prm = intAddParams([sa, sb], so);
  const a = new Int16Array(5000).map(() => Math.floor((rnd() * 2 - 1) * 20000));
  const b = new Int8Array(5000).map(() => Math.floor((rnd() * 2 - 1) * 128));
  const y = intAdd([a, b], prm);
  for (let i = 0; i < a.length; i++) {
    assertEquals(Math.abs(y[i]! - (a[i]! * sa + b[i]! * sb) / so) <= 1, true);
  }
});
