/**
 * Writes tests/ops/<Op>.json for shiftkit's integer-only ops (docs/ops/integer.md) from the quant/
 * references. Run: `deno run -A tests/ops/_gen_integer.ts`. quant/integer_cases_test.ts recomputes every
 * case and compares exactly; the evaluator, onnxruntime (function bodies) and WebGPU kernels run the same
 * files. Same layout as the other tests/ops files: inputs/outputs keyed by schema name, full attributes per
 * case, no tolerance (integer outputs compare exactly).
 * @module
 */

import { dyadic } from "../../quant/dyadic.ts";
import { iLayerNormParams, minVarShift } from "../../quant/ilayernorm.ts";
import { intAddParams } from "../../quant/int_add.ts";
import { shiftGeluParams } from "../../quant/shiftgelu.ts";
import { shiftExpParams } from "../../quant/shiftmax.ts";
import { type CaseAttributes, type CaseTensor, runIntegerCase } from "../../quant/_integer_cases.ts";

interface Case {
  name: string;
  attributes: CaseAttributes;
  inputs: [string, CaseTensor][];
}

let seed = 12345;
function rnd(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
function gauss(): number {
  return Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
}
function t(name: string, dtype: CaseTensor["dtype"], dims: number[], data: number[]): [string, CaseTensor] {
  return [name, { dtype, dims, data }];
}
function clampTo(dtype: CaseTensor["dtype"], v: number): number {
  const h = dtype === "int8" ? 127 : dtype === "int16" ? 32767 : 2 ** 31 - 1;
  return Math.max(-h - 1, Math.min(h, Math.round(v)));
}
function randomInts(dtype: CaseTensor["dtype"], count: number, sigma: number): number[] {
  return Array.from({ length: count }, () => clampTo(dtype, gauss() * sigma));
}
const allInt8 = Array.from({ length: 256 }, (_, i) => i - 128);

const I32_MAX = 2 ** 31 - 1, I32_MIN = -(2 ** 31);
const files: Record<string, { attributes: CaseAttributes; cases: Case[] }> = {};

{
  const d01 = dyadic(0.01), d37 = dyadic(0.37), half = dyadic(0.5);
  const pc = [dyadic(0.5), dyadic(0.013), dyadic(3.7)];
  files.Requantize = {
    attributes: { output_bits: 8, zero_point: 0, axis: 1 },
    cases: [
      {
        name: "half_ties_round_up",
        attributes: {},
        inputs: [
          t("X", "int32", [10], [1, -1, 3, -3, 5, -5, 255, 256, -257, -256]),
          t("multiplier", "int32", [], [half.multiplier]),
          t("shift", "int32", [], [half.shift]),
        ],
      },
      {
        name: "int32_extremes_saturate",
        attributes: {},
        inputs: [
          t("X", "int32", [6], [I32_MAX, I32_MIN, 0, 12750, 12749, -12851]),
          t("multiplier", "int32", [], [d01.multiplier]),
          t("shift", "int32", [], [d01.shift]),
        ],
      },
      {
        name: "int16_output_zero_point",
        attributes: { output_bits: 16, zero_point: -7 },
        inputs: [
          t("X", "int32", [8], [I32_MAX, I32_MIN, 88562, -88590, 1, -1, 100, 0]),
          t("multiplier", "int32", [], [d37.multiplier]),
          t("shift", "int32", [], [d37.shift]),
        ],
      },
      {
        name: "int32_output_shift_limits",
        attributes: { output_bits: 32 },
        inputs: [
          t("X", "int32", [2, 3], [I32_MAX, I32_MIN, -1, I32_MAX, I32_MIN, 12345]),
          t("multiplier", "int32", [2], [I32_MAX, -(2 ** 30)]),
          t("shift", "int32", [2], [1, 62]),
        ],
      },
      {
        name: "per_channel_axis1_int8_input",
        attributes: { axis: 1 },
        inputs: [
          t("X", "int8", [2, 3, 2], [-128, 127, 2, -2, 33, -34, 100, -100, 1, 3, 0, -1]),
          t("multiplier", "int32", [3], pc.map((d) => d.multiplier)),
          t("shift", "int32", [3], pc.map((d) => d.shift)),
        ],
      },
      {
        name: "random_accumulators",
        attributes: {},
        inputs: [
          t("X", "int32", [4, 16], randomInts("int32", 64, 20000)),
          t("multiplier", "int32", [], [dyadic(0.0041).multiplier]),
          t("shift", "int32", [], [dyadic(0.0041).shift]),
        ],
      },
    ],
  };
}

{
  const a = shiftExpParams(0.08, { expShift: "auto", maxE0: Math.floor(I32_MAX / 197) });
  const b = shiftExpParams(0.001, { expShift: "auto", maxE0: Math.floor(I32_MAX / 32) });
  files.Shiftmax = {
    attributes: { p: 8, n: 15, exp_shift: 0, output_bits: 8 },
    cases: [
      {
        name: "constant_and_masked_rows",
        attributes: {},
        inputs: [t("X", "int8", [3, 4], [5, 5, 5, 5, -128, -128, -128, -128, 127, -128, -128, -128])],
      },
      { name: "single_element_rows", attributes: {}, inputs: [t("X", "int8", [3, 1], [-128, 0, 127])] },
      {
        name: "int32_extremes_int16_out",
        attributes: { output_bits: 16 },
        inputs: [t("X", "int32", [2, 3], [I32_MAX, I32_MIN, I32_MAX - 8, 0, -8, -16])],
      },
      {
        name: "int8_logits_197_auto_shift",
        attributes: { p: a.p, n: a.n, exp_shift: a.expShift },
        inputs: [t("X", "int8", [2, 197], randomInts("int8", 394, 35))],
      },
      {
        name: "int8_logits_plain_ivit",
        attributes: { p: 12, n: 15 },
        inputs: [t("X", "int8", [2, 64], randomInts("int8", 128, 40))],
      },
      {
        name: "int16_logits_negative_shift",
        attributes: { p: b.p, n: b.n, exp_shift: b.expShift, output_bits: 16 },
        inputs: [t("X", "int16", [2, 32], randomInts("int16", 64, 3000))],
      },
    ],
  };
}

{
  const s = shiftExpParams(1 / 16, { maxE0: Math.floor(I32_MAX / 2 ** 7) });
  const sa = shiftExpParams(1 / 16, { expShift: "auto", maxE0: Math.floor(I32_MAX / 2 ** 7) });
  files.ShiftSigmoid = {
    attributes: { p: s.p, n: s.n, exp_shift: 0, output_bits: 8 },
    cases: [
      { name: "all_int8_scale_1_16", attributes: {}, inputs: [t("X", "int8", [256], allInt8)] },
      {
        name: "all_int8_auto_shift",
        attributes: { p: sa.p, n: sa.n, exp_shift: sa.expShift },
        inputs: [t("X", "int8", [256], allInt8)],
      },
      {
        name: "int16_in_int16_out",
        attributes: { p: 3000, n: 1, output_bits: 16 },
        inputs: [t("X", "int16", [8], [-32768, 32767, 0, 1, -1, 3000, -3000, 12000])],
      },
      {
        name: "int32_extremes",
        attributes: { p: 16, n: 12, exp_shift: -4 },
        inputs: [t("X", "int32", [6], [I32_MAX, I32_MIN, 0, 16, -16, -400])],
      },
    ],
  };
}

{
  const g = shiftGeluParams(1 / 32);
  const g16 = shiftGeluParams(3e-4);
  files.ShiftGelu = {
    attributes: { p: g.p, n: g.n },
    cases: [
      { name: "all_int8_scale_1_32", attributes: {}, inputs: [t("X", "int8", [256], allInt8)] },
      {
        name: "int16_extremes",
        attributes: { p: g16.p, n: g16.n },
        inputs: [
          t("X", "int16", [2, 6], [-32768, 32767, 0, 1, -1, -2000, 2000, -6000, 6000, 10000, -10000, 3]),
        ],
      },
      { name: "p1_coarse", attributes: { p: 1, n: 15 }, inputs: [t("X", "int8", [256], allInt8)] },
    ],
  };
  const l = shiftGeluParams(32 / 127, { lambda: "auto" });
  const l16 = shiftGeluParams(3e-4, { lambda: "auto" });
  files.LambdaShiftGelu = {
    attributes: { p: l.p, n: l.n, lambda: l.lambda },
    cases: [
      { name: "all_int8_long_tail_scale", attributes: {}, inputs: [t("X", "int8", [256], allInt8)] },
      {
        name: "int16_negative_lambda",
        attributes: { p: l16.p, n: l16.n, lambda: l16.lambda },
        inputs: [
          t("X", "int16", [2, 6], [-32768, 32767, 0, 1, -1, -2000, 2000, -6000, 6000, 10000, -10000, 3]),
        ],
      },
      {
        name: "lambda_zero_is_shiftgelu",
        attributes: { p: 19, n: 11, lambda: 0 },
        inputs: [t("X", "int8", [256], allInt8)],
      },
    ],
  };
}

{
  const n8 = 16;
  const gamma8 = Array.from({ length: n8 }, () => 1 + 0.3 * gauss());
  const beta8 = Array.from({ length: n8 }, () => 0.1 * gauss());
  const p8 = iLayerNormParams(gamma8, beta8, { outputScale: 6 / 127 });
  const rows8 = [
    ...randomInts("int8", n8, 30),
    ...Array.from({ length: n8 }, () => 7),
    ...Array.from({ length: n8 }, (_, i) => (i % 2 ? 127 : -128)),
    ...Array.from({ length: n8 }, (_, i) => (i === 3 ? 127 : -128)),
  ];
  const n16 = 64;
  const gamma16 = Array.from({ length: n16 }, () => 1 + 0.3 * gauss());
  const beta16 = Array.from({ length: n16 }, () => 0.1 * gauss());
  const p16 = iLayerNormParams(gamma16, beta16, { outputScale: 6 / 32767, inputBits: 16, outputBits: 16 });
  files.ILayerNorm = {
    attributes: { var_shift: 0, output_bits: 8 },
    cases: [
      {
        name: "int8_rows_constant_extremes",
        attributes: { multiplier: p8.multiplier, shift: p8.shift },
        inputs: [
          t("X", "int8", [4, n8], rows8),
          t("gamma", "int16", [n8], Array.from(p8.gamma)),
          t("beta", "int32", [n8], Array.from(p8.beta)),
        ],
      },
      {
        name: "int16_rows_var_shift",
        attributes: {
          multiplier: p16.multiplier,
          shift: p16.shift,
          var_shift: minVarShift(n16, 16),
          output_bits: 16,
        },
        inputs: [
          t("X", "int16", [2, n16], [...randomInts("int16", n16, 9000), ...randomInts("int16", n16, 40000)]),
          t("gamma", "int16", [n16], Array.from(p16.gamma)),
          t("beta", "int32", [n16], Array.from(p16.beta)),
        ],
      },
    ],
  };
}

{
  const r = intAddParams([0.013, 0.0071], 0.02);
  const h = dyadic(0.5);
  files.IntAdd = {
    attributes: { output_bits: 16 },
    cases: [
      {
        name: "ties_and_int16_saturation",
        attributes: {
          a_multiplier: h.multiplier,
          a_shift: h.shift,
          b_multiplier: h.multiplier,
          b_shift: h.shift,
        },
        inputs: [
          t("A", "int16", [6], [1, -1, 32767, -32768, 3, -3]),
          t("B", "int16", [6], [1, -1, 32767, -32768, -3, 1]),
        ],
      },
      {
        name: "int8_output",
        attributes: {
          a_multiplier: 2 ** 30,
          a_shift: 30,
          b_multiplier: 2 ** 30,
          b_shift: 30,
          output_bits: 8,
        },
        inputs: [t("A", "int8", [4], [127, -128, 100, -100]), t("B", "int8", [4], [1, -1, -100, 27])],
      },
      {
        name: "int32_branch_guard",
        attributes: { a_multiplier: 2 ** 30, a_shift: 30, b_multiplier: 2 ** 30, b_shift: 30 },
        inputs: [
          t("A", "int32", [3], [I32_MAX, I32_MIN, I32_MAX]),
          t("B", "int32", [3], [I32_MIN, I32_MAX, -5]),
        ],
      },
      {
        name: "residual_scales",
        attributes: {
          a_multiplier: r.a.multiplier,
          a_shift: r.a.shift,
          b_multiplier: r.b.multiplier,
          b_shift: r.b.shift,
        },
        inputs: [
          t("A", "int16", [4, 8], randomInts("int16", 32, 9000)),
          t("B", "int8", [4, 8], randomInts("int8", 32, 60)),
        ],
      },
    ],
  };
}

const GENERATOR = "tests/ops/_gen_integer.ts (deno run -A tests/ops/_gen_integer.ts)";
const dir = new URL(".", import.meta.url);
for (const [op, f] of Object.entries(files)) {
  const cases = f.cases.map((c) => {
    // every case carries its full attribute set (spec defaults made explicit); integer outputs are exact
    const attributes = { ...f.attributes, ...c.attributes };
    const inputs = Object.fromEntries(c.inputs);
    return { name: c.name, attributes, inputs, outputs: runIntegerCase(op, attributes, inputs) };
  });
  const doc = {
    op,
    domain: "shiftkit",
    version: 1,
    spec: "docs/ops/integer.md",
    generator: GENERATOR,
    cases,
  };
  await Deno.writeTextFile(new URL(`${op}.json`, dir), JSON.stringify(doc) + "\n");
}
// `deno task ok` runs fmt --check over tests/ops: write the files in deno fmt's layout.
const paths = Object.keys(files).map((op) => new URL(`${op}.json`, dir).pathname);
const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", ...paths] }).output();
if (!fmt.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(fmt.stderr)}`);
