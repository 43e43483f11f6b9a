/**
 * Seeded pseudo-random generators for tests, generators and fuzzers (private: `_` prefix), so every run sees
 * the same numbers and a failure reproduces. Not for cryptography, not for library numerics.
 * @module
 */

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): uniform unsigned 32-bit integers.
 *
 * @param seed any number; only its low 32 bits count
 * @returns a generator of integers in [0, 2^32)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mulberry32U32 } from "./_rng.ts";
 * const a = mulberry32U32(7), b = mulberry32U32(7);
 * assertEquals([a(), a()], [b(), b()]);
 * ```
 */
export function mulberry32U32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * mulberry32 scaled to a uniform float in [0, 1).
 *
 * @param seed any number; only its low 32 bits count
 * @returns a generator of floats in [0, 1)
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { mulberry32 } from "./_rng.ts";
 * const u = mulberry32(1);
 * for (let i = 0; i < 100; i++) {
 *   const x = u();
 *   assert(x >= 0 && x < 1);
 * }
 * ```
 */
export function mulberry32(seed: number): () => number {
  const next = mulberry32U32(seed);
  return () => next() / 4294967296;
}

/**
 * Standard normal samples: Box-Muller (cos branch, two uniforms per sample) over mulberry32 shifted by half a
 * step into the open interval (0, 1), so `log` never sees 0.
 *
 * @param seed any number; only its low 32 bits count
 * @returns a generator of N(0, 1) samples
 * @example
 * ```ts
 * import { assertLess } from "@std/assert";
 * import { gaussian } from "./_rng.ts";
 * const g = gaussian(3);
 * let sum = 0;
 * for (let i = 0; i < 4000; i++) sum += g();
 * assertLess(Math.abs(sum / 4000), 0.1);
 * ```
 */
export function gaussian(seed: number): () => number {
  const next = mulberry32U32(seed);
  const u = () => (next() + 0.5) / 4294967296;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/**
 * xorshift32 (Marsaglia 2003, shifts 13/17/5): uniform non-zero unsigned 32-bit integers.
 *
 * @param seed any number; a seed whose low 32 bits are 0 becomes 1 (xorshift's zero state is fixed)
 * @returns a generator of integers in [1, 2^32)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { xorshift32 } from "./_rng.ts";
 * assertEquals(xorshift32(1)(), 270369);
 * ```
 */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Options of {@linkcode randomBytes}. */
export interface RandomBytesOptions {
  /** Uint8Array in [0, 255] instead of Int8Array in [-128, 127]. @default false */
  unsigned?: boolean;
}

/**
 * Random 8-bit integers: the low byte of each xorshift32 output, minus 128 when signed.
 *
 * @param n count
 * @param seed xorshift32 seed
 * @param options signedness
 * @returns Int8Array (default) or Uint8Array
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { randomBytes } from "./_rng.ts";
 * assertEquals(randomBytes(2, 1, { unsigned: true }), new Uint8Array([33, 1]));
 * assertEquals(randomBytes(2, 1), new Int8Array([-95, -127]));
 * ```
 */
export function randomBytes(
  n: number,
  seed: number,
  options: RandomBytesOptions = {},
): Int8Array | Uint8Array {
  const next = xorshift32(seed);
  if (options.unsigned) return Uint8Array.from({ length: n }, () => next() & 0xff);
  return Int8Array.from({ length: n }, () => (next() & 0xff) - 128);
}
