import { assert, assertEquals, assertThrows } from "@std/assert";
import { affineRows, rowsTimes, symmetricProduct } from "./sym_product.ts";
import { wasmGemm } from "./wasm_gemm.ts";
import { mulberry32 } from "./_rng.ts";

Deno.test("symmetricProduct: WebAssembly and scalar paths are bit-identical and equal M v", () => {
  assertEquals(wasmGemm !== undefined, true);
  const u = mulberry32(5);
  for (const [k, n] of [[1, 1], [3, 5], [17, 9], [64, 33], [300, 7], [9, 600]] as const) {
    const a = Float64Array.from({ length: k * k }, () => u() - 0.5);
    const m = new Float64Array(k * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) m[i * k + j] = a[i * k + j]! + a[j * k + i]!;
    const v = Float32Array.from({ length: n * k }, () => u() - 0.5);
    const fast = symmetricProduct(m, v), slow = symmetricProduct(m, v, { scalar: true });
    assertEquals(fast, slow);
    // Row 0 against a direct M v.
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += m[i * k + j]! * v[j]!;
      assertEquals(Math.abs(fast[i]! - s) <= 1e-12 * (1 + Math.abs(s)), true);
    }
  }
});

Deno.test("symmetricProduct: refuses lengths that do not fit", () => {
  assertThrows(() => symmetricProduct(new Float64Array(3), new Float32Array(3)), RangeError, "3 entries");
  assertThrows(() => symmetricProduct(new Float64Array(4), new Float32Array(3)), RangeError, "3 values");
});

Deno.test("rowsTimes: the WebAssembly and JavaScript paths agree bit for bit (non-square B, any column count)", () => {
  let seed = 3;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (const [n, k, c] of [[1, 1, 1], [5, 7, 3], [300, 33, 16], [9, 64, 18]] as const) {
    const v = Float32Array.from({ length: n * k }, rnd), b = Float64Array.from({ length: k * c }, rnd);
    const fast = rowsTimes(v, b, c), slow = rowsTimes(v, b, c, { scalar: true });
    assertEquals(fast, slow, `n=${n} k=${k} c=${c}`);
    let s = 0;
    for (let j = 0; j < k; j++) s += v[(n - 1) * k + j]! * b[j * c + c - 1]!;
    assertEquals(fast[n * c - 1], s);
  }
  assertThrows(() => rowsTimes(new Float32Array(5), new Float64Array(6), 3), RangeError, "Cannot multiply");
});

Deno.test("affineRows: start + V B, the WebAssembly path gives the scalar loop's bits (float32 operands)", () => {
  const r = mulberry32(23);
  for (const [n, k, c] of [[64, 224, 224], [5, 37, 11], [300, 8, 9]] as const) {
    const v = Float32Array.from(
      { length: n * k },
      () => (r() < 0.3 ? 0 : (r() - 0.5) * 2 ** Math.floor(r() * 16 - 8)),
    );
    const b = Float32Array.from({ length: k * c }, () => (r() - 0.5) * 2 ** Math.floor(r() * 16 - 8));
    const start = Float64Array.from({ length: c }, (_, i) => (i === 0 ? -0 : r() - 0.5));
    const fast = affineRows(v, b, c, start), slow = affineRows(v, b, c, start, { scalar: true });
    for (let i = 0; i < fast.length; i++) {
      assert(Object.is(fast[i], slow[i]), `[${n}, ${k}, ${c}] element ${i}`);
    }
    // the loop it is: start first, then the products in order
    let s = start[1]!;
    for (let j = 0; j < k; j++) s += v[j]! * b[j * c + 1]!;
    assertEquals(fast[1], s);
  }
  assertThrows(
    () => affineRows(new Float32Array(4), new Float32Array(6), 3, new Float64Array(2)),
    RangeError,
  );
});
