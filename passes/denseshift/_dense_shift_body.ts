/**
 * Model-local function bodies of `shiftkit.ShiftMatMul` and `shiftkit.ShiftConv` in standard ONNX ops
 * (docs/ops/denseshift.md, "Function bodies"), so an unmodified onnxruntime runs a DenseShift model.
 *
 * The unpacking reads the codes through their bits (the spec's "through the bits" alternative): a Gather
 * of each packed byte's 8 bits from a [256, 8] uint8 constant (2 KB per function: onnxruntime folds every
 * node of the body once per call at session creation, so a table built in the body would cost more than it
 * saves), the first C * N bits as [C, N] times the bit weights [1, 2, .., 2^(N-1)] by MatMulInteger (exact
 * int32) give the codes, and a Gather from row N - 1 of an [8, 256] float32 constant of every width's levels
 * gives the levels (exact for any N <= 8). Only those few ops see all C weights, on bytes and int32:
 * onnxruntime's constant folding of the decode at session creation costs up to 2.3x less than with the bit
 * fields cut out by int64 arithmetic over C (about 20 ops). At 4 bits a shorter body gathers each byte's two
 * levels at once ({@linkcode BodyVariant} "nibbles"). The body needs opset 10 ops (MatMulInteger, Slice with
 * inputs); the DenseShift pass still asks for opset 13 (per-axis DequantizeLinear of its int8 fallback). The
 * decoded weight is exact.
 * @module
 */
import { type Attribute, AttrType, intAttr, intsAttr } from "../../onnx/attributes.ts";
import { ensureFunction, FunctionBuilder } from "../../onnx/function_builder.ts";
import type { FunctionDef, Model, Value } from "../../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";

/** Lowest default-domain opset the function bodies (and the pass's int8 fallback) need. */
export const DENSE_SHIFT_MIN_OPSET = 13;

/** Conv attributes ShiftConv carries unchanged (its function body refers to each). */
export const SHIFT_CONV_ATTRS = [
  "kernel_shape",
  "strides",
  "pads",
  "dilations",
  "group",
  "auto_pad",
] as const;

/** `BYTE_BITS[v][j]` = bit j (LSB first) of byte v. */
const BYTE_BITS = new Uint8Array(256 * 8).map((_, i) => (i >> 3 >> (i & 7)) & 1);

/** int64 constants of each body, by value: one Constant node per distinct value (fewer nodes to inline). */
const constants = new WeakMap<FunctionBuilder, Map<string, Value>>();

function i64(b: FunctionBuilder, values: number[], scalar = false): Value {
  const memo = constants.get(b) ?? new Map<string, Value>();
  constants.set(b, memo);
  const key = `${scalar ? "s" : "v"}${values.join(",")}`;
  let v = memo.get(key);
  if (!v) {
    v = b.constant(
      makeTensor(DataType.INT64, scalar ? [] : [values.length], BigInt64Array.from(values.map(BigInt))),
    );
    memo.set(key, v);
  }
  return v;
}

/**
 * Decoded weight W_hat = level(codes) * alpha_b, `weight_shape`; returns [W, weight_shape].
 *
 * The codes are read through their bits: one Gather of each packed byte's 8 bits (LSB first, a [256, 8]
 * uint8 constant), the first C * N of them reshaped to [C, N] and weighted by [1, 2, .., 2^(N-1)] (one
 * MatMulInteger, exact in int32) give every code; one Gather from the 2^N-entry level table
 * `table[c] = (c >> (N-1) ? -1 : 1) * 2^(c & pmax)` gives its level. Everything that depends on N alone (the
 * weights, the level table) is computed on at most 256 elements, and the ops that see all C weights work on
 * bytes or int32, which keeps onnxruntime's constant folding of the decode at session creation cheap (it was
 * about 20 int64 element-wise ops over C before).
 */
