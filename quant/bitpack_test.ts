import { assertEquals, assertLess, assertThrows } from "@std/assert";
import { packBits, packedByteLength, unpackBits } from "./bitpack.ts";
import { xorshift32 } from "./_rng.ts";

/** Bit-by-bit oracle of the documented order: code i, bit j -> stream bit i*N+j -> byte >> 3, bit & 7. */
function packOracle(codes: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  for (let i = 0; i < codes.length; i++) {
    for (let j = 0; j < bits; j++) {
      if ((codes[i]! >> j) & 1) {
        const b = i * bits + j;
        out[b >> 3]! |= 1 << (b & 7);
      }
    }
  }
  return out;
}

Deno.test("packBits matches the bit-by-bit oracle and round-trips for N = 1..8 and lengths 0..70", () => {
  const next = xorshift32(7);
  for (let bits = 1; bits <= 8; bits++) {
    for (let n = 0; n <= 70; n++) {
      const codes = new Uint8Array(n);
      for (let i = 0; i < n; i++) codes[i] = next() & ((1 << bits) - 1);
      const packed = packBits(codes, bits);
      assertEquals(packed.length, Math.ceil((n * bits) / 8));
      assertEquals(packed, packOracle(codes, bits), `bits=${bits} n=${n}`);
      assertEquals(unpackBits(packed, bits, { count: n }), codes, `bits=${bits} n=${n}`);
    }
  }
});

Deno.test("packBits: a code crossing a byte boundary, padding bits zero, period of 8 codes in N bytes", () => {
  // 3-bit all-ones codes: 3 codes = 9 bits -> byte 0 full, bit 0 of byte 1; rest of byte 1 is zero padding.
  assertEquals(packBits([7, 7, 7], 3), new Uint8Array([0xff, 0x01]));
  // Code 2 of N=3 occupies bits 6, 7 of byte 0 and bit 0 of byte 1.
  assertEquals(packBits([0, 0, 0b101], 3), new Uint8Array([0b01000000, 0b1]));
  // 8 codes of N bits use exactly N bytes.
  for (let bits = 1; bits <= 8; bits++) assertEquals(packedByteLength(8, bits), bits);
  // 1-bit: code i is bit i of byte i >> 3.
  assertEquals(packBits([1, 0, 0, 0, 0, 0, 0, 1, 1], 1), new Uint8Array([0x81, 0x01]));
  // 8-bit is the identity.
  assertEquals(packBits([0, 255, 17], 8), new Uint8Array([0, 255, 17]));
});

Deno.test("unpackBits: default count reads every whole code; trailing padding is ignored", () => {
  assertEquals(unpackBits(new Uint8Array([0xff, 0x01]), 3), new Uint8Array([7, 7, 7, 0, 0]));
  assertEquals(unpackBits(new Uint8Array([0xff, 0xff]), 3, { count: 3 }), new Uint8Array([7, 7, 7]));
  assertEquals(unpackBits(new Uint8Array(0), 5), new Uint8Array(0));
});

Deno.test("packBits / unpackBits reject bad arguments with RangeError", () => {
  assertThrows(() => packBits([8], 3), RangeError, "Cannot pack code 8 at index 0");
  assertThrows(() => packBits([-1], 3), RangeError);
  assertThrows(() => packBits([1.5], 3), RangeError);
  assertThrows(() => packBits([NaN], 3), RangeError);
  assertThrows(() => packBits([0], 0), RangeError, "bits must be an integer in 1..8");
  assertThrows(() => packBits([0], 9), RangeError);
  assertThrows(() => unpackBits(new Uint8Array(1), 3, { count: 3 }), RangeError, "has 1 bytes, expected 2");
  assertThrows(() => packedByteLength(-1, 3), RangeError);
});

Deno.test("packBits / unpackBits run at millions of codes per second", () => {
  const n = 1 << 21;
  const next = xorshift32(3);
  const codes = new Uint8Array(n);
  for (let i = 0; i < n; i++) codes[i] = next() & 31;
  packBits(codes, 5); // warm up the JIT
  const t0 = performance.now();
  const packed = packBits(codes, 5);
  const out = unpackBits(packed, 5, { count: n });
  const seconds = (performance.now() - t0) / 1000;
  assertEquals(out, codes);
  // 2M codes packed and unpacked; a generous bound (>= 2M codes/s each way) that a regression to a
  // per-bit loop would still fail.
  assertLess(seconds, 2);
});
