import { assertAlmostEquals, assertEquals, AssertionError, assertRejects, assertThrows } from "@std/assert";

Deno.test("assert module: equality and failures are real", async () => {
  assertEquals({ a: [1, 2], b: new Float32Array([1]) }, { a: [1, 2], b: new Float32Array([1]) });
  assertThrows(() => assertEquals([1], [2]), AssertionError);
  assertThrows(() => assertEquals<unknown>(new Int8Array([1]), new Uint8Array([1])), AssertionError);
  assertThrows(() => assertAlmostEquals(1, 1.1, 0.01), AssertionError, "delta");
  assertThrows(() => assertThrows(() => {}), AssertionError);
  await assertRejects(() => Promise.reject(new RangeError("x")), RangeError, "x");
});
