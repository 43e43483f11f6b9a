import { assertEquals, assertThrows } from "@std/assert";
import { clamp, floorDiv, intRange, roundHalfEven } from "./round.ts";

Deno.test("roundHalfEven: ties to even, non-ties to nearest", () => {
  const xs = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 2.5001, -3.7, 1e9 + 0.5, 0];
  assertEquals(xs.map(roundHalfEven), [-2, -2, -0, 0, 2, 2, 2, 3, -4, 1e9, 0]);
});

Deno.test("clamp, intRange and floorDiv", () => {
  assertEquals(clamp(-200, -128, 127), -128);
  assertEquals(intRange(6, true), [-32, 31]);
  assertThrows(() => intRange(0, true), RangeError);
  assertEquals(floorDiv(-1, 4), -1);
});
