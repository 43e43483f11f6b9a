/**
 * Shape and type inference for the ops shiftkit meets. Fills `Value.type` wherever it can be derived, keeps
 * symbolic dimensions, and never replaces what is known with something less known (a number beats a name
 * beats null; a known rank is kept). Small integer tensors computed from shapes (Shape -> Gather ->
 * Unsqueeze -> Concat -> Reshape) are tracked as partial data, the way ONNX's data propagation does, so
 * Reshape targets built at run time still give static (or symbolic) shapes.
 * @module
 */
import type { Dim, Graph, Model, Node, TensorType, Value } from "./ir.ts";
import { Op } from "./ops.ts";
import { constantNodeTensor, constValue } from "./patterns.ts";
import { DataType, sizeOf, toNumbers } from "./tensor.ts";

/** Options of {@link inferShapes}. */
export interface InferOptions {
  /** Shapes to give graph inputs (replacing symbolic/unknown dims), by input name. @default {} */
  inputShapes?: Record<string, Dim[]>;
}

type Shape = Dim[];
/** Partial data of a small int tensor: each element a number, a symbolic name or unknown. */
type Data = { dims: number[]; values: Dim[] };

interface Ctx {
  opset: number;
  data: Map<Value, Data>;
}

const isNum = (d: Dim): d is number => typeof d === "number";

/** Merge an inferred type into a known one, keeping the better of each part. */
export function mergeType(old: TensorType | undefined, inf: TensorType | undefined): TensorType | undefined {
  if (!inf) return old;
  if (!old) return inf;
  const elemType = old.elemType || inf.elemType;
  if (!old.shape) return inf.shape ? { elemType, shape: inf.shape } : { elemType };
  if (!inf.shape || inf.shape.length !== old.shape.length) return { elemType, shape: old.shape };
  const shape = old.shape.map((d, i) => {
    const n = inf.shape![i]!;
    if (isNum(d)) return d;
    if (isNum(n)) return n;
    return d ?? n;
  });
  return { elemType, shape };
}

function sameType(a: TensorType | undefined, b: TensorType | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function shapeOf(v: Value | null): Shape | undefined {
  return v?.type?.shape;
}

function typeOf(v: Value | null): number {
  return v?.type?.elemType ?? 0;
}

function norm(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function mulDims(ds: Dim[]): Dim {
  let p = 1;
  for (const d of ds) {
    if (!isNum(d)) return null;
    p *= d;
  }
  return p;
}

/** numpy broadcasting of symbolic shapes. */
function broadcast(shapes: (Shape | undefined)[]): Shape | undefined {
  if (shapes.some((s) => !s)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s![s!.length - rank + i];
      if (e === undefined || e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) d = isNum(d) && isNum(e) ? Math.max(d, e) : isNum(e) ? e : isNum(d) ? d : null;
    }
    out.push(d);
  }
  return out;
}

/** Constant ints of an input: from initializers, Constant nodes, or tracked shape data when fully known. */
function ints(v: Value | null, cx: Ctx): number[] | undefined {
  if (!v) return undefined;
  const t = constValue(v);
  if (t) return t.dtype === DataType.STRING ? undefined : toNumbers(t);
  const d = cx.data.get(v);
  return d && d.values.every(isNum) ? (d.values as number[]) : undefined;
}

function floats(v: Value | null): number[] | undefined {
  const t = constValue(v);
  return t ? toNumbers(t) : undefined;
}

function axesArg(n: Node, cx: Ctx, inputIndex = 1): number[] | undefined | null {
  if (n.attrs.has("axes")) return n.a.ints("axes");
  const v = n.input(inputIndex);
  if (!v) return null; // absent = all axes / none
  return ints(v, cx);
}

function poolSpatial(n: Node, x: Shape, kernel: number[], transposed = false, outC?: Dim): Shape {
  const sp = x.length - 2;
  const strides = n.a.ints("strides", Array(sp).fill(1));
  const dil = n.a.ints("dilations", Array(sp).fill(1));
  const pads = n.a.ints("pads", Array(2 * sp).fill(0));
  const autoPad = n.attrs.has("auto_pad") ? n.a.string("auto_pad") : "NOTSET";
  const ceil = n.a.int("ceil_mode", 0) === 1;
  const out: Shape = [x[0]!, outC ?? x[1]!];
  for (let i = 0; i < sp; i++) {
    const d = x[i + 2]!;
    if (!isNum(d)) {
      out.push(null);
      continue;
    }
    const k = (kernel[i]! - 1) * dil[i]! + 1;
    if (transposed) {
      const op = n.a.ints("output_padding", Array(sp).fill(0));
      out.push(strides[i]! * (d - 1) + op[i]! + k - pads[i]! - pads[i + sp]!);
    } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") out.push(Math.ceil(d / strides[i]!));
    else if (autoPad === "VALID") out.push(Math.floor((d - k) / strides[i]!) + 1);
    else {
      const r = (d + pads[i]! + pads[i + sp]! - k) / strides[i]!;
      out.push((ceil ? Math.ceil(r) : Math.floor(r)) + 1);
    }
  }
  return out;
}

type Rule = (n: Node, cx: Ctx) => (TensorType | undefined)[] | undefined;

const same: Rule = (n) => [n.input(0)?.type];
const elementwise: Rule = (n) => {
  const shape = broadcast(n.inputs.filter((v) => v).map(shapeOf));
  const t = typeOf(n.input(0)) || typeOf(n.input(1));
  return [shape ? { elemType: t, shape } : { elemType: t }];
};
const compare: Rule = (n, cx) => [{ ...elementwise(n, cx)![0]!, elemType: DataType.BOOL }];
const withShape = (elemType: number, shape: Shape | undefined): TensorType =>
  shape ? { elemType, shape } : { elemType };

function matmulShape(a: Shape | undefined, b: Shape | undefined): Shape | undefined {
  if (!a || !b) return undefined;
  const a2 = a.length === 1 ? [1, a[0]!] : a, b2 = b.length === 1 ? [b[0]!, 1] : b;
  const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)])!;
  const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.pop();
  return out;
}

