/**
 * Generates tests/ops/ShiftMatMul.json, the data-driven cases of `shiftkit.ShiftMatMul`
 * (docs/ops/denseshift.md), from the quant/ reference. Run from the repository root:
 * `deno run -A tests/ops/_gen_denseshift.ts && deno fmt tests/ops/ShiftMatMul.json`.
 *
 * Every value is dyadic and every case is checked to be order-independent in float32 (all partial sums of
 * X @ W_hat + bias are exactly representable), so any backend (CPU evaluator, onnxruntime through the
 * function body, WebGPU) must reproduce Y bit for bit: each case has `tolerance: { atol: 0, rtol: 0 }`.
 * Extra per-case fields: `source` (float weights and the codes encodePow2 gives them, channel-major
 * [N, K]; -0 is written "-0" since JSON has no negative zero) and `integer` (the exact int8 path).
 * @module
 */

import { packedByteLength } from "../../quant/bitpack.ts";
import {
  packShiftWeight,
  shiftAccumulatorBound,
  shiftMatMul,
  shiftMatMulInteger,
} from "../../quant/dense_shift.ts";
import { decodePow2, encodePow2 } from "../../quant/pow2.ts";
import { mulberry32 } from "../../quant/_rng.ts";

interface Spec {
  name: string;
  note: string;
  bits: number;
  k: number;
  n: number;
  xShape: number[];
  alpha: number[];
  /** Channel-major source weights [N, K] (float32), or undefined for seeded random ones with ties. */
  source?: number[];
  bias?: number[];
  seed: number;
}

const specs: Spec[] = [
  {
    name: "bits3_k5_n3_ties",
    note: "linear-midpoint ties go to the smaller magnitude; 0 and -0 -> +alpha; 1.413*alpha -> alpha " +
      "(log-domain rounding would give 2*alpha); saturation at 8*alpha",
    bits: 3,
    k: 5,
    n: 3,
    xShape: [2, 5],
    alpha: [0.25, 0.375, 0.5],
    source: [
      ...[0.375, 0.75, -1.5, 0, 5],
      ...[0.5625, -1.125, 0.53, -0, 1.6],
      ...[0.75, 1.5625, -0.25, 4, -7],
    ],
    seed: 1,
  },
  {
    name: "bits4_k7_n2_bias",
    note: "random weights with ties, bias",
    bits: 4,
    k: 7,
    n: 2,
    xShape: [3, 7],
    alpha: [0.125, 0.0625],
    bias: [0.5, -0.25],
    seed: 2,
  },
  {
    name: "bits5_k13_n4_rank3",
    note: "K = 13 (not a multiple of 8), batched X [2, 2, 13]",
    bits: 5,
    k: 13,
    n: 4,
    xShape: [2, 2, 13],
    alpha: [2 ** -6, 3 * 2 ** -7, 2 ** -5, 2 ** -8],
    seed: 3,
  },
  {
    name: "bits6_k9_n3_rank1_bias",
    note: "6-bit codes up to p = 14, 1-D X [9] -> Y [3]",
    bits: 6,
    k: 9,
    n: 3,
    xShape: [9],
    alpha: [2 ** -10, 2 ** -8, 5 * 2 ** -12],
    bias: [1, -0.5, 0.125],
    seed: 4,
  },
  {
    name: "bits3_k11_n5_ties",
    note: "3-bit, K = 11, 55 codes = 165 bits (codes cross byte boundaries, 3 padding bits)",
    bits: 3,
    k: 11,
    n: 5,
    xShape: [2, 11],
    alpha: [0.5, 0.25, 0.125, 0.75, 1],
    seed: 5,
  },
];

/** Random source weights [N, K]: a third exact ties 1.5 * 2^p * alpha, the rest spread over the range. */
function randomSource(s: Spec): number[] {
  const u = mulberry32(s.seed);
  const top = Math.min(2 ** (s.bits - 1) - 1, 14);
  const out: number[] = [];
  for (let c = 0; c < s.n; c++) {
    for (let i = 0; i < s.k; i++) {
      const sign = u() < 0.5 ? -1 : 1;
      const a = s.alpha[c]!;
      const v = u() < 0.34 ? 1.5 * 2 ** Math.floor(u() * top) * a : 2 ** (u() * (top + 1.5) - 0.5) * a;
      out.push(Math.fround(sign * v));
    }
  }
  return out;
}

