import { assertEquals, assertThrows } from "@std/assert";
import { chooseInt8Layers } from "./dense_shift_budget.ts";

Deno.test("chooseInt8Layers: greedy by gain per extra byte, skips what does not fit, keeps the budget", () => {
  const c = [
    { shiftBytes: 10, int8Bytes: 30, gain: 4 }, // 0.2 / byte, extra 20
    { shiftBytes: 5, int8Bytes: 10, gain: 2 }, // 0.4 / byte, extra 5
    { shiftBytes: 10, int8Bytes: 20, gain: 1 }, // 0.1 / byte, extra 10
    { shiftBytes: 10, int8Bytes: 20, gain: 0 }, // never helps
  ];
  // Base 35 bytes. Budget 50: #1 (40), #0 does not fit (60), #2 fits (50).
  assertEquals(chooseInt8Layers(c, { bytes: 50, fixedBytes: 0 }), [1, 2]);
  // Budget 60: #1 (40), #0 (60), #2 no longer fits.
  assertEquals(chooseInt8Layers(c, { bytes: 60, fixedBytes: 0 }), [0, 1]);
  // Everything that helps, the zero-gain layer never.
  assertEquals(chooseInt8Layers(c, { bytes: 1000, fixedBytes: 0 }), [0, 1, 2]);
  // Fixed bytes (forced int8 layers) count against the budget.
  assertEquals(chooseInt8Layers(c, { bytes: 50, fixedBytes: 10 }), [1]);
  assertThrows(() => chooseInt8Layers(c, { bytes: 34, fixedBytes: 0 }), RangeError, "35 bytes");
});
