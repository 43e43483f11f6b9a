/**
 * Deterministic test data for the integer-op tests (private: `_` prefix).
 * @module
 */

/** A seeded LCG in [0, 1) so every test run sees the same numbers. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Standard normal samples from a uniform source (Box-Muller). */
export function gaussian(rnd: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
}

/** erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26). */
export function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** Exact GELU, x * Phi(x). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}
