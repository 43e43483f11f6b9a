import { assertEquals, assertThrows } from "@std/assert";
import { fitBcqReference } from "./_bcq_fit_ref.ts";
import { BcqFitter, fitBcq } from "./bcq_fit.ts";
import { gaussian } from "./_rng.ts";

Deno.test("BcqFitter / fitBcq: the same bits as the reference fit, group after group", () => {
  const g = gaussian(11);
  for (const q of [1, 2, 3, 4]) {
    for (const pot of [true, false]) {
      const fitter = new BcqFitter({ bits: q, powerOfTwo: pot });
      // groups of different sizes through one fitter (its scratch grows, then is reused)
      const data = Float64Array.from({ length: 4000 }, () => g() * 0.02 + (g() > 1.5 ? 0.05 : 0));
      for (const [off, n] of [[0, 64], [64, 128], [192, 8], [200, 64], [264, 1], [265, 3], [300, 700]]) {
        const w = data.subarray(off!, off! + n!);
        const ref = fitBcqReference(w, { bits: q, powerOfTwo: pot });
        const got = fitBcq(w, { bits: q, powerOfTwo: pot });
        assertEquals(got, ref, `q=${q} pot=${pot} group ${off}+${n}`);
        const history = new Float64Array(21);
        assertEquals(fitter.fit(data, off!, n!, history), ref.error);
        assertEquals(history, ref.history);
        assertEquals(fitter.alphas, ref.alphas);
        assertEquals(fitter.codes.subarray(0, n), ref.codes);
        if (pot) { for (let i = 0; i < q; i++) assertEquals(fitter.potTerms(i), ref.terms[i]); }
      }
    }
  }
  // degenerate groups: all zero, constant, duplicate planes (least squares falls back), few rounds
  for (const w of [new Array(16).fill(0), new Array(16).fill(0.25), [1, -1, 1, -1], [0.5]]) {
    for (const rounds of [0, 1, 20]) {
      assertEquals(fitBcq(w, { bits: 3, rounds }), fitBcqReference(w, { bits: 3, rounds }));
    }
  }
  assertThrows(() => new BcqFitter({ bits: 0 }), RangeError, "bits");
  assertThrows(() => fitBcq([Infinity, 1], { bits: 2 }), RangeError, "not finite");
});
