/**
 * Model-local function bodies (FunctionProto) for shiftkit's integer-only ops (docs/ops/integer.md):
 * `Requantize`, `IntAdd`, `Shiftmax`, `ShiftSigmoid`, `ShiftGelu`, `LambdaShiftGelu`, `ILayerNorm`. Each
 * body uses standard ONNX ops on integer tensors only (int64 arithmetic: Add, Sub, Mul, Div, Mod, Max, Min,
 * Where, Less, ReduceSum, ReduceMax, Cast between integer types, BitShift on uint64 for 2^k) and reproduces
 * the quant/ references bit for bit (tests/ops/integer_ops_test.ts runs every case through onnxruntime).
 *
 * Arithmetic identities used (DESIGN.md "Emitted formats"): ONNX integer Div truncates toward zero, so
 * floor(a / d) for a possibly negative a is (a - Mod(a, d)) / d (Mod with fmod = 0 takes the divisor's
 * sign); for a >= 0, Div already floors. The dyadic rounding shifts avoid Div and Mod (slow on int64): for
 * |a| < 2^62, floor((a + 2^(c-1)) / 2^c) = (uint64(a + 2^(c-1) + 2^62) >> c) - 2^(62-c). BitShift takes
 * unsigned types, so 2^k for an attribute k is Cast(BitShift(uint64 1, uint64 k), int64).
 *
 * The output element type of most ops depends on the `output_bits` attribute, which a function body cannot
 * turn into a Cast target. Each op therefore ships one overload per output type (ONNX IR 10
 * FunctionProto.overload / NodeProto.overload, supported by onnxruntime 1.30): overload "int8", "int16" or
 * "int32"; the calling node names the overload that matches its `output_bits`.
 * @module
 */
import { type Attribute, intAttr, intsAttr, stringAttr, tensorAttr } from "./attributes.ts";
import { FunctionBuilder } from "./function_builder.ts";
import type { FunctionDef, Graph, Model, Node, Value } from "./ir.ts";
import { Op, type OpSchema, SHIFTKIT_DOMAIN } from "./ops.ts";
import { DataType, makeTensor } from "./tensor.ts";

/** The integer-only ops this module builds bodies for. */
export const INTEGER_OPS: readonly OpSchema[] = [
  Op.Requantize,
  Op.IntAdd,
  Op.Shiftmax,
  Op.ShiftSigmoid,
  Op.ShiftGelu,
  Op.LambdaShiftGelu,
  Op.ILayerNorm,
];

/** Lowest default-domain opset the bodies need (ReduceSum/Unsqueeze with axes inputs, integer Clip-free). */
export const INTEGER_FUNCTIONS_MIN_OPSET = 13;

/** Element types an integer op may output. */
export type IntegerOutputType = DataType.INT8 | DataType.INT16 | DataType.INT32;

/**
 * The overload name of an op body for an output element type.
 *
 * @param dtype INT8, INT16 or INT32
 * @returns "int8", "int16" or "int32"
 * @throws {RangeError} for another element type
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { overloadFor } from "./integer_functions.ts";
 * import { DataType } from "./tensor.ts";
 * assertEquals(overloadFor(DataType.INT16), "int16");
 * ```
 */
export function overloadFor(dtype: number): string {
  if (dtype === DataType.INT8) return "int8";
  if (dtype === DataType.INT16) return "int16";
  if (dtype === DataType.INT32) return "int32";
  throw new RangeError(`Integer ops output int8, int16 or int32, not element type ${dtype}`);
}

/**
 * The output element type for an `output_bits` attribute value.
 *
 * @param bits 8, 16 or 32
 * @returns the element type
 * @throws {RangeError} for other widths
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { outputTypeForBits } from "./integer_functions.ts";
 * import { DataType } from "./tensor.ts";
 * assertEquals(outputTypeForBits(8), DataType.INT8);
 * ```
 */
export function outputTypeForBits(bits: number): IntegerOutputType {
  if (bits === 8) return DataType.INT8;
  if (bits === 16) return DataType.INT16;
  if (bits === 32) return DataType.INT32;
  throw new RangeError(`output_bits must be 8, 16 or 32, got ${bits}`);
}

/** Bits of an integer output type. */
function bitsOf(dtype: IntegerOutputType): number {
  return dtype === DataType.INT8 ? 8 : dtype === DataType.INT16 ? 16 : 32;
}

