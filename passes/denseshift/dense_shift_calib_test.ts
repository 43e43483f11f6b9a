import { assertEquals, assertNotEquals } from "@std/assert";
import { mulberry32 } from "../../quant/_rng.ts";
import { RowMean } from "./dense_shift_calib.ts";

/** The definition: one row at a time, each feature's sums in row order. */
function naive(batches: Float32Array[], ns: number[], k: number): [Float64Array, Float64Array] {
  const sum = new Float64Array(k), sq = new Float64Array(k);
  batches.forEach((rows, b) => {
    for (let r = 0; r < ns[b]!; r++) {
      for (let i = 0; i < k; i++) {
        const v = rows[r * k + i]!;
        sum[i] = sum[i]! + v;
        sq[i] = sq[i]! + v * v;
      }
    }
  });
  return [sum, sq];
}

Deno.test("RowMean: sums bit-identical to adding one row at a time, for any row count", () => {
  const u = mulberry32(7);
  const k = 13;
  // magnitudes from 1e-4 to 1e7 so that any other order of the additions changes the float64 sums
  const ns = [0, 1, 2, 3, 4, 5, 7, 8, 9, 17];
  const batches = ns.map((n) =>
    Float32Array.from({ length: n * k }, () => (u() - 0.5) * 10 ** (u() * 11 - 4))
  );
  const [sum, sq] = naive(batches, ns, k);
  const withSq = new RowMean(k, true), plain = new RowMean(k);
  batches.forEach((rows, b) => {
    withSq.add(rows, ns[b]!);
    plain.add(rows, ns[b]!);
  });
  assertEquals(withSq.sum, sum);
  assertEquals(withSq.sumSq, sq);
  assertEquals(plain.sum, sum);
  assertEquals(withSq.count, ns.reduce((a, b) => a + b, 0));
  // the test data does tell orders apart: summing the rows in reverse gives other bits
  const rev = new Float64Array(k);
  for (let b = batches.length - 1; b >= 0; b--) {
    for (let r = ns[b]! - 1; r >= 0; r--) {
      for (let i = 0; i < k; i++) rev[i] = rev[i]! + batches[b]![r * k + i]!;
    }
  }
  assertNotEquals(rev, sum);
});