function reduce(n: Node, cx: Ctx, axesInput: boolean): (TensorType | undefined)[] | undefined {
  const x = shapeOf(n.input(0));
  const keep = n.a.int("keepdims", 1) === 1;
  const axes = axesInput ? axesArg(n, cx) : n.attrs.has("axes") ? n.a.ints("axes") : null;
  if (!x || axes === undefined) return [{ elemType: typeOf(n.input(0)) }];
  const all = axes === null || axes.length === 0;
  if (all && n.a.int("noop_with_empty_axes", 0) === 1) return [n.input(0)!.type];
  const set = new Set((all ? x.map((_, i) => i) : axes!).map((a) => norm(a, x.length)));
  const shape: Shape = [];
  x.forEach((d, i) => set.has(i) ? keep && shape.push(1) : shape.push(d));
  return [{ elemType: typeOf(n.input(0)), shape }];
}

const RULES: Record<string, Rule> = {};
const on = (ops: { type: string }[], r: Rule) => ops.forEach((o) => (RULES[o.type] = r));

on([Op.Add, Op.Sub, Op.Mul, Op.Div, Op.Pow, Op.Max, Op.Min, Op.Mod, Op.BitShift, Op.BitwiseAnd], elementwise);
on([Op.Equal, Op.Less, Op.Greater, Op.And], compare);
on([Op.Where], (n) => [withShape(typeOf(n.input(1)), broadcast(n.inputs.map(shapeOf)))]);
on([
  Op.Relu,
  Op.Sigmoid,
  Op.Tanh,
  Op.Exp,
  Op.Log,
  Op.Sqrt,
  Op.Reciprocal,
  Op.Neg,
  Op.Abs,
  Op.Erf,
  Op.Floor,
  Op.Ceil,
  Op.Round,
  Op.HardSigmoid,
  Op.HardSwish,
  Op.LeakyRelu,
  Op.Gelu,
  Op.Clip,
  Op.Identity,
  Op.Softmax,
  Op.LogSoftmax,
  Op.Not,
  Op.LayerNormalization,
  Op.BatchNormalization,
  Op.InstanceNormalization,
], same);
on([{ type: "Dropout" }, { type: "Trilu" }], same);
on([Op.Cast], (n) => [withShape(n.a.int("to"), shapeOf(n.input(0)))]);
on(
  [Op.MatMul],
  (n) => [withShape(typeOf(n.input(0)), matmulShape(shapeOf(n.input(0)), shapeOf(n.input(1))))],
);
on(
  [Op.MatMulInteger],
  (n) => [withShape(DataType.INT32, matmulShape(shapeOf(n.input(0)), shapeOf(n.input(1))))],
);
on([Op.Gemm], (n) => {
  const a = shapeOf(n.input(0)), b = shapeOf(n.input(1));
  if (!a || !b || a.length !== 2 || b.length !== 2) return [{ elemType: typeOf(n.input(0)) }];
  const m = n.a.int("transA", 0) ? a[1]! : a[0]!, k = n.a.int("transB", 0) ? b[0]! : b[1]!;
  return [{ elemType: typeOf(n.input(0)), shape: [m, k] }];
});
const convRule = (elemType: (n: Node) => number): Rule => (n) => {
  const x = shapeOf(n.input(0)), w = shapeOf(n.input(1));
  const et = elemType(n);
  if (!x || !w || w.some((d) => !isNum(d))) return [withShape(et, undefined)];
  const kernel = n.a.ints("kernel_shape", (w as number[]).slice(2));
  return [{ elemType: et, shape: poolSpatial(n, x, kernel, false, w[0]) }];
};
on([Op.Conv], convRule((n) => typeOf(n.input(0))));
on([Op.ConvInteger], convRule(() => DataType.INT32));
on([Op.ConvTranspose], (n) => {
  const x = shapeOf(n.input(0)), w = shapeOf(n.input(1));
  if (!x || !w || w.some((d) => !isNum(d)) || n.attrs.has("output_shape")) {
    return [{ elemType: typeOf(n.input(0)) }];
  }
  const kernel = n.a.ints("kernel_shape", (w as number[]).slice(2));
  return [{
    elemType: typeOf(n.input(0)),
    shape: poolSpatial(n, x, kernel, true, (w[1] as number) * n.a.int("group", 1)),
  }];
});
on([Op.MaxPool, Op.AveragePool], (n) => {
  const x = shapeOf(n.input(0));
  const t = withShape(typeOf(n.input(0)), x && poolSpatial(n, x, n.a.ints("kernel_shape")));
  return [t, t.shape ? { elemType: DataType.INT64, shape: t.shape } : undefined];
});
on([Op.GlobalAveragePool, Op.GlobalMaxPool], (n) => {
  const x = shapeOf(n.input(0));
  return [withShape(typeOf(n.input(0)), x && [x[0]!, x[1]!, ...x.slice(2).map(() => 1)])];
});
on(
  [Op.ReduceMean, Op.ReduceMax, Op.ReduceMin, Op.ReduceL2, Op.ReduceProd],
  (n, cx) => reduce(n, cx, cx.opset >= 18),
);
on([Op.ReduceSum], (n, cx) => reduce(n, cx, cx.opset >= 13));
on([Op.ArgMax], (n) => {
  const x = shapeOf(n.input(0));
  if (!x) return [{ elemType: DataType.INT64 }];
  const a = norm(n.a.int("axis", 0), x.length);
  const shape = x.flatMap((d, i) => i === a ? (n.a.int("keepdims", 1) ? [1] : []) : [d]);
  return [{ elemType: DataType.INT64, shape }];
});
on([Op.Shape], (n) => {
  const x = shapeOf(n.input(0));
  if (!x) return [{ elemType: DataType.INT64, shape: [null] }];
  const r = x.length;
  const s = Math.min(Math.max(norm(n.a.int("start", 0), r), 0), r);
  const e = Math.min(Math.max(norm(n.a.int("end", r), r), 0), r);
  return [{ elemType: DataType.INT64, shape: [Math.max(e - s, 0)] }];
});
on([Op.Size], () => [{ elemType: DataType.INT64, shape: [] }]);
on([Op.Constant], (n) => {
  const t = constantNodeTensor(n);
  return [t && { elemType: t.dtype, shape: [...t.dims] }];
});
on([Op.ConstantOfShape], (n, cx) => {
  const v = n.a.tensor("value");
  const d = cx.data.get(n.input(0)!);
  const s = ints(n.input(0), cx);
  return [withShape(v?.dtype ?? DataType.FLOAT, s ?? d?.values ?? undefined)];
});
on([Op.Reshape], (n, cx) => {
  const x = shapeOf(n.input(0));
  const d = cx.data.get(n.input(1)!) ?? (() => {
    const c = ints(n.input(1), cx);
    return c && { dims: [c.length], values: c as Dim[] };
  })();
  if (!d) return [{ elemType: typeOf(n.input(0)) }];
  const allowZero = n.a.int("allowzero", 0) === 1;
  const out: Shape = d.values.map((
    v,
    i,
  ) => (v === 0 && !allowZero ? (x ? x[i] ?? null : null) : v === -1 ? -1 : v));
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const total = x ? mulDims(x) : null, rest = mulDims(out.filter((_, i) => i !== neg));
    out[neg] = isNum(total) && isNum(rest) && rest !== 0 ? total / rest : null;
  }
  return [{ elemType: typeOf(n.input(0)), shape: out }];
});
on([Op.Flatten], (n) => {
  const x = shapeOf(n.input(0));
  if (!x) return [{ elemType: typeOf(n.input(0)) }];
  const a = norm(n.a.int("axis", 1), x.length);
  return [{ elemType: typeOf(n.input(0)), shape: [mulDims(x.slice(0, a)), mulDims(x.slice(a))] }];
});
on([Op.Transpose], (n) => {
  const x = shapeOf(n.input(0));
  if (!x) return [{ elemType: typeOf(n.input(0)) }];
  const perm = n.a.ints("perm", x.map((_, i) => x.length - 1 - i));
  return [{ elemType: typeOf(n.input(0)), shape: perm.map((p) => x[p]!) }];
});
on([Op.Concat], (n) => {
  const shapes = n.inputs.map(shapeOf);
  const first = shapes.find((s) => s);
  if (!first) return [{ elemType: typeOf(n.input(0)) }];
  const a = norm(n.a.int("axis"), first.length);
  const out = [...first];
  out[a] = shapes.every((s) => s) ? mulSum(shapes.map((s) => s![a]!)) : null;
  for (let i = 0; i < out.length; i++) {
    if (i !== a && !isNum(out[i]!)) {
      out[i] = shapes.map((s) => s?.[i]).find((d) => isNum(d ?? null)) ?? out[i]!;
    }
  }
  return [{ elemType: typeOf(n.input(0)), shape: out }];
});
function mulSum(ds: Dim[]): Dim {
  let s = 0;
  for (const d of ds) {
    if (!isNum(d)) return null;
    s += d;
  }
  return s;
}
on([Op.Squeeze], (n, cx) => {
  const x = shapeOf(n.input(0));
  const axes = axesArg(n, cx);
  if (!x || axes === undefined) return [{ elemType: typeOf(n.input(0)) }];
  if (axes === null) {
    return x.every(isNum)
      ? [{ elemType: typeOf(n.input(0)), shape: x.filter((d) => d !== 1) }]
      : [{ elemType: typeOf(n.input(0)) }];
  }
  const set = new Set(axes.map((a) => norm(a, x.length)));
  return [{ elemType: typeOf(n.input(0)), shape: x.filter((_, i) => !set.has(i)) }];
});
on([Op.Unsqueeze], (n, cx) => {
  const x = shapeOf(n.input(0));
  const axes = axesArg(n, cx);
  if (!x || !axes) return [{ elemType: typeOf(n.input(0)) }];
  const r = x.length + axes.length;
  const set = new Set(axes.map((a) => norm(a, r)));
  const out: Shape = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(set.has(i) ? 1 : x[k++]!);
  return [{ elemType: typeOf(n.input(0)), shape: out }];
});
on([Op.Gather], (n) => {
  const x = shapeOf(n.input(0)), idx = shapeOf(n.input(1));
  if (!x || !idx) return [{ elemType: typeOf(n.input(0)) }];
  const a = norm(n.a.int("axis", 0), x.length);
  return [{ elemType: typeOf(n.input(0)), shape: [...x.slice(0, a), ...idx, ...x.slice(a + 1)] }];
});
on([Op.GatherElements], (n) => [withShape(typeOf(n.input(0)), shapeOf(n.input(1)))]);
on([Op.Slice], (n, cx) => {
  const x = shapeOf(n.input(0));
  const attr = cx.opset < 10;
  const get = (
    name: string,
    i: number,
  ) => (attr ? (n.attrs.has(name) ? n.a.ints(name) : undefined) : ints(n.input(i), cx));
  const starts = get("starts", 1), ends = get("ends", 2);
  const axes = attr ? get("axes", -1) : n.input(3) ? ints(n.input(3), cx) : undefined;
  const steps = attr ? undefined : n.input(4) ? ints(n.input(4), cx) : undefined;
  if (!x || !starts || !ends || (n.input(3) && !attr && !axes) || (n.input(4) && !steps)) {
    return [{ elemType: typeOf(n.input(0)), ...(x ? { shape: x.map(() => null) } : {}) }];
  }
  const out = [...x];
  starts.forEach((s, i) => {
    const a = norm(axes ? axes[i]! : i, x.length);
    const d = x[a]!;
    const st = steps ? steps[i]! : 1;
    if (!isNum(d)) {
      out[a] = null;
      return;
    }
    const clampS = (v: number) => {
      const w = v < 0 ? v + d : v;
      return st > 0 ? Math.min(Math.max(w, 0), d) : Math.min(Math.max(w, -1), d - 1);
    };
    const b = clampS(s), e = clampS(ends[i]!);
    out[a] = Math.max(0, Math.ceil((e - b) / st));
  });
  return [{ elemType: typeOf(n.input(0)), shape: out }];
});
on([Op.Expand], (n, cx) => {
  const d = cx.data.get(n.input(1)!)?.values ?? ints(n.input(1), cx);
  return [withShape(typeOf(n.input(0)), d && broadcast([shapeOf(n.input(0)), d as Shape]))];
});
on([Op.Tile], (n, cx) => {
  const x = shapeOf(n.input(0)), r = ints(n.input(1), cx);
  return [
    withShape(typeOf(n.input(0)), x && r && x.map((d, i) => (isNum(d) ? d * r[i]! : r[i] === 1 ? d : null))),
  ];
});
on([Op.Pad], (n, cx) => {
  const x = shapeOf(n.input(0));
  const pads = cx.opset < 11 ? n.a.ints("pads", []) : ints(n.input(1), cx);
  if (!x || !pads || n.input(3)) return [{ elemType: typeOf(n.input(0)) }];
  const r = x.length;
  return [{
    elemType: typeOf(n.input(0)),
    shape: x.map((d, i) => (isNum(d) ? d + pads[i]! + pads[i + r]! : null)),
  }];
});
on([Op.Resize, Op.Upsample], (n, cx) => {
  const x = shapeOf(n.input(0));
  const t = typeOf(n.input(0));
  if (!x) return [{ elemType: t }];
  const scalesIdx = n.opType === Op.Upsample.type || cx.opset < 11 ? 1 : 2;
  const sizes = n.opType === Op.Resize.type && cx.opset >= 11 ? ints(n.input(3), cx) : undefined;
  if (sizes && sizes.length === x.length) return [{ elemType: t, shape: sizes }];
  const scales = n.attrs.has("scales") ? n.a.floats("scales") : floats(n.input(scalesIdx));
  if (!scales || scales.length !== x.length) return [{ elemType: t, shape: x.map(() => null) }];
  return [{
    elemType: t,
    shape: x.map((d, i) => (isNum(d) ? Math.floor(d * scales[i]!) : scales[i] === 1 ? d : null)),
  }];
});
on([Op.Split], (n, cx) => {
  const x = shapeOf(n.input(0));
  const t = typeOf(n.input(0));
  if (!x) return n.outputs.map(() => ({ elemType: t }));
  const a = norm(n.a.int("axis", 0), x.length);
  const split = n.attrs.has("split") ? n.a.ints("split") : n.input(1) ? ints(n.input(1), cx) : undefined;
  const d = x[a]!;
  const k = n.outputs.length;
  return n.outputs.map((_, i) => {
    const s = split ? split[i]! : isNum(d) && d % k === 0 ? d / k : null;
    const shape = [...x];
    shape[a] = s ?? null;
    return { elemType: t, shape };
  });
});
on([Op.TopK], (n, cx) => {
  const x = shapeOf(n.input(0));
  const k = cx.opset < 10 ? n.a.int("k") : ints(n.input(1), cx)?.[0];
  if (!x) return [{ elemType: typeOf(n.input(0)) }, { elemType: DataType.INT64 }];
  const shape = [...x];
  shape[norm(n.a.int("axis", -1), x.length)] = k ?? null;
  return [{ elemType: typeOf(n.input(0)), shape }, { elemType: DataType.INT64, shape }];
});
on([Op.Range], (n, cx) => {
  const [s, l, d] = [0, 1, 2].map((i) => ints(n.input(i), cx)?.[0]);
  const len = s !== undefined && l !== undefined && d ? Math.max(Math.ceil((l - s) / d), 0) : null;
  return [{ elemType: typeOf(n.input(0)), shape: [len] }];
});
on([Op.QuantizeLinear], (n) => {
  const zp = n.input(2);
  const t = zp ? typeOf(zp) : n.attrs.has("output_dtype") ? n.a.int("output_dtype") : DataType.UINT8;
  return [withShape(t, shapeOf(n.input(0)))];
});
on([Op.DequantizeLinear], (n) => [withShape(typeOf(n.input(1)) || DataType.FLOAT, shapeOf(n.input(0)))]);
on([Op.DynamicQuantizeLinear], (n) => [
  withShape(DataType.UINT8, shapeOf(n.input(0))),
  { elemType: DataType.FLOAT, shape: [] },
  { elemType: DataType.UINT8, shape: [] },
]);