/** Integer arithmetic helpers over a {@link FunctionBuilder}; every value is int64 unless said. */
class IntOps {
  readonly #consts = new Map<string, Value>();
  constructor(readonly b: FunctionBuilder, readonly opset: number) {}

  /** An int64 scalar constant (deduplicated). */
  k(v: number | bigint): Value {
    const key = String(v);
    let c = this.#consts.get(key);
    if (!c) {
      c = this.b.constant(makeTensor(DataType.INT64, [], new BigInt64Array([BigInt(v)])));
      this.#consts.set(key, c);
    }
    return c;
  }
  /** A 1-D int64 constant. */
  ks(v: number[]): Value {
    return this.b.constant(makeTensor(DataType.INT64, [v.length], BigInt64Array.from(v.map(BigInt))));
  }
  attr(name: string): Value {
    return this.b.attrInt(name);
  }
  cast(x: Value, to: number): Value {
    return this.b.op(Op.Cast.type, [x], [intAttr("to", to)]);
  }
  add(a: Value, b: Value): Value {
    return this.b.op(Op.Add.type, [a, b]);
  }
  sub(a: Value, b: Value): Value {
    return this.b.op(Op.Sub.type, [a, b]);
  }
  mul(a: Value, b: Value): Value {
    return this.b.op(Op.Mul.type, [a, b]);
  }
  /** Truncating division (floor for a >= 0, b > 0). */
  div(a: Value, b: Value): Value {
    return this.b.op(Op.Div.type, [a, b]);
  }
  max(a: Value, b: Value): Value {
    return this.b.op(Op.Max.type, [a, b]);
  }
  min(a: Value, b: Value): Value {
    return this.b.op(Op.Min.type, [a, b]);
  }
  less(a: Value, b: Value): Value {
    return this.b.op(Op.Less.type, [a, b]);
  }
  where(c: Value, a: Value, b: Value): Value {
    return this.b.op(Op.Where.type, [c, a, b]);
  }
  /** |a| as Max(a, -a). */
  abs(a: Value): Value {
    return this.max(a, this.sub(this.k(0), a));
  }
  clamp(a: Value, lo: number | Value, hi: number | Value): Value {
    const l = typeof lo === "number" ? this.k(lo) : lo, h = typeof hi === "number" ? this.k(hi) : hi;
    return this.max(this.min(a, h), l);
  }
  /** floor(a / d) for any sign of a and d > 0: (a - Mod(a, d)) / d. */
  floorDiv(a: Value, d: Value): Value {
    return this.div(this.sub(a, this.b.op(Op.Mod.type, [a, d])), d);
  }
  /** 2^k for a run-time int64 k in [0, 62]: BitShift on uint64 (BitShift is unsigned only). */
  pow2(k: Value): Value {
    const one = this.cast(this.k(1), DataType.UINT64);
    const sh = this.b.op(Op.BitShift.type, [one, this.cast(k, DataType.UINT64)], [
      stringAttr("direction", "LEFT"),
    ]);
    return this.cast(sh, DataType.INT64);
  }
  /**
   * rhu_c(a) = floor((a + 2^(c-1)) / 2^c) for |a| < 2^62 (an int32 times an int32 multiplier) and a run-time
   * c in [1, 62], without Div or Mod: a + 2^(c-1) + 2^62 is in [0, 2^63), so a logical right shift of it as
   * uint64 floors, and 2^62 / 2^c = 2^(62-c) is subtracted back. The offsets depend on c only (initializers
   * or attributes), so onnxruntime folds them at load; per element: Add, Cast, BitShift, Cast, Sub.
   */
  roundShift(a: Value, c: Value): Value {
    return this.applyRoundShift(a, this.roundShiftParts(c));
  }
  /** The constants of {@link roundShift} for shifts c (plus an optional zero point folded into `back`). */
  roundShiftParts(c: Value, zeroPoint?: Value): { offset: Value; shift: Value; back: Value } {
    const back = this.pow2(this.sub(this.k(62), c));
    return {
      offset: this.add(this.pow2(this.sub(c, this.k(1))), this.k(2n ** 62n)),
      shift: this.cast(c, DataType.UINT64),
      back: zeroPoint ? this.sub(back, zeroPoint) : back,
    };
  }
  /** rhu_c(a) (+ zero point) from precomputed {@link roundShiftParts}. */
  applyRoundShift(a: Value, p: { offset: Value; shift: Value; back: Value }): Value {
    const u = this.cast(this.add(a, p.offset), DataType.UINT64);
    const shifted = this.b.op(Op.BitShift.type, [u, p.shift], [stringAttr("direction", "RIGHT")]);
    return this.sub(this.cast(shifted, DataType.INT64), p.back);
  }
  /** 2^k for a per-element int64 k in [0, 62], as a Gather from a constant table. */
  gatherPow2(k: Value): Value {
    const table = this.b.constant(
      makeTensor(DataType.INT64, [63], BigInt64Array.from({ length: 63 }, (_, i) => 1n << BigInt(i))),
    );
    return this.b.op(Op.Gather.type, [table, k]);
  }
  /** Reduce over the last axis, keepdims. */
  reduceLast(op: "sum" | "max", x: Value): Value {
    if (op === "sum") return this.b.op(Op.ReduceSum.type, [x, this.ks([-1])], [intAttr("keepdims", 1)]);
    if (this.opset >= 18) return this.b.op(Op.ReduceMax.type, [x, this.ks([-1])], [intAttr("keepdims", 1)]);
    return this.b.op(Op.ReduceMax.type, [x], [intsAttr("axes", [-1]), intAttr("keepdims", 1)]);
  }
  /** floor(u * 2^s) for u >= 0 (|u| < 2^32) and a run-time s in [-31, 31]. */
  preShift(u: Value, s: Value): Value {
    const zero = this.k(0);
    // At most one of the two factors is not 1: u * 2^max(s, 0) is exact (< 2^63) and the division by
    // 2^max(-s, 0) floors (u >= 0). Two element-wise ops, no Where: the factors depend on s only.
    const up = this.pow2(this.max(s, zero)), down = this.pow2(this.max(this.sub(zero, s), zero));
    return this.div(this.mul(u, up), down);
  }
  /** The shift-exp of docs/ops/integer.md for v >= 0 (int64) and run-time p, n. */
  shiftExp(v: Value, p: Value, n: Value): Value {
    const lim = this.mul(n, p);
    const v1 = this.min(v, lim);
    const t = this.sub(this.add(v1, this.div(v1, this.k(2))), this.div(v1, this.k(16)));
    const keep = this.less(t, lim);
    const q = this.min(this.div(t, p), this.sub(n, this.k(1)));
    const r = this.sub(t, this.mul(q, p));
    // 2^(n - 1 - q) for the per-element q in [0, n - 1]: one Gather from the 63 powers instead of a uint64
    // BitShift with its three casts.
    const e = this.mul(
      this.sub(this.mul(this.k(2), p), r),
      this.gatherPow2(this.sub(this.sub(n, this.k(1)), q)),
    );
    return this.where(keep, e, this.k(0));
  }
  /** floor(num * 2^k / (E0 + bx)) with num = x >= 0 ? E0 : bx (the integer sigmoid). */
  sigmoidFraction(x: Value, p: Value, n: Value, shift: Value, k: number): Value {
    const e0 = this.mul(p, this.pow2(n));
    const bx = this.shiftExp(this.preShift(this.abs(x), shift), p, n);
    const num = this.where(this.less(x, this.k(0)), bx, e0);
    return this.div(this.mul(num, this.k(2 ** k)), this.add(e0, bx));
  }
  /**
   * Exact floor(sqrt(v)) for 0 <= v < 2^32 (docs/ops/integer.md allows any exact method): Newton from
   * x0 = 2^ceil(bitlength(v) / 2) >= sqrt(v) (a table indexed by the count of powers of two above v), five
   * steps of max(floor((x + floor(v / x)) / 2), 1) (relative error <= 1, then
   * 0.25, 0.025, 3e-4, 5e-8, 1e-15: below the 2^-33 that separates floor(sqrt(v)) + 1 from sqrt(v) for
   * v < 2^32), and a final correction x - (x * x > v) for the s / s + 1 oscillation of integer Newton.
   * 28 nodes instead of the 96 of the digit-by-digit loop; checked against floor(sqrt) for every v < 2^22,
   * every s^2, s^2 - 1, s^2 + 2s with s < 2^16, and a million random v < 2^32.
   */
  isqrt(v: Value): Value {
    const powers = this.b.constant(
      makeTensor(DataType.INT64, [33], BigInt64Array.from({ length: 33 }, (_, k) => 1n << BigInt(k))),
    );
    // j = #{k : v < 2^k} = 33 - bitlength(v); table[j] = 2^ceil((33 - j) / 2).
    const table = this.b.constant(
      makeTensor(
        DataType.INT64,
        [34],
        BigInt64Array.from({ length: 34 }, (_, j) => 1n << BigInt(Math.ceil(Math.max(0, 33 - j) / 2))),
      ),
    );
    const below = this.cast(this.less(v, powers), DataType.INT64);
    let x = this.b.op(Op.Gather.type, [table, this.reduceLast("sum", below)]);
    for (let i = 0; i < 5; i++) {
      x = this.max(this.div(this.add(x, this.div(v, x)), this.k(2)), this.k(1));
    }
    const over = this.cast(this.less(v, this.mul(x, x)), DataType.INT64);
    return this.sub(x, over);
  }
  /** Saturate to the output type's range and cast. */
  saturate(y: Value, dtype: IntegerOutputType): Value {
    const bits = bitsOf(dtype);
    return this.cast(this.clamp(y, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1), dtype);
  }
}

