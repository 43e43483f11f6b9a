/**
 * Model-local function body of `shiftkit.ShiftAddMatMul` in standard opset-18 ops (docs/ops/shiftadd.md,
 * "Standard-ONNX function body"), so an unmodified onnxruntime runs a ShiftAdd model.
 *
 * The body is split so that onnxruntime decodes the weight once, at session creation: `Ŵ` (all `8·J` rows
 * of the planes, J = ceil(K/8)) is computed from `planes`, `alpha_exp`, `alpha_terms` and the attributes
 * only, then cut to its first K rows (attribute `k`). After onnxruntime inlines the function, that subgraph
 * depends on initializers and attributes alone and its constant folding replaces it by one float
 * initializer (checked on the optimized-model dump by tests/ort_folding_test.ts, timed by
 * bench/latency.ts): each call runs only `MatMul(X, Ŵ)`. (Taking K from X's shape instead would put
 * Shape/Slice or Pad nodes on every call: 2x slower on byte-lm-opt.)
 * @module
 */
import { intAttr, intsAttr, stringAttr } from "../../onnx/attributes.ts";
import { ensureFunction, FunctionBuilder } from "../../onnx/function_builder.ts";
import type { FunctionDef, Model, Value } from "../../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";

/**
 * Which alpha decode a ShiftAddMatMul body carries: `"terms"` any number of power-of-two terms T (the
 * general body), `"byte"` T = 2 or 3 only (one byte of further terms per alpha, decoded by one table lookup:
 * fewer nodes for onnxruntime to fold per call at session creation).
 */
export type ShiftAddBodyVariant = "terms" | "byte";

/** `factor[v]` for a term byte v (low nibble first): `1 + s1 2^-d1 + s2 2^-(d1 + d2)`, terms with d = 0 absent. */
const TERM_BYTE_FACTORS = (() => {
  const t = new Float32Array(256);
  for (let v = 0; v < 256; v++) {
    const n1 = v & 15, n2 = v >> 4, d1 = n1 & 7, d2 = n2 & 7;
    let f = 1;
    if (d1 > 0) f += (n1 & 8 ? -1 : 1) * 2 ** -d1;
    if (d2 > 0) f += (n2 & 8 ? -1 : 1) * 2 ** -(d1 + d2);
    t[v] = f;
  }
  return t;
})();

/** The default-domain opset the function body needs (BitwiseAnd). */
export const SHIFT_ADD_OPSET = 18;

/**
 * The model-local function `shiftkit.ShiftAddMatMul` in standard opset-18 ops: bits by BitShift +
 * BitwiseAnd, `B = 2·bit − 1`; alphas as `2^e0 + Σ_t (1 − 2·sign_t) · 2^(e0 − Σ_(u<=t) d_u)` (terms with
 * `d = 0` absent; alpha 0 where `e0 = −128`); `Ŵ = Σ_i α_i(n, g(k)) · B_i` over all `8·J` rows, cut to
 * rows `0..k-1`; then `MatMul(X, Ŵ)`. `group_size` and `k` are the attributes the body reads.
 *
 * @param opset the default-domain opset the body imports (>= 18; must equal the model's)
 * @returns the function definition
 * @throws {RangeError} for an opset below 18
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildShiftAddFunction } from "./_shift_add_body.ts";
 * const f = buildShiftAddFunction(18);
 * assertEquals([f.domain, f.name, f.body.inputs.length], ["shiftkit", "ShiftAddMatMul", 4]);
 * ```
 */
