/**
 * The error function, which JavaScript's Math lacks.
 *
 * Reference: the series erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (2n+1)!! (Abramowitz & Stegun
 * 7.1.6): all terms positive, so no cancellation; relative error ~1e-15 on |x| < 6, beyond which erf is +-1
 * in double precision. It needs up to ~100 terms near |x| = 6, so {@linkcode erf} evaluates it only on a
 * grid of step 1/256 (once, at load) and expands around the nearest grid point x0 (|d| <= 1/512):
 * erf(x0 + d) = erf(x0) + 2/sqrt(pi) e^{-x0^2} sum_{n>=0} (-1)^n H_n(x0) d^{n+1} / (n+1)!, with the
 * Hermite polynomials H_n by their recurrence. Terms shrink like (2 x0 / 512)^n / n!, so the first
 * {@link TERMS} reach double precision on the whole grid (the omitted ones sum to below 2e-17 of the result); their
 * coefficients are tabulated per grid point at load and summed by Horner's rule: a fixed polynomial, no
 * division and no data-dependent loop per element (`_erf_test.ts` checks it against the series).
 * @module
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
/** Grid points per unit of x. */
export const ERF_STEPS = 256;
const STEPS = ERF_STEPS;
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
const TERMS = 5;
/** Doubles per grid point in {@link ERF_TABLE}: erf(x0), then the coefficients of d^1..d^TERMS. */
export const ERF_STRIDE = TERMS + 1;
/**
 * Per grid point x0 = i/64 (i = 0..384): `ERF_TABLE[i * ERF_STRIDE]` = erf(x0), and at `+ m` (m >= 1) the
 * coefficient of d^m, 2/sqrt(pi) e^{-x0^2} (-1)^(m-1) H_(m-1)(x0) / m!. Shared with the WebAssembly kernel.
 */
export const ERF_TABLE: Float64Array = new Float64Array(GRID * ERF_STRIDE);
for (let i = 0; i < GRID; i++) {
  const x0 = i / STEPS, row = i * ERF_STRIDE;
  ERF_TABLE[row] = erfSeries(x0);
  const deriv = TWO_OVER_SQRT_PI * Math.exp(-x0 * x0);
  let hPrev = 1, h = 1, fact = 1; // H_{n-1}, H_n, (n+1)!
  for (let n = 0; n < TERMS; n++) {
    if (n === 1) hPrev = 1, h = 2 * x0;
    else if (n > 1) [hPrev, h] = [h, 2 * x0 * h - 2 * (n - 1) * hPrev];
    fact *= n + 1;
    ERF_TABLE[row + n + 1] = deriv * (n & 1 ? -h : h) / fact;
  }
}

/**
 * erf(x) to double precision: the grid point i = round(min(|x|, 6) * 256), d = min(|x|, 6) - i/256, Horner's
 * rule from the d^5 coefficient down, erf(x0) added last, the sign of x applied (erf(-0) = +0). The
 * WebAssembly kernel (`_erf_wasm.ts`) performs the same operations in the same order: identical results.
 */
export function erf(x: number): number {
  if (x !== x) return x;
  const t = Math.min(Math.abs(x), 6);
  const i = Math.floor(t * STEPS + 0.5);
  const d = t - i * (1 / STEPS), c = i * ERF_STRIDE;
  let p = ERF_TABLE[c + TERMS]!;
  for (let n = TERMS - 1; n >= 1; n--) p = p * d + ERF_TABLE[c + n]!;
  const r = ERF_TABLE[c]! + p * d;
  return x < 0 ? -r : r;
}