function declare(b: FunctionBuilder, names: string[], defaults: Record<string, number> = {}): void {
  for (const n of names) {
    const d = defaults[n];
    b.attribute(n, d === undefined ? undefined : intAttr(n, d));
  }
}

function buildRequantize(o: IntOps, dtype: IntegerOutputType): void {
  const b = o.b;
  declare(b, ["output_bits", "zero_point", "axis"], { output_bits: 8, zero_point: 0, axis: 1 });
  const X = b.input("X"), M = b.input("multiplier"), S = b.input("shift");
  const x = o.cast(X, DataType.INT64);
  // Per-channel parameters [C] are reshaped to [C, 1, ..., 1] with rank - 1 - axis trailing ones (at least
  // none), so they broadcast along `axis`; scalars become [1, ...] and broadcast everywhere.
  const rank = b.op(Op.Size.type, [b.op(Op.Shape.type, [X])]);
  const axisAttr = o.attr("axis");
  const axis = o.where(o.less(axisAttr, o.k(0)), o.add(axisAttr, rank), axisAttr);
  const ones = o.max(o.sub(o.sub(rank, o.k(1)), axis), o.k(0));
  const onesShape = b.op(Op.Unsqueeze.type, [ones, o.ks([0])]);
  const tail = b.op(Op.ConstantOfShape.type, [onesShape], [
    tensorAttr("value", makeTensor(DataType.INT64, [1], new BigInt64Array([1n]))),
  ]);
  const shape = b.op(Op.Concat.type, [o.ks([-1]), tail], [intAttr("axis", 0)]);
  // The per-channel constants are computed on [C] before the reshape, from the multiplier and shift inputs
  // (initializers) alone, so onnxruntime folds them at load; only the reshape depends on X's rank.
  const parts = o.roundShiftParts(o.cast(S, DataType.INT64), o.attr("zero_point"));
  const r = (v: Value) => b.op(Op.Reshape.type, [v, shape]);
  const m = r(o.cast(M, DataType.INT64));
  const y = o.applyRoundShift(o.mul(x, m), {
    offset: r(parts.offset),
    shift: r(parts.shift),
    back: r(parts.back),
  });
  b.output(o.saturate(y, dtype), "Y");
}

