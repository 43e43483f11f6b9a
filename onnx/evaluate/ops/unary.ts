/**
 * Unary element-wise ops and activations. Float math runs in double precision and is rounded once to
 * float32 on store; Round uses the shared ties-to-even helper of quant/round.ts (ONNX Round rounds half to
 * even).
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, dtypeName, makeTensor, type Tensor, type TypedArray } from "../../tensor.ts";
import { roundHalfEven } from "../../../quant/round.ts";
import type { OpKernel } from "../registry.ts";
import { erf } from "./_erf.ts";
import { unaryLoops } from "./_unary_fast.ts";
import { numeric, req } from "./_util.ts";

type Fn = (x: number) => number;

const FLOATS = [DataType.FLOAT, DataType.DOUBLE];

function map(op: string, x: Tensor, f: Fn, big?: (x: bigint) => bigint, floatOnly = true): Tensor {
  if (floatOnly && !FLOATS.includes(x.dtype)) {
    throw new TypeError(`${op}: element type ${dtypeName(x.dtype)} is not supported (float only)`);
  }
  const X = numeric(x, op);
  const out = makeTensor(x.dtype, x.dims);
  if (X instanceof BigInt64Array) {
    if (!big) throw new TypeError(`${op}: element type ${dtypeName(x.dtype)} is not supported`);
    const O = out.data as BigInt64Array;
    for (let i = 0; i < X.length; i++) O[i] = big(X[i]!);
    return out;
  }
  const Xn = X as Float32Array, O = out.data as Float32Array;
  for (let i = 0, n = Xn.length; i < n; i++) O[i] = f(Xn[i]!);
  return out;
}

/** The op's own float32 loop (`_unary_fast.ts`) when it has one and `x` is FLOAT. */
function fastMap(op: string, x: Tensor, attrs: Attrs): Tensor | undefined {
  const loop = unaryLoops[op];
  if (!loop || x.dtype !== DataType.FLOAT || !(x.data instanceof Float32Array)) return undefined;
  const out = makeTensor(x.dtype, x.dims);
  loop(x.data, out.data as Float32Array, attrs);
  return out;
}

/** A float-only unary op whose function may depend on attributes. */
function unary(op: string, make: (a: Attrs) => Fn): OpKernel {
  return (inputs, attrs) => {
    const x = req(inputs, 0, op);
    return [fastMap(op, x, attrs) ?? map(op, x, make(attrs))];
  };
}

/** A unary op defined for every signed numeric type. */
function numericUnary(op: string, f: Fn, big: (x: bigint) => bigint): OpKernel {
  return (inputs, attrs) => {
    const x = req(inputs, 0, op);
    return [fastMap(op, x, attrs) ?? map(op, x, f, big, false)];
  };
}

const sigmoid: Fn = (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Unary element-wise kernels for the default domain. */
export const unaryOps: Record<string, OpKernel> = {
  Sqrt: unary("Sqrt", () => Math.sqrt),
  Exp: unary("Exp", () => Math.exp),
  Log: unary("Log", () => Math.log),
  Tanh: unary("Tanh", () => Math.tanh),
  Erf: unary("Erf", () => erf),
  Sin: unary("Sin", () => Math.sin),
  Cos: unary("Cos", () => Math.cos),
  Reciprocal: unary("Reciprocal", () => (x) => 1 / x),
  Floor: unary("Floor", () => Math.floor),
  Ceil: unary("Ceil", () => Math.ceil),
  Round: unary("Round", () => roundHalfEven),
  Sigmoid: unary("Sigmoid", () => sigmoid),
  Softplus: unary("Softplus", () => (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)))),
  Softsign: unary("Softsign", () => (x) => x / (1 + Math.abs(x))),
  LeakyRelu: unary("LeakyRelu", (a) => {
    const alpha = a.float("alpha", 0.01);
    return (x) => (x >= 0 ? x : alpha * x);
  }),
  Elu: unary("Elu", (a) => {
    const alpha = a.float("alpha", 1);
    return (x) => (x >= 0 ? x : alpha * (Math.exp(x) - 1));
  }),
  Selu: unary("Selu", (a) => {
    const alpha = a.float("alpha", 1.67326319217681884765625);
    const gamma = a.float("gamma", 1.05070102214813232421875);
    return (x) => (x > 0 ? gamma * x : gamma * alpha * (Math.exp(x) - 1));
  }),
  HardSigmoid: unary("HardSigmoid", (a) => {
    const alpha = Math.fround(a.float("alpha", 0.2)), beta = Math.fround(a.float("beta", 0.5));
    return (x) => Math.max(0, Math.min(1, alpha * x + beta));
  }),
  // HardSwish = x * HardSigmoid(x) with alpha = 1/6, beta = 0.5 (opset 14).
  HardSwish: unary("HardSwish", () => (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5))),
  Gelu: unary("Gelu", (a) => {
    if (a.string("approximate", "none") === "tanh") {
      const c = Math.sqrt(2 / Math.PI);
      return (x) => 0.5 * x * (1 + Math.tanh(c * (x + 0.044715 * x * x * x)));
    }
    return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
  }),
  Relu: numericUnary("Relu", (x) => (x > 0 ? x : 0), (x) => (x > 0n ? x : 0n)),
  Neg: numericUnary("Neg", (x) => -x, (x) => -x),
  Abs: numericUnary("Abs", Math.abs, (x) => (x < 0n ? -x : x)),
  Sign: numericUnary("Sign", (x) => (x > 0 ? 1 : x < 0 ? -1 : x), (x) => (x > 0n ? 1n : x < 0n ? -1n : 0n)),
  Not: (inputs) => {
    const x = req(inputs, 0, "Not");
    if (x.dtype !== DataType.BOOL) throw new TypeError(`Not: input must be BOOL, got ${dtypeName(x.dtype)}`);
    const X = x.data as Uint8Array, out = makeTensor(DataType.BOOL, x.dims);
    const O = out.data as Uint8Array;
    for (let i = 0; i < X.length; i++) O[i] = X[i] ? 0 : 1;
    return [out];
  },
  // Tensors are immutable once produced, so Identity can hand back its input.
  Identity: (inputs) => [req(inputs, 0, "Identity")],
  IsNaN: (inputs) => {
    const x = req(inputs, 0, "IsNaN");
    const X = numeric(x, "IsNaN") as TypedArray as Float32Array;
    const out = makeTensor(DataType.BOOL, x.dims), O = out.data as Uint8Array;
    for (let i = 0; i < X.length; i++) O[i] = X[i] !== X[i] ? 1 : 0;
    return [out];
  },
};
