import { assert, assertEquals, assertLess, assertLessOrEqual, assertThrows } from "@std/assert";
import {
  bcqLevels,
  decodeBcq,
  nearestCode,
  nearestLevel,
  POT_EXP_MIN,
  POT_SPAN,
  roundToPowersOfTwo,
} from "./bcq.ts";
import { fitBcq } from "./bcq_fit.ts";
import { gaussian } from "./_rng.ts";

Deno.test("roundToPowersOfTwo: results are exact sums of <= K signed powers of two, float32-exact", () => {
  const g = gaussian(1);
  for (let trial = 0; trial < 2000; trial++) {
    const x = Math.abs(g()) * 2 ** Math.floor(g() * 8);
    for (const k of [1, 2, 3, 4]) {
      const t = roundToPowersOfTwo(x, { terms: k });
      assertLessOrEqual(t.exps.length, k);
      assertEquals(t.exps.length, t.signs.length);
      let sum = 0;
      t.exps.forEach((e, i) => {
        assert(Number.isInteger(e) && e >= POT_EXP_MIN);
        assert(t.signs[i] === 1 || t.signs[i] === -1);
        if (i > 0) assert(e < t.exps[i - 1]! && e >= t.exps[0]! - POT_SPAN);
        sum += t.signs[i]! * 2 ** e;
      });
      assertEquals(t.value, sum);
      assertEquals(Math.fround(t.value), t.value);
      // Greedy nearest-power steps at least halve the residual each time.
      assertLessOrEqual(Math.abs(x - t.value), x * 2 ** -(k + 1) * 1.5 + 1e-300);
    }
  }
  assertEquals(roundToPowersOfTwo(0), { value: 0, exps: [], signs: [] });
  assertEquals(roundToPowersOfTwo(-0.75, { terms: 2 }), { value: -0.75, exps: [-1, -2], signs: [-1, -1] });
  // A tie between 2^e and 2^(e+1) (log-ties at 1.5 * 2^e) goes to the smaller power.
  assertEquals(roundToPowersOfTwo(1.5, { terms: 1 }).value, 1);
  assertThrows(() => roundToPowersOfTwo(Infinity), RangeError);
});

Deno.test("bcqLevels / nearestLevel / decodeBcq agree with brute force", () => {
  const g = gaussian(2);
  for (const q of [1, 2, 3, 4]) {
    const alphas = Array.from({ length: q }, () => Math.abs(g())).sort((a, b) => b - a);
    const lv = bcqLevels(alphas);
    for (let i = 0; i < lv.values.length; i++) assertEquals(decodeBcq(lv.codes[i]!, alphas), lv.values[i]);
    for (let t = 0; t < 500; t++) {
      const x = g() * 2;
      let bestD = Infinity;
      for (let c = 0; c < 1 << q; c++) bestD = Math.min(bestD, Math.abs(x - decodeBcq(c, alphas)));
      assertEquals(Math.abs(x - decodeBcq(nearestCode(lv, x), alphas)), bestD);
      assertEquals(lv.values[nearestLevel(lv, x)], decodeBcq(nearestCode(lv, x), alphas));
    }
  }
  assertThrows(() => bcqLevels([]), RangeError, "1..8");
});

Deno.test("fitBcq: float-alpha error never increases over rounds; PoT fit beats greedy init", () => {
  const g = gaussian(3);
  // Mean error ratio (fit / greedy init) bounds, measured 0.89 / 0.66 / 0.31 for these seeds.
  const bound: Record<number, number> = { 2: 0.95, 3: 0.8, 4: 0.45 };
  for (const q of [2, 3, 4]) {
    let ratio = 0;
    for (let trial = 0; trial < 10; trial++) {
      const w = Array.from({ length: 128 }, () => g() * 0.02 + (trial % 3 === 0 ? 0.01 : 0));
      const plain = fitBcq(w, { bits: q, powerOfTwo: false });
      for (let r = 1; r < plain.history.length; r++) {
        assertLessOrEqual(plain.history[r]!, plain.history[r - 1]! * (1 + 1e-9), `q=${q} round ${r}`);
      }
      assertLess(plain.history[20]!, plain.history[0]!);
      const pot = fitBcq(w, { bits: q });
      assertEquals(pot.history.length, 21);
      // The returned fit is the best PoT round and beats the greedy init clearly.
      assertLessOrEqual(pot.error, Math.min(...pot.history.subarray(1)));
      assertLess(pot.error, pot.history[0]!);
      ratio += pot.error / pot.history[0]! / 10;
      // More rounds never hurt (best-of).
      assertLessOrEqual(pot.error, fitBcq(w, { bits: q, rounds: 1 }).error);
      // Alphas descending, PoT exact, codes consistent with the reported error.
      for (let i = 1; i < q; i++) assertLessOrEqual(pot.alphas[i]!, pot.alphas[i - 1]!);
      pot.terms.forEach((t, i) => {
        assertEquals(t.value, pot.alphas[i]);
        assertLessOrEqual(t.exps.length, 3);
      });
      let err = 0;
      w.forEach((x, j) => err += (x - decodeBcq(pot.codes[j]!, pot.alphas)) ** 2);
      assertEquals(err, pot.error);
    }
    assertLess(ratio, bound[q]!, `q=${q}`);
  }
});

Deno.test("fitBcq: more bits give lower error; degenerate groups are handled", () => {
  const g = gaussian(4);
  const w = Array.from({ length: 1024 }, () => g());
  const errs = [1, 2, 3, 4].map((q) => fitBcq(w, { bits: q }).error);
  for (let i = 1; i < errs.length; i++) assertLess(errs[i]!, errs[i - 1]! * 0.6);
  const zero = fitBcq(new Array(16).fill(0), { bits: 3 });
  assertEquals(Array.from(zero.alphas), [0, 0, 0]);
  assertEquals(zero.error, 0);
  const flat = fitBcq(new Array(16).fill(0.25), { bits: 3 });
  assertLess(flat.error, 1e-20);
  assertEquals(fitBcq(w, { bits: 2, rounds: 0 }).history.length, 1);
  assertThrows(() => fitBcq(w, { bits: 9 }), RangeError, "bits");
  assertThrows(() => fitBcq(w, { rounds: -1 }), RangeError, "rounds");
});