function buildIntAdd(o: IntOps, dtype: IntegerOutputType): void {
  const b = o.b;
  declare(b, ["a_multiplier", "a_shift", "b_multiplier", "b_shift", "output_bits"], { output_bits: 16 });
  const A = b.input("A"), B = b.input("B");
  const g = 2 ** 30;
  const branch = (v: Value, side: string) =>
    o.clamp(
      o.roundShift(o.mul(o.cast(v, DataType.INT64), o.attr(`${side}_multiplier`)), o.attr(`${side}_shift`)),
      -g,
      g - 1,
    );
  b.output(o.saturate(o.add(branch(A, "a"), branch(B, "b")), dtype), "Y");
}

function buildShiftmax(o: IntOps, dtype: IntegerOutputType): void {
  const b = o.b;
  declare(b, ["p", "n", "exp_shift", "output_bits"], { exp_shift: 0, output_bits: 8 });
  const X = b.input("X");
  const x = o.cast(X, DataType.INT64);
  const d = o.sub(o.reduceLast("max", x), x); // in [0, 2^32 - 1]
  const p = o.attr("p"), n = o.attr("n");
  const e = o.shiftExp(o.preShift(d, o.attr("exp_shift")), p, n);
  const f = o.div(o.k(2 ** 31 - 1), o.reduceLast("sum", e));
  const y = o.div(o.mul(e, f), o.k(2 ** (32 - bitsOf(dtype))));
  b.output(o.cast(y, dtype), "Y");
}

