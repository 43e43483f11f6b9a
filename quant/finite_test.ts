import { assertEquals } from "@std/assert";
import { firstNonFinite32, firstNonFinite64 } from "./finite.ts";

Deno.test("firstNonFinite32/64: the first NaN or infinity, -1 when none (zeros, -0, extremes are finite)", () => {
  const finite = [0, -0, 1e-45, -3.4028234663852886e38, 3.4028234663852886e38, 1];
  assertEquals(firstNonFinite32(new Float32Array(finite)), -1);
  assertEquals(firstNonFinite64(new Float64Array([...finite, Number.MAX_VALUE, -Number.MIN_VALUE])), -1);
  assertEquals(firstNonFinite32(new Float32Array(0)), -1);
  for (const bad of [NaN, Infinity, -Infinity]) {
    for (const at of [0, 3, 6]) {
      const v = [...finite];
      v.splice(at, 0, bad);
      assertEquals(firstNonFinite32(new Float32Array(v)), at, `${bad} at ${at}`);
      assertEquals(firstNonFinite64(new Float64Array(v)), at, `${bad} at ${at}`);
    }
  }
  assertEquals(firstNonFinite32(new Float32Array([1, NaN, Infinity])), 1);
});
