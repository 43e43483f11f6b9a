/**
 * Broadcasting binary and variadic element-wise ops (ONNX multidirectional broadcasting), comparisons,
 * logical ops, Where and Clip. Arithmetic runs on numbers for every type except 64-bit integers, which run
 * on BigInt; float32 results are rounded once on store into the Float32Array, as a float32 kernel would.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, dtypeName, makeTensor, sizeOf, type Tensor, type TypedArray } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { FAST_ADD, FAST_DIV, FAST_MAX, FAST_MIN, FAST_MUL, FAST_SUB, fastBinary } from "./_binary_fast.ts";
import { clipF32 } from "./_unary_fast.ts";
import { broadcastOffsets, broadcastShapes, numeric, req } from "./_util.ts";

type NumFn = (x: number, y: number) => number;
type BigFn = (x: bigint, y: bigint) => bigint | number;

interface BinarySpec {
  num: NumFn;
  /** Variant for integer types when it differs from `num` (integer Div truncates). */
  int?: NumFn;
  big?: BigFn;
  /** Output element type when it is not the input's (comparisons give BOOL). */
  out?: DataType;
  /** Element types allowed; default: all numeric types. */
  only?: DataType[];
  /** Op code of the float32 fast path (`_binary_fast.ts`), for ops that have one. */
  fast?: number;
}

function isBig(a: TypedArray): a is BigInt64Array | BigUint64Array {
  return a instanceof BigInt64Array || a instanceof BigUint64Array;
}

const FLOATS = new Set([DataType.FLOAT, DataType.DOUBLE]);

/** Apply a broadcasting binary op. */
function binary(a: Tensor, b: Tensor, spec: BinarySpec, op: string): Tensor {
  if (a.dtype !== b.dtype && op !== "Pow") {
    throw new TypeError(`${op}: input types differ (${dtypeName(a.dtype)} and ${dtypeName(b.dtype)})`);
  }
  if (spec.only && !spec.only.includes(a.dtype)) {
    throw new TypeError(`${op}: element type ${dtypeName(a.dtype)} is not supported`);
  }
  const dims = broadcastShapes([a.dims, b.dims], op);
  const out = makeTensor(spec.out ?? a.dtype, dims);
  if (
    spec.fast !== undefined && a.dtype === DataType.FLOAT && b.dtype === DataType.FLOAT &&
    a.data instanceof Float32Array && b.data instanceof Float32Array && out.data instanceof Float32Array
  ) {
    fastBinary(spec.fast, a.data, a.dims, b.data, b.dims, dims, out.data);
    return out;
  }
  const n = sizeOf(dims);
  const A = numeric(a, op), B = numeric(b, op);
  const oa = broadcastOffsets(a.dims, dims), ob = broadcastOffsets(b.dims, dims);
  const O = out.data as TypedArray;
  if (isBig(A) || isBig(B)) {
    const f = spec.big;
    if (!f) throw new TypeError(`${op}: element type ${dtypeName(a.dtype)} is not supported`);
    const toBig = (v: number | bigint) => typeof v === "bigint" ? v : BigInt(v);
    const Ob = O as unknown as (number | bigint)[];
    const outBig = isBig(O);
    for (let i = 0; i < n; i++) {
      const r = f(toBig(A[oa ? oa[i]! : i]!), toBig(B[ob ? ob[i]! : i]!));
      Ob[i] = outBig ? (typeof r === "bigint" ? r : BigInt(r)) : Number(r);
    }
    return out;
  }
  const f = (!FLOATS.has(a.dtype) && spec.int) ? spec.int : spec.num;
  const An = A as Float32Array, Bn = B as Float32Array, On = O as Float32Array;
  if (!oa && !ob) { for (let i = 0; i < n; i++) On[i] = f(An[i]!, Bn[i]!); }
  else if (!oa && b.data.length === 1) {
    const y = Bn[0]!;
    for (let i = 0; i < n; i++) On[i] = f(An[i]!, y);
  } else if (!ob && a.data.length === 1) {
    const x = An[0]!;
    for (let i = 0; i < n; i++) On[i] = f(x, Bn[i]!);
  } else {
    for (let i = 0; i < n; i++) On[i] = f(An[oa ? oa[i]! : i]!, Bn[ob ? ob[i]! : i]!);
  }
  return out;
}

