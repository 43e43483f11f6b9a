/**
 * DenseShift post-training conversion (METHODS.md section 3, arXiv 2208.09708; op spec docs/ops/denseshift.md).
 * Conv (grouped and depthwise included), Gemm and 2-D MatMul with constant float weights become
 * `shiftkit.ShiftConv` / `shiftkit.ShiftMatMul`: zero-free N-bit codes `±alpha * 2^p`, packed densely (N
 * bits per weight), one float32 alpha per output channel, plus the model-local function bodies in standard
 * ONNX ops (passes/_dense_shift_body.ts) so onnxruntime runs the file.
 *
 * Deviation from the paper: DenseShift trains the shift weights from scratch; this pass converts a trained
 * float model. Plain post-training power-of-two rounding loses accuracy, so the pass recovers what it can
 * without training, all from ONE calibration run through `ctx.runtime`:
 * - per layer (per group for a Conv) the Gram matrix H = E[x x^T] of its inputs (Conv: im2col patches at a
 *   bounded number of sampled output positions per sample) and the mean input mu;
 * - `alpha: "output"` chooses alpha and an exponent cap per channel to minimise the output error
 *   `(w - w_hat)^T H (w - w_hat)` (quant/pow2.ts `pow2AlphaOutput`), not only the weight error;
 * - `biasCorrection` adds `delta_b = (W - W_hat) mu` to the bias (for a Conv, mu is the mean patch);
 * - `minSqnr`: a layer whose output SQNR on the calibration data (from H: signal `sum_c w_c^T H w_c`, error
 *   `sum_c e_c^T H e_c - [bias corrected] (mu . e_c)^2`) falls below the bound keeps int8 symmetric
 *   per-channel weights (DequantizeLinear on the weight) instead; `keepFirstLast` does that for the first and
 *   last weighted layers. ConvTranspose has no ShiftConv form in the op spec: it always takes the int8 path.
 * @module
 */
import { intAttr, intsAttr } from "../onnx/attributes.ts";
import type { Model, Node, Value } from "../onnx/ir.ts";
import { isOp, Op, SHIFTKIT_DOMAIN } from "../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { packShiftWeight } from "../quant/dense_shift.ts";
import { GramAccumulator } from "../quant/gram.ts";
import {
  biasCorrection,
  decodePow2,
  encodePow2,
  pow2AlphaMax,
  pow2AlphaMse,
  pow2AlphaOutput,
  type Pow2AlphaOutputOptions,
} from "../quant/pow2.ts";
import { DENSE_SHIFT_MIN_OPSET, ensureShiftFunctions, explicitConvAttrs } from "./_dense_shift_body.ts";
import { quantizeWeight, weightInput } from "./insert_qdq.ts";
import { upgradeOpset } from "./opset_upgrade.ts";
import type { Pass, PassContext, PassResult } from "./pass.ts";

/** Options of {@linkcode denseShiftPass}. */
export interface DenseShiftOptions {
  /** Code width N: 1 sign bit + N-1 exponent bits. */
  bits: 3 | 4 | 5 | 6;
  /**
   * How alpha is chosen per output channel: `"max"` (plain PoT: the top level equals max|w|), `"mse"`
   * (weight error), `"output"` (output error on the calibration Gram matrix, with a per-channel exponent cap).
   * @default "output"
   */
  alpha?: "max" | "mse" | "output";
  /**
   * Correct the mean output drift: `bias += (W - W_hat) mu` with mu the mean calibration input.
   * @default true
   */
  biasCorrection?: boolean;
  /**
   * Layers whose estimated output SQNR (dB) on the calibration data is below this keep int8 weights.
   * @default undefined (no fallback)
   */
  minSqnr?: number;
  /**
   * Keep the first and the last weighted layer (graph order) in int8.
   * @default false
   */
  keepFirstLast?: boolean;
  /**
   * Node names (or output names) left in float.
   * @default []
   */
  exclude?: readonly string[];
  /**
   * Conv: im2col positions sampled per calibration sample and group (bounds the Gram cost).
   * @default 256
   */
  positions?: number;
  /**
   * Grid of the alpha searches (`"mse"`, `"output"`): see quant/pow2.ts `Pow2AlphaOutputOptions`. A coarser
   * grid (e.g. 16 steps per octave) or `minBits = bits` cuts the output search's cost several-fold.
   * @default quant/pow2.ts defaults (64 steps per octave, octaves [-4, 1], minBits 3)
   */
  search?: Omit<Pow2AlphaOutputOptions, "bits">;
}

