/**
 * Private helpers of the kernel tests: the data-driven cases of tests/ops/<Op>.json, typed arrays from them,
 * a seeded generator for random inputs with edge values, and the loud no-adapter notice.
 * @module
 */

import { xorshift32 } from "../quant/_rng.ts";
import { gpuUnavailableReason } from "./gpu.ts";

/** A tensor in a case file. */
export interface CaseTensor {
  dtype: string;
  dims: number[];
  data: (number | string)[];
}

/** One case of tests/ops/<Op>.json. */
export interface OpCase {
  name: string;
  attributes: Record<string, number | string | number[]>;
  inputs: Record<string, CaseTensor>;
  outputs: Record<string, CaseTensor>;
  tolerance?: { atol: number; rtol: number };
  [key: string]: unknown;
}

/**
 * Load the cases of one op.
 *
 * @param op op type (file name)
 * @returns the cases
 */
export async function loadCases(op: string): Promise<OpCase[]> {
  const url = new URL(`../tests/ops/${op}.json`, import.meta.url);
  return (JSON.parse(await Deno.readTextFile(url)) as { cases: OpCase[] }).cases;
}

/**
 * The case tensor as the typed array of its dtype.
 *
 * @param t case tensor
 * @returns typed data
 */
export function typed(t: CaseTensor): Int8Array | Uint8Array | Int16Array | Int32Array | Float32Array {
  const nums = t.data.map((v) => v === "-0" ? -0 : Number(v));
  switch (t.dtype) {
    case "int8":
      return Int8Array.from(nums);
    case "uint8":
      return Uint8Array.from(nums);
    case "int16":
      return Int16Array.from(nums);
    case "int32":
      return Int32Array.from(nums);
    case "float32":
      return Float32Array.from(nums);
  }
  throw new TypeError(`Unsupported case dtype ${t.dtype}`);
}

/** Seeded xorshift32 generator. */
export class Rng {
  #next: () => number;
  /** @param seed non-zero seed */
  constructor(seed: number) {
    this.#next = xorshift32(seed);
  }
  /** @returns a uniform u32 */
  u32(): number {
    return this.#next();
  }
  /**
   * @param lo inclusive
   * @param hi inclusive
   * @returns a uniform integer in [lo, hi]
   */
  int(lo: number, hi: number): number {
    return lo + Math.floor((this.u32() / 2 ** 32) * (hi - lo + 1));
  }
  /** @returns a uniform float in [0, 1) */
  float(): number {
    return this.u32() / 2 ** 32;
  }
}

/**
 * Random integers of `bits` bits with the edge values (min, max, 0, +-1, min + 1) mixed in.
 *
 * @param rng generator
 * @param n count
 * @param bits 8, 16 or 32
 * @returns the values
 */
export function randomInts(rng: Rng, n: number, bits: 8 | 16 | 32): Int8Array | Int16Array | Int32Array {
  const lo = -(2 ** (bits - 1)), hi = 2 ** (bits - 1) - 1;
  const out = bits === 8 ? new Int8Array(n) : bits === 16 ? new Int16Array(n) : new Int32Array(n);
  const edges = [lo, hi, 0, 1, -1, lo + 1];
  for (let i = 0; i < n; i++) {
    out[i] = i < edges.length ? edges[i]! : rng.u32() % 7 === 0 ? edges[rng.int(0, 5)]! : rng.int(lo, hi);
  }
  return out;
}

/** null when a WebGPU adapter exists; else the reason, printed loudly once per test file. */
export async function noGpuNotice(file: string): Promise<string | null> {
  const reason = await gpuUnavailableReason();
  if (reason) console.error(`\n!!! SKIPPING WebGPU kernel tests in ${file}: ${reason} !!!\n`);
  return reason;
}
