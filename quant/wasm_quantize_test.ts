import { assert, assertEquals } from "@std/assert";
import { quantizeLinear } from "./quantize.ts";
import { roundHalfEven } from "./round.ts";
import { wasmQuantize } from "./wasm_quantize.ts";
import { mulberry32 } from "./_rng.ts";

/** QuantizeLinear's definition, element by element (the JavaScript loop's arithmetic, in the test). */
function reference(x: number, s: number, z: number, lo: number, hi: number): number {
  const v = Math.fround(x / s);
  const q = v !== v ? z : roundHalfEven(v) + z;
  return Math.min(hi, Math.max(lo, q));
}

/** Values that reach every case: ties, signed zeros, subnormal quotients, NaN, infinities, saturation. */
function values(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const special = [0.5, 1.5, 2.5, -0.5, -2.5, -0, 0, NaN, Infinity, -Infinity, 1e-40, -1e-45, 3e38, -3e38];
  return Float32Array.from(
    { length: n },
    (_, i) => i % 7 === 0 ? special[(i / 7) % special.length]! : (r() - 0.5) * 2 ** Math.floor(r() * 30 - 15),
  );
}

Deno.test("wasm_quantize: the kernel is there, and QuantizeLinear on it gives the definition's integers", () => {
  assert(wasmQuantize !== undefined, "WebAssembly SIMD is available in Deno");
  const r = mulberry32(4);
  const cases = [
    { dims: [1031], axis: 0, params: 1, out: new Int8Array(1031), lo: -128, hi: 127 }, // per tensor
    { dims: [37, 67], axis: 1, params: 67, out: new Int8Array(37 * 67), lo: -127, hi: 127 }, // last axis
    { dims: [24, 5, 3, 3], axis: 0, params: 24, out: new Uint8Array(24 * 45), lo: 0, hi: 255 }, // Conv, per Cout
    { dims: [300, 9], axis: 1, params: 9, out: new Int16Array(2700), lo: -32768, hi: 32767 },
    { dims: [40, 30], axis: 0, params: 40, out: new Uint16Array(1200), lo: 0, hi: 65535 },
    { dims: [130, 64], axis: 0, params: 5 * 64, out: new Int8Array(130 * 64), lo: -8, hi: 7, block: 32 }, // int4
  ];
  for (const [ci, c] of cases.entries()) {
    const n = c.dims.reduce((a, b) => a * b, 1);
    const x = values(n, 10 + ci);
    const scale = Float32Array.from({ length: c.params }, () => 2 ** (r() * 8 - 6) * (1 + r()));
    const zp = Int32Array.from({ length: c.params }, () => Math.round(c.lo + r() * (c.hi - c.lo)));
    const got = quantizeLinear(x, c.dims, scale, zp, {
      out: c.out,
      axis: c.axis,
      qmin: c.lo,
      qmax: c.hi,
      ...(c.block ? { blockSize: c.block } : {}),
    });
    const inner = c.dims.slice(c.axis + 1).reduce((a, b) => a * b, 1), d = c.dims[c.axis]!;
    const outer = n / (d * inner);
    for (let i = 0; i < n; i++) {
      let p: number;
      if (c.params === 1) p = 0;
      else if (c.block) {
        const o = Math.floor(i / (d * inner)), ch = Math.floor(i / inner) % d, k = i % inner;
        p = (o * Math.ceil(d / c.block) + Math.floor(ch / c.block)) * inner + k;
      } else p = Math.floor(i / inner) % d;
      const want = reference(x[i]!, scale[p]!, zp[p]!, c.lo, c.hi);
      if (got[i] !== want) {
        assertEquals(
          got[i],
          want,
          `case ${ci}, element ${i}: x ${x[i]} s ${scale[p]} z ${zp[p]} (outer ${outer})`,
        );
      }
    }
  }
});

Deno.test("wasm_quantize: zero points past 2^16 (int32 storage) keep the JavaScript loop, same definition", () => {
  const x = values(512, 3), scale = new Float32Array([0.001]), zp = new Int32Array([100000]);
  const got = quantizeLinear(x, [512], scale, zp, { out: new Int32Array(512), qmin: 0, qmax: 200000 });
  for (let i = 0; i < 512; i++) {
    assertEquals(got[i], reference(x[i]!, 0.001, 100000, 0, 200000), `element ${i}`);
  }
});