/** What the pass did to one weighted layer. */
export interface DenseShiftLayer {
  /** Node name. */
  node: string;
  /** Original op type. */
  op: string;
  /** `shift` (ShiftConv / ShiftMatMul), `int8` (fallback), `float` (left alone). */
  kind: "shift" | "int8" | "float";
  /** Why it is not `shift`. */
  reason?: string;
  /** Estimated output SQNR (dB) of the shift weights on the calibration data, when calibrated. */
  sqnrDb?: number;
  /** Number of weights. */
  weights: number;
  /** Stored weight bytes (codes + alphas, or int8 values + scales + zero points; float: 4 per weight). */
  bytes: number;
}

/** A layer to convert: channel-major weight rows and the geometry needed for calibration. */
interface Target {
  node: Node;
  kind: "conv" | "matmul" | "gemm" | "convT";
  /** `[nOut, fanIn]` channel-major rows (Gemm: alpha folded in). */
  rows: Float32Array;
  nOut: number;
  fanIn: number;
  groups: number;
  /** Bias `[nOut]` (Gemm: beta * C), or null. */
  bias: Float32Array | null;
  /** Conv geometry (kernel, strides, dilations, pad begin, auto_pad). */
  conv?: ConvGeom;
  gram?: GramAccumulator[];
  reason?: string;
}

interface ConvGeom {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

const dec = new TextDecoder();

function convGeom(node: Node, wDims: readonly number[]): ConvGeom {
  const a = node.a, sp = wDims.length - 2;
  const kernel = a.ints("kernel_shape", wDims.slice(2));
  return {
    kernel,
    strides: a.ints("strides", new Array(sp).fill(1)),
    dilations: a.ints("dilations", new Array(sp).fill(1)),
    pads: a.ints("pads", new Array(2 * sp).fill(0)),
    autoPad: node.attrs.has("auto_pad")
      ? dec.decode(node.attrs.get("auto_pad")!.value as Uint8Array)
      : "NOTSET",
  };
}

/** Output size and begin padding of one spatial axis (ONNX Conv, auto_pad included). */
function axisGeom(g: ConvGeom, i: number, sp: number, size: number): [number, number] {
  const k = (g.kernel[i]! - 1) * g.dilations[i]! + 1, s = g.strides[i]!;
  if (g.autoPad === "SAME_UPPER" || g.autoPad === "SAME_LOWER") {
    const out = Math.ceil(size / s);
    const total = Math.max(0, (out - 1) * s + k - size);
    return [out, g.autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2)];
  }
  const [pb, pe] = g.autoPad === "VALID" ? [0, 0] : [g.pads[i]!, g.pads[i + sp]!];
  return [Math.floor((size + pb + pe - k) / s) + 1, pb];
}

