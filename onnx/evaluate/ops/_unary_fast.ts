/**
 * Float32 loops of the hot unary activations, each op with its own loop and the arithmetic written out:
 * a loop shared by every op that calls the op's function per element has one call site for all of them,
 * which V8 cannot inline once it has seen a few ops (megamorphic). Each formula is the one of the generic
 * path in unary.ts (double precision, rounded once to float32 on store), so the results are identical;
 * Erf and Sigmoid run in WebAssembly where available (`_erf_wasm.ts`: the same bits; `_exp_wasm.ts`: an exp
 * within about 1 ulp of double of Math.exp, so a float32 result may differ in rare ties).
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { erf } from "./_erf.ts";
import { erfF32 } from "./_erf_wasm.ts";
import { sigmoidF32 } from "./_exp_wasm.ts";

/** O[i] = op(X[i]) over the whole array. */
export type UnaryLoop = (X: Float32Array, O: Float32Array, attrs: Attrs) => void;

/** Float32 loops by op type. */
export const unaryLoops: Record<string, UnaryLoop> = {
  // Relu on the bits, without a branch (a branch on the sign is mispredicted half the time on activations:
  // 4.3 ns per element here against 0.5): x > 0 ? x : 0, where sign-bit-set inputs (negatives, -0) and
  // positive NaN patterns (above 0x7f800000 = +Inf) give +0.
  Relu: (X, O) => {
    const XI = new Int32Array(X.buffer, X.byteOffset, X.length);
    const OI = new Int32Array(O.buffer, O.byteOffset, O.length);
    for (let i = 0, n = XI.length; i < n; i++) {
      const xi = XI[i]!;
      OI[i] = xi & ~(xi >> 31) & ~((0x7f800000 - (xi & 0x7fffffff)) >> 31);
    }
  },
  Sigmoid: (X, O) => {
    if (sigmoidF32(X, O)) return;
    for (let i = 0, n = X.length; i < n; i++) {
      const x = X[i]!;
      O[i] = x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }
  },
  HardSigmoid: (X, O, a) => {
    const alpha = Math.fround(a.float("alpha", 0.2)), beta = Math.fround(a.float("beta", 0.5));
    for (let i = 0, n = X.length; i < n; i++) O[i] = Math.max(0, Math.min(1, alpha * X[i]! + beta));
  },
  // HardSwish = x * HardSigmoid(x) with alpha = 1/6, beta = 0.5 (opset 14).
  HardSwish: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) {
      const x = X[i]!;
      O[i] = x * Math.max(0, Math.min(1, x / 6 + 0.5));
    }
  },
  LeakyRelu: (X, O, a) => {
    const alpha = a.float("alpha", 0.01);
    for (let i = 0, n = X.length; i < n; i++) {
      const x = X[i]!;
      O[i] = x >= 0 ? x : alpha * x;
    }
  },
  Tanh: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) O[i] = Math.tanh(X[i]!);
  },
  Exp: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) O[i] = Math.exp(X[i]!);
  },
  Sqrt: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) O[i] = Math.sqrt(X[i]!);
  },
  Erf: (X, O) => {
    if (erfF32(X, O)) return;
    for (let i = 0, n = X.length; i < n; i++) O[i] = erf(X[i]!);
  },
  Neg: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) O[i] = -X[i]!;
  },
  Abs: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) O[i] = Math.abs(X[i]!);
  },
  Reciprocal: (X, O) => {
    for (let i = 0, n = X.length; i < n; i++) O[i] = 1 / X[i]!;
  },
};

/** Clip of a float32 array to [lo, hi]. */
export function clipF32(X: Float32Array, O: Float32Array, lo: number, hi: number): void {
  for (let i = 0, n = X.length; i < n; i++) {
    const v = X[i]!;
    O[i] = v < lo ? lo : v > hi ? hi : v;
  }
}