function buildShiftSigmoid(o: IntOps, dtype: IntegerOutputType): void {
  const b = o.b;
  declare(b, ["p", "n", "exp_shift", "output_bits"], { exp_shift: 0, output_bits: 8 });
  const X = b.input("X");
  const k = bitsOf(dtype) - 1;
  const s = o.sigmoidFraction(o.cast(X, DataType.INT64), o.attr("p"), o.attr("n"), o.attr("exp_shift"), k);
  b.output(o.cast(o.min(s, o.k(2 ** k - 1)), dtype), "Y");
}

function buildShiftGelu(o: IntOps, dtype: IntegerOutputType, lambda: boolean): void {
  const b = o.b;
  declare(b, lambda ? ["p", "n", "lambda"] : ["p", "n"]);
  const X = b.input("X");
  const x = o.cast(X, DataType.INT64);
  const shift = lambda ? o.attr("lambda") : o.k(0);
  const sig = o.sigmoidFraction(x, o.attr("p"), o.attr("n"), shift, 15);
  const y = o.floorDiv(o.add(o.mul(x, sig), o.k(2 ** 14)), o.k(2 ** 15)); // |y| <= |x|: no saturation
  b.output(o.cast(y, dtype), "Y");
}

function buildILayerNorm(o: IntOps, dtype: IntegerOutputType): void {
  const b = o.b;
  declare(b, ["multiplier", "shift", "var_shift", "output_bits"], { var_shift: 0, output_bits: 8 });
  const X = b.input("X"), G = b.input("gamma"), Bt = b.input("beta");
  const x = o.cast(X, DataType.INT64);
  const shape = b.op(Op.Shape.type, [X]);
  const len = b.op(Op.Slice.type, [shape, o.ks([-1]), o.ks([2 ** 31 - 1])]); // [N]
  const sum = o.reduceLast("sum", x);
  const two = o.k(2);
  const mean = o.floorDiv(o.add(o.mul(two, sum), len), o.mul(two, len));
  const y = o.sub(x, mean);
  const vDiv = o.pow2(o.attr("var_shift"));
  const a = o.div(o.abs(y), vDiv);
  const variance = o.reduceLast("sum", o.mul(a, a));
  const den = o.mul(o.max(o.isqrt(variance), o.k(1)), vDiv);
  const w = o.clamp(o.div(o.mul(y, o.k(2 ** 14)), den), -32768, 32767);
  const acc = o.add(o.mul(w, o.cast(G, DataType.INT64)), o.cast(Bt, DataType.INT64));
  const out = o.roundShift(o.mul(acc, o.attr("multiplier")), o.attr("shift"));
  b.output(o.saturate(out, dtype), "Y");
}

/**
 * Build the function body of one integer op for one output type.
 *
 * @param op one of {@link INTEGER_OPS}
 * @param outputType element type of the output (the overload)
 * @param opset default-domain opset the body imports (the model's), >= 13
 * @returns the FunctionDef (domain shiftkit, overload "int8" / "int16" / "int32")
 * @throws {RangeError} for an op this module does not know, an opset below 13, or ShiftGelu to int32
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { integerFunction } from "./integer_functions.ts";
 * import { Op } from "./ops.ts";
 * import { DataType } from "./tensor.ts";
 * const f = integerFunction(Op.Requantize, DataType.INT8, 17);
 * assertEquals([f.name, f.overload, f.body.inputs.length], ["Requantize", "int8", 3]);
 * ```
 */