/** Find the weighted layers; returns targets and the nodes left in float (with a reason). */
function plan(model: Model, exclude: ReadonlySet<string>): { targets: Target[]; skipped: DenseShiftLayer[] } {
  const targets: Target[] = [];
  const skipped: DenseShiftLayer[] = [];
  for (const node of model.graph.nodes) {
    const w = weightInput(node);
    if (!w) continue;
    const wt = node.inputs[w.index]!.const!;
    const x = node.inputs[0];
    const n = wt.data.length;
    const skip = (reason: string) =>
      skipped.push({ node: node.name, op: node.opType, kind: "float", reason, weights: n, bytes: 4 * n });
    if (exclude.has(node.name) || node.outputs.some((o) => exclude.has(o.name))) {
      skip("excluded");
      continue;
    }
    if (wt.dtype !== DataType.FLOAT) {
      skip(`weight is ${wt.dtype}, not float32`);
      continue;
    }
    if (!x || x.isConst || (x.type?.elemType ?? DataType.FLOAT) !== DataType.FLOAT) {
      skip("input is not a float activation");
      continue;
    }
    const W = wt.data as Float32Array;
    const constBias = (
      v: Value | null | undefined,
      size: number,
      scale = 1,
    ): Float32Array | null | undefined => {
      if (!v) return null;
      const t = v.const;
      if (!t || t.dtype !== DataType.FLOAT || (t.data.length !== size && t.data.length !== 1)) {
        return undefined;
      }
      const d = t.data as Float32Array;
      return Float32Array.from({ length: size }, (_, i) => scale * d[d.length === 1 ? 0 : i]!);
    };
    if (isOp(node, Op.Conv)) {
      const groups = node.a.int("group", 1), nOut = wt.dims[0]!;
      if (wt.dims.length < 3 || wt.dims.length > 4) {
        skip(`Conv with ${wt.dims.length - 2} spatial axes`);
        continue;
      }
      const bias = constBias(node.inputs[2], nOut);
      if (bias === undefined) {
        skip("bias is not a constant [Cout]");
        continue;
      }
      targets.push({
        node,
        kind: "conv",
        rows: W,
        nOut,
        fanIn: n / nOut,
        groups,
        bias,
        conv: convGeom(node, wt.dims),
      });
    } else if (isOp(node, Op.ConvTranspose)) {
      targets.push({
        node,
        kind: "convT",
        rows: W,
        nOut: 0,
        fanIn: 0,
        groups: 1,
        bias: null,
        reason: "ConvTranspose",
      });
    } else if (wt.dims.length !== 2) {
      skip(`weight of rank ${wt.dims.length}`);
    } else if (isOp(node, Op.Gemm) && node.a.int("transA", 0) !== 0) {
      skip("Gemm with transA");
    } else {
      const gemm = isOp(node, Op.Gemm);
      const transB = gemm && node.a.int("transB", 0) !== 0;
      const [K, N] = transB ? [wt.dims[1]!, wt.dims[0]!] : [wt.dims[0]!, wt.dims[1]!];
      const scale = gemm ? node.a.float("alpha", 1) : 1;
      const bias = gemm ? constBias(node.inputs[2], N, node.a.float("beta", 1)) : null;
      if (bias === undefined) {
        skip("Gemm C is not a constant [N] or scalar");
        continue;
      }
      const rows = new Float32Array(n);
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < N; j++) rows[j * K + k] = scale * (transB ? W[j * K + k]! : W[k * N + j]!);
      }
      targets.push({ node, kind: gemm ? "gemm" : "matmul", rows, nOut: N, fanIn: K, groups: 1, bias });
    }
  }
  return { targets, skipped };
}

/** Deterministic sample of `m` of `total` positions (all when total <= m). */
function samplePositions(total: number, m: number, seed: number): Int32Array {
  if (total <= m) return Int32Array.from({ length: total }, (_, i) => i);
  const off = ((seed * 2654435761) >>> 0) / 2 ** 32;
  return Int32Array.from({ length: m }, (_, i) => Math.min(total - 1, Math.floor(((i + off) * total) / m)));
}

