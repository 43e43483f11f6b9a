/**
 * Recomputes every case of tests/ops/ShiftMatMul.json with the quant/ reference, exactly: the encoding of the
 * recorded source weights, the packing, Y = X @ decode(codes, alpha) (+ bias), and the integer path.
 */
import { assert, assertEquals } from "@std/assert";
import { packBits, unpackBits } from "../../quant/bitpack.ts";
import {
  decodeShiftWeight,
  shiftMatMul,
  shiftMatMulInteger,
  type ShiftWeight,
} from "../../quant/dense_shift.ts";
import { encodePow2 } from "../../quant/pow2.ts";

interface TensorCase {
  dtype: string;
  dims: number[];
  data: number[];
}
interface Case {
  name: string;
  attributes: { bits: number; weight_shape: [number, number] };
  inputs: Record<string, TensorCase>;
  outputs: Record<string, TensorCase>;
  tolerance: { atol: number; rtol: number };
  source: { weights: (number | "-0")[]; codes: number[] };
  integer?: { x_scale: number; x_q: number[]; acc: number[]; y: number[] };
}

const doc = JSON.parse(await Deno.readTextFile(new URL("./ShiftMatMul.json", import.meta.url))) as {
  op: string;
  domain: string;
  version: number;
  cases: Case[];
};

Deno.test("ShiftMatMul.json: header and coverage (3..6 bits, K not a multiple of 8, ties)", () => {
  assertEquals([doc.op, doc.domain, doc.version], ["ShiftMatMul", "shiftkit", 1]);
  assertEquals(new Set(doc.cases.map((c) => c.attributes.bits)), new Set([3, 4, 5, 6]));
  assert(doc.cases.every((c) => c.attributes.weight_shape[0] % 8 !== 0));
  assert(doc.cases.some((c) => c.name.includes("ties")));
});

for (const c of doc.cases) {
  Deno.test(`ShiftMatMul.json ${c.name}: the reference reproduces every recorded value exactly`, () => {
    const { bits, weight_shape: [k, n] } = c.attributes;
    const { X: x, codes, alpha, bias } = c.inputs;
    assertEquals(Object.keys(c.inputs), bias ? ["X", "codes", "alpha", "bias"] : ["X", "codes", "alpha"]);
    assertEquals(c.tolerance, { atol: 0, rtol: 0 });
    if (!x || !codes || !alpha) throw new TypeError(`${c.name}: missing inputs`);
    const weight: ShiftWeight = {
      packed: Uint8Array.from(codes.data),
      alpha: Float32Array.from(alpha.data),
      bits,
      shape: [k, n],
      axis: 1,
    };
    // Source weights -> channel-major codes -> [K, N] order -> packed bytes.
    const source = Float32Array.from(c.source.weights, (v) => (v === "-0" ? -0 : v));
    const channelMajor = encodePow2(source, weight.alpha, { bits });
    assertEquals(Array.from(channelMajor), c.source.codes);
    const rowMajor = new Uint8Array(k * n).map((_, i) => channelMajor[(i % n) * k + Math.floor(i / n)]!);
    assertEquals(Array.from(packBits(rowMajor, bits)), codes.data);
    assertEquals(unpackBits(weight.packed, bits, { count: k * n }), rowMajor);
    // Every decoded weight is a non-zero ±alpha * 2^p.
    const w = decodeShiftWeight(weight);
    for (let i = 0; i < w.length; i++) {
      const p = Math.log2(Math.abs(w[i]!) / weight.alpha[i % n]!);
      assert(Number.isInteger(p) && p >= 0 && p < 2 ** (bits - 1), `${c.name}: weight ${i} = ${w[i]}`);
    }
    const y = shiftMatMul(
      { data: Float32Array.from(x.data), shape: x.dims },
      weight,
      bias ? { bias: Float32Array.from(bias.data) } : {},
    );
    assertEquals(y.shape, c.outputs.Y!.dims);
    assertEquals(Array.from(y.data), c.outputs.Y!.data);
    if (c.integer) {
      const r = shiftMatMulInteger({ data: Int8Array.from(c.integer.x_q), shape: x.dims }, weight, {
        xScale: c.integer.x_scale,
      });
      assertEquals(Array.from(r.acc), c.integer.acc);
      assertEquals(Array.from(r.y), c.integer.y);
      assertEquals(Array.from(c.integer.x_q, (v) => v * c.integer!.x_scale), x.data);
    }
  });
}
