import { assertEquals, assertThrows } from "@std/assert";
import { decodeBcq } from "./bcq.ts";
import {
  packShiftAdd,
  shiftAddAlphas,
  type ShiftAddPacked,
  shiftAddTerms,
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
    assertEquals([p.planes.length, p.alphaExp.length, p.alphaTerms.length], [
      q * N * J,
      q * N * r.groups,
      q * N * r.groups,
    ]);
    // The per-term view the kernel reads is the quantizer's own terms.
    const terms = shiftAddTerms(p);
    assertEquals(terms.exps, r.alphaExp);
    for (let a = 0; a < q * N * r.groups; a++) {
      for (let t = 0; t < 3; t++) {
        const s = r.alphaSign[a * 3 + t]!;
        assertEquals((terms.signs[a]! >> t) & 1, s < 0 ? 1 : 0);
      }
    }
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
    alphaExp: new Int8Array(2 * 8 * 2).fill(-2),
    alphaTerms: new Uint8Array(2 * 8 * 2).fill(0x0b), // term 1: gap 3, negative; no term 2
  });
  validateShiftAdd(ok());
  const cases: Array<[(p: ShiftAddPacked) => void, string]> = [
    [(p) => p.planes[1] = 0x10, "padding bits"],
    [(p) => p.alphaTerms[1] = 0x08, "nibble 8"], // gap 0
    [(p) => p.alphaTerms[1] = 0x10, "after an empty term"], // term 2 after no term 1
    [(p) => p.alphaExp[0] = -125, "exponent -128"], // below -127
    [(p) => (p.alphaExp[0] = -128), "zero alpha"], // terms after alpha = 0
    [(p) => p.alphaExp[6] = -3, "latency mode"],
    [(p) => p.alphaTerms[6] = 0x0c, "latency mode"],
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

Deno.test("packShiftAdd refuses alphas the 16-bit encoding cannot hold; T = 4 spans two bytes", () => {
  const base = {
    rows: 8,
    cols: 1,
    bits: 1,
    groupSize: 8,
    terms: 4,
    mode: "accuracy" as const,
    codes: new Uint8Array(8),
  };
  const p = packShiftAdd({
    ...base,
    alphaExp: new Int8Array([0, -7, -9, -16]),
    alphaSign: new Int8Array([1, -1, 1, -1]),
  });
  assertEquals([Array.from(p.alphaExp), Array.from(p.alphaTerms)], [[0], [0x2f, 0x0f]]);
  assertEquals(Array.from(shiftAddAlphas(p)), [1 - 2 ** -7 + 2 ** -9 - 2 ** -16]);
  assertThrows(
    () =>
      packShiftAdd({
        ...base,
        alphaExp: new Int8Array([0, -8, -128, -128]),
        alphaSign: new Int8Array([1, 1, 0, 0]),
      }),
    RangeError,
    "gap must be 1..7",
  );
  assertThrows(
    () =>
      packShiftAdd({
        ...base,
        alphaExp: new Int8Array([0, -128, -128, -128]),
        alphaSign: new Int8Array([-1, 0, 0, 0]),
      }),
    RangeError,
    "leading term must be positive",
  );
});
