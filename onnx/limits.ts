/**
 * The resource limits shiftkit applies to untrusted input (see docs/security.md): each has a default that
 * fits ordinary models and data on a small machine, and can be raised per call (an option) or for a whole
 * process through an environment variable, e.g. `SHIFTKIT_MAX_PIXELS=400000000 shiftkit quantize ...`.
 * @module
 */

/** The limits, by name. */
export interface Limits {
  /** Pixels (width x height) of one decoded image, checked from the PNG/JPEG header before decoding. */
  maxPixels: number;
  /** Bytes inflated from one `.zip` bundle (the model and the external files it names, together). */
  maxInflatedBytes: number;
  /** Bytes of the random inputs `validate` generates for one sample (beyond this it asks for --data). */
  maxGeneratedInputBytes: number;
}

/** Defaults of {@link Limits}: 2^25 pixels (e.g. 8192 x 4096), 2 GiB inflated, 256 MiB generated. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxPixels: 2 ** 25,
  maxInflatedBytes: 2 ** 31,
  maxGeneratedInputBytes: 2 ** 28,
});

/** The environment variable that overrides each limit for a process. */
export const LIMIT_ENV: Readonly<Record<keyof Limits, string>> = Object.freeze({
  maxPixels: "SHIFTKIT_MAX_PIXELS",
  maxInflatedBytes: "SHIFTKIT_MAX_INFLATED_BYTES",
  maxGeneratedInputBytes: "SHIFTKIT_MAX_GENERATED_INPUT_BYTES",
});

/**
 * The limit in force: an explicit value, else the environment variable, else the default.
 *
 * @param name which limit
 * @param explicit a value passed by the caller
 * @returns the limit
 * @throws {RangeError} when the explicit value or the environment variable is not a positive number
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DEFAULT_LIMITS, limit } from "./limits.ts";
 * assertEquals(limit("maxPixels", 100), 100);
 * assertEquals(limit("maxGeneratedInputBytes"), DEFAULT_LIMITS.maxGeneratedInputBytes);
 * ```
 */
export function limit(name: keyof Limits, explicit?: number): number {
  let v: number | undefined = explicit;
  let from = `option ${name}`;
  if (v === undefined) {
    const D = (globalThis as { Deno?: typeof Deno }).Deno;
    let text: string | undefined;
    try {
      text = D?.env.get(LIMIT_ENV[name]);
    } catch {
      text = undefined; // no --allow-env: the default
    }
    if (text !== undefined && text !== "") {
      v = Number(text);
      from = `environment variable ${LIMIT_ENV[name]}`;
    }
  }
  if (v === undefined) return DEFAULT_LIMITS[name];
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${from} must be a positive number, got ${v}`);
  return v;
}