function decodeBody(
  b: FunctionBuilder,
  codes: Value,
  alpha: Value,
  channelAxis: 0 | 1,
  variant: BodyVariant,
): [Value, Value] {
  const shape = b.attrInts("weight_shape");
  const bits = b.attrInt("bits");
  const one = (v: Value) => b.op(Op.Reshape.type, [v, i64(b, [1])]); // scalar -> [1]
  const count = b.op(Op.ReduceProd.type, [shape], [intAttr("keepdims", 0)]);
  const inputs = { b, codes, bits, count, shape, one };
  const level = variant === "nibbles" ? nibbleLevels(inputs) : bitLevels(inputs);
  let alphaB = alpha;
  if (channelAxis === 0) {
    // alpha -> [Cout, 1, ..., 1]: weight_shape[1:] / weight_shape[1:] is all ones (dims are >= 1).
    const tail = b.op(Op.Slice.type, [shape, i64(b, [1]), i64(b, [2 ** 31])]);
    const ones = b.op(Op.Div.type, [tail, tail]);
    alphaB = b.op(Op.Reshape.type, [alpha, b.op(Op.Concat.type, [i64(b, [-1]), ones], [intAttr("axis", 0)])]);
  }
  return [b.op(Op.Mul.type, [level, alphaB]), shape];
}

/**
 * `[8, 256]` float32: row N - 1 holds the level of every N-bit code, `(c >> (N-1) ? -1 : 1) * 2^(c & (2^(N-1) -
 * 1))` for `c < 2^N` (exact in float32 up to N = 8: at most 2^127), zeros past it.
 */
const LEVEL_TABLES = (() => {
  const t = new Float32Array(8 * 256);
  for (let n = 1; n <= 8; n++) {
    const half = 2 ** (n - 1);
    for (let c = 0; c < 2 ** n; c++) t[(n - 1) * 256 + c] = (c >= half ? -1 : 1) * 2 ** (c % half);
  }
  return t;
})();

/** What both level decoders read: the body, its inputs and attributes, and a scalar -> [1] reshape. */
interface LevelInputs {
  b: FunctionBuilder;
  codes: Value;
  bits: Value;
  count: Value;
  shape: Value;
  one: (v: Value) => Value;
}

/**
 * `[1, 256, 2]` float32: the levels of the two 4-bit codes of each byte value (low nibble first), the table
 * {@linkcode nibbleLevels} gathers from.
 */
const NIBBLE_LEVELS = (() => {
  const t = new Float32Array(512);
  const level = (c: number) => (c >> 3 ? -1 : 1) * 2 ** (c & 7);
  for (let v = 0; v < 256; v++) t[2 * v] = level(v & 15), t[2 * v + 1] = level(v >> 4);
  return t;
})();

/**
 * The levels of 4-bit codes, `weight_shape`, straight from the bytes: two codes per byte, so one Gather of each
 * byte's two levels from a 256-entry table gives them all (about a third of the nodes of
 * {@linkcode bitLevels}; onnxruntime constant-folds every node of the body once per call at session creation).
 * The table is taken as row `2 (bits - 4)` of a `[1, 256, 2]` constant, so a call with any other `bits` fails
 * (index out of range) instead of decoding wrong levels.
 */
function nibbleLevels({ b, codes, bits, count, shape, one }: LevelInputs): Value {
  const table = b.op(Op.Gather.type, [
    b.constant(makeTensor(DataType.FLOAT, [1, 256, 2], NIBBLE_LEVELS)),
    // 2 (bits - 4): 0 at 4 bits, outside Gather's [-1, 0] for every other width (bits - 4 alone would let
    // 3 bits through as index -1)
    b.op(Op.Mul.type, [b.op(Op.Sub.type, [bits, i64(b, [4], true)]), i64(b, [2], true)]),
  ]);
  const pairs = b.op(Op.Gather.type, [table, b.op(Op.Cast.type, [codes], [intAttr("to", DataType.INT32)])]);
  const flat = b.op(Op.Reshape.type, [pairs, i64(b, [-1])]);
  const used = b.op(Op.Slice.type, [flat, i64(b, [0]), one(count)]);
  return b.op(Op.Reshape.type, [used, shape]);
}

