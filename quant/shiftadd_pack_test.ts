import { assertEquals, assertThrows } from "@std/assert";
import { decodeBcq } from "./bcq.ts";
import {
  packShiftAdd,
  shiftAddAlphas,
  type ShiftAddPacked,
  unpackShiftAdd,
  validateShiftAdd,
} from "./shiftadd_pack.ts";
import { quantizeShiftAdd } from "./shiftadd_gptq.ts";
import { gaussian } from "./_rng.ts";

Deno.test("packShiftAdd/unpackShiftAdd round-trip the quantizer's Ŵ exactly (K not a multiple of 8)", () => {
  const g = gaussian(1);
  for (
    const [K, N, q, gs, mode] of [[13, 5, 2, 0, "accuracy"], [40, 11, 3, 16, "latency"], [
      21,
      8,
      4,
      8,
      "accuracy",
    ]] as const
  ) {
    const w = Float32Array.from({ length: K * N }, () => g());
    const r = quantizeShiftAdd({ data: w, rows: K, cols: N }, null, { bits: q, groupSize: gs, mode });
    const p = packShiftAdd(r);
    const J = Math.ceil(K / 8);
    assertEquals([p.planes.length, p.alphaExp.length, p.alphaSign.length], [
      q * N * J,
      q * N * r.groups * 3,
      q * N * r.groups,
    ]);
    assertEquals(unpackShiftAdd(p), r.dequantized);
    assertEquals(Array.from(shiftAddAlphas(p)), Array.from(r.alphas));
    // Bit order: LSB-first; bit b of byte j of plane i = bit i of the code of feature 8j+b.
    for (let k = 0; k < K; k++) {
      for (let n = 0; n < N; n++) {
        let code = 0;
        for (let i = 0; i < q; i++) code |= ((p.planes[(i * N + n) * J + (k >> 3)]! >> (k & 7)) & 1) << i;
        assertEquals(code, r.codes[k * N + n]);
        const al = Array.from(
          { length: q },
          (_, i) => r.alphas[(i * N + n) * r.groups + Math.floor(k / r.groupSize)]!,
        );
        assertEquals(Math.fround(decodeBcq(code, al)), r.dequantized[k * N + n]);
      }
    }
  }
});

Deno.test("validateShiftAdd rejects every broken encoding with a reason", () => {
  const ok = (): ShiftAddPacked => ({
    k: 12,
    n: 8,
    bits: 2,
    groupSize: 8,
    terms: 3,
    mode: "latency",
    planes: new Uint8Array(2 * 8 * 2),
    alphaExp: new Int8Array(2 * 8 * 2 * 3).fill(-128).map((
      _,
      i,
    ) => (i % 3 === 0 ? -2 : i % 3 === 1 ? -5 : -128)),
    alphaSign: new Uint8Array(2 * 8 * 2).fill(0b10),
  });
  validateShiftAdd(ok());
  const cases: Array<[(p: ShiftAddPacked) => void, string]> = [
    [(p) => p.planes[1] = 0x10, "padding bits"],
    [(p) => p.alphaExp[1] = -1, "breaks the term encoding"], // not decreasing
    [(p) => p.alphaExp[1] = -30, "breaks the term encoding"], // beyond the 23-exponent span
    [(p) => (p.alphaExp[0] = -128), "breaks the term encoding"], // sentinel before a term
    [(p) => p.alphaSign[0] = 0b100, "unused term"],
    [(p) => p.alphaExp[6 * 3 + 1] = -6, "latency mode"],
    [(p) => p.groupSize = 4, "multiple of 8"],
    [(p) => p.planes = new Uint8Array(3), "planes 3"],
    [(p) => p.bits = 9, "1..8"],
  ];
  for (const [breakIt, msg] of cases) {
    const p = ok();
    breakIt(p);
    assertThrows(() => validateShiftAdd(p), RangeError, msg);
  }
});
