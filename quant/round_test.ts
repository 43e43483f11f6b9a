import { assert, assertEquals, assertThrows } from "@std/assert";
import { mulberry32 } from "./_rng.ts";
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

Deno.test("roundHalfEven: the fast path equals Math.round with ties moved to even, sign of zero included", () => {
  // The definition it replaced: Math.round, then a tie that landed on an odd integer moves down.
  const reference = (x: number) => {
    const r = Math.round(x);
    return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };
  const xs = [
    0,
    -0,
    0.5,
    -0.5,
    0.49999999999999994,
    -0.49999999999999994,
    1.5,
    -1.5,
    2.5,
    -2.5,
    1e-300,
    -1e-300,
    2 ** 51 - 0.5,
    -(2 ** 51) + 0.5,
    2 ** 51,
    2 ** 51 + 0.5,
    -(2 ** 51) - 0.5,
    2 ** 52 + 1,
    2 ** 53,
    1e300,
    Infinity,
    -Infinity,
    NaN,
    4503599627370495.5,
    -4503599627370495.5,
  ];
  const r = mulberry32(3);
  for (let i = 0; i < 20000; i++) {
    const scale = 2 ** Math.floor(r() * 70 - 20);
    xs.push((r() - 0.5) * scale, Math.round((r() - 0.5) * 2000) / 2, Math.fround((r() - 0.5) * 300));
  }
  for (const x of xs) assert(Object.is(roundHalfEven(x), reference(x)), `roundHalfEven(${x})`);
});