export function buildShiftAddFunction(opset: number, variant: ShiftAddBodyVariant = "terms"): FunctionDef {
  if (opset < SHIFT_ADD_OPSET) {
    throw new RangeError(`The ShiftAddMatMul function body needs opset >= ${SHIFT_ADD_OPSET}, got ${opset}`);
  }
  const b = new FunctionBuilder(Op.ShiftAddMatMul.type, { opset });
  for (const a of ["bits", "group_size", "terms", "k"]) b.attribute(a);
  b.attribute("mode", stringAttr("mode", "accuracy"));
  const [x, planes, exp, terms] = ["X", "planes", "alpha_exp", "alpha_terms"].map((n) => b.input(n)) as [
    Value,
    Value,
    Value,
    Value,
  ];
  const f32 = (v: number) => b.constant(makeTensor(DataType.FLOAT, [], new Float32Array([v])));
  const u8 = (v: number[]) => b.constant(makeTensor(DataType.UINT8, [v.length], Uint8Array.from(v)));
  const i64 = (v: number[], scalar = false) =>
    b.constant(makeTensor(DataType.INT64, scalar ? [] : [v.length], BigInt64Array.from(v, BigInt)));
  const toFloat = [intAttr("to", DataType.FLOAT)];
  const last = i64([-1]), zero = i64([0]);
  const shr = (v: Value, s: Value) => b.op(Op.BitShift.type, [v, s], [stringAttr("direction", "RIGHT")]);
  const and = (v: Value, m: number) => b.op(Op.BitwiseAnd.type, [v, u8([m])]);
  const two = f32(2), oneF = f32(1);
  // Feature-major layout [8J, q, N] throughout, so that every broadcast and the group Gather below move
  // contiguous q·N rows (onnxruntime folds this at load; a per-element layout made that fold 5x slower).
  // Bit b of byte j: [q, N, J] -> [J, q, N] -> [J, 1, q, N] >> [1, 8, 1, 1] & 1 -> [8J, q, N] as bool.
  const planesT = b.op(Op.Transpose.type, [planes], [intsAttr("perm", [2, 0, 1])]);
  const shifts = b.constant(
    makeTensor(DataType.UINT8, [1, 8, 1, 1], Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7])),
  );
  const bits = b.op(Op.BitwiseAnd.type, [
    b.op(Op.BitShift.type, [b.op(Op.Unsqueeze.type, [planesT, i64([1])]), shifts], [
      stringAttr("direction", "RIGHT"),
    ]),
    u8([1]),
  ]);
  const plus = b.op(Op.Cast.type, [b.op(Op.Flatten.type, [bits], [intAttr("axis", 2)])], [
    intAttr("to", DataType.BOOL),
  ]); // [8J, q·N]
  const e0 = b.op(Op.Cast.type, [exp], toFloat); // [q, N, G]
  let alpha: Value;
  if (variant === "byte") {
    // One byte of further terms (T = 2 or 3): alpha = 2^e0 * factor[byte], the factor 1 + s1 2^-d1 + s2
    // 2^-(d1+d2) (absent terms 0) exact in float32, and so is the product (every term >= 2^-127). Squeeze
    // fails on any other number of term bytes, so a call of another T fails instead of decoding wrong alphas.
    const factor = b.op(Op.Gather.type, [
      b.constant(makeTensor(DataType.FLOAT, [256], TERM_BYTE_FACTORS)),
      b.op(Op.Cast.type, [b.op(Op.Squeeze.type, [terms, i64([3])])], [intAttr("to", DataType.INT32)]),
    ]);
    alpha = b.op(Op.Where.type, [
      b.op(Op.Equal.type, [e0, f32(-128)]),
      f32(0),
      b.op(Op.Mul.type, [b.op(Op.Pow.type, [two, e0]), factor]),
    ]);
  } else {
    // Further terms: nibbles low first, [q, N, G, R] -> [q, N, G, 2R]; d = nib & 7, sign = nib >> 3.
    const nib = and(shr(b.op(Op.Unsqueeze.type, [terms, last]), u8([0, 4])), 15);
    const nibs = b.op(Op.Reshape.type, [nib, i64([0, 0, 0, -1])]);
    const d = b.op(Op.Cast.type, [and(nibs, 7)], toFloat);
    const s = b.op(Op.Cast.type, [shr(nibs, u8([3]))], toFloat);
    const e = b.op(Op.Sub.type, [
      b.op(Op.Unsqueeze.type, [e0, last]),
      b.op(Op.CumSum.type, [d, i64([3], true)]),
    ]);
    const term = b.op(Op.Mul.type, [
      b.op(Op.Sub.type, [oneF, b.op(Op.Mul.type, [s, two])]),
      b.op(Op.Pow.type, [two, e]),
    ]);
    const present = b.op(Op.Greater.type, [d, f32(0)]);
    const rest = b.op(Op.ReduceSum.type, [b.op(Op.Where.type, [present, term, f32(0)]), i64([3])], [
      intAttr("keepdims", 0),
    ]);
    alpha = b.op(Op.Where.type, [
      b.op(Op.Equal.type, [e0, f32(-128)]),
      f32(0),
      b.op(Op.Add.type, [b.op(Op.Pow.type, [two, e0]), rest]),
    ]);
  }
  // Group of each of the 8J features: min(floor(k / group_size), G − 1) (G−1 only for padding features).
  const shape = (v: Value, start: number, end: number) =>
    b.op(Op.Shape.type, [v], [intAttr("start", start), intAttr("end", end)]);
  const rows = b.op(Op.Mul.type, [b.op(Op.Squeeze.type, [shape(planes, 2, 3), zero]), i64([8], true)]);
  const kIdx = b.op(Op.Range.type, [i64([0], true), rows, i64([1], true)]);
  const gLast = b.op(Op.Sub.type, [b.op(Op.Squeeze.type, [shape(exp, 2, 3), zero]), i64([1], true)]);
  const group = b.op(Op.Min.type, [b.op(Op.Div.type, [kIdx, b.attrInt("group_size")]), gLast]);
  // Ŵ[k, n] = Σ_i (B_i(k, n) = +1 ? α_i : −α_i)(n, g(k)): alphas [q, N, G] -> [G, q, N] -> rows of [8J, q, N].
  const alphaT = b.op(Op.Flatten.type, [b.op(Op.Transpose.type, [alpha], [intsAttr("perm", [2, 0, 1])])], [
    intAttr("axis", 1),
  ]); // [G, q·N]
  const alphaK = b.op(Op.Gather.type, [alphaT, group], [intAttr("axis", 0)]); // [8J, q·N]
  const signed = b.op(Op.Where.type, [plus, alphaK, b.op(Op.Neg.type, [alphaK])]);
  const qn = b.op(Op.Concat.type, [last, shape(exp, 0, 2)], [intAttr("axis", 0)]); // [-1, q, N]
  const w = b.op(Op.ReduceSum.type, [b.op(Op.Reshape.type, [signed, qn]), i64([1])], [
    intAttr("keepdims", 0),
  ]); // [8J, N], constant
  // Rows 0..K-1 (K from the attribute, so still constant): the only per-call work is the MatMul.
  const kEnd = b.op(Op.Unsqueeze.type, [b.attrInt("k"), zero]);
  const wK = b.op(Op.Slice.type, [w, zero, kEnd, zero]);
  b.output(b.op(Op.MatMul.type, [x, wK]), "Y");
  return b.build();
}

