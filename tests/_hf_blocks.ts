/**
 * Test helper (private): small transformer graphs built with the IR in the form `torch.onnx.export` gives the
 * Hugging Face blocks (as their modeling code writes them), with optional channel outliers injected by a
 * function-preserving re-parameterization. Used by passes/osplus/os_plus_arch_test.ts.
 *
 * - opt / opt-decomposed: pre-LN, nn.LayerNorm as LayerNormalization (opset 17) or decomposed (opset 14),
 *   q/k/v/out and fc1/fc2 as MatMul + Add with [in, out] weights, q scaled after its bias, ReLU;
 * - bloom: pre-LN, word_embeddings_layernorm (its output feeds the first norm and the residual), one fused
 *   query_key_value projection viewed [B, T, H, 3, d], tanh GELU;
 * - llama (opset 18) : HF LlamaRMSNorm `w * (x * rsqrt(mean(x^2) + eps))` with its float32 Casts, exported as
 *   Cast -> Pow(2) -> ReduceMean(axes input) -> Add -> Sqrt -> Div(1, .) -> Mul(x, .) -> Cast -> Mul(w, .);
 *   q/k/v/o and gate/up/down without biases; SiLU as Mul(g, Sigmoid(g));
 * - llama-ort: the same LLaMA after onnxruntime's transformer optimizer: SimplifiedLayerNormalization and
 *   SkipSimplifiedLayerNormalization (com.microsoft; its output 3 carries the residual);
 * - llama-rms23: the same with opset-23 RMSNormalization;
 * - gpt2 / gpt2-matmul: pre-LN, Conv1D as `addmm(b, x.view(-1, C), W)` -> Reshape -> Gemm -> Reshape (or
 *   MatMul + Add), [in, out] weights, one fused c_attn split into q, k, v, tanh GELU;
 * - bert: post-LN (the LayerNorm after each residual feeds the next projections and the next residual), erf
 *   GELU, a classifier head on the last norm;
 * - bert-ort: the same BERT after onnxruntime's optimizer: each residual Add + LayerNorm fused into a
 *   SkipLayerNormalization (com.microsoft) that also takes the projection's bias.
 * Outliers (`outliers: true`): at every pre-LN / RMSNorm output a few channels are multiplied by 20-60 (and
 * for LayerNorm shifted), and the consumers' rows divided / biases corrected so the function is unchanged; at
 * gated MLPs the up projection's columns are scaled and the down projection's rows divided. BERT's norm
 * outputs also feed residuals, where no re-parameterization can keep the function, so its gammas / betas
 * carry the outliers in the base model itself (as trained BERT does).
 * @module
 */
import { floatAttr, intAttr, intsAttr, tensorAttr } from "../onnx/attributes.ts";
import { Model, type Value } from "../onnx/ir.ts";
import { MS_DOMAIN } from "../onnx/ops.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { mulberry32 } from "../quant/_rng.ts";

/** The architectures and export forms. */
export type Arch =
  | "opt"
  | "opt-decomposed"
  | "bloom"
  | "llama"
  | "llama-ort"
  | "llama-rms23"
  | "gpt2"
  | "gpt2-matmul"
  | "bert"
  | "bert-ort";

/** Sizes of the test graphs. */
export const DIMS = { C: 32, H: 4, D: 8, F: 64, T: 8, BLOCKS: 2 } as const;

/** Options of {@link buildArch}. */
export interface ArchOptions {
  /** Inject function-preserving channel outliers. @default false */
  outliers?: boolean;
  /** Weight seed. @default 1 */
  seed?: number;
}

interface Linear {
  w: Float32Array; // [in, out] row-major
  b: Float32Array | null;
  inF: number;
  outF: number;
}

/**
 * Build one architecture's export-form graph: input `x` [batch, T, C] (hidden states), output `logits`.
 *
 * @param arch the architecture / export form
 * @param options outliers, seed
 * @returns the model
 */
