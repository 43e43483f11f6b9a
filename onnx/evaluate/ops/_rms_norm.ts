/**
 * RMSNorm as exporters write it, `Mul(Mul(x, Div(c, Sqrt(Add(ReduceMean(Pow(x, 2), axes=[-1]), eps)))), w)`,
 * in one pass per row, each step rounded to float32 as the separate ops round it: `fl(x^2)` (Pow, exact
 * product), the in-order double sum of those over the row divided by the row length (ReduceMean), then
 * `fl(m + eps)`, `fl(sqrt(.))`, `fl(c / .)`, `fl(x * r)` and `fl(. * w)`.
 * @module
 */

/**
 * Rows of `L` floats of X to O (the same length), through the RMSNorm chain above.
 *
 * @param eps the Add's scalar
 * @param c the Div's numerator (a scalar, 1 as exported)
 * @param w the weight row (`L` floats), or undefined where the chain ends at `x * r`
 */
export function rmsNormF32(
  X: Float32Array,
  O: Float32Array,
  L: number,
  eps: number,
  c: number,
  w: Float32Array | undefined,
): void {
  const f = Math.fround, rows = L > 0 ? X.length / L : 0;
  for (let o = 0, s = 0; o < rows; o++, s += L) {
    let a = 0;
    for (let j = s, e = s + L; j < e; j++) {
      const x = X[j]!;
      a += f(x * x);
    }
    const r = f(c / f(Math.sqrt(f(f(a / L) + eps))));
    if (w) { for (let j = 0; j < L; j++) O[s + j] = f(X[s + j]! * r) * w[j]!; }
    else for (let j = s, e = s + L; j < e; j++) O[j] = X[j]! * r;
  }
}