/** The levels of N-bit codes (any N), `weight_shape`, through the bits: see {@linkcode decodeBody}. */
function bitLevels({ b, codes, bits, count, shape, one }: LevelInputs): Value {
  const bits1 = one(bits);
  // every stored bit, LSB first: [B, 8] -> [8 B]; the first C * N of them as [C, N]
  // bit j of byte v at BYTE_BITS[v][j] (LSB first): one Gather per stored byte
  const byteBits = b.op(Op.Gather.type, [
    b.constant(makeTensor(DataType.UINT8, [256, 8], BYTE_BITS)),
    b.op(Op.Cast.type, [codes], [intAttr("to", DataType.INT32)]),
  ]);
  const flat = b.op(Op.Reshape.type, [byteBits, i64(b, [-1])]);
  const used = b.op(Op.Slice.type, [flat, i64(b, [0]), one(b.op(Op.Mul.type, [count, bits]))]);
  const perCode = b.op(Op.Reshape.type, [
    used,
    b.op(Op.Concat.type, [i64(b, [-1]), bits1], [
      intAttr("axis", 0),
    ]),
  ]);
  const place = b.op(Op.Slice.type, [
    b.constant(makeTensor(DataType.UINT8, [8, 1], new Uint8Array([1, 2, 4, 8, 16, 32, 64, 128]))),
    i64(b, [0]),
    bits1,
  ]);
  const code = b.op(Op.Reshape.type, [b.op(Op.MatMulInteger.type, [perCode, place]), i64(b, [-1])]); // [C] int32
  // the level of each of the 2^N codes: row N - 1 of the constant level tables (1 node to fold per call
  // instead of the ~12 that built the row from 2^N)
  const table = b.op(Op.Gather.type, [
    b.constant(makeTensor(DataType.FLOAT, [8, 256], LEVEL_TABLES)),
    b.op(Op.Sub.type, [bits, i64(b, [1], true)]),
  ]);
  const levels = b.op(Op.Gather.type, [table, code]);
  return b.op(Op.Reshape.type, [levels, shape]);
}

/**
 * Which decode a function body carries: `"bits"` decodes any `bits` (the general body), `"nibbles"` only
 * `bits = 4` (fewer nodes: see {@linkcode nibbleLevels}).
 */
export type BodyVariant = "bits" | "nibbles";

function buildShiftMatMul(opset: number, variant: BodyVariant): FunctionDef {
  const b = new FunctionBuilder(Op.ShiftMatMul.type, { opset });
  b.attribute("bits");
  b.attribute("weight_shape");
  const x = b.input("X"), codes = b.input("codes"), alpha = b.input("alpha"), bias = b.input("bias");
  const [w, shape] = decodeBody(b, codes, alpha, 1, variant);
  // Gemm takes the optional bias (a missing actual input leaves C absent); X [..., K] is flattened to 2-D.
  const k = b.op(Op.Slice.type, [shape, i64(b, [0]), i64(b, [1])]);
  const n = b.op(Op.Slice.type, [shape, i64(b, [1]), i64(b, [2])]);
  const x2 = b.op(Op.Reshape.type, [x, b.op(Op.Concat.type, [i64(b, [-1]), k], [intAttr("axis", 0)])]);
  const y2 = b.op(Op.Gemm.type, [x2, w, bias]);
  const lead = b.op(Op.Slice.type, [b.op(Op.Shape.type, [x]), i64(b, [0]), i64(b, [-1])]);
  const y = b.op(Op.Reshape.type, [y2, b.op(Op.Concat.type, [lead, n], [intAttr("axis", 0)])]);
  b.output(y, "Y");
  return b.build();
}

function refAttr(name: string, type: AttrType): Attribute {
  return {
    name,
    type,
    value: type === AttrType.INT ? 0 : type === AttrType.STRING ? new Uint8Array() : [],
    refAttrName: name,
  };
}

function buildShiftConv(opset: number, variant: BodyVariant): FunctionDef {
  const b = new FunctionBuilder(Op.ShiftConv.type, { opset });
  b.attribute("bits");
  b.attribute("weight_shape");
  for (const a of SHIFT_CONV_ATTRS) b.attribute(a);
  const x = b.input("X"), codes = b.input("codes"), alpha = b.input("alpha"), bias = b.input("bias");
  const [w] = decodeBody(b, codes, alpha, 0, variant);
  const attrs = [
    refAttr("kernel_shape", AttrType.INTS),
    refAttr("strides", AttrType.INTS),
    refAttr("pads", AttrType.INTS),
    refAttr("dilations", AttrType.INTS),
    refAttr("group", AttrType.INT),
    refAttr("auto_pad", AttrType.STRING),
  ];
  b.output(b.op(Op.Conv.type, [x, w, bias], attrs), "Y");
  return b.build();
}

