/**
 * Finiteness scans of typed arrays: one small monomorphic function per element type, shared by every
 * caller, so V8 optimizes it after a few calls; the same check inlined in each large caller ran unoptimized
 * (and with a polymorphic element load where a caller takes both types) through a first conversion's layers.
 * @module
 */

/**
 * Index of the first NaN or infinity in a Float32Array, or -1.
 *
 * @param a values
 * @returns the index, -1 when every value is finite
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { firstNonFinite32 } from "./finite.ts";
 * assertEquals(firstNonFinite32(new Float32Array([1, -0, Infinity, NaN])), 2);
 * ```
 */
export function firstNonFinite32(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (a[i]! - a[i]! !== 0) return i;
  return -1;
}

/**
 * Index of the first NaN or infinity in a Float64Array, or -1.
 *
 * @param a values
 * @returns the index, -1 when every value is finite
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { firstNonFinite64 } from "./finite.ts";
 * assertEquals(firstNonFinite64(new Float64Array([1, 2])), -1);
 * ```
 */
export function firstNonFinite64(a: Float64Array): number {
  for (let i = 0; i < a.length; i++) if (a[i]! - a[i]! !== 0) return i;
  return -1;
}
