import { assert, assertEquals, assertThrows } from "@std/assert";
import { pow2Sweeper, pow2SweepScalar, sweepArrays } from "./wasm_pow2_sweep.ts";
import { pow2AlphaLowRank } from "./pow2_lowrank.ts";
import { lowRankPlusDiagonal } from "./lowrank.ts";
import { pow2GridFactors } from "./pow2.ts";
import { mulberry32 } from "./_rng.ts";

/** Fill one channel's operands: random V, lambda, d, a row w (with ties and zeros), its sort and H w. */
function fill(
  a: ReturnType<typeof sweepArrays>,
  k: number,
  r: number,
  seed: number,
): { wHw: number; rowMax: number } {
  const u = mulberry32(seed);
  for (let i = 0; i < k * r; i++) a.v[i] = u() - 0.5;
  for (let j = 0; j < r; j++) a.lam[j] = u() * 4 - 0.5; // one may be negative (round-off of a PSD part)
  for (let x = 0; x < k; x++) a.d[x] = u();
  const w = Float32Array.from({ length: k }, () => (u() < 0.1 ? 0 : (u() - 0.5) * (u() < 0.1 ? 8 : 1)));
  if (k > 3) w[3] = -w[1]!; // a tie of magnitudes
  const order = Array.from({ length: k }, (_, x) => x).sort((p, q) =>
    Math.abs(w[p]!) - Math.abs(w[q]!) || p - q
  );
  order.forEach((x, i) => (a.idx[i] = x, a.mag[i] = Math.abs(w[x]!)));
  let wHw = 0;
  for (let x = 0; x < k; x++) {
    a.sgn[x] = w[x]! < 0 ? -1 : 1;
    let s = a.d[x]! * w[x]!;
    for (let y = 0; y < k; y++) {
      let lr = 0;
      for (let j = 0; j < r; j++) lr += a.v[x * r + j]! * a.lam[j]! * a.v[y * r + j]!;
      s += lr * w[y]!;
    }
    a.hw[x] = s;
    wHw += w[x]! * s;
  }
  return { wHw, rowMax: a.mag[k - 1]! };
}

Deno.test("wasm_pow2_sweep: the SIMD kernel gives the scalar sweep's bits (ranks 0..32, caps 0..15)", () => {
  const factors = pow2GridFactors({ stepsPerOctave: 16 });
  let cases = 0;
  for (
    const [k, r, seed] of [[1, 0, 1], [7, 2, 2], [64, 8, 3], [130, 32, 4], [33, 4, 5], [256, 8, 6]] as const
  ) {
    for (const q of [0, 1, 3, 7, 15]) {
      const shape = { k, r, g: factors.length, q };
      const fast = pow2Sweeper(shape);
      assert(fast.wasm, "WebAssembly SIMD is available in Deno");
      const ref = sweepArrays(shape);
      const { wHw, rowMax } = fill(ref, k, r, seed * 31 + q);
      for (const f of ["v", "lam", "d", "hw", "sgn", "mag", "idx"] as const) fast.arrays[f].set(ref[f]);
      const center = Math.fround(rowMax / 2 ** q);
      const grid = [...factors].map((f) => Math.fround(center * f)).filter((x) => x > 0);
      ref.alpha.set(grid), fast.arrays.alpha.set(grid);
      pow2SweepScalar(ref, k, r, q, grid.length, wHw);
      fast.run(q, grid.length, wHw);
      for (let g = 0; g < grid.length; g++) {
        const x = fast.arrays.err[g]!, y = ref.err[g]!;
        assert(Object.is(x, y), `k=${k} r=${r} q=${q} candidate ${g}: ${x} vs ${y}`);
      }
      cases++;
    }
  }
  assertEquals(cases, 30);
});

Deno.test("wasm_pow2_sweep: each candidate's error equals the direct quadratic form of its levels", () => {
  const k = 40, r = 4, q = 7;
  const a = sweepArrays({ k, r, g: 3, q });
  const { wHw, rowMax } = fill(a, k, r, 77);
  const w = Float64Array.from({ length: k }, (_, x) => a.sgn[x]! * a.mag[[...a.idx].indexOf(x)]!);
  const alphas = [rowMax / 200, rowMax / 40, rowMax / 3].map(Math.fround);
  a.alpha.set(alphas);
  pow2SweepScalar(a, k, r, q, 3, wHw);
  alphas.forEach((al, g) => {
    // e = w - al * L with L the nearest level (ties to the smaller), capped at 2^q
    const e = w.map((wx) => {
      let p = 0;
      while (p < q && Math.abs(wx) > 1.5 * al * 2 ** p) p++;
      return wx - al * (wx < 0 ? -1 : 1) * 2 ** p;
    });
    let s = 0;
    for (let x = 0; x < k; x++) {
      s += a.d[x]! * e[x]! * e[x]!;
      for (let y = 0; y < k; y++) {
        let lr = 0;
        for (let j = 0; j < r; j++) lr += a.v[x * r + j]! * a.lam[j]! * a.v[y * r + j]!;
        s += e[x]! * lr * e[y]!;
      }
    }
    assert(Math.abs(a.err[g]! - s) <= 1e-9 * Math.max(1, Math.abs(s)), `candidate ${g}: ${a.err[g]} vs ${s}`);
  });
});

Deno.test("pow2AlphaLowRank: the WebAssembly and JavaScript sweeps choose the same alphas and caps", () => {
  const u = mulberry32(12);
  for (const [k, n, rank, bits] of [[96, 24, 8, 4], [50, 10, 3, 5], [20, 6, 0, 3]] as const) {
    const rows = 4 * k, h = new Float64Array(k * k), x = new Float64Array(k);
    for (let t = 0; t < rows; t++) {
      const z = u() - 0.5;
      for (let i = 0; i < k; i++) x[i] = z + (u() - 0.5) * (i % 3 === 0 ? 2 : 1);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += (x[i]! * x[j]!) / rows;
    }
    const w = Float32Array.from({ length: k * n }, () => (u() - 0.5) * (u() < 0.05 ? 6 : 1));
    w.fill(0, 0, k); // an all-zero row
    const m = lowRankPlusDiagonal(h, { rank });
    const fast = pow2AlphaLowRank(w, m, { bits, stepsPerOctave: 16 });
    const slow = pow2AlphaLowRank(w, m, { bits, stepsPerOctave: 16, scalar: true });
    assertEquals(fast, slow);
    assertEquals(fast.alpha[0], 0);
  }
});

Deno.test("wasm_pow2_sweep: an odd padded rank is refused", () => {
  assertThrows(() => pow2Sweeper({ k: 4, r: 3, g: 2, q: 3 }), RangeError, "even");
});