const B1 = (c: boolean) => (c ? 1 : 0);

const SPECS: Record<string, BinarySpec> = {
  Add: { num: (x, y) => x + y, big: (x, y) => x + y, fast: FAST_ADD },
  Sub: { num: (x, y) => x - y, big: (x, y) => x - y, fast: FAST_SUB },
  // Integer products wrap modulo 2^32 exactly (Math.imul), not after a rounded float64 product past 2^53.
  Mul: { num: (x, y) => x * y, int: (x, y) => Math.imul(x, y), big: (x, y) => x * y, fast: FAST_MUL },
  Div: { num: (x, y) => x / y, int: (x, y) => Math.trunc(x / y), big: (x, y) => x / y, fast: FAST_DIV },
  Pow: { num: (x, y) => Math.pow(x, y), big: (x, y) => x ** y },
  Max: { num: (x, y) => (x >= y || x !== x ? x : y), big: (x, y) => (x >= y ? x : y), fast: FAST_MAX },
  Min: { num: (x, y) => (x <= y || x !== x ? x : y), big: (x, y) => (x <= y ? x : y), fast: FAST_MIN },
  Equal: { num: (x, y) => B1(x === y), big: (x, y) => B1(x === y), out: DataType.BOOL },
  Less: { num: (x, y) => B1(x < y), big: (x, y) => B1(x < y), out: DataType.BOOL },
  Greater: { num: (x, y) => B1(x > y), big: (x, y) => B1(x > y), out: DataType.BOOL },
  LessOrEqual: { num: (x, y) => B1(x <= y), big: (x, y) => B1(x <= y), out: DataType.BOOL },
  GreaterOrEqual: { num: (x, y) => B1(x >= y), big: (x, y) => B1(x >= y), out: DataType.BOOL },
  And: { num: (x, y) => B1(x !== 0 && y !== 0), only: [DataType.BOOL] },
  Or: { num: (x, y) => B1(x !== 0 || y !== 0), only: [DataType.BOOL] },
  Xor: { num: (x, y) => B1((x !== 0) !== (y !== 0)), only: [DataType.BOOL] },
};

/** Pow allows an exponent of another numeric type (opset 12+): bring it to the base's type first. */
function powInputs(a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (a.dtype === b.dtype) return [a, b];
  const n = b.data.length;
  const d = makeTensor(a.dtype, b.dims);
  const D = d.data as TypedArray;
  const S = b.data as TypedArray;
  for (let i = 0; i < n; i++) {
    const v = Number(S[i]!);
    if (isBig(D)) (D as BigInt64Array)[i] = BigInt(Math.trunc(v));
    else (D as Float32Array)[i] = v;
  }
  return [a, d];
}

function binaryKernel(op: string): OpKernel {
  const spec = SPECS[op]!;
  return (inputs) => {
    let a = req(inputs, 0, op), b = req(inputs, 1, op);
    if (op === "Pow") {
      [a, b] = powInputs(a, b);
      // x^2 (RMSNorm): Math.pow(x, 2) is the exact product x * x, so the same bits without the call
      if (
        a.data instanceof Float32Array && b.data instanceof Float32Array && b.data.length === 1 &&
        b.data[0] === 2 && b.dims.length <= a.dims.length
      ) {
        const X = a.data, out = makeTensor(DataType.FLOAT, a.dims), O = out.data as Float32Array;
        for (let i = 0; i < X.length; i++) O[i] = X[i]! * X[i]!;
        return [out];
      }
    }
    return [binary(a, b, spec, op)];
  };
}

function variadic(op: string, spec: BinarySpec): OpKernel {
  return (inputs) => {
    const xs = inputs.filter((t): t is Tensor => t !== undefined);
    if (xs.length === 0) throw new TypeError(`${op}: needs at least one input`);
    let acc = xs[0]!;
    for (let i = 1; i < xs.length; i++) acc = binary(acc, xs[i]!, spec, op);
    return [acc];
  };
}

