/**
 * The straightforward BCQ fit as first written (one allocation per step), kept as the executable
 * specification that {@link ./bcq_fit.ts}'s allocation-free fitter is tested against bit for bit
 * (quant/bcq_fit_test.ts). Test-only.
 * @module
 */
import { bcqLevels, decodeBcq, nearestLevel, roundToPowersOfTwo } from "./bcq.ts";
import type { BcqFit, BcqFitOptions } from "./bcq_fit.ts";

export function fitBcqReference(w: ArrayLike<number>, options: BcqFitOptions = {}): BcqFit {
  const q = options.bits ?? 3;
  const rounds = options.rounds ?? 20;
  const terms = options.terms ?? 3;
  const pot = options.powerOfTwo ?? true;
  if (!Number.isInteger(q) || q < 1 || q > 8) {
    throw new RangeError(`Cannot fit BCQ: bits must be in 1..8, got ${q}`);
  }
  if (!(rounds >= 0) || !(terms >= 1)) {
    throw new RangeError(`Cannot fit BCQ: rounds must be >= 0 and terms >= 1, got ${rounds} and ${terms}`);
  }
  const n = w.length;
  const history = new Float64Array(rounds + 1);
  // Greedy init.
  let codes: Uint8Array = new Uint8Array(n);
  const alphas = new Float64Array(q);
  const r = Float64Array.from(w);
  for (let i = 0; i < q; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(r[j]!);
    const a = n > 0 ? s / n : 0;
    alphas[i] = a;
    for (let j = 0; j < n; j++) {
      if (r[j]! >= 0) {
        codes[j]! |= 1 << i;
        r[j]! -= a;
      } else {
        r[j]! += a;
      }
    }
  }
  history[0] = sqError(w, codes, alphas);

  const refine = (raw: Float64Array): BcqFit => {
    const sorted = Float64Array.from(raw, Math.abs).sort().reverse();
    const tms = pot ? Array.from(sorted, (a) => roundToPowersOfTwo(a, { terms })) : [];
    const al = pot ? Float64Array.from(tms, (t) => t.value) : sorted;
    const lv = bcqLevels(al);
    const cs = new Uint8Array(n);
    let err = 0;
    for (let j = 0; j < n; j++) {
      const idx = nearestLevel(lv, w[j]!);
      cs[j] = lv.codes[idx]!;
      const d = w[j]! - lv.values[idx]!;
      err += d * d;
    }
    return { alphas: al, terms: tms, codes: cs, error: err, history };
  };
  // The rounded greedy init is a candidate too (it can be exact where least squares is rank-deficient).
  let best = refine(alphas);
  codes = best.codes;
  for (let round = 1; round <= rounds; round++) {
    const fit = refine(leastSquaresAlphas(w, codes, q, alphas));
    history[round] = fit.error;
    if (fit.error < best.error) best = fit;
    // A round whose codes and alphas equal its inputs is a fixed point: every later round would repeat it
    // exactly (same inputs, same arithmetic), so stop with the same result and history.
    let fixed = true;
    for (let i = 0; i < q && fixed; i++) fixed = fit.alphas[i] === alphas[i];
    for (let j = 0; j < n && fixed; j++) fixed = fit.codes[j] === codes[j];
    codes = fit.codes;
    alphas.set(fit.alphas);
    if (fixed) {
      history.fill(fit.error, round + 1);
      break;
    }
  }
  return best;
}

/** Squared error of codes under alphas. */
function sqError(w: ArrayLike<number>, codes: Uint8Array, alphas: Float64Array): number {
  let e = 0;
  for (let j = 0; j < w.length; j++) {
    const d = w[j]! - decodeBcq(codes[j]!, alphas);
    e += d * d;
  }
  return e;
}

/**
 * Least-squares alphas for fixed codes: solve (BᵀB + ridge) α = Bᵀw by a q x q Cholesky. BᵀB and Bᵀw only
 * depend on how many weights carry each code and their sum, so they come from a 2^q-bin histogram.
 */
function leastSquaresAlphas(
  w: ArrayLike<number>,
  codes: Uint8Array,
  q: number,
  fallback: Float64Array,
): Float64Array {
  const count = 1 << q;
  const hist = new Float64Array(2 * count); // [count of code c, Σ w with code c]
  for (let j = 0; j < w.length; j++) {
    const c = codes[j]!;
    hist[2 * c]!++;
    hist[2 * c + 1]! += w[j]!;
  }
  const g = new Float64Array(q * q);
  const rhs = new Float64Array(q);
  for (let c = 0; c < count; c++) {
    const m = hist[2 * c]!;
    if (m === 0) continue;
    const sw = hist[2 * c + 1]!;
    for (let i = 0; i < q; i++) {
      const bi = (c >> i) & 1 ? 1 : -1;
      rhs[i]! += bi * sw;
      for (let k = 0; k <= i; k++) g[i * q + k]! += (((c >> k) & 1 ? 1 : -1) * bi) * m;
    }
  }
  const ridge = 1e-12 * w.length + 1e-300;
  // In-place Cholesky of the lower triangle.
  for (let i = 0; i < q; i++) {
    for (let k = 0; k <= i; k++) {
      let s = g[i * q + k]! + (i === k ? ridge : 0);
      for (let m = 0; m < k; m++) s -= g[i * q + m]! * g[k * q + m]!;
      if (i === k) {
        if (!(s > 0)) return Float64Array.from(fallback);
        g[i * q + i] = Math.sqrt(s);
      } else {
        g[i * q + k] = s / g[k * q + k]!;
      }
    }
  }
  const y = new Float64Array(q);
  for (let i = 0; i < q; i++) {
    let s = rhs[i]!;
    for (let k = 0; k < i; k++) s -= g[i * q + k]! * y[k]!;
    y[i] = s / g[i * q + i]!;
  }
  for (let i = q - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < q; k++) s -= g[k * q + i]! * y[k]!;
    y[i] = s / g[i * q + i]!;
  }
  return y;
}