/** Add one batch of a layer's input to its Gram accumulators (Conv: sampled im2col patches per group). */
function accumulate(t: Target, x: Tensor, positions: number, batch: number): void {
  const X = x.data as Float32Array;
  if (t.kind !== "conv") {
    t.gram![0]!.add(X, X.length / t.fanIn);
    return;
  }
  const g = t.conv!, sp = g.kernel.length;
  const [N, C] = [x.dims[0]!, x.dims[1]!];
  const H = sp === 2 ? x.dims[2]! : 1, W = x.dims[sp + 1]!;
  const kh = sp === 2 ? g.kernel[0]! : 1, kw = g.kernel[sp - 1]!;
  const [oh, ph] = sp === 2 ? axisGeom(g, 0, sp, H) : [1, 0];
  const [ow, pw] = axisGeom(g, sp - 1, sp, W);
  const [sh, dh] = sp === 2 ? [g.strides[0]!, g.dilations[0]!] : [1, 1];
  const [sw, dw] = [g.strides[sp - 1]!, g.dilations[sp - 1]!];
  const Cg = C / t.groups, K = Cg * kh * kw;
  for (let n = 0; n < N; n++) {
    const pos = samplePositions(oh * ow, positions, batch * 131 + n);
    const patch = new Float32Array(pos.length * K);
    for (let gi = 0; gi < t.groups; gi++) {
      patch.fill(0);
      for (let r = 0; r < pos.length; r++) {
        const oy = Math.floor(pos[r]! / ow), ox = pos[r]! % ow;
        let at = r * K;
        for (let ci = 0; ci < Cg; ci++) {
          const base = (n * C + gi * Cg + ci) * H * W;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky * dh;
            for (let kx = 0; kx < kw; kx++, at++) {
              const ix = ox * sw - pw + kx * dw;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) patch[at] = X[base + iy * W + ix]!;
            }
          }
        }
      }
      t.gram![gi]!.add(patch, pos.length);
    }
  }
}

/** Shift-quantize one layer: codes (channel-major), alphas, new bias and the estimated output SQNR. */
function quantizeLayer(
  t: Target,
  o:
    & Required<Pick<DenseShiftOptions, "bits" | "alpha" | "biasCorrection">>
    & Pick<DenseShiftOptions, "search">,
) {
  const { nOut, fanIn, groups } = t;
  const perGroup = nOut / groups;
  const codes = new Uint8Array(nOut * fanIn);
  const alpha = new Float32Array(nOut);
  const bias = t.bias ? Float32Array.from(t.bias) : new Float32Array(nOut);
  let biasChanged = false, signal = 0, noise = 0;
  for (let gi = 0; gi < groups; gi++) {
    const w = t.rows.subarray(gi * perGroup * fanIn, (gi + 1) * perGroup * fanIn);
    const acc = t.gram?.[gi];
    const H = acc && acc.count > 0 ? acc.mean() : undefined;
    const mu = acc && acc.count > 0 ? acc.featureMean() : undefined;
    let a: Float32Array, caps: Uint8Array | undefined;
    if (o.alpha === "output") {
      if (!H) {
        throw new RangeError(`Cannot choose output-error alphas for "${t.node.name}": no calibration rows`);
      }
      ({ alpha: a, maxExponent: caps } = pow2AlphaOutput(w, H, { ...o.search, bits: o.bits }));
    } else {
      a = o.alpha === "mse"
        ? pow2AlphaMse(w, fanIn, { ...o.search, bits: o.bits })
        : pow2AlphaMax(w, fanIn, { bits: o.bits });
    }
    const c = encodePow2(w, a, caps ? { bits: o.bits, maxExponent: caps } : { bits: o.bits });
    const wq = decodePow2(c, a, { bits: o.bits });
    codes.set(c, gi * perGroup * fanIn);
    alpha.set(a, gi * perGroup);
    if (o.biasCorrection && mu) {
      const d = biasCorrection({ weights: w, quantized: wq }, mu);
      for (let j = 0; j < perGroup; j++) bias[gi * perGroup + j]! += d[j]!;
      biasChanged = true;
    }
    if (H) {
      const e = new Float64Array(fanIn);
      for (let j = 0; j < perGroup; j++) {
        for (let k = 0; k < fanIn; k++) e[k] = w[j * fanIn + k]! - wq[j * fanIn + k]!;
        const row = w.subarray(j * fanIn, (j + 1) * fanIn);
        signal += quadForm(H, row, fanIn);
        let me = 0;
        if (o.biasCorrection && mu) { for (let k = 0; k < fanIn; k++) me += mu[k]! * e[k]!; }
        noise += quadForm(H, e, fanIn) - me * me;
      }
    }
  }
  const sqnrDb = t.gram ? 10 * Math.log10(signal / Math.max(noise, 1e-300)) : undefined;
  return { codes, alpha, bias: t.bias || biasChanged ? bias : null, sqnrDb };
}

