import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertLess,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import {
  biasCorrection,
  decodePow2,
  encodePow2,
  pow2AlphaMax,
  pow2AlphaMse,
  pow2AlphaOutput,
  pow2Level,
  pow2MaxExponent,
} from "./pow2.ts";
import { mulberry32 } from "./_rng.ts";

/** Seeded uniform [0, 1) (mulberry32) and standard normal (Box-Muller over the same stream). */
function rng(seed: number): { uniform: () => number; normal: () => number } {
  const uniform = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

Deno.test("pow2Level: every code is ±2^p with p in [0, pmax], never zero, for N = 1..8", () => {
  for (let bits = 1; bits <= 8; bits++) {
    const pmax = pow2MaxExponent(bits);
    assertEquals(pmax, 2 ** (bits - 1) - 1);
    const seen = new Set<number>();
    for (let c = 0; c < 2 ** bits; c++) {
      const l = pow2Level(c, bits);
      const p = Math.log2(Math.abs(l));
      assert(Number.isInteger(p) && p >= 0 && p <= pmax && l !== 0, `bits=${bits} code=${c} level=${l}`);
      assertEquals(Math.sign(l), c >> (bits - 1) ? -1 : 1);
      seen.add(l);
    }
    assertEquals(seen.size, 2 ** bits); // all levels distinct: no code is wasted
  }
  assertThrows(() => pow2Level(8, 3), RangeError);
  assertThrows(() => pow2MaxExponent(9), RangeError, "bits must be an integer in 1..8");
});

Deno.test("encodePow2 picks the linear-nearest level (ties to the smaller magnitude), decodePow2 inverts it", () => {
  const { normal, uniform } = rng(11);
  for (let bits = 1; bits <= 8; bits++) {
    const pmax = pow2MaxExponent(bits);
    const n = 3, k = 50;
    const w = new Float32Array(n * k).map(() => normal() * 2 ** (uniform() * 12 - 6));
    const alpha = Float32Array.from({ length: n }, () => 2 ** (uniform() * 8 - 10));
    const codes = encodePow2(w, alpha, { bits });
    const hat = decodePow2(codes, alpha, { bits });
    for (let i = 0; i < w.length; i++) {
      const a = alpha[Math.floor(i / k)]!;
      assert(codes[i]! < 2 ** bits);
      assertEquals(hat[i], a * pow2Level(codes[i]!, bits)); // decode is exact
      // Brute force: distance to every level of the same sign; the chosen one is the nearest, and on a tie
      // the smaller magnitude.
      const s = w[i]! < 0 ? -1 : 1;
      let bestP = 0;
      for (let p = 1; p <= pmax; p++) {
        if (Math.abs(w[i]! - s * a * 2 ** p) < Math.abs(w[i]! - s * a * 2 ** bestP)) bestP = p;
      }
      assertEquals(hat[i], s * a * 2 ** bestP, `bits=${bits} i=${i} w=${w[i]}`);
    }
  }
});

Deno.test("encodePow2 ties: linear midpoints go to the smaller magnitude, not the log-domain midpoint", () => {
  const a = 0.375; // a float32 alpha that is not a power of two
  const w = [1.5 * a, 3 * a, 6 * a, 12 * a, -3 * a, 1.45 * a, 2.9 * a];
  // 1.5a: tie 1a|2a -> p0; 3a: tie 2a|4a -> p1; 6a -> p2; 12a above 8a -> saturates at p3; -3a -> sign, p1.
  // 1.45a > sqrt(2)a: round(log2) would give p1, the linear-nearest level is 1a (p0); 2.9a -> 2a (p1).
  assertEquals(encodePow2(w, a, { bits: 3 }), new Uint8Array([0, 1, 2, 3, 5, 0, 1]));
  // One float32 ulp above a tie goes up.
  const up = (x: number) => {
    const f = new Float32Array([x]);
    new Uint32Array(f.buffer)[0]! += 1;
    return f[0]!;
  };
  assertEquals(encodePow2([up(1.5 * a), up(3 * a), up(6 * a)], a, { bits: 3 }), new Uint8Array([1, 2, 3]));
  // Zero and -0 have no level of their own: +alpha (code 0). Below alpha saturates to p = 0 with its sign.
  assertEquals(encodePow2([0, -0, 1e-30, -1e-30], a, { bits: 4 }), new Uint8Array([0, 0, 0, 8]));
  assertEquals(decodePow2(encodePow2([0], a), a), new Float32Array([a]));
  // Tie handling at 6 bits near the top of the range: 1.5 * 2^30 * a -> p = 30.
  assertEquals(encodePow2([1.5 * 2 ** 30 * a, 1.5 * 2 ** 31 * a], a, { bits: 6 }), new Uint8Array([30, 31]));
  // alpha 0 (an all-zero channel): p = 0 everywhere, decodes to zeros.
  assertEquals(encodePow2([0.5, -2], 0, { bits: 3 }), new Uint8Array([0, 4]));
  assertEquals(decodePow2([0, 4], 0), new Float32Array([0, -0]));
});

Deno.test("encodePow2 / decodePow2 reject bad input", () => {
  assertThrows(() => encodePow2([NaN], 1), RangeError, "is not finite");
  assertThrows(() => encodePow2([1], -1), RangeError, "alpha[0] = -1");
  assertThrows(() => encodePow2([1, 2, 3], [1, 1]), RangeError, "do not split into 2 channels");
  assertThrows(() => decodePow2([8], 1, { bits: 3 }), RangeError, "not in [0, 7]");
  assertThrows(() => encodePow2([1], 1, { bits: 0 }), RangeError);
});

Deno.test("pow2AlphaMax: the largest weight is represented exactly; an all-zero row gets alpha 0", () => {
  const w = new Float32Array([0.3, -1.7, 0.01, 0, 0, 0]);
  for (const bits of [3, 4, 5, 6]) {
    const alpha = pow2AlphaMax(w, 3, { bits });
    assertEquals(alpha[1], 0);
    const hat = decodePow2(encodePow2(w, alpha, { bits }), alpha, { bits });
    assertEquals(hat[1], w[1]);
    assertEquals([...hat.slice(3)], [0, 0, 0]);
  }
});

/** A layer with correlated, anisotropic inputs: returns X [m, k], W [n, k] and H = X^T X. */
function layer(seed: number, m: number, k: number, n: number) {
  const { normal } = rng(seed);
  const x = new Float64Array(m * k);
  const scale = Float64Array.from({ length: k }, (_, j) => 0.2 + 3 * Math.abs(Math.sin(j * 1.7)));
  for (let r = 0; r < m; r++) {
    // AR(1) across features (rho 0.9) plus a per-feature scale and a common offset.
    let prev = normal();
    for (let j = 0; j < k; j++) {
      prev = 0.9 * prev + Math.sqrt(1 - 0.81) * normal();
      x[r * k + j] = scale[j]! * prev + 0.5;
    }
  }
  const w = new Float32Array(n * k).map(() => 0.1 * normal() * (1 + normal() ** 2));
  const gram = new Float64Array(k * k);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) gram[i * k + j]! += x[r * k + i]! * x[r * k + j]!;
    }
  }
  return { x, w, gram };
}

