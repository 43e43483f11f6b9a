import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { cosineSimilarity, maxAbsError, relativeL2, sqnrDb } from "./error_metrics.ts";

Deno.test("sqnrDb: hand-computed cases and zero signals", () => {
  // signal 9 + 16 = 25, noise 0.25 + 0 = 0.25: ratio 100 -> 20 dB
  assertAlmostEquals(sqnrDb(new Float32Array([3, 4]), new Float64Array([3.5, 4])), 20, 1e-12);
  assertEquals(sqnrDb([1, 2], [1, 2]), Infinity);
  assertEquals(sqnrDb([0, 0], [0, 0]), Infinity);
  assertEquals(sqnrDb([0, 0], [0, 1]), -Infinity);
  assertEquals(sqnrDb([], []), Infinity);
  assertEquals(sqnrDb([1, NaN], [1, 1]), NaN);
  assertThrows(() => sqnrDb([1], [1, 2]), RangeError);
});

Deno.test("cosineSimilarity: hand-computed cases and zero vectors", () => {
  assertAlmostEquals(cosineSimilarity([1, 2, 2], [2, 0, 0]), 1 / 3, 1e-15); // 2 / (3 * 2)
  assertEquals(cosineSimilarity([1, 1], [-2, -2]), -1);
  assertEquals(cosineSimilarity([0, 0], [0, 0]), 1);
  assertEquals(cosineSimilarity([0, 0], [1, 0]), 0);
  assertThrows(() => cosineSimilarity([1], []), RangeError);
});

Deno.test("relativeL2: hand-computed cases and zero reference", () => {
  // ||(1, 2) - (1, 0)|| / ||(1, 0)|| = 2
  assertEquals(relativeL2([1, 2], [1, 0]), 2);
  assertAlmostEquals(
    relativeL2(new Float32Array([0.5, 0]), new Float32Array([0, 1])),
    Math.sqrt(1.25),
    1e-15,
  );
  assertEquals(relativeL2([0, 0], [0, 0]), 0);
  assertEquals(relativeL2([0, 1e-3], [0, 0]), Infinity);
});

Deno.test("maxAbsError: hand-computed cases, float64 accumulation, NaN", () => {
  assertEquals(maxAbsError(new Float32Array([1, 2, 3]), new Float32Array([1, 2.5, 1])), 2);
  assertEquals(maxAbsError([], []), 0);
  assertEquals(maxAbsError([1, 2], [NaN, 2]), NaN);
  assertEquals(maxAbsError([5, 2], [1, NaN]), NaN);
  // float64: 1 + 2^-40 differs from 1, which float32 would not see
  assertEquals(maxAbsError([1 + 2 ** -40], [1]), 2 ** -40);
});

Deno.test("sqnrDb: the Float32Array path gives the generic loop's value exactly", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  const a = new Float32Array(1001).map(rnd), b = a.map((x) => x + rnd() * 1e-3);
  assertEquals(sqnrDb(a, b), sqnrDb(Array.from(a), Array.from(b)));
  b[5] = NaN;
  assertEquals(sqnrDb(a, b), NaN);
  assertEquals(sqnrDb(a, a.slice()), Infinity);
});