function quadForm(H: Float64Array, v: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) {
    let r = 0;
    for (let j = 0; j < k; j++) r += H[i * k + j]! * v[j]!;
    s += v[i]! * r;
  }
  return s;
}

/** Replace `old` by a node of `op` with the same output (name and type kept). */
function replaceNode(
  old: Node,
  op: typeof Op.ShiftConv,
  inputs: (Value | null)[],
  attrs: ReturnType<typeof intAttr>[],
) {
  const g = old.graph!;
  const y = old.outputs[0]!;
  const node = g.addNode(op.type, inputs, [`${y.name}_denseshift`], {
    domain: SHIFTKIT_DOMAIN,
    attrs,
    after: old,
  });
  node.name = g.uniqueNodeName(`${old.name}_denseshift`);
  const out = node.outputs[0]!;
  if (y.type) out.type = { ...y.type };
  y.replaceAllUsesWith(out);
  const info = g.valueInfo.indexOf(y);
  g.removeNode(old, true);
  g.rename(out, y.name);
  if (info >= 0) g.valueInfo.splice(info, 0, out);
}

/** int8 symmetric per-channel weight behind a DequantizeLinear; returns the stored bytes. */
function int8Weight(model: Model, node: Node): number {
  const g = model.graph;
  const w = weightInput(node)!;
  const wv = node.inputs[w.index]!;
  const { q, scale, zero } = quantizeWeight(wv.const!, w.axis, 8);
  const qv = g.addInitializer(`${wv.name}_int8`, q);
  const sv = g.addInitializer(`${wv.name}_int8_scale`, scale);
  const zv = g.addInitializer(`${wv.name}_int8_zero_point`, zero);
  const attrs = w.axis >= 0 ? [intAttr("axis", w.axis)] : [];
  const dq = g.addNode(Op.DequantizeLinear.type, [qv, sv, zv], [`${wv.name}_int8_dequantized`], {
    attrs,
    before: node,
  });
  dq.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [...q.dims] };
  node.setInput(w.index, dq.outputs[0]!);
  if (wv.uses.length === 0 && !wv.isGraphOutput) g.removeInitializer(wv);
  return q.data.length + 4 * scale.data.length + zero.data.length;
}

/** Emit a ShiftConv / ShiftMatMul for a quantized target; returns the stored bytes (codes + alphas). */
function emitShift(model: Model, t: Target, q: ReturnType<typeof quantizeLayer>, bits: number): number {
  const g = model.graph, node = t.node;
  const wv = node.inputs[1]!;
  const conv = t.kind === "conv";
  const shape = conv ? [...wv.const!.dims] : [t.fanIn, t.nOut];
  const packed = packShiftWeight(q.codes, { alpha: q.alpha, bits, shape, axis: conv ? 0 : 1 });
  const base = `${wv.name}_shift${bits}`;
  const cv = g.addInitializer(
    `${base}_codes`,
    makeTensor(DataType.UINT8, [packed.packed.length], packed.packed),
  );
  const av = g.addInitializer(`${base}_alpha`, makeTensor(DataType.FLOAT, [t.nOut], packed.alpha));
  const bv = q.bias ? g.addInitializer(`${base}_bias`, makeTensor(DataType.FLOAT, [t.nOut], q.bias)) : null;
  const attrs = [intAttr("bits", bits), intsAttr("weight_shape", shape)];
  const old = [...node.inputs];
  if (conv) {
    replaceNode(node, Op.ShiftConv, [node.inputs[0]!, cv, av, bv], [
      ...attrs,
      ...explicitConvAttrs(node.attrs, shape),
    ]);
  } else replaceNode(node, Op.ShiftMatMul, [node.inputs[0]!, cv, av, bv], attrs);
  for (const v of old.slice(1)) {
    if (v && v.isConst && v.uses.length === 0 && !v.isGraphOutput) g.removeInitializer(v);
  }
  return packed.packed.length + 4 * packed.alpha.length;
}

