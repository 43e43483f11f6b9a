/**
 * CPU evaluator kernels of shiftkit's integer-only ops (docs/ops/integer.md): each one calls the single
 * quant/ implementation (quant/dyadic.ts, int_add.ts, shiftmax.ts, shiftsigmoid.ts, shiftgelu.ts,
 * ilayernorm.ts). Importing this module registers them in the `shiftkit` domain.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { SHIFTKIT_DOMAIN } from "../../ops.ts";
import { DataType, makeTensor, type Tensor } from "../../tensor.ts";
import { requantize } from "../../../quant/dyadic.ts";
import { intAdd } from "../../../quant/int_add.ts";
import { shiftmax } from "../../../quant/shiftmax.ts";
import { shiftSigmoid } from "../../../quant/shiftsigmoid.ts";
import { lambdaShiftGelu, shiftGelu } from "../../../quant/shiftgelu.ts";
import { iLayerNorm } from "../../../quant/ilayernorm.ts";
import { type OpKernel, registerOp } from "../registry.ts";
import { normAxis, req } from "./_util.ts";

type IntData = Int8Array | Int16Array | Int32Array;

function intData(t: Tensor, op: string, what: string): IntData {
  const d = t.data;
  if (d instanceof Int8Array || d instanceof Int16Array || d instanceof Int32Array) return d;
  throw new TypeError(`${op}: ${what} must be int8, int16 or int32, got element type ${t.dtype}`);
}

function small(t: Tensor, op: string, what: string): Int8Array | Int16Array {
  const d = t.data;
  if (d instanceof Int8Array || d instanceof Int16Array) return d;
  throw new TypeError(`${op}: ${what} must be int8 or int16, got element type ${t.dtype}`);
}

function out(y: IntData, dims: readonly number[]): Tensor {
  const dt = y instanceof Int8Array
    ? DataType.INT8
    : y instanceof Int16Array
    ? DataType.INT16
    : DataType.INT32;
  return makeTensor(dt, dims, y);
}

function bits816(attrs: Attrs, fallback: 8 | 16, op: string): 8 | 16 {
  const b = attrs.int("output_bits", fallback);
  if (b !== 8 && b !== 16) throw new RangeError(`${op}: output_bits must be 8 or 16, got ${b}`);
  return b;
}

function lastAxis(t: Tensor): number {
  return t.dims.length ? t.dims[t.dims.length - 1]! : 1;
}

/** Kernels by op type (domain shiftkit). */
export const integerOps: Record<string, OpKernel> = {
  Requantize: (inputs, attrs) => {
    const op = "Requantize";
    const x = req(inputs, 0, op), m = req(inputs, 1, op), s = req(inputs, 2, op);
    const bits = attrs.int("output_bits", 8);
    if (bits !== 8 && bits !== 16 && bits !== 32) {
      throw new RangeError(`${op}: output_bits must be 8, 16 or 32`);
    }
    const rank = x.dims.length;
    const channels = Math.max(m.data.length, s.data.length);
    let inner = 1;
    if (channels > 1) {
      const axis = normAxis(attrs.int("axis", 1), rank, op);
      if (x.dims[axis] !== channels) {
        throw new RangeError(`${op}: ${channels} channels but axis ${axis} of X has ${x.dims[axis]}`);
      }
      inner = x.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    }
    const y = requantize(intData(x, op, "X"), {
      multiplier: Array.from(m.data as Int32Array),
      shift: Array.from(s.data as Int32Array),
    }, { outputBits: bits, zeroPoint: attrs.int("zero_point", 0), innerSize: inner });
    return [out(y, x.dims)];
  },
  IntAdd: (inputs, attrs) => {
    const op = "IntAdd";
    const a = req(inputs, 0, op), b = req(inputs, 1, op);
    const y = intAdd([intData(a, op, "A"), intData(b, op, "B")], {
      a: { multiplier: attrs.int("a_multiplier"), shift: attrs.int("a_shift") },
      b: { multiplier: attrs.int("b_multiplier"), shift: attrs.int("b_shift") },
      outputBits: bits816(attrs, 16, op),
    });
    return [out(y, a.dims)];
  },
  Shiftmax: (inputs, attrs) => {
    const op = "Shiftmax";
    const x = req(inputs, 0, op);
    const y = shiftmax(intData(x, op, "X"), {
      rowLength: lastAxis(x),
      p: attrs.int("p"),
      n: attrs.int("n"),
      expShift: attrs.int("exp_shift", 0),
      outputBits: bits816(attrs, 8, op),
    });
    return [out(y, x.dims)];
  },
  ShiftSigmoid: (inputs, attrs) => {
    const op = "ShiftSigmoid";
    const x = req(inputs, 0, op);
    const y = shiftSigmoid(intData(x, op, "X"), {
      p: attrs.int("p"),
      n: attrs.int("n"),
      expShift: attrs.int("exp_shift", 0),
      outputBits: bits816(attrs, 8, op),
    });
    return [out(y, x.dims)];
  },
  ShiftGelu: (inputs, attrs) => {
    const x = req(inputs, 0, "ShiftGelu");
    return [out(shiftGelu(small(x, "ShiftGelu", "X"), { p: attrs.int("p"), n: attrs.int("n") }), x.dims)];
  },
  LambdaShiftGelu: (inputs, attrs) => {
    const op = "LambdaShiftGelu";
    const x = req(inputs, 0, op);
    const params = { p: attrs.int("p"), n: attrs.int("n"), lambda: attrs.int("lambda") };
    return [out(lambdaShiftGelu(small(x, op, "X"), params), x.dims)];
  },
  ILayerNorm: (inputs, attrs) => {
    const op = "ILayerNorm";
    const x = req(inputs, 0, op), g = req(inputs, 1, op), b = req(inputs, 2, op);
    if (!(g.data instanceof Int16Array) || !(b.data instanceof Int32Array)) {
      throw new TypeError(`${op}: gamma must be int16 and beta int32`);
    }
    const y = iLayerNorm(small(x, op, "X"), {
      rowLength: lastAxis(x),
      gamma: g.data,
      beta: b.data,
      multiplier: attrs.int("multiplier"),
      shift: attrs.int("shift"),
      varShift: attrs.int("var_shift", 0),
      outputBits: bits816(attrs, 8, op),
    });
    return [out(y, x.dims)];
  },
};

for (const [opType, kernel] of Object.entries(integerOps)) registerOp(SHIFTKIT_DOMAIN, opType, kernel);