export function integerFunction(op: OpSchema, outputType: IntegerOutputType, opset: number): FunctionDef {
  if (opset < INTEGER_FUNCTIONS_MIN_OPSET) {
    throw new RangeError(`The integer op bodies need opset >= ${INTEGER_FUNCTIONS_MIN_OPSET}, got ${opset}`);
  }
  const b = new FunctionBuilder(op.type, { opset });
  const o = new IntOps(b, opset);
  if (outputType === DataType.INT32 && op !== Op.Requantize) {
    throw new RangeError(`${op.type} has no int32 output (only Requantize does)`);
  }
  switch (op) {
    case Op.Requantize:
      buildRequantize(o, outputType);
      break;
    case Op.IntAdd:
      buildIntAdd(o, outputType);
      break;
    case Op.Shiftmax:
      buildShiftmax(o, outputType);
      break;
    case Op.ShiftSigmoid:
      buildShiftSigmoid(o, outputType);
      break;
    case Op.ShiftGelu:
      buildShiftGelu(o, outputType, false);
      break;
    case Op.LambdaShiftGelu:
      buildShiftGelu(o, outputType, true);
      break;
    case Op.ILayerNorm:
      buildILayerNorm(o, outputType);
      break;
    default:
      throw new RangeError(`No integer function body for ${op.domain}.${op.type}`);
  }
  const f = b.build();
  f.overload = overloadFor(outputType);
  return f;
}

/**
 * Make sure the model holds the body of `op` for `outputType` (adds it once, imports the shiftkit domain and
 * raises the IR version to 10, the first with function overloads).
 *
 * @param model the model
 * @param op the integer op
 * @param outputType output element type
 * @returns the function in the model
 * @throws {RangeError} when the model's opset is below 13
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ensureIntegerFunction } from "./integer_functions.ts";
 * import { Model } from "./ir.ts";
 * import { Op } from "./ops.ts";
 * import { DataType } from "./tensor.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * ensureIntegerFunction(m, Op.IntAdd, DataType.INT16);
 * ensureIntegerFunction(m, Op.IntAdd, DataType.INT16);
 * assertEquals(m.functions.length, 1);
 * ```
 */
export function ensureIntegerFunction(
  model: Model,
  op: OpSchema,
  outputType: IntegerOutputType,
): FunctionDef {
  const ov = overloadFor(outputType);
  const have = model.findFunction(SHIFTKIT_DOMAIN, op.type, ov);
  if (have) return have;
  const f = integerFunction(op, outputType, model.opset);
  model.functions.push(f);
  if (!model.opsets.has(SHIFTKIT_DOMAIN)) model.opsets.set(SHIFTKIT_DOMAIN, 1);
  if (typeof model.irVersion === "bigint" ? model.irVersion < 10n : model.irVersion < 10) {
    model.irVersion = 10;
  }
  return f;
}

/** Options of {@link addIntegerOp}. */
export interface AddIntegerOpOptions {
  /** Node name. @default a unique name from the op type */
  name?: string;
  /** Output value name. @default derived from the node name */
  output?: string;
  /** Insert before this node. @default appended */
  before?: Node;
}

/**
 * Add a call of an integer op to a graph: the node (domain shiftkit, overload from the output type), its
 * function body in the model, and the output's element type.
 *
 * @param model the model owning the function list
 * @param graph the graph receiving the node (usually `model.graph`)
 * @param call op, inputs, attributes (ints by ONNX name) and output type
 * @param options names and insertion point
 * @returns the new node
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { addIntegerOp } from "./integer_functions.ts";
 * import { Model } from "./ir.ts";
 * import { Op } from "./ops.ts";
 * import { DataType } from "./tensor.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * const x = m.graph.value("x");
 * const n = addIntegerOp(m, m.graph, { op: Op.ShiftGelu, inputs: [x], attrs: { p: 9, n: 12 }, outputType: DataType.INT8 });
 * assertEquals([n.domain, n.extra?.overload, n.outputs[0]!.type?.elemType], ["shiftkit", "int8", DataType.INT8]);
 * ```
 */
export function addIntegerOp(
  model: Model,
  graph: Graph,
  call: {
    op: OpSchema;
    inputs: readonly (Value | null)[];
    attrs: Readonly<Record<string, number>>;
    outputType: IntegerOutputType;
  },
  options: AddIntegerOpOptions = {},
): Node {
  ensureIntegerFunction(model, call.op, call.outputType);
  const attrs: Attribute[] = Object.entries(call.attrs).map(([k, v]) => intAttr(k, v));
  const name = options.name ?? graph.uniqueNodeName(call.op.type);
  const node = graph.addNode(call.op.type, call.inputs, [options.output ?? `${name}_out`], {
    domain: SHIFTKIT_DOMAIN,
    name,
    attrs,
    ...(options.before ? { before: options.before } : {}),
  });
  node.extra = { overload: overloadFor(call.outputType) };
  node.outputs[0]!.type = { elemType: call.outputType };
  return node;
}