/** Sum of squared output errors ||X (W - W_hat)^T||^2 and sum of squared weight errors. */
function errors(x: Float64Array, w: Float32Array, hat: Float32Array, k: number) {
  const m = x.length / k, n = w.length / k;
  let out = 0, weight = 0;
  for (let i = 0; i < w.length; i++) weight += (w[i]! - hat[i]!) ** 2;
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let e = 0;
      for (let j = 0; j < k; j++) e += x[r * k + j]! * (w[c * k + j]! - hat[c * k + j]!);
      out += e * e;
    }
  }
  return { out, weight };
}

Deno.test("alpha search at 3..6 bits: output-error alpha < weight-MSE and max-based alphas; monotone in bits", () => {
  const k = 40, n = 12;
  for (const seed of [5, 6, 7]) {
    const { x, w, gram } = layer(seed, 400, k, n);
    let prev = { out: Infinity, weight: Infinity };
    for (const bits of [3, 4, 5, 6]) {
      const err = (alpha: Float32Array, maxExponent?: Uint8Array) => {
        const codes = encodePow2(w, alpha, maxExponent ? { bits, maxExponent } : { bits });
        return errors(x, w, decodePow2(codes, alpha, { bits }), k);
      };
      const max = err(pow2AlphaMax(w, k, { bits }));
      const mse = err(pow2AlphaMse(w, k, { bits }));
      const fit = pow2AlphaOutput(w, gram, { bits });
      const out = err(fit.alpha, fit.maxExponent);
      const at = `seed=${seed} bits=${bits}`;
      // Weight error: the MSE search contains the max-based alpha and beats it.
      assertLess(mse.weight, max.weight, at);
      // Output error: the output search contains the weight-MSE candidates and beats both. (The weight-MSE
      // alpha itself does not always beat max-based on output error: seed 5 at 3 bits is a counterexample.)
      assertLess(out.out, mse.out, at);
      assertLess(out.out, max.out, at);
      // More bits never hurt: weight error by the level superset argument, output error by the exponent caps.
      assertLessOrEqual(mse.weight, prev.weight * (1 + 1e-12), at);
      assertLessOrEqual(out.out, prev.out * (1 + 1e-12), at);
      prev = { out: out.out, weight: mse.weight };
    }
  }
});

