/**
 * Shift-exp and Shiftmax, the integer softmax of I-ViT (arXiv 2207.01405, Sec. 3.3; zkkli/I-ViT
 * `IntSoftmax.int_exp_shift`), defined over non-negative integers so that ONNX (truncating Div), WGSL (u32)
 * and this reference compute the same bits.
 *
 * shift-exp of v >= 0 (v = distance below the row maximum, in units where p is 1.0):
 *   v1 = min(v, n*p); t = v1 + (v1 >> 1) - (v1 >> 4)            t ~ v * log2(e) (1.4375)
 *   t >= n*p  ->  E = 0                                          below 2^-n of the maximum: flushed
 *   q = floor(t / p), r = t - q*p                                 t/p = q + r/p, 0 <= q < n, 0 <= r < p
 *   E = (2p - r) * 2^(n-1-q)                                      2^-(q + f) ~ 2^-q (1 - f/2), exact
 * E <= p * 2^n; E = p * 2^n exactly for v = 0. I-ViT writes x0 = floor(-1/s) < 0 and works on x <= 0;
 * with p = -x0 and v = -x the steps are the same, except that (a) shifts act on v >= 0 (I-ViT floors
 * x >> 1 on negatives: t differs by at most 1), and (b) values past n octaves are flushed to 0 (I-ViT
 * keeps p there), so masked entries add nothing to the sum.
 * @module
 */

import { roundHalfEven } from "./round.ts";

/** Integer views the integer ops accept. */
type IntData = Int8Array | Int16Array | Int32Array;

/**
 * The shift-exp: E ~ p * 2^n * 2^(-v * log2(e) / p), computed with shifts, one division by p and no
 * rounding (see the module doc for the exact steps).
 *
 * @param v non-negative integer exponent magnitude (the op pre-shifts it by its exp_shift)
 * @param p integer representing 1.0 on v's grid, >= 1
 * @param n octaves kept, >= 1 (E has n + log2(p) + 1 bits)
 * @returns E in [0, p * 2^n]
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftExp } from "./shiftmax.ts";
 * // p = 16: v = 16 is "-1.0", e^-1 = 0.368; E / (p * 2^n) = 100 / 256 = 0.39 here
 * assertEquals([shiftExp(0, 16, 4), shiftExp(16, 16, 4), shiftExp(1000, 16, 4)], [256, 100, 0]);
 * ```
 */
export function shiftExp(v: number, p: number, n: number): number {
  const lim = n * p;
  const v1 = v < lim ? v : lim;
  const t = v1 + (v1 >> 1) - (v1 >> 4); // v1 <= n*p < 2^30: int32 shifts are exact
  if (t >= lim) return 0;
  const q = Math.floor(t / p);
  const r = t - q * p;
  return (2 * p - r) * 2 ** (n - 1 - q);
}

/**
 * floor(u * 2^s) for a non-negative integer u and a signed pre-shift s (the ops' exp_shift / lambda).
 *
 * @param u non-negative integer
 * @param s shift, positive = left
 * @returns the shifted integer
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { preShift } from "./shiftmax.ts";
 * assertEquals([preShift(5, 2), preShift(5, -1), preShift(5, 0)], [20, 2, 5]);
 * ```
 */
export function preShift(u: number, s: number): number {
  return s >= 0 ? u * 2 ** s : Math.floor(u / 2 ** -s);
}

/** Options of {@linkcode shiftExpParams}. */
export interface ShiftExpParamsOptions {
  /** Factor folded into p (1.702 for GELU's sigmoid(1.702 x)). @default 1 */
  gain?: number;
  /**
   * Pre-shift of the exponent input; "auto" picks the smallest shift that makes p >= 64 (at most 31,
   * at least -31), so coarse input scales keep a fine exponent grid and fine scales a small p.
   * @default 0
   */
  expShift?: number | "auto";
  /** Largest allowed E0 = p * 2^n (the op's overflow precondition). @default 2 ** 30 */
  maxE0?: number;
  /** Largest n. @default 15 */
  maxN?: number;
}

/** Shift-exp parameters of an op. */
export interface ShiftExpParams {
  /** Integer for 1.0 on the pre-shifted grid: roundHalfEven(2^expShift / (gain * scale)), >= 1. */
  p: number;
  /** Octaves kept. */
  n: number;
  /** Pre-shift of the exponent input. */
  expShift: number;
}

/**
 * Conversion-time choice of (p, n, expShift) for an input scale: p = max(1, roundHalfEven(2^expShift /
 * (gain * scale))), n = min(maxN, floor(log2(maxE0 / p))).
 *
 * @param scale real value of one input LSB
 * @param options gain, pre-shift, overflow bound
 * @returns p, n and the pre-shift
 * @throws {RangeError} when scale is not positive or no n >= 1 satisfies p * 2^n <= maxE0
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftExpParams } from "./shiftmax.ts";
 * assertEquals(shiftExpParams(0.125), { p: 8, n: 15, expShift: 0 });
 * assertEquals(shiftExpParams(0.125, { expShift: "auto" }), { p: 64, n: 15, expShift: 3 });
 * ```
 */