/** Lowest set-bit exponent of a dyadic number (the finest power of two it is a multiple of). */
function lowBit(t: number): number {
  for (let e = 40; e > -80; e--) if (Number.isInteger(t / 2 ** e)) return e;
  throw new RangeError(`${t} is not a dyadic number with an exponent in -80..40`);
}

/** Throws unless every partial sum of every output is exactly representable in float32. */
function checkExact(
  x: Float32Array,
  w: Float32Array,
  bias: number[] | undefined,
  k: number,
  n: number,
): void {
  for (let r = 0; r < x.length / k; r++) {
    for (let j = 0; j < n; j++) {
      const terms = Array.from({ length: k }, (_, i) => x[r * k + i]! * w[i * n + j]!).filter((t) => t !== 0);
      if (bias) terms.push(bias[j]!);
      if (terms.length === 0) continue;
      const e0 = Math.min(...terms.map(lowBit));
      const total = terms.reduce((a, t) => a + Math.abs(t), 0);
      if (total >= 2 ** (e0 + 24)) {
        throw new RangeError(`row ${r} col ${j}: partial sums are not float32-exact`);
      }
    }
  }
}

const cases = specs.map((s) => {
  const u = mulberry32(100 + s.seed);
  const source = Float32Array.from(s.source ?? randomSource(s));
  const alpha = Float32Array.from(s.alpha);
  const codes = encodePow2(source, alpha, { bits: s.bits }); // channel-major [N, K]
  const weight = packShiftWeight(codes, { alpha, bits: s.bits, shape: [s.k, s.n], axis: 1 });
  const rows = s.xShape.slice(0, -1).reduce((a, b) => a * b, 1);
  const xq = Int8Array.from({ length: rows * s.k }, () => Math.floor(u() * 33) - 16);
  const xScale = 0.125;
  const x = Float32Array.from(xq, (v) => v * xScale);
  const bias = s.bias ? Float32Array.from(s.bias) : undefined;
  const y = shiftMatMul({ data: x, shape: s.xShape }, weight, bias ? { bias } : {});
  const wHat = decodePow2(codes, alpha, { bits: s.bits }); // [N, K]
  const wKN = new Float32Array(s.k * s.n).map((_, idx) => wHat[(idx % s.n) * s.k + Math.floor(idx / s.n)]!);
  checkExact(x, wKN, s.bias, s.k, s.n);
  const integer = shiftAccumulatorBound(weight) <= 2 ** 31 - 1
    ? shiftMatMulInteger({ data: xq, shape: s.xShape }, weight, { xScale })
    : undefined;
  // Inputs keyed by name in ONNX input order, { dtype, dims, data }, as the other tests/ops/*.json files.
  const inputs: Record<string, unknown> = {
    X: { dtype: "float32", dims: s.xShape, data: Array.from(x) },
    codes: { dtype: "uint8", dims: [packedByteLength(s.k * s.n, s.bits)], data: Array.from(weight.packed) },
    alpha: { dtype: "float32", dims: [s.n], data: Array.from(alpha) },
  };
  if (bias) inputs.bias = { dtype: "float32", dims: [s.n], data: Array.from(bias) };
  return {
    name: s.name,
    note: s.note,
    attributes: { bits: s.bits, weight_shape: [s.k, s.n] },
    inputs,
    outputs: { Y: { dtype: "float32", dims: y.shape, data: Array.from(y.data) } },
    tolerance: { atol: 0, rtol: 0 }, // dyadic data, float32-exact partial sums: every backend matches exactly
    source: {
      note: "float weights the codes were encoded from (encodePow2, channel-major [N, K]) and their codes",
      weights: Array.from(source, (v) => (Object.is(v, -0) ? "-0" : v)),
      codes: Array.from(codes),
    },
    ...(integer
      ? {
        integer: {
          note:
            "X = x_q * x_scale; acc = sum ±(x_q << p) (int32, exact); y = f32(f32(acc) * f32(x_scale * alpha))",
          x_scale: xScale,
          x_q: Array.from(xq),
          acc: Array.from(integer.acc),
          y: Array.from(integer.y),
        },
      }
      : {}),
  };
});

const doc = {
  op: "ShiftMatMul",
  domain: "shiftkit",
  version: 1,
  spec: "docs/ops/denseshift.md",
  generator: "tests/ops/_gen_denseshift.ts",
  cases,
};
const text = JSON.stringify(doc, null, 2).replace(
  /\[\s+([-\w.",\s]*?)\s+\]/g,
  (_, items: string) => `[${items.split(/,\s+/).join(", ")}]`,
);
await Deno.writeTextFile(new URL("./ShiftMatMul.json", import.meta.url), text + "\n");
