import { assert, assertEquals, assertThrows } from "@std/assert";
import { mulberry32 } from "./_rng.ts";
import { arenaMatrix, choleskyInverseUpperArena } from "./f64_factor.ts";
import { choleskyInverseUpperInPlace } from "./linalg.ts";

/** Every entry the same float64, signed zeros told apart. */
function assertBitIdentical(got: Float64Array, want: Float64Array, what: string): void {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: entry ${i} is ${got[i]}, want ${want[i]}`);
  }
}

/** A random symmetric positive-definite matrix `X Xᵀ / m + δ I` (dense, like a damped Gram matrix). */
function spd(n: number, rnd: () => number): Float64Array {
  const m = n + 3, x = Float64Array.from({ length: n * m }, () => Math.fround(rnd() - 0.5));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += x[i * m + k]! * x[j * m + k]!;
      a[i * n + j] = a[j * n + i] = s / m + (i === j ? 0.01 : 0);
    }
  }
  return a;
}

Deno.test("choleskyInverseUpperArena: bit-identical to the JavaScript factor, small and odd orders", () => {
  const rnd = mulberry32(11);
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 63, 64, 65, 97, 130, 333]) {
    const a = spd(n, rnd);
    const want = choleskyInverseUpperInPlace(Float64Array.from(a)); // a plain array: the JavaScript loops
    const m = arenaMatrix(n)!;
    m.set(a);
    const got = choleskyInverseUpperInPlace(m); // an arena matrix: the kernels
    assert(got === m);
    assertBitIdentical(got, want, `n = ${n}`);
  }
});

Deno.test("choleskyInverseUpperArena: a 600x600 damped Gram matrix with dead features, bit-identical", () => {
  const rnd = mulberry32(12);
  const n = 600, a = spd(n, rnd);
  for (const k of [3, 200, 599]) {
    for (let j = 0; j < n; j++) a[k * n + j] = a[j * n + k] = 0;
    a[k * n + k] = 1; // what prepareGptq gives a dead feature
  }
  const want = choleskyInverseUpperInPlace(Float64Array.from(a));
  const m = arenaMatrix(n)!;
  m.set(a);
  assertBitIdentical(choleskyInverseUpperArena(m), want, "600x600");
});

Deno.test("choleskyInverseUpperArena: rejects a matrix that is not positive definite, with the same pivot", () => {
  const a = new Float64Array([1, 2, 0, 2, 1, 0, 0, 0, 1]);
  const m = arenaMatrix(3)!;
  m.set(a);
  const js = assertThrows(() => choleskyInverseUpperInPlace(Float64Array.from(a)), RangeError);
  const wasm = assertThrows(() => choleskyInverseUpperArena(m), RangeError);
  assertEquals(wasm.message, js.message);
  assertThrows(() => choleskyInverseUpperArena(new Float64Array(4)), TypeError);
});
