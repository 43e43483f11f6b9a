/**
 * The error function, which JavaScript's Math lacks.
 *
 * Reference: the series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!! (Abramowitz & Stegun
 * 7.1.6): all terms positive, so no cancellation; relative error ~1e-15 on |x| < 6, beyond which erf is +-1
 * in double precision. It needs up to ~100 terms near |x| = 6, so {@linkcode erf} evaluates it only on a
 * grid of step 1/64 (once, at load) and expands around the nearest grid point x0 (|d| <= 1/128):
 * erf(x0 + d) = erf(x0) + 2/sqrt(pi) e^{-x0^2} sum_{n>=0} (-1)^n H_n(x0) d^{n+1} / (n+1)!, with the
 * Hermite polynomials H_n by their recurrence. Terms shrink like (2 x0 / 128)^n / n!, so about 6-12 terms
 * reach double precision (`_erf_test.ts` checks it against the series).
 * @module
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const STEPS = 64; // grid points per unit
const GRID = 6 * STEPS + 1;

/** erf(x) by the A&S 7.1.6 series (slow near |x| = 6; the reference of {@linkcode erf}). */
export function erfSeries(x: number): number {
  if (x !== x) return x;
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  const x2 = ax * ax;
  let term = ax, sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  return x < 0 ? -r : r;
}

const gridErf = new Float64Array(GRID);
const gridDeriv = new Float64Array(GRID); // erf'(x0) = 2/sqrt(pi) e^{-x0^2}
for (let i = 0; i < GRID; i++) {
  const x0 = i / STEPS;
  gridErf[i] = erfSeries(x0);
  gridDeriv[i] = TWO_OVER_SQRT_PI * Math.exp(-x0 * x0);
}

/** erf(x) to double precision. */
export function erf(x: number): number {
  if (x !== x) return x;
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  const i = Math.round(ax * STEPS);
  const x0 = i / STEPS, d = ax - x0;
  // sum_{n>=0} (-1)^n H_n(x0) d^{n+1}/(n+1)!, H_0 = 1, H_1 = 2 x0, H_{n+1} = 2 x0 H_n - 2n H_{n-1}
  let p = d, sum = d, hPrev = 1, h = 2 * x0;
  for (let n = 1; n < 40; n++) {
    p *= d / (n + 1);
    const t = (n & 1 ? -h : h) * p;
    sum += t;
    const hNext = 2 * x0 * h - 2 * n * hPrev;
    // Stop once this and the next term are negligible (H_n(0) = 0 for odd n: one zero term is no sign).
    if (Math.abs(p) * (Math.abs(h) + Math.abs(hNext) * Math.abs(d)) <= 1e-17 * Math.abs(sum)) break;
    hPrev = h;
    h = hNext;
  }
  const r = gridErf[i]! + gridDeriv[i]! * sum;
  return x < 0 ? -r : r;
}