/** The decode a function body carries (see {@linkcode BodyVariant}). */
export function bodyVariant(f: FunctionDef): BodyVariant {
  return f.body.nodes.some((n) => n.opType === Op.MatMulInteger.type) ? "bits" : "nibbles";
}

/**
 * Add the model-local functions `shiftkit.ShiftMatMul` and `shiftkit.ShiftConv` (standard-op bodies) to a
 * model, unless present, and import the `shiftkit` domain. With `bits: 4` (every call of the model at 4
 * bits) a new body reads two codes per byte (`"nibbles"`, about half the nodes: onnxruntime folds each node
 * once per call at session creation); otherwise, and where a present 4-bit body would meet another `bits`,
 * the general body (`"bits"`) serves every width.
 *
 * @param model the model (changed in place); its default opset must be >= {@linkcode DENSE_SHIFT_MIN_OPSET}
 * @param which which functions to add, and the `bits` of every call the model has and will get
 * @returns nothing
 * @throws {RangeError} when the model's opset is too low
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { bodyVariant, ensureShiftFunctions } from "./_dense_shift_body.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * ensureShiftFunctions(m, { matMul: true, conv: true, bits: 4 });
 * assertEquals(m.functions.map((f) => [f.name, bodyVariant(f)]), [["ShiftMatMul", "nibbles"], ["ShiftConv", "nibbles"]]);
 * ensureShiftFunctions(m, { matMul: true, bits: 3 }); // a 3-bit call needs the general body
 * assertEquals(m.functions.map((f) => [f.name, bodyVariant(f)]), [["ShiftMatMul", "bits"], ["ShiftConv", "nibbles"]]);
 * ```
 */
export function ensureShiftFunctions(
  model: Model,
  which: { matMul?: boolean; conv?: boolean; bits?: number } = { matMul: true, conv: true },
): void {
  const variant: BodyVariant = which.bits === 4 ? "nibbles" : "bits";
  const ensure = (name: string, build: (opset: number, v: BodyVariant) => FunctionDef) => {
    const have = model.findFunction(SHIFTKIT_DOMAIN, name);
    if (have && variant === "bits" && bodyVariant(have) === "nibbles") {
      // a 4-bit body cannot decode other widths: the general one replaces it, in place
      model.functions[model.functions.indexOf(have)] = build(model.opset, "bits");
      return;
    }
    ensureFunction(model, SHIFTKIT_DOMAIN, name, (opset) => build(opset, variant), DENSE_SHIFT_MIN_OPSET);
  };
  if (which.matMul) ensure(Op.ShiftMatMul.type, buildShiftMatMul);
  if (which.conv) ensure(Op.ShiftConv.type, buildShiftConv);
}

/** Conv attributes with their ONNX defaults made explicit (so the function body's references resolve). */
export function explicitConvAttrs(
  attrs: ReadonlyMap<string, Attribute>,
  weightDims: readonly number[],
): Attribute[] {
  const spatial = weightDims.length - 2;
  const ints = (name: string, dflt: number[]) => {
    const a = attrs.get(name);
    return intsAttr(name, a ? (a.value as (number | bigint)[]).map(Number) : dflt);
  };
  const out = [
    ints("kernel_shape", weightDims.slice(2)),
    ints("strides", new Array(spatial).fill(1)),
    ints("dilations", new Array(spatial).fill(1)),
    intAttr("group", Number((attrs.get("group")?.value as number | bigint | undefined) ?? 1)),
  ];
  const autoPad = attrs.get("auto_pad");
  const ap = autoPad ? new TextDecoder().decode(autoPad.value as Uint8Array) : "NOTSET";
  // pads and a non-NOTSET auto_pad are mutually exclusive in ONNX Conv.
  if (ap === "NOTSET") out.push(ints("pads", new Array(2 * spatial).fill(0)));
  if (autoPad) out.push(autoPad);
  return out;
}
