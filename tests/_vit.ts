/**
 * Small vision transformers built with the IR for the integer-only tests (random weights): patch embedding
 * (Conv), a class token, learned position embeddings, pre-LN blocks (multi-head attention, MLP with GELU),
 * final LayerNorm and a classifier head on the class token (DeiT style).
 * Variants: patch size, width, heads, depth, GELU form (opset-20 `Gelu` op, exact Erf, tanh approximation,
 * `Gelu` with approximate="tanh"), LayerNorm form (fused `LayerNormalization` or the decomposed export).
 * @module
 */
import { floatAttr, intAttr, intsAttr, stringAttr } from "../onnx/attributes.ts";
import { Model, type Value } from "../onnx/ir.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { mulberry32 } from "../quant/_rng.ts";

/** Shape and form of a test ViT. */
export interface VitSpec {
  /** Input image size (square). @default 16 */
  image?: number;
  /** Patch size. @default 4 */
  patch?: number;
  /** Embedding width. @default 32 */
  dim?: number;
  /** Attention heads. @default 4 */
  heads?: number;
  /** Blocks. @default 2 */
  depth?: number;
  /** Classes. @default 10 */
  classes?: number;
  /** GELU form. @default "op" */
  gelu?: "op" | "op-tanh" | "erf" | "tanh";
  /** LayerNorm form. @default "fused" */
  layerNorm?: "fused" | "decomposed";
  /** Weight seed. @default 1 */
  seed?: number;
}

/**
 * Build a ViT classifier: input `image` float `[1, 3, S, S]`, output `logits` `[1, classes]`.
 *
 * @param spec shape and form
 * @returns the model (opset 20 with the `Gelu` op, else 17)
 */
export function buildVit(spec: VitSpec = {}): Model {
  const S = spec.image ?? 16, P = spec.patch ?? 4, D = spec.dim ?? 32, H = spec.heads ?? 4;
  const depth = spec.depth ?? 2, C = spec.classes ?? 10;
  const gelu = spec.gelu ?? "op", lnForm = spec.layerNorm ?? "fused";
  const N = (S / P) ** 2, T = N + 1, hd = D / H;
  const rand = mulberry32(spec.seed ?? 1);
  const m = new Model();
  const opset = gelu.startsWith("op") ? 20 : 17;
  m.opsets.set("", opset);
  const g = m.graph;
  let k = 0;
  const name = (s: string) => `${s}_${k++}`;
  const f32 = (dims: number[], f: () => number) =>
    g.addInitializer(
      name("w"),
      makeTensor(DataType.FLOAT, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, f)),
    );
  const uni = (a: number) => () => (2 * rand() - 1) * a;
  const scalar = (v: number) =>
    g.addInitializer(name("c"), makeTensor(DataType.FLOAT, [], new Float32Array([v])));
  const i64 = (v: number[]) =>
    g.addInitializer(name("i"), makeTensor(DataType.INT64, [v.length], BigInt64Array.from(v.map(BigInt))));
  const node = (op: string, ins: Value[], attrs: ReturnType<typeof intAttr>[] = []) =>
    g.addNode(op, ins, [name(op.toLowerCase())], { name: name(op), attrs }).outputs[0]!;
  const layerNorm = (x: Value): Value => {
    const gamma = f32([D], () => 1 + uni(0.2)()), beta = f32([D], uni(0.1));
    if (lnForm === "fused") {
      return node("LayerNormalization", [x, gamma, beta], [intAttr("axis", -1), floatAttr("epsilon", 1e-5)]);
    }
    // ReduceMean takes axes as an attribute before opset 18, as an input from 18 on.
    const mean = (t: Value) =>
      opset < 18 ? node("ReduceMean", [t], [intsAttr("axes", [-1])]) : node("ReduceMean", [t, i64([-1])]);
    const d = node("Sub", [x, mean(x)]);
    const v = mean(node("Pow", [d, scalar(2)]));
    const den = node("Sqrt", [node("Add", [v, scalar(1e-5)])]);
    return node("Add", [node("Mul", [node("Div", [d, den]), gamma]), beta]);
  };
  const linear = (x: Value, din: number, dout: number) =>
    node("Add", [node("MatMul", [x, f32([din, dout], uni(1 / Math.sqrt(din)))]), f32([dout], uni(0.1))]);
  const geluOf = (x: Value): Value => {
    if (gelu === "op") return node("Gelu", [x]);
    if (gelu === "op-tanh") return node("Gelu", [x], [stringAttr("approximate", "tanh")]);
    let inner: Value;
    if (gelu === "erf") inner = node("Erf", [node("Div", [x, scalar(Math.SQRT2)])]);
    else {
      const cube = node("Pow", [x, scalar(3)]);
      const s = node("Add", [x, node("Mul", [cube, scalar(0.044715)])]);
      inner = node("Tanh", [node("Mul", [s, scalar(Math.sqrt(2 / Math.PI))])]);
    }
    return node("Mul", [node("Mul", [x, scalar(0.5)]), node("Add", [inner, scalar(1)])]);
  };

  const image = g.value("image");
  image.type = { elemType: DataType.FLOAT, shape: [1, 3, S, S] };
  g.inputs.push(image);
  const patches = node(
    "Conv",
    [image, f32([D, 3, P, P], uni(1 / Math.sqrt(3 * P * P))), f32([D], uni(0.1))],
    [
      intsAttr("kernel_shape", [P, P]),
      intsAttr("strides", [P, P]),
    ],
  );
  let h = node("Transpose", [node("Reshape", [patches, i64([1, D, N])])], [intsAttr("perm", [0, 2, 1])]);
  h = node("Concat", [f32([1, 1, D], uni(1)), h], [intAttr("axis", 1)]);
  h = node("Add", [h, f32([1, T, D], uni(0.5))]);
  for (let b = 0; b < depth; b++) {
    const qkv = linear(layerNorm(h), D, 3 * D);
    const heads = node("Transpose", [node("Reshape", [qkv, i64([1, T, 3, H, hd])])], [
      intsAttr("perm", [2, 0, 3, 1, 4]),
    ]);
    const pick = (i: number) =>
      node("Gather", [
        heads,
        g.addInitializer(name("idx"), makeTensor(DataType.INT64, [], BigInt64Array.of(BigInt(i)))),
      ], [intAttr("axis", 0)]);
    const q = pick(0), kk = pick(1), v = pick(2);
    const scores = node("Mul", [
      node("MatMul", [q, node("Transpose", [kk], [intsAttr("perm", [0, 1, 3, 2])])]),
      scalar(1 / Math.sqrt(hd)),
    ]);
    const attn = node("Softmax", [scores], [intAttr("axis", -1)]);
    const ctx = node("Reshape", [
      node("Transpose", [node("MatMul", [attn, v])], [intsAttr("perm", [0, 2, 1, 3])]),
      i64([1, T, D]),
    ]);
    h = node("Add", [h, linear(ctx, D, D)]);
    h = node("Add", [h, linear(geluOf(linear(layerNorm(h), D, 2 * D)), 2 * D, D)]);
  }
  h = layerNorm(h);
  const pooled = node("Gather", [
    h,
    g.addInitializer(name("idx"), makeTensor(DataType.INT64, [], BigInt64Array.of(0n))),
  ], [
    intAttr("axis", 1),
  ]);
  const logits = linear(pooled, D, C);
  g.rename(logits, "logits");
  g.outputs.push(logits);
  return m;
}