/** The alpha decode a ShiftAddMatMul body carries (see {@linkcode ShiftAddBodyVariant}). */
export function shiftAddBodyVariant(f: FunctionDef): ShiftAddBodyVariant {
  return f.body.nodes.some((n) => n.opType === Op.CumSum.type) ? "terms" : "byte";
}

/**
 * Add the model-local function `shiftkit.ShiftAddMatMul` unless present, for calls with `terms` power-of-two
 * terms per alpha: the one-byte body for T = 2 or 3 (the method's default), the general one otherwise, and
 * the general one in place of a present one-byte body when a call of another T comes.
 *
 * @param model the model (changed in place); its default opset must be >= {@linkcode SHIFT_ADD_OPSET}
 * @param terms T of the calls the model has and will get
 * @returns the function
 * @throws {RangeError} when the model's opset is too low
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { ensureShiftAddFunction, shiftAddBodyVariant } from "./_shift_add_body.ts";
 * const m = new Model();
 * m.opsets.set("", 18);
 * assertEquals(shiftAddBodyVariant(ensureShiftAddFunction(m, 3)), "byte");
 * assertEquals(shiftAddBodyVariant(ensureShiftAddFunction(m, 4)), "terms"); // T = 4 needs the general body
 * assertEquals(m.functions.length, 1);
 * ```
 */
export function ensureShiftAddFunction(model: Model, terms: number): FunctionDef {
  const variant: ShiftAddBodyVariant = terms === 2 || terms === 3 ? "byte" : "terms";
  const have = model.findFunction(SHIFTKIT_DOMAIN, Op.ShiftAddMatMul.type);
  if (have && variant === "terms" && shiftAddBodyVariant(have) === "byte") {
    const general = buildShiftAddFunction(model.opset, "terms");
    model.functions[model.functions.indexOf(have)] = general;
    return general;
  }
  return ensureFunction(
    model,
    SHIFTKIT_DOMAIN,
    Op.ShiftAddMatMul.type,
    (opset) => buildShiftAddFunction(opset, variant),
    SHIFT_ADD_OPSET,
  );
}