/**
 * The DenseShift conversion pass (see the module doc). Needs `ctx.runtime` unless `alpha` is `"max"` or
 * `"mse"`, `biasCorrection` is false and no `minSqnr` is set. A model below opset 13 is first lifted with
 * passes/opset_upgrade.ts (which refuses, and so does this pass, when some op cannot be converted).
 * Run constants-to-initializers and BatchNorm folding first: weights must be initializers.
 *
 * @param options bits, alpha rule, bias correction, fallback bound, exclusions
 * @returns the pass; after a run, `layers` lists what happened to every weighted layer
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { silentReporter } from "../onnx/reporter.ts";
 * import { denseShiftPass } from "./dense_shift.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 8] };
 * m.graph.inputs.push(x);
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [8, 2], new Float32Array(16).fill(0.5)));
 * m.graph.outputs.push(m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!);
 * const pass = denseShiftPass({ bits: 4, alpha: "max", biasCorrection: false });
 * await pass.run(m, { reporter: silentReporter });
 * assertEquals(m.graph.nodes.map((n) => n.opType), ["ShiftMatMul"]);
 * assertEquals(m.graph.initializers[0]!.const!.data.length, 8); // 16 codes * 4 bits
 * ```
 */
export function denseShiftPass(options: DenseShiftOptions): Pass & { layers?: DenseShiftLayer[] } {
  const bits = options.bits;
  if (![3, 4, 5, 6].includes(bits)) throw new RangeError(`DenseShift bits must be 3, 4, 5 or 6, got ${bits}`);
  const o = {
    bits,
    alpha: options.alpha ?? "output",
    biasCorrection: options.biasCorrection ?? true,
    ...(options.search ? { search: options.search } : {}),
  } as const;
  const pass: Pass & { layers?: DenseShiftLayer[] } = {
    name: "dense-shift",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const notes: string[] = [];
      const { targets, skipped } = plan(model, new Set(options.exclude ?? []));
      if (targets.length === 0) {
        return { modified: false, notes: ["no Conv/Gemm/MatMul with constant float weights"] };
      }
      if (model.opset < DENSE_SHIFT_MIN_OPSET) {
        notes.push(
          ...(upgradeOpset(model, DENSE_SHIFT_MIN_OPSET).notes ?? []).map((n) => `opset upgrade: ${n}`),
        );
      }
      const needCalib = o.alpha === "output" || o.biasCorrection || options.minSqnr !== undefined;
      const shiftable = targets.filter((t) => t.kind !== "convT");
      if (needCalib) {
        if (!ctx.runtime) {
          throw new TypeError(
            "The DenseShift pass needs calibration data (alpha=output, bias correction or minSqnr): the context has no runtime",
          );
        }
        const byInput = new Map<string, Target[]>();
        for (const t of shiftable) {
          t.gram = Array.from({ length: t.groups }, () => new GramAccumulator(t.fanIn));
          const name = t.node.inputs[0]!.name;
          byInput.set(name, [...(byInput.get(name) ?? []), t]);
        }
        await ctx.runtime.collect(model, [...byInput.keys()], (values, b) => {
          for (const [name, ts] of byInput) {
            const x = values[name];
            if (x) { for (const t of ts) accumulate(t, x, options.positions ?? 256, b); }
          }
        });
      }
      const layers: DenseShiftLayer[] = [...skipped];
      const firstLast = new Set(options.keepFirstLast ? [targets[0]!, targets[targets.length - 1]!] : []);
      let useConv = false, useMatMul = false;
      for (const t of targets) {
        const name = t.node.name, op = t.node.opType;
        const weights = weightInput(t.node) ? t.node.inputs[1]!.const!.data.length : 0;
        let reason = t.reason ?? (firstLast.has(t) ? "first/last layer" : undefined);
        let q: ReturnType<typeof quantizeLayer> | undefined;
        if (!reason) {
          ctx.reporter.progress("dense-shift", layers.length - skipped.length, targets.length);
          q = quantizeLayer(t, o);
          if (options.minSqnr !== undefined && q.sqnrDb !== undefined && q.sqnrDb < options.minSqnr) {
            reason = `SQNR ${q.sqnrDb.toFixed(1)} dB < ${options.minSqnr}`;
          }
        }
        if (reason || !q) {
          const bytes = int8Weight(model, t.node);
          layers.push({
            node: name,
            op,
            kind: "int8",
            reason: reason ?? "",
            weights,
            bytes,
            ...(q?.sqnrDb !== undefined ? { sqnrDb: q.sqnrDb } : {}),
          });
        } else {
          const bytes = emitShift(model, t, q, bits);
          if (t.kind === "conv") useConv = true;
          else useMatMul = true;
          layers.push({
            node: name,
            op,
            kind: "shift",
            weights,
            bytes,
            ...(q.sqnrDb !== undefined ? { sqnrDb: q.sqnrDb } : {}),
          });
        }
      }
      ensureShiftFunctions(model, { conv: useConv, matMul: useMatMul });
      model.graph.sort();
      pass.layers = layers;
      const conv = layers.filter((l) => l.kind !== "float");
      const nW = conv.reduce((s, l) => s + l.weights, 0), nB = conv.reduce((s, l) => s + l.bytes, 0);
      const shift = layers.filter((l) => l.kind === "shift");
      const fell = layers.filter((l) => l.kind === "int8");
      notes.push(
        `${shift.length} layers -> ${bits}-bit shift weights (alpha=${o.alpha}, bias correction ${
          o.biasCorrection ? "on" : "off"
        })`,
        `average stored bits per weight: ${
          (8 * nB / Math.max(nW, 1)).toFixed(3)
        } (${nB} bytes for ${nW} weights, alphas and int8 fallback included)`,
      );
      if (fell.length) {
        notes.push(
          `int8 fallback (${fell.length}): ${fell.map((l) => `${l.node} (${l.reason})`).join(", ")}`,
        );
      }
      const fl = layers.filter((l) => l.kind === "float");
      if (fl.length) {
        notes.push(`left in float (${fl.length}): ${fl.map((l) => `${l.node} (${l.reason})`).join(", ")}`);
      }
      return { modified: true, notes };
    },
  };
  return pass;
}

/**
 * Average stored bits per weight over the layers a {@linkcode denseShiftPass} run converted (shift codes and
 * alphas, int8 values with scales and zero points).
 *
 * @param layers the pass's `layers`
 * @returns bits per weight (0 when nothing was converted)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { averageStoredBits } from "./dense_shift.ts";
 * assertEquals(averageStoredBits([{ node: "a", op: "Conv", kind: "shift", weights: 8, bytes: 4 }]), 4);
 * ```
 */
export function averageStoredBits(layers: readonly DenseShiftLayer[]): number {
  const conv = layers.filter((l) => l.kind !== "float");
  const nW = conv.reduce((s, l) => s + l.weights, 0);
  return nW === 0 ? 0 : 8 * conv.reduce((s, l) => s + l.bytes, 0) / nW;
}
