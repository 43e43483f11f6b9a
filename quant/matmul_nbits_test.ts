import { assertEquals, assertThrows } from "@std/assert";
import { blockedDequantizeLinear, dequantizeMatMulNBits, packMatMulNBits } from "./matmul_nbits.ts";
import { quantizeBlockwise } from "./weight_only.ts";
import { gaussian } from "./_rng.ts";

Deno.test("matmul_nbits: pack -> dequantize reproduces Ŵ for 2, 3, 4, 8 bits, partial blocks, with and without zero points", () => {
  const g = gaussian(5);
  const K = 72, N = 7; // 72 = 2 blocks of 32 + 8
  const w = Float32Array.from({ length: K * N }, () => g());
  for (const bits of [2, 3, 4, 8]) {
    for (const symmetric of [false, true]) {
      const q = quantizeBlockwise({ data: w, rows: K, cols: N }, null, { bits, groupSize: 32, symmetric });
      const p = packMatMulNBits(q);
      assertEquals(p.bDims, [N, 3, 32 * bits / 8]);
      assertEquals(p.scales.length, N * 3);
      assertEquals(p.zeroPoints?.length ?? 0, symmetric ? 0 : N * Math.ceil(3 * bits / 8));
      assertEquals(dequantizeMatMulNBits(p), q.dequantized, `bits ${bits} symmetric ${symmetric}`);
    }
  }
});

Deno.test("matmul_nbits: byte layout is onnxruntime's (low nibble first per column, zero points per column)", () => {
  // K = 4, N = 2, 4 bits, block 2: column 0 codes 1,2 | 3,4; column 1 codes 5,6 | 7,8.
  const codes = new Uint8Array([1, 5, 2, 6, 3, 7, 4, 8]); // [k*N + n]
  const p = packMatMulNBits({
    rows: 4,
    cols: 2,
    bits: 4,
    groupSize: 2,
    symmetric: false,
    codes,
    scales: new Float32Array([1, 2, 3, 4]),
    zeroPoints: new Uint8Array([9, 10, 11, 12]),
  });
  assertEquals(Array.from(p.b), [0x21, 0x43, 0x65, 0x87]);
  assertEquals(Array.from(p.zeroPoints!), [0xa9, 0xcb]);
  const t = blockedDequantizeLinear({
    rows: 4,
    cols: 2,
    bits: 4,
    groupSize: 2,
    symmetric: false,
    codes,
    scales: new Float32Array([1, 2, 3, 4]),
    zeroPoints: new Uint8Array([9, 10, 11, 12]),
  });
  assertEquals([t.type, Array.from(t.scales), Array.from(t.zeroPoints!)], ["uint4", [1, 3, 2, 4], [
    9,
    11,
    10,
    12,
  ]]);
  assertThrows(
    () =>
      packMatMulNBits({
        rows: 4,
        cols: 1,
        bits: 3,
        groupSize: 4,
        symmetric: true,
        codes: new Uint8Array(4),
        scales: new Float32Array(1),
        zeroPoints: new Uint8Array(1),
      }),
    RangeError,
    "whole number of bytes",
  );
});