export function buildArch(arch: Arch, options: ArchOptions = {}): Model {
  const { C, H, D, F, T, BLOCKS } = DIMS;
  const r = mulberry32(options.seed ?? 1);
  const outlierRng = mulberry32(1000 + (options.seed ?? 1));
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (2 * r() - 1) * s);
  const m = new Model();
  const opset = arch === "opt-decomposed" ? 14 : arch === "llama" ? 18 : arch === "llama-rms23" ? 23 : 17;
  m.opsets.set("", opset);
  if (arch === "llama-ort" || arch === "bert-ort") m.opsets.set(MS_DOMAIN, 1);
  const g = m.graph;
  let nInit = 0;
  const init = (name: string, dims: number[], data: Float32Array | BigInt64Array, dt = DataType.FLOAT) =>
    g.addInitializer(`${name}_${nInit++}`, makeTensor(dt, dims, data));
  const i64 = (name: string, v: number[]) =>
    init(name, [v.length], BigInt64Array.from(v.map(BigInt)), DataType.INT64);
  const scalar = (name: string, v: number) => init(name, [], Float32Array.of(v));
  const constNode = (name: string, v: number) =>
    g.addNode("Constant", [], [`${name}_c${nInit++}`], {
      attrs: [tensorAttr("value", makeTensor(DataType.FLOAT, [], Float32Array.of(v)))],
    }).outputs[0]!;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: ["batch", T, C] };
  g.inputs.push(x);
  const lin = (inF: number, outF: number, bias: boolean): Linear => ({
    w: rand(inF * outF, 1 / Math.sqrt(inF)),
    b: bias ? rand(outF, 0.1) : null,
    inF,
    outF,
  });
  const outliers = options.outliers ?? false;
  /** Function-preserving outliers at a norm output: y' = a y + delta; consumers W' = W / a, b' = b - (delta / a) W. */
  const injectNorm = (gamma: Float32Array, beta: Float32Array | null, consumers: Linear[]) => {
    if (!outliers) return;
    const n = gamma.length;
    for (let q = 0; q < 3; q++) {
      const j = Math.floor(outlierRng() * n);
      const a = 20 + 40 * outlierRng();
      const delta = beta ? (outlierRng() < 0.5 ? -1 : 1) * (10 + 20 * outlierRng()) : 0;
      gamma[j] = gamma[j]! * a;
      if (beta) beta[j] = beta[j]! * a + delta;
      for (const c of consumers) {
        for (let k = 0; k < c.outF; k++) {
          const wjk = c.w[j * c.outF + k]! / a;
          c.w[j * c.outF + k] = wjk;
          if (delta !== 0) {
            if (!c.b) c.b = new Float32Array(c.outF);
            c.b[k] = c.b[k]! - delta * wjk;
          }
        }
      }
    }
  };
  /** Outliers at a gated product: up's column j times a, down's row j divided by a. */
  const injectGated = (up: Linear, down: Linear) => {
    if (!outliers) return;
    for (let q = 0; q < 3; q++) {
      const j = Math.floor(outlierRng() * up.outF);
      const a = 20 + 40 * outlierRng();
      for (let i = 0; i < up.inF; i++) up.w[i * up.outF + j] = up.w[i * up.outF + j]! * a;
      if (up.b) up.b[j] = up.b[j]! * a;
      for (let k = 0; k < down.outF; k++) down.w[j * down.outF + k] = down.w[j * down.outF + k]! / a;
    }
  };

  /** nn.Linear on a 3-D input: MatMul(x, W^T as [in, out]) [+ Add(bias)]. */
  const matmul = (h: Value, l: Linear, name: string): Value => {
    const y = g.addNode(
      "MatMul",
      [h, init(`${name}.weight`, [l.inF, l.outF], l.w)],
      [`/${name}/MatMul_out`],
      {
        name: `/${name}/MatMul`,
      },
    ).outputs[0]!;
    if (!l.b) return y;
    return g.addNode("Add", [init(`${name}.bias`, [l.outF], l.b), y], [`/${name}/Add_out`], {
      name: `/${name}/Add`,
    })
      .outputs[0]!;
  };
  /** GPT-2 Conv1D: x.view(-1, C) -> addmm(b, ., W) as Gemm -> view(size[:-1] + (out,)). */
  const conv1d = (h: Value, l: Linear, name: string): Value => {
    if (arch === "gpt2-matmul") return matmul(h, l, name);
    const shape = g.addNode("Shape", [h], [`/${name}/Shape_out`]).outputs[0]!;
    const lead = g.addNode("Slice", [shape, i64("s0", [0]), i64("s1", [-1])], [`/${name}/Slice_out`])
      .outputs[0]!;
    const outShape = g.addNode("Concat", [lead, i64("nf", [l.outF])], [`/${name}/Concat_out`], {
      attrs: [intAttr("axis", 0)],
    }).outputs[0]!;
    const flat = g.addNode("Reshape", [h, i64("view", [-1, l.inF])], [`/${name}/Reshape_out`], {
      name: `/${name}/Reshape`,
    }).outputs[0]!;
    const y = g.addNode(
      "Gemm",
      [flat, init(`${name}.weight`, [l.inF, l.outF], l.w), init(`${name}.bias`, [l.outF], l.b!)],
      [`/${name}/Gemm_out`],
      { name: `/${name}/Gemm`, attrs: [floatAttr("alpha", 1), floatAttr("beta", 1)] },
    ).outputs[0]!;
    return g.addNode("Reshape", [y, outShape], [`/${name}/Reshape_1_out`]).outputs[0]!;
  };

  const layerNorm = (h: Value, name: string, gamma: Float32Array, beta: Float32Array): Value => {
    if (arch !== "opt-decomposed") {
      return g.addNode(
        "LayerNormalization",
        [h, init(`${name}.weight`, [C], gamma), init(`${name}.bias`, [C], beta)],
        [`/${name}/LayerNormalization_out`],
        { name: `/${name}/LayerNormalization`, attrs: [intAttr("axis", -1), floatAttr("epsilon", 1e-5)] },
      ).outputs[0]!;
    }
    const ax = [intsAttr("axes", [-1])];
    const mean = g.addNode("ReduceMean", [h], [`/${name}/ReduceMean_out`], {
      name: `/${name}/ReduceMean`,
      attrs: ax,
    })
      .outputs[0]!;
    const d = g.addNode("Sub", [h, mean], [`/${name}/Sub_out`]).outputs[0]!;
    const sq = g.addNode("Pow", [d, constNode("two", 2)], [`/${name}/Pow_out`]).outputs[0]!;
    const v = g.addNode("ReduceMean", [sq], [`/${name}/ReduceMean_1_out`], { attrs: ax }).outputs[0]!;
    const ve = g.addNode("Add", [v, constNode("eps", 1e-5)], [`/${name}/Add_out`]).outputs[0]!;
    const sd = g.addNode("Sqrt", [ve], [`/${name}/Sqrt_out`]).outputs[0]!;
    const n = g.addNode("Div", [d, sd], [`/${name}/Div_out`]).outputs[0]!;
    const gm = g.addNode("Mul", [n, init(`${name}.weight`, [C], gamma)], [`/${name}/Mul_out`]).outputs[0]!;
    return g.addNode("Add", [gm, init(`${name}.bias`, [C], beta)], [`/${name}/Add_1_out`]).outputs[0]!;
  };

  /** HF LlamaRMSNorm in its export forms; for llama-ort, `skip` (residual) is fused in and the sum returned too. */
  const rmsNorm = (h: Value, name: string, w: Float32Array, skip?: Value): { y: Value; sum?: Value } => {
    if (arch === "llama-rms23") {
      return {
        y: g.addNode("RMSNormalization", [h, init(`${name}.weight`, [C], w)], [`/${name}/RMS_out`], {
          name: `/${name}/RMSNormalization`,
          attrs: [intAttr("axis", -1), floatAttr("epsilon", 1e-6)],
        }).outputs[0]!,
      };
    }
    if (arch === "llama-ort") {
      if (skip) {
        const n = g.addNode(
          "SkipSimplifiedLayerNormalization",
          [h, skip, init(`${name}.weight`, [C], w)],
          [`/${name}/out`, "", "", `/${name}/sum`].map((s, i) => s || `/${name}/unused${i}`),
          {
            name: `/${name}/SkipSimplifiedLayerNormalization`,
            domain: MS_DOMAIN,
            attrs: [floatAttr("epsilon", 1e-6)],
          },
        );
        return { y: n.outputs[0]!, sum: n.outputs[3]! };
      }
      return {
        y: g.addNode("SimplifiedLayerNormalization", [h, init(`${name}.weight`, [C], w)], [`/${name}/out`], {
          name: `/${name}/SimplifiedLayerNormalization`,
          attrs: [intAttr("axis", -1), floatAttr("epsilon", 1e-6)],
        }).outputs[0]!,
      };
    }
    const xf = g.addNode("Cast", [h], [`/${name}/Cast_out`], { attrs: [intAttr("to", DataType.FLOAT)] })
      .outputs[0]!;
    const sq = g.addNode("Pow", [xf, constNode("two", 2)], [`/${name}/Pow_out`], { name: `/${name}/Pow` })
      .outputs[0]!;
    const axes = g.addNode("Constant", [], [`/${name}/axes`], {
      attrs: [tensorAttr("value", makeTensor(DataType.INT64, [1], BigInt64Array.of(-1n)))],
    }).outputs[0]!;
    const v = g.addNode("ReduceMean", [sq, axes], [`/${name}/ReduceMean_out`], {
      attrs: [intAttr("keepdims", 1)],
    })
      .outputs[0]!;
    const ve = g.addNode("Add", [v, constNode("eps", 1e-6)], [`/${name}/Add_out`]).outputs[0]!;
    const sd = g.addNode("Sqrt", [ve], [`/${name}/Sqrt_out`]).outputs[0]!;
    const rs = g.addNode("Div", [constNode("one", 1), sd], [`/${name}/Div_out`]).outputs[0]!;
    const n = g.addNode("Mul", [xf, rs], [`/${name}/Mul_out`]).outputs[0]!;
    const back = g.addNode("Cast", [n], [`/${name}/Cast_1_out`], { attrs: [intAttr("to", DataType.FLOAT)] })
      .outputs[0]!;
    return {
      y: g.addNode("Mul", [init(`${name}.weight`, [C], w), back], [`/${name}/Mul_1_out`]).outputs[0]!,
    };
  };

  /** Multi-head attention of [B, T, C] q, k, v (as [B, T, H, d] views), causal or not. */
  const attention = (q: Value, k: Value, v: Value, name: string, causal: boolean, qScale: boolean): Value => {
    const heads = (t: Value, perm: number[], tag: string) => {
      const rs = g.addNode("Reshape", [t, i64("hshape", [0, 0, H, D])], [`/${name}/${tag}_view`]).outputs[0]!;
      return g.addNode("Transpose", [rs], [`/${name}/${tag}_t`], { attrs: [intsAttr("perm", perm)] })
        .outputs[0]!;
    };
    let qh = heads(q, [0, 2, 1, 3], "q");
    const kh = heads(k, [0, 2, 3, 1], "k"), vh = heads(v, [0, 2, 1, 3], "v");
    if (!qScale) {
      qh = g.addNode("Mul", [qh, scalar("scale", 1 / Math.sqrt(D))], [`/${name}/q_scaled`]).outputs[0]!;
    }
    let s = g.addNode("MatMul", [qh, kh], [`/${name}/scores`]).outputs[0]!;
    if (causal) {
      const mask = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e4;
      s = g.addNode("Add", [s, init("mask", [1, 1, T, T], mask)], [`/${name}/masked`]).outputs[0]!;
    }
    const p = g.addNode("Softmax", [s], [`/${name}/probs`], { attrs: [intAttr("axis", -1)] }).outputs[0]!;
    const o = g.addNode("MatMul", [p, vh], [`/${name}/ctx`]).outputs[0]!;
    const ot = g.addNode("Transpose", [o], [`/${name}/ctx_t`], { attrs: [intsAttr("perm", [0, 2, 1, 3])] })
      .outputs[0]!;
    return g.addNode("Reshape", [ot, i64("cshape", [0, 0, C])], [`/${name}/ctx_view`]).outputs[0]!;
  };
  const add = (a: Value, b: Value, name: string) => g.addNode("Add", [a, b], [name]).outputs[0]!;
  const gammaBeta = (big: boolean) => {
    const gm = Float32Array.from({ length: C }, () => 0.8 + 0.4 * r());
    const bt = rand(C, 0.1);
    if (big) {
      for (let q = 0; q < 3; q++) {
        const j = Math.floor(outlierRng() * C);
        gm[j] = gm[j]! * (4 + 4 * outlierRng());
        bt[j] = (outlierRng() < 0.5 ? -1 : 1) * (4 + 4 * outlierRng());
      }
    }
    return [gm, bt] as const;
  };
  /** tanh GELU (GPT-2 NewGELU / bloom_gelu) as exported: 0.5 x (1 + tanh(0.79788 (x + 0.044715 x^3))). */
  const geluTanh = (h: Value, name: string): Value => {
    const cube = g.addNode("Pow", [h, scalar("three", 3)], [`${name}/cube`]).outputs[0]!;
    const inner = add(
      h,
      g.addNode("Mul", [cube, scalar("c", 0.044715)], [`${name}/c3`]).outputs[0]!,
      `${name}/in`,
    );
    const th = g.addNode("Tanh", [
      g.addNode("Mul", [inner, scalar("k", 0.7978845608)], [`${name}/k`]).outputs[0]!,
    ], [
      `${name}/tanh`,
    ]).outputs[0]!;
    const one = add(th, scalar("one", 1), `${name}/1p`);
    const half = g.addNode("Mul", [h, scalar("half", 0.5)], [`${name}/half`]).outputs[0]!;
    return g.addNode("Mul", [half, one], [`${name}/out`]).outputs[0]!;
  };
  const geluErf = (h: Value, name: string): Value => {
    const e = g.addNode("Erf", [
      g.addNode("Div", [h, scalar("sqrt2", Math.SQRT2)], [`${name}/d`]).outputs[0]!,
    ], [
      `${name}/erf`,
    ]).outputs[0]!;
    const m1 = g.addNode("Mul", [h, add(e, scalar("one", 1), `${name}/1p`)], [`${name}/m`]).outputs[0]!;
    return g.addNode("Mul", [m1, scalar("half", 0.5)], [`${name}/out`]).outputs[0]!;
  };

  let h: Value = x;
  const isLlama = arch.startsWith("llama");
  if (arch === "bloom") {
    const [gm, bt] = gammaBeta(false);
    h = layerNorm(h, "word_embeddings_layernorm", gm, bt);
  }
  if (arch === "bert" || arch === "bert-ort") {
    const [gm, bt] = gammaBeta(true);
    h = layerNorm(h, "embeddings.LayerNorm", gm, bt);
  }
  let pendingSkip: Value | undefined; // llama-ort: the residual branch not yet added
  for (let i = 0; i < BLOCKS; i++) {
    const p = (s: string) => `layers.${i}.${s}`;
    if (isLlama) {
      const [wq, wk, wv, wo] = [0, 1, 2, 3].map(() => lin(C, C, false)) as [Linear, Linear, Linear, Linear];
      const w1 = Float32Array.from({ length: C }, () => 0.8 + 0.4 * r());
      injectNorm(w1, null, [wq, wk, wv]);
      let n1: { y: Value; sum?: Value };
      if (arch === "llama-ort" && pendingSkip) {
        n1 = rmsNorm(h, p("input_layernorm"), w1, pendingSkip);
        h = n1.sum!;
      } else n1 = rmsNorm(h, p("input_layernorm"), w1);
      const a = attention(
        matmul(n1.y, wq, p("self_attn.q_proj")),
        matmul(n1.y, wk, p("self_attn.k_proj")),
        matmul(n1.y, wv, p("self_attn.v_proj")),
        p("self_attn"),
        true,
        false,
      );
      const ao = matmul(a, wo, p("self_attn.o_proj"));
      const [wg, wu, wd] = [lin(C, F, false), lin(C, F, false), lin(F, C, false)];
      const w2 = Float32Array.from({ length: C }, () => 0.8 + 0.4 * r());
      injectNorm(w2, null, [wg, wu]);
      injectGated(wu, wd);
      let n2: { y: Value; sum?: Value };
      if (arch === "llama-ort") {
        n2 = rmsNorm(ao, p("post_attention_layernorm"), w2, h);
        h = n2.sum!;
      } else {
        h = add(h, ao, `/layers.${i}/Add_out`);
        n2 = rmsNorm(h, p("post_attention_layernorm"), w2);
      }
      const gt = matmul(n2.y, wg, p("mlp.gate_proj"));
      const act = g.addNode("Mul", [gt, g.addNode("Sigmoid", [gt], [`/${p("mlp")}/sig`]).outputs[0]!], [
        `/${p("mlp")}/act`,
      ]).outputs[0]!;
      const up = matmul(n2.y, wu, p("mlp.up_proj"));
      const prod = g.addNode("Mul", [act, up], [`/${p("mlp")}/Mul_out`], { name: `/${p("mlp")}/Mul` })
        .outputs[0]!;
      const down = matmul(prod, wd, p("mlp.down_proj"));
      if (arch === "llama-ort") pendingSkip = down;
      else h = add(h, down, `/layers.${i}/Add_1_out`);
      continue;
    }
    if (arch === "bert" || arch === "bert-ort") {
      const [wq, wk, wv, wo] = [0, 1, 2, 3].map(() => lin(C, C, true)) as [Linear, Linear, Linear, Linear];
      const a = attention(
        matmul(h, wq, p("attention.self.query")),
        matmul(h, wk, p("attention.self.key")),
        matmul(h, wv, p("attention.self.value")),
        p("attention"),
        false,
        false,
      );
      /** Residual + LayerNorm: Add then LayerNormalization, or one SkipLayerNormalization taking the bias. */
      const addNorm = (l: Linear, input: Value, res: Value, name: string) => {
        const [gm, bt] = gammaBeta(true);
        if (arch === "bert") {
          return layerNorm(
            add(matmul(input, l, name.replace("LayerNorm", "dense")), res, `/${name}/res`),
            name,
            gm,
            bt,
          );
        }
        const b = l.b!;
        l.b = null;
        const y = matmul(input, l, name.replace("LayerNorm", "dense"));
        return g.addNode(
          "SkipLayerNormalization",
          [
            y,
            res,
            init(`${name}.weight`, [C], gm),
            init(`${name}.bias`, [C], bt),
            init(`${name}.dense.bias`, [C], b),
          ],
          [`/${name}/out`],
          { name: `/${name}/SkipLayerNormalization`, domain: MS_DOMAIN, attrs: [floatAttr("epsilon", 1e-5)] },
        ).outputs[0]!;
      };
      const h1 = addNorm(wo, a, h, p("attention.output.LayerNorm"));
      const [w1, w2] = [lin(C, F, true), lin(F, C, true)];
      const inter = geluErf(matmul(h1, w1, p("intermediate.dense")), `/${p("gelu")}`);
      h = addNorm(w2, inter, h1, p("output.LayerNorm"));
      continue;
    }
    // Pre-LN: OPT, BLOOM, GPT-2.
    const [gm1, bt1] = gammaBeta(false);
    const [gm2, bt2] = gammaBeta(false);
    if (arch === "gpt2" || arch === "gpt2-matmul") {
      const cAttn = lin(C, 3 * C, true),
        cProj = lin(C, C, true),
        cFc = lin(C, F, true),
        cProj2 = lin(F, C, true);
      injectNorm(gm1, bt1, [cAttn]);
      injectNorm(gm2, bt2, [cFc]);
      const qkv = conv1d(layerNorm(h, p("ln_1"), gm1, bt1), cAttn, p("attn.c_attn"));
      const split = g.addNode("Split", [qkv, i64("split", [C, C, C])], 3, { attrs: [intAttr("axis", 2)] });
      const a = attention(split.outputs[0]!, split.outputs[1]!, split.outputs[2]!, p("attn"), true, false);
      h = add(h, conv1d(a, cProj, p("attn.c_proj")), `/${p("res1")}`);
      const ff = geluTanh(conv1d(layerNorm(h, p("ln_2"), gm2, bt2), cFc, p("mlp.c_fc")), `/${p("gelu")}`);
      h = add(h, conv1d(ff, cProj2, p("mlp.c_proj")), `/${p("res2")}`);
      continue;
    }
    if (arch === "bloom") {
      const qkvL = lin(C, 3 * C, true), dense = lin(C, C, true), up = lin(C, F, true), down = lin(F, C, true);
      injectNorm(gm1, bt1, [qkvL]);
      injectNorm(gm2, bt2, [up]);
      const qkv = matmul(
        layerNorm(h, p("input_layernorm"), gm1, bt1),
        qkvL,
        p("self_attention.query_key_value"),
      );
      const v5 = g.addNode("Reshape", [qkv, i64("v5", [0, 0, H, 3, D])], [`/${p("qkv_view")}`]).outputs[0]!;
      const part = (k: number) => {
        const t = g.addNode("Gather", [v5, init("idx", [], BigInt64Array.of(BigInt(k)), DataType.INT64)], [
          `/${p("part")}${k}`,
        ], { attrs: [intAttr("axis", 3)] }).outputs[0]!;
        return g.addNode("Reshape", [t, i64("flat", [0, 0, C])], [`/${p("part_flat")}${k}`]).outputs[0]!;
      };
      const a = attention(part(0), part(1), part(2), p("self_attention"), true, false);
      h = add(h, matmul(a, dense, p("self_attention.dense")), `/${p("res1")}`);
      const ff = geluTanh(
        matmul(layerNorm(h, p("post_attention_layernorm"), gm2, bt2), up, p("mlp.dense_h_to_4h")),
        `/${p("gelu")}`,
      );
      h = add(h, matmul(ff, down, p("mlp.dense_4h_to_h")), `/${p("res2")}`);
      continue;
    }
    // OPT: q_proj(h) * scaling, ReLU MLP.
    const [wq, wk, wv, wo] = [0, 1, 2, 3].map(() => lin(C, C, true)) as [Linear, Linear, Linear, Linear];
    const fc1 = lin(C, F, true), fc2 = lin(F, C, true);
    injectNorm(gm1, bt1, [wq, wk, wv]);
    injectNorm(gm2, bt2, [fc1]);
    const n1 = layerNorm(h, p("self_attn_layer_norm"), gm1, bt1);
    const q = g.addNode("Mul", [matmul(n1, wq, p("self_attn.q_proj")), scalar("scaling", 1 / Math.sqrt(D))], [
      `/${p("q_scaled")}`,
    ]).outputs[0]!;
    const a = attention(
      q,
      matmul(n1, wk, p("self_attn.k_proj")),
      matmul(n1, wv, p("self_attn.v_proj")),
      p("self_attn"),
      true,
      true,
    );
    h = add(h, matmul(a, wo, p("self_attn.out_proj")), `/${p("res1")}`);
    const ff = g.addNode("Relu", [matmul(layerNorm(h, p("final_layer_norm"), gm2, bt2), fc1, p("fc1"))], [
      `/${p("relu")}`,
    ]).outputs[0]!;
    h = add(h, matmul(ff, fc2, p("fc2")), `/${p("res2")}`);
  }
  if (pendingSkip) h = add(h, pendingSkip, "/final_res");
  // Final norm -> head (LLaMA / OPT / BLOOM / GPT-2 lm_head without bias; BERT classifier with bias).
  const head = lin(C, 16, arch.startsWith("bert"));
  let n: Value;
  if (isLlama) {
    const w = Float32Array.from({ length: C }, () => 0.8 + 0.4 * r());
    injectNorm(w, null, [head]);
    n = rmsNorm(h, "norm", w).y;
  } else if (arch.startsWith("bert")) n = h;
  else {
    const [gm, bt] = gammaBeta(false);
    injectNorm(gm, bt, [head]);
    n = layerNorm(h, "final_norm", gm, bt);
  }
  const logits = matmul(n, head, "head");
  g.rename(logits, "logits");
  logits.type = { elemType: DataType.FLOAT };
  g.outputs.push(logits);
  return m;
}

/** Hidden-state inputs [n, T, C] (a smooth random walk per sample, so tokens are correlated). */
export function hiddenStates(n: number, seed: number): Float32Array {
  const { C, T } = DIMS;
  const r = mulberry32(seed);
  const out = new Float32Array(n * T * C);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < C; j++) {
      let v = 2 * r() - 1;
      for (let t = 0; t < T; t++) {
        v = 0.7 * v + 0.6 * (2 * r() - 1);
        out[(s * T + t) * C + j] = v;
      }
    }
  }
  return out;
}
