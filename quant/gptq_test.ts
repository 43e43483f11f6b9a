import { assertAlmostEquals } from "@std/assert";
import { quantErrorStats } from "./gptq.ts";
import { GramAccumulator } from "./gram.ts";
import { mulberry32 } from "./_rng.ts";

Deno.test("quantErrorStats: the output error by block pairs (K > 1024, a short last block) is ‖X(W−Ŵ)‖/‖XW‖", () => {
  for (const [K, N, R] of [[1030, 5, 40], [64, 3, 20]] as const) {
    const r = mulberry32(K);
    const x = Float32Array.from({ length: R * K }, () => r() - 0.5);
    const g = new GramAccumulator(K);
    g.add(x, R);
    const w = Float32Array.from({ length: K * N }, () => r() - 0.5);
    const d = w.map((v) => Math.round(v * 4) / 4);
    let num = 0, den = 0;
    for (let row = 0; row < R; row++) {
      for (let n = 0; n < N; n++) {
        let a = 0, b = 0;
        for (let k = 0; k < K; k++) {
          a += x[row * K + k]! * (w[k * N + n]! - d[k * N + n]!);
          b += x[row * K + k]! * w[k * N + n]!;
        }
        num += a * a;
        den += b * b;
      }
    }
    assertAlmostEquals(quantErrorStats(w, d, g.mean(), K, N, 0).relOutputError, Math.sqrt(num / den), 1e-9);
  }
});