/** Mod: `fmod` = 0 gives the sign of the divisor (Python %), 1 the sign of the dividend (C fmod). */
function mod(inputs: (Tensor | undefined)[], attrs: Attrs): Tensor[] {
  const a = req(inputs, 0, "Mod"), b = req(inputs, 1, "Mod");
  const fmod = attrs.int("fmod", 0) === 1;
  if (FLOATS.has(a.dtype) && !fmod) throw new TypeError("Mod: fmod must be 1 for floating-point inputs");
  const spec: BinarySpec = fmod ? { num: (x, y) => x % y, big: (x, y) => x % y } : {
    num: (x, y) => {
      const r = x % y;
      return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
    },
    big: (x, y) => {
      const r = x % y;
      return r !== 0n && (r < 0n) !== (y < 0n) ? r + y : r;
    },
  };
  return [binary(a, b, spec, "Mod")];
}

/** Where(condition, X, Y): broadcasting select. */
function where(inputs: (Tensor | undefined)[]): Tensor[] {
  const c = req(inputs, 0, "Where"), x = req(inputs, 1, "Where"), y = req(inputs, 2, "Where");
  if (x.dtype !== y.dtype) {
    throw new TypeError(`Where: X and Y types differ (${dtypeName(x.dtype)} and ${dtypeName(y.dtype)})`);
  }
  const dims = broadcastShapes([c.dims, x.dims, y.dims], "Where");
  const out = makeTensor(x.dtype, dims);
  const oc = broadcastOffsets(c.dims, dims), ox = broadcastOffsets(x.dims, dims);
  const oy = broadcastOffsets(y.dims, dims);
  const C = c.data as Uint8Array, X = x.data as Float32Array, Y = y.data as Float32Array;
  const O = out.data as Float32Array;
  for (let i = 0, n = O.length; i < n; i++) {
    O[i] = C[oc ? oc[i]! : i] ? X[ox ? ox[i]! : i]! : Y[oy ? oy[i]! : i]!;
  }
  return [out];
}

/** Clip: bounds are attributes before opset 11 and optional inputs from 11 on. */
function clip(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const x = req(inputs, 0, "Clip");
  const X = numeric(x, "Clip");
  const out = makeTensor(x.dtype, x.dims);
  if (isBig(X)) {
    const lo = inputs[1] ? (inputs[1].data as BigInt64Array)[0]! : undefined;
    const hi = inputs[2] ? (inputs[2].data as BigInt64Array)[0]! : undefined;
    const O = out.data as BigInt64Array;
    for (let i = 0; i < X.length; i++) {
      let v = X[i]!;
      if (lo !== undefined && v < lo) v = lo;
      if (hi !== undefined && v > hi) v = hi;
      O[i] = v;
    }
    return [out];
  }
  let lo = -Infinity, hi = Infinity;
  if (ctx.opset < 11) {
    lo = attrs.float("min", -3.4028234663852886e38);
    hi = attrs.float("max", 3.4028234663852886e38);
  } else {
    if (inputs[1]) lo = Number((inputs[1].data as TypedArray)[0]);
    if (inputs[2]) hi = Number((inputs[2].data as TypedArray)[0]);
  }
  if (X instanceof Float32Array) clipF32(X, out.data as Float32Array, lo, hi);
  else {
    const Xn = X as Float64Array, O = out.data as Float64Array;
    for (let i = 0; i < Xn.length; i++) {
      const v = Xn[i]!;
      O[i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
  return [out];
}

/** Binary, variadic, comparison and logical element-wise kernels for the default domain. */
export const elementwiseOps: Record<string, OpKernel> = {
  Add: binaryKernel("Add"),
  Sub: binaryKernel("Sub"),
  Mul: binaryKernel("Mul"),
  Div: binaryKernel("Div"),
  Pow: binaryKernel("Pow"),
  Equal: binaryKernel("Equal"),
  Less: binaryKernel("Less"),
  Greater: binaryKernel("Greater"),
  LessOrEqual: binaryKernel("LessOrEqual"),
  GreaterOrEqual: binaryKernel("GreaterOrEqual"),
  And: binaryKernel("And"),
  Or: binaryKernel("Or"),
  Xor: binaryKernel("Xor"),
  Max: variadic("Max", SPECS.Max!),
  Min: variadic("Min", SPECS.Min!),
  Sum: variadic("Sum", SPECS.Add!),
  Mean: (inputs, attrs, ctx) => {
    const s = variadic("Mean", SPECS.Add!)(inputs, attrs, ctx)[0]!;
    const k = inputs.filter((t) => t).length;
    const d = s.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = d[i]! / k;
    return [s];
  },
  Mod: mod,
  Where: where,
  Clip: clip,
};