Deno.test("pow2AlphaOutput: exponent caps are chosen from minBits..bits and encodePow2 honours them", () => {
  const k = 24;
  const { w, gram } = layer(3, 200, k, 10);
  const fit = pow2AlphaOutput(w, gram, { bits: 5 });
  for (const q of fit.maxExponent) assert([3, 7, 15].includes(q), `cap ${q}`);
  const only = pow2AlphaOutput(w, gram, { bits: 5, minBits: 5 });
  assertEquals(only.maxExponent, new Uint8Array(10).fill(15));
  const codes = encodePow2([100, -100, 0.1], 0.5, { bits: 5, maxExponent: [2] });
  assertEquals(codes, new Uint8Array([2, 16 | 2, 0]));
  assertThrows(() => encodePow2([1], 1, { bits: 3, maxExponent: [4] }), RangeError, "maxExponent[0] = 4");
  assertThrows(() => pow2AlphaOutput(w, gram, { bits: 3, minBits: 4 }), RangeError, "minBits");
});

Deno.test("pow2AlphaOutput with H = identity reproduces pow2AlphaMse's weight error", () => {
  const k = 16;
  const { w } = layer(9, 1, k, 6);
  const eye = new Float64Array(k * k).map((_, i) => (i % (k + 1) === 0 ? 1 : 0));
  const wErr = (alpha: Float32Array) =>
    decodePow2(encodePow2(w, alpha), alpha).reduce((s, v, i) => s + (v - w[i]!) ** 2, 0);
  assertAlmostEquals(wErr(pow2AlphaOutput(w, eye).alpha), wErr(pow2AlphaMse(w, k)), 1e-12);
  assertThrows(() => pow2AlphaOutput(w, new Float64Array(10)), RangeError, "not K*K");
  assertThrows(() => pow2AlphaMse(w, 5), RangeError, "do not split into rows of 5");
});

Deno.test("biasCorrection removes the mean output error on the calibration data", () => {
  const k = 24, n = 8, m = 300;
  const { x, w } = layer(21, m, k, n);
  const mu = new Float64Array(k);
  for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) mu[j]! += x[r * k + j]! / m;
  for (const bits of [3, 4, 5, 6]) {
    const alpha = pow2AlphaMse(w, k, { bits });
    const hat = decodePow2(encodePow2(w, alpha, { bits }), alpha, { bits });
    const db = biasCorrection({ weights: w, quantized: hat }, mu);
    for (let c = 0; c < n; c++) {
      // Mean over samples of y - y_hat, before and after adding delta_b to the quantized layer's bias.
      let before = 0;
      for (let r = 0; r < m; r++) {
        for (let j = 0; j < k; j++) before += (x[r * k + j]! * (w[c * k + j]! - hat[c * k + j]!)) / m;
      }
      assertAlmostEquals(before - db[c]!, 0, 1e-6 * (1 + Math.abs(before)));
    }
    const drift = db.reduce((s, v) => s + Math.abs(v), 0);
    assert(drift > 0, `bits=${bits}: the rounding must leave a drift to correct`);
  }
  assertThrows(() => biasCorrection({ weights: w, quantized: w.slice(1) }, mu), RangeError);
});