/** Propagate partial data of small int tensors (shape computations). */
function propagateData(n: Node, cx: Ctx): void {
  const out = n.outputs[0];
  if (!out) return;
  const get = (i: number): Data | undefined => {
    const v = n.input(i);
    if (!v) return undefined;
    const d = cx.data.get(v);
    if (d) return d;
    // judged by its dims before it is decoded: a weight (often lazily read from disk) is never decoded here
    const info = v.isConst && !v.isGraphInput ? v.constInfo() : undefined;
    if (info && (info.dtype === DataType.STRING || sizeOf(info.dims) > 64)) return undefined;
    const t = constValue(v);
    if (!t || t.dtype === DataType.STRING || sizeOf(t.dims) > 64) return undefined;
    return { dims: [...t.dims], values: toNumbers(t) };
  };
  let r: Data | undefined;
  const is = (o: { type: string }) => n.opType === o.type && (n.domain === "" || n.domain === "ai.onnx");
  if (is(Op.Shape)) {
    const x = shapeOf(n.input(0));
    if (x) {
      const rank = x.length;
      const s = Math.min(Math.max(norm(n.a.int("start", 0), rank), 0), rank);
      const e = Math.min(Math.max(norm(n.a.int("end", rank), rank), 0), rank);
      const values = x.slice(s, e);
      r = { dims: [values.length], values };
    }
  } else if (is(Op.Gather)) {
    const d = get(0), idx = get(1);
    if (d && idx && d.dims.length === 1 && idx.values.every(isNum)) {
      const values = (idx.values as number[]).map((i) => d.values[norm(i, d.values.length)] ?? null);
      r = { dims: idx.dims, values };
    }
  } else if (
    is(Op.Unsqueeze) || is(Op.Squeeze) || is(Op.Identity) || is(Op.Reshape) || is(Op.Cast) || is(Op.Flatten)
  ) {
    const d = get(0);
    const s = out.type?.shape;
    if (d && s && s.every(isNum) && sizeOf(s as number[]) === d.values.length) {
      r = { dims: s as number[], values: d.values };
    }
  } else if (is(Op.Concat)) {
    const parts = n.inputs.map((_, i) => get(i));
    if (parts.every((p) => p && p.dims.length <= 1)) {
      const values = parts.flatMap((p) => p!.values);
      r = { dims: [values.length], values };
    }
  } else if (is(Op.Slice)) {
    const d = get(0);
    const attr = cx.opset < 10;
    const [s, e] = attr
      ? [n.a.ints("starts", []), n.a.ints("ends", [])]
      : [ints(n.input(1), cx), ints(n.input(2), cx)];
    const steps = !attr && n.input(4) ? ints(n.input(4), cx) : [1];
    if (d && d.dims.length === 1 && s && e && s.length === 1 && steps?.[0] === 1) {
      const len = d.values.length;
      const c = (v: number) => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
      const values = d.values.slice(c(s[0]!), c(e[0]!));
      r = { dims: [values.length], values };
    }
  } else if (is(Op.Add) || is(Op.Sub) || is(Op.Mul) || is(Op.Div)) {
    const a = get(0), b = get(1);
    if (a && b && (a.values.length === b.values.length || a.values.length === 1 || b.values.length === 1)) {
      const len = Math.max(a.values.length, b.values.length);
      const values: Dim[] = [];
      for (let i = 0; i < len; i++) {
        const x = a.values[a.values.length === 1 ? 0 : i]!, y = b.values[b.values.length === 1 ? 0 : i]!;
        if (!isNum(x) || !isNum(y)) values.push(null);
        else if (is(Op.Add)) values.push(x + y);
        else if (is(Op.Sub)) values.push(x - y);
        else if (is(Op.Mul)) values.push(x * y);
        else values.push(Math.trunc(x / y));
      }
      r = { dims: a.values.length >= b.values.length ? a.dims : b.dims, values };
    }
  }
  if (r) cx.data.set(out, r);
}

