/**
 * The error function, which JavaScript's Math lacks.
 *
 * Reference: the series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!! (Abramowitz & Stegun
 * 7.1.6): all terms positive, so no cancellation; relative error ~1e-15 on |x| < 6, beyond which erf is +-1
 * in double precision. It needs up to ~100 terms near |x| = 6, so {@linkcode erf} evaluates it only on a
 * grid of step 1/64 (once, at load) and expands around the nearest grid point x0 (|d| <= 1/128):
 * erf(x0 + d) = erf(x0) + 2/sqrt(pi) e^{-x0^2} sum_{n>=0} (-1)^n H_n(x0) d^{n+1} / (n+1)!, with the
 * Hermite polynomials H_n by their recurrence. Terms shrink like (2 x0 / 128)^n / n!, so the first
 * {@link TERMS} reach double precision on the whole grid (the omitted ones sum to below 1e-22 of the result); their
 * coefficients are tabulated per grid point at load and summed by Horner's rule: a fixed polynomial, no
 * division and no data-dependent loop per element (`_erf_test.ts` checks it against the series).
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

/** Taylor terms per grid point (degree of the polynomial in d). */
const TERMS = 9;
const gridErf = new Float64Array(GRID);
// coef[i * TERMS + n] = 2/sqrt(pi) e^{-x0^2} (-1)^n H_n(x0) / (n+1)!, the coefficient of d^{n+1} at x0 = i/64
const coef = new Float64Array(GRID * TERMS);
for (let i = 0; i < GRID; i++) {
  const x0 = i / STEPS;
  gridErf[i] = erfSeries(x0);
  const deriv = TWO_OVER_SQRT_PI * Math.exp(-x0 * x0);
  let hPrev = 1, h = 1, fact = 1; // H_{n-1}, H_n, (n+1)!
  for (let n = 0; n < TERMS; n++) {
    if (n === 1) hPrev = 1, h = 2 * x0;
    else if (n > 1) [hPrev, h] = [h, 2 * x0 * h - 2 * (n - 1) * hPrev];
    fact *= n + 1;
    coef[i * TERMS + n] = deriv * (n & 1 ? -h : h) / fact;
  }
}

/** erf(x) to double precision. */
export function erf(x: number): number {
  if (x !== x) return x;
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  const i = Math.round(ax * STEPS);
  const d = ax - i / STEPS, c = i * TERMS;
  let p = coef[c + TERMS - 1]!;
  for (let n = TERMS - 2; n >= 0; n--) p = p * d + coef[c + n]!;
  const r = gridErf[i]! + p * d;
  return x < 0 ? -r : r;
}
