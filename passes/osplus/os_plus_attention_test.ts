import { assert, assertEquals } from "@std/assert";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { exposeValues } from "../../runtime/collect.ts";
import { buildArch, DIMS, hiddenStates } from "../../tests/_hf_blocks.ts";
import { runOrt } from "../../tests/_ort_compare.ts";
import { mulberry32 } from "../../quant/_rng.ts";
import { canonicalize } from "../normalize/canonicalize.ts";
import {
  attentionLoss,
  type AttentionMatch,
  attentionReference,
  consumerBias,
  project,
  recognizeAttention,
} from "./os_plus_attention.ts";
import { findOsPlusSites } from "./os_plus_fold.ts";

const { C, T } = DIMS;

for (const arch of ["opt", "llama", "bert-ort"] as const) {
  Deno.test(`os-plus attention (${arch}): recognised, and its float output equals onnxruntime's`, async () => {
    const m = buildArch(arch, { outliers: true });
    canonicalize(m);
    const site = findOsPlusSites(m.graph).sites[0]!;
    const att = recognizeAttention(site) as AttentionMatch;
    assert(typeof att !== "string", String(att));
    assertEquals([att.heads, att.headDim, att.mask !== undefined], [DIMS.H, DIMS.D, arch !== "bert-ort"]);
    const names = [
      site.output.name,
      att.output.name,
      ...(att.mask && !att.mask.tensor ? [att.mask.value.name] : []),
    ];
    const x = makeTensor(DataType.FLOAT, [1, T, C], hiddenStates(1, 5));
    const got = await runOrt(exposeValues(m, names), { x });
    const order = [att.q, att.k, att.v];
    const w = (i: number) => site.consumers[i]!.weight.const!.data as Float32Array;
    const bias = (i: number) =>
      Float64Array.from(consumerBias(site.consumers[i]!.node) ?? new Float32Array(C));
    const mask = att.mask?.tensor;
    const inp = {
      x: got[site.output.name]!.data as Float32Array,
      seqs: 1,
      tokens: T,
      channels: C,
      weights: order.map(w) as [Float32Array, Float32Array, Float32Array],
      biases: order.map(bias) as [Float64Array, Float64Array, Float64Array],
      heads: att.heads,
      headDim: att.headDim,
      scale: att.scale,
      ...(mask
        ? { mask: (_s: number, _h: number, i: number, j: number) => Number(mask.data[i * T + j]) }
        : {}),
    };
    const ref = attentionReference(inp);
    const want = got[att.output.name]!; // [1, H, T, d]
    let err = 0, mx = 0;
    for (let h = 0; h < DIMS.H; h++) {
      for (let i = 0; i < T; i++) {
        for (let e = 0; e < DIMS.D; e++) {
          const a = ref[i * C + h * DIMS.D + e]!, b = Number(want.data[(h * T + i) * DIMS.D + e]);
          err = Math.max(err, Math.abs(a - b)), mx = Math.max(mx, Math.abs(b));
        }
      }
    }
    assert(err <= 1e-5 * mx, `attention output differs by ${err} (max ${mx})`);
    // No scaling at 8 bits costs something; the loss is finite and positive.
    const loss = attentionLoss(inp, {
      weightBits: 8,
      activationBits: 8,
      symmetric: false,
      cmin: new Float32Array(C).fill(-50),
      cmax: new Float32Array(C).fill(50),
    });
    const l = loss(new Float32Array(C).fill(1));
    assert(l > 0 && Number.isFinite(l), String(l));
  });
}

Deno.test("os-plus attention: a fused QKV projection (GPT-2) is not recognised, with the reason", () => {
  const m = buildArch("gpt2");
  canonicalize(m);
  const r = recognizeAttention(findOsPlusSites(m.graph).sites[0]!);
  assertEquals(r, "the site has 1 consumers, not q, k, v");
});

Deno.test("os-plus attention: the projection is bit-identical to the plain row-by-row sums", () => {
  // The reference: each output starts at its bias and adds a_j w_jk for j in order.
  const plain = (x: Float32Array, n: number, c: number, w: Float32Array, o: number, b: Float64Array) => {
    const y = new Float64Array(n * o);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < o; k++) {
        let s = b[k]!;
        for (let j = 0; j < c; j++) s = s + x[i * c + j]! * w[j * o + k]!;
        y[i * o + k] = s;
      }
    }
    return y;
  };
  const rnd = mulberry32(17);
  // odd sizes reach every remainder loop (rows not a multiple of 2, columns not a multiple of 4)
  for (const [n, c, o] of [[8, 16, 12], [7, 9, 13], [1, 5, 3], [64, 32, 64]] as const) {
    const x = Float32Array.from({ length: n * c }, () => rnd() < 0.25 ? 0 : (rnd() - 0.5) * 8);
    const w = Float32Array.from({ length: c * o }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 20 - 10));
    const b = Float64Array.from({ length: o }, (_, k) => k === 0 ? -0 : rnd() - 0.5);
    const got = project(x, n, c, w, o, b), want = plain(x, n, c, w, o, b);
    assertEquals(got.length, want.length);
    for (let i = 0; i < got.length; i++) assert(Object.is(got[i], want[i]), `[${n},${c},${o}] element ${i}`);
  }
});