function inferGraph(g: Graph, cx: Ctx): number {
  let changed = 0;
  for (const n of g.nodes) {
    for (const sg of n.subgraphs()) changed += inferGraph(sg, cx);
    const rule = n.domain === "" || n.domain === "ai.onnx" ? RULES[n.opType] : undefined;
    let types: (TensorType | undefined)[] | undefined;
    try {
      types = rule?.(n, cx);
    } catch {
      types = undefined; // a malformed attribute leaves the outputs as they are; verify() reports it
    }
    n.outputs.forEach((o, i) => {
      const t = types?.[i];
      if (!t || !t.elemType && !t.shape) return;
      const merged = mergeType(o.type, t.elemType ? t : { ...t, elemType: o.type?.elemType ?? 0 });
      if (merged && merged.elemType && !sameType(merged, o.type)) {
        o.type = merged;
        changed++;
      }
    });
    propagateData(n, cx);
  }
  return changed;
}

/**
 * Infer element types and shapes of every value of the main graph (and its subgraphs) where derivable.
 *
 * @param model the model (Value.type filled in place)
 * @param options see {@link InferOptions}
 * @returns how many values got a new or better type
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { intsAttr } from "./attributes.ts";
 * import { Model } from "./ir.ts";
 * import { inferShapes } from "./infer.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * const x = m.graph.value("x");
 * x.type = { elemType: 1, shape: ["batch", 3, 4] };
 * m.graph.inputs.push(x);
 * const t = m.graph.addNode("Transpose", [x], ["y"], { attrs: [intsAttr("perm", [0, 2, 1])] });
 * inferShapes(m);
 * assertEquals(t.outputs[0]!.type, { elemType: 1, shape: ["batch", 4, 3] });
 * ```
 */
export function inferShapes(model: Model, options: InferOptions = {}): number {
  const cx: Ctx = { opset: model.opset, data: new Map() };
  for (const [name, shape] of Object.entries(options.inputShapes ?? {})) {
    const v = model.graph.inputs.find((x) => x.name === name);
    if (!v) throw new TypeError(`inferShapes: the model has no input "${name}"`);
    v.type = { elemType: v.type?.elemType ?? DataType.FLOAT, shape: [...shape] };
  }
  // dtype and dims only: decoding (and caching) every initializer would load a lazily read model whole
  for (const v of model.graph.initializers) {
    const t = v.type ? undefined : v.constInfo();
    if (t) v.type = { elemType: t.dtype, shape: [...t.dims] };
  }
  return inferGraph(model.graph, cx);
}
