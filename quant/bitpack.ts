/**
 * Dense N-bit packing (N = 1..8) of unsigned codes into bytes, the storage format of every packed shiftkit
 * weight (DenseShift `ShiftMatMul` / `ShiftConv`, see docs/ops/denseshift.md).
 *
 * Bit order (LSB-first, little-endian bit stream): the codes form one bit stream in which code `i` occupies
 * stream bits `[i*N, i*N + N)`, its least significant bit first. Stream bit `b` is bit `b % 8` (bit 0 =
 * least significant, value 1) of byte `floor(b / 8)`. Equivalently, reading the bytes as one little-endian
 * integer `S = sum_j byte[j] * 256^j`, code `i` is `floor(S / 2^(i*N)) mod 2^N`. A code may cross a byte
 * boundary (e.g. N = 3, code 2 uses bits 6..7 of byte 0 and bit 0 of byte 1). The stream holds
 * `ceil(count * N / 8)` bytes; the unused high bits of the last byte are written as zero and ignored on
 * read. Every 8 codes occupy exactly N bytes, so the layout repeats with period (8 codes, N bytes).
 * @module
 */

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) {
    throw new RangeError(`Cannot pack codes: bits must be an integer in 1..8, got ${bits}`);
  }
}

/**
 * Number of bytes that `count` densely packed `bits`-bit codes occupy: `ceil(count * bits / 8)`.
 *
 * @param count number of codes (non-negative integer)
 * @param bits code width, 1..8
 * @returns the packed byte length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packedByteLength } from "./bitpack.ts";
 * assertEquals(packedByteLength(5, 3), 2); // 15 bits
 * assertEquals(packedByteLength(8, 3), 3);
 * ```
 */
export function packedByteLength(count: number, bits: number): number {
  checkBits(bits);
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`Cannot size a packed buffer: count must be a non-negative integer, got ${count}`);
  }
  return Math.ceil((count * bits) / 8);
}

/**
 * Pack unsigned `bits`-bit codes densely into bytes, LSB-first (see the module doc for the exact bit order).
 *
 * @param codes codes, each an integer in `[0, 2^bits - 1]`
 * @param bits code width, 1..8
 * @returns `ceil(codes.length * bits / 8)` bytes; padding bits of the last byte are zero
 * @throws {RangeError} if `bits` is out of range or a code does not fit in `bits` bits
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packBits } from "./bitpack.ts";
 * // codes 5, 3, 6 at 3 bits: S = 5 | 3 << 3 | 6 << 6 = 0x19d -> bytes 0x9d, 0x01
 * assertEquals(packBits([5, 3, 6], 3), new Uint8Array([0b10011101, 0b1]));
 * ```
 */
export function packBits(codes: ArrayLike<number>, bits: number): Uint8Array {
  const n = codes.length;
  const out = new Uint8Array(packedByteLength(n, bits));
  const mask = (1 << bits) - 1;
  let acc = 0; // pending stream bits, LSB = next bit to write
  let pending = 0; // number of pending bits, always < 8 between codes
  let o = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[i]!;
    // `c & mask` equals c only for integers in [0, mask]; rejects NaN, negatives, fractions, overflow.
    if ((c & mask) !== c) {
      throw new RangeError(
        `Cannot pack code ${c} at index ${i}: not an integer in [0, ${mask}] (bits=${bits})`,
      );
    }
    acc |= c << pending;
    pending += bits;
    if (pending >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      pending -= 8;
    }
  }
  if (pending > 0) out[o] = acc & 0xff;
  return out;
}

/** Options of {@linkcode unpackBits}. */
export interface UnpackBitsOptions {
  /**
   * Number of codes to read.
   * @default floor(packed.length * 8 / bits) (every whole code the bytes hold)
   */
  count?: number;
}

/**
 * Unpack densely packed LSB-first `bits`-bit codes (the inverse of {@linkcode packBits}).
 *
 * @param packed the packed bytes
 * @param bits code width, 1..8
 * @param options `count`: number of codes to read
 * @returns the codes, one per byte
 * @throws {RangeError} if `bits` is out of range or `packed` is shorter than `count` codes need
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packBits, unpackBits } from "./bitpack.ts";
 * assertEquals(unpackBits(new Uint8Array([0b10011101, 0b1]), 3, { count: 3 }), new Uint8Array([5, 3, 6]));
 * const codes = new Uint8Array([1, 31, 0, 17, 9]);
 * assertEquals(unpackBits(packBits(codes, 5), 5, { count: 5 }), codes);
 * ```
 */
export function unpackBits(packed: Uint8Array, bits: number, options: UnpackBitsOptions = {}): Uint8Array {
  checkBits(bits);
  const count = options.count ?? Math.floor((packed.length * 8) / bits);
  const need = packedByteLength(count, bits);
  if (packed.length < need) {
    throw new RangeError(
      `Cannot unpack ${count} ${bits}-bit codes: packed data has ${packed.length} bytes, expected ${need}`,
    );
  }
  const out = new Uint8Array(count);
  const mask = (1 << bits) - 1;
  let acc = 0;
  let avail = 0; // bits in acc, always < bits between codes
  let i = 0;
  for (let j = 0; j < count; j++) {
    if (avail < bits) {
      acc |= packed[i++]! << avail;
      avail += 8;
    }
    out[j] = acc & mask;
    acc >>>= bits;
    avail -= bits;
  }
  return out;
}
