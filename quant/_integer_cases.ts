/**
 * Runs one shiftkit integer op from the data-driven case format of tests/ops/<Op>.json (attributes by their
 * ONNX names, tensors as {dtype, dims, data}) through the quant/ references. Private: shared by
 * tests/ops/_gen_integer.ts (which writes the cases) and quant/integer_cases_test.ts (which re-checks them).
 * @module
 */

import { requantize } from "./dyadic.ts";
import { iLayerNorm } from "./ilayernorm.ts";
import { intAdd } from "./int_add.ts";
import { lambdaShiftGelu, shiftGelu } from "./shiftgelu.ts";
import { shiftmax } from "./shiftmax.ts";
import { shiftSigmoid } from "./shiftsigmoid.ts";

/** A tensor in a case file. */
export interface CaseTensor {
  dtype: "int8" | "int16" | "int32";
  dims: number[];
  data: number[];
}

/** Attribute values by ONNX name. */
export type CaseAttributes = Record<string, number>;

/** Tensors by their schema name (X, multiplier, shift, gamma, beta, A, B; output Y). */
export type CaseTensors = Record<string, CaseTensor>;

type IntData = Int8Array | Int16Array | Int32Array;

function typed(t: CaseTensor): IntData {
  return t.dtype === "int8"
    ? Int8Array.from(t.data)
    : t.dtype === "int16"
    ? Int16Array.from(t.data)
    : Int32Array.from(t.data);
}

function dtypeOf(a: IntData): CaseTensor["dtype"] {
  return a instanceof Int8Array ? "int8" : a instanceof Int16Array ? "int16" : "int32";
}

function bits(v: number | undefined, fallback: 8 | 16): 8 | 16 {
  return v === undefined ? fallback : v === 8 ? 8 : 16;
}

/**
 * Evaluate one op on case inputs with the quant/ reference.
 *
 * @param op op type in the shiftkit domain
 * @param attrs attributes (defaults of the spec apply when absent)
 * @param inputs case input tensors by schema name
 * @returns the output tensor as `{ Y }`
 */
export function runIntegerCase(op: string, attrs: CaseAttributes, inputs: CaseTensors): CaseTensors {
  const input = (name: string): CaseTensor => {
    const v = inputs[name];
    if (!v) throw new TypeError(`Case for ${op} lacks input "${name}"`);
    return v;
  };
  const first = input(op === "IntAdd" ? "A" : "X");
  const x = typed(first);
  const dims = first.dims;
  const last = dims.length ? dims[dims.length - 1]! : 1;
  let y: IntData;
  switch (op) {
    case "Requantize": {
      const mult = input("multiplier").data, shift = input("shift").data;
      const axis = attrs.axis ?? 1;
      const a = axis < 0 ? axis + dims.length : axis;
      const inner = dims.slice(a + 1).reduce((p, d) => p * d, 1);
      const ob = attrs.output_bits ?? 8;
      y = requantize(x, { multiplier: mult, shift }, {
        outputBits: ob === 32 ? 32 : ob === 16 ? 16 : 8,
        zeroPoint: attrs.zero_point ?? 0,
        innerSize: inner,
      });
      break;
    }
    case "Shiftmax":
      y = shiftmax(x, {
        rowLength: last,
        p: attrs.p!,
        n: attrs.n!,
        expShift: attrs.exp_shift ?? 0,
        outputBits: bits(attrs.output_bits, 8),
      });
      break;
    case "ShiftSigmoid":
      y = shiftSigmoid(x, {
        p: attrs.p!,
        n: attrs.n!,
        expShift: attrs.exp_shift ?? 0,
        outputBits: bits(attrs.output_bits, 8),
      });
      break;
    case "ShiftGelu":
      y = shiftGelu(x as Int8Array | Int16Array, { p: attrs.p!, n: attrs.n! });
      break;
    case "LambdaShiftGelu":
      y = lambdaShiftGelu(x as Int8Array | Int16Array, { p: attrs.p!, n: attrs.n!, lambda: attrs.lambda! });
      break;
    case "ILayerNorm":
      y = iLayerNorm(x as Int8Array | Int16Array, {
        rowLength: last,
        gamma: Int16Array.from(input("gamma").data),
        beta: Int32Array.from(input("beta").data),
        multiplier: attrs.multiplier!,
        shift: attrs.shift!,
        varShift: attrs.var_shift ?? 0,
        outputBits: bits(attrs.output_bits, 8),
      });
      break;
    case "IntAdd":
      y = intAdd([x, typed(input("B"))], {
        a: { multiplier: attrs.a_multiplier!, shift: attrs.a_shift! },
        b: { multiplier: attrs.b_multiplier!, shift: attrs.b_shift! },
        outputBits: bits(attrs.output_bits, 16),
      });
      break;
    default:
      throw new TypeError(`Unknown shiftkit integer op "${op}"`);
  }
  return { Y: { dtype: dtypeOf(y), dims: [...dims], data: Array.from(y) } };
}