export function shiftExpParams(scale: number, options: ShiftExpParamsOptions = {}): ShiftExpParams {
  const gain = options.gain ?? 1;
  const maxE0 = options.maxE0 ?? 2 ** 30;
  const maxN = options.maxN ?? 15;
  if (!(scale > 0) || !Number.isFinite(scale) || !(gain > 0)) {
    throw new RangeError(`Cannot choose shift-exp parameters: scale ${scale} and gain ${gain} must be > 0`);
  }
  let expShift = options.expShift ?? 0;
  if (expShift === "auto") {
    expShift = Math.min(31, Math.max(-31, Math.ceil(Math.log2(64 * gain * scale))));
    // log2 rounding can land one short; p must reach 64 unless the shift is capped.
    if (expShift < 31 && 2 ** expShift / (gain * scale) < 63.5) expShift++;
  }
  const p = Math.max(1, roundHalfEven(2 ** expShift / (gain * scale)));
  let n = Math.min(maxN, Math.floor(Math.log2(maxE0 / p)));
  while (n > 0 && p * 2 ** n > maxE0) n--;
  if (n < 1) {
    throw new RangeError(
      `Cannot choose shift-exp parameters: p = ${p} leaves no n >= 1 with p * 2^n <= ${maxE0}; lower expShift`,
    );
  }
  return { p, n, expShift };
}

/** Parameters of {@linkcode shiftmax} (the op's attributes plus the row length). */
export interface ShiftmaxParams {
  /** Length of the last axis. */
  rowLength: number;
  /** Integer for 1.0 of the pre-shifted input (attribute `p`). */
  p: number;
  /** Octaves kept (attribute `n`). */
  n: number;
  /** Pre-shift of rowmax - x (attribute `exp_shift`). @default 0 */
  expShift?: number;
  /** 8 -> int8 in [0, 127] scale 2^-7; 16 -> int16 in [0, 32767] scale 2^-15. @default 8 */
  outputBits?: 8 | 16;
}

/**
 * Check the attribute preconditions shared by the shift-exp ops.
 *
 * @param p unit
 * @param n octaves
 * @param shift pre-shift
 * @param op op name for messages
 * @throws {RangeError} when p < 1, n outside [1, 30], p * 2^n > 2^30 or the shift outside [-31, 31]
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkShiftExp } from "./shiftmax.ts";
 * assertThrows(() => checkShiftExp(2 ** 20, 15, 0, "Shiftmax"), RangeError);
 * ```
 */
export function checkShiftExp(p: number, n: number, shift: number, op: string): void {
  if (!Number.isInteger(p) || p < 1) {
    throw new RangeError(`Invalid ${op}: p must be an integer >= 1, got ${p}`);
  }
  if (!Number.isInteger(n) || n < 1 || n > 30) {
    throw new RangeError(`Invalid ${op}: n must be an integer in [1, 30], got ${n}`);
  }
  if (p * 2 ** n > 2 ** 30) throw new RangeError(`Invalid ${op}: p * 2^n = ${p * 2 ** n} exceeds 2^30`);
  if (!Number.isInteger(shift) || Math.abs(shift) > 31) {
    throw new RangeError(
      `Invalid ${op}: the exponent pre-shift must be an integer in [-31, 31], got ${shift}`,
    );
  }
}

/**
 * shiftkit.Shiftmax: integer softmax over the last axis.
 *
 * Per row: m = max x; E_i = shiftExp(floor((m - x_i) * 2^exp_shift), p, n); S = sum E_i (int32, by the
 * precondition rowLength * p * 2^n <= 2^31 - 1; S >= p * 2^n > 0); f = floor((2^31 - 1) / S);
 * y_i = floor(E_i * f / 2^(32 - outputBits)) (E_i * f <= 2^31 - 1). Output scale 2^-(outputBits - 1).
 *
 * @param x int8/int16/int32 logits, rows of `rowLength` contiguous values
 * @param params attributes and row length
 * @returns Int8Array (outputBits 8) or Int16Array (16)
 * @throws {RangeError} on invalid attributes, a broken overflow precondition or a ragged last row
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftmax } from "./shiftmax.ts";
 * // scale 1/8 (p = 8): logits 0, 0, -inf-ish
 * const y = shiftmax(new Int8Array([0, 0, -128]), { rowLength: 3, p: 8, n: 15 });
 * assertEquals(Array.from(y), [63, 63, 0]);
 * ```
 */
export function shiftmax(x: IntData, params: ShiftmaxParams): Int8Array | Int16Array {
  const { rowLength: len, p, n } = params;
  const shift = params.expShift ?? 0;
  const outputBits = params.outputBits ?? 8;
  checkShiftExp(p, n, shift, "Shiftmax");
  if (outputBits !== 8 && outputBits !== 16) {
    throw new RangeError(`Invalid Shiftmax: outputBits must be 8 or 16, got ${outputBits}`);
  }
  if (!Number.isInteger(len) || len < 1 || x.length % len !== 0) {
    throw new RangeError(`Invalid Shiftmax: ${x.length} values do not split into rows of ${len}`);
  }
  if (len * p * 2 ** n > 2 ** 31 - 1) {
    throw new RangeError(
      `Invalid Shiftmax: rowLength * p * 2^n = ${len * p * 2 ** n} exceeds 2^31 - 1 (the int32 row sum)`,
    );
  }
  const out = outputBits === 8 ? new Int8Array(x.length) : new Int16Array(x.length);
  const down = 2 ** (32 - outputBits);
  const e = new Float64Array(len);
  for (let row = 0; row < x.length; row += len) {
    let m = x[row]!;
    for (let j = 1; j < len; j++) if (x[row + j]! > m) m = x[row + j]!;
    let sum = 0;
    for (let j = 0; j < len; j++) {
      e[j] = shiftExp(preShift(m - x[row + j]!, shift), p, n);
      sum += e[j]!;
    }
    const factor = Math.floor((2 ** 31 - 1) / sum);
    for (let j = 0; j < len; j++) out[row + j] = Math.floor(e[j]! * factor / down);
  }
  return out;
}
