/**
 * DenseShift post-training conversion (METHODS.md section 3, arXiv 2208.09708; op spec docs/ops/denseshift.md).
 * Conv (grouped and depthwise included), Gemm and 2-D MatMul with constant float weights become
 * `shiftkit.ShiftConv` / `shiftkit.ShiftMatMul`: zero-free N-bit codes `±alpha * 2^p`, packed densely (N
 * bits per weight), one float32 alpha per output channel, plus the model-local function bodies in standard
 * ONNX ops (passes/denseshift/_dense_shift_body.ts) so onnxruntime runs the file.
 *
 * Deviation from the paper: DenseShift trains the shift weights from scratch; this pass converts a trained
 * float model. Plain post-training power-of-two rounding loses accuracy, so the pass recovers what it can
 * without training, from one calibration run through `ctx.runtime` (`sequential` rounds: one per round):
 * - per layer (per group for a Conv) the Gram matrix H = E[x x^T] of its inputs (Conv: im2col patches at a
 *   bounded number of sampled output positions per sample) and the mean input mu; with nearest rounding a
 *   MatMul / Gemm layer collects only the diagonal of H and a Gram over a few rows per sample (layers on the
 *   same input share them; passes/denseshift/dense_shift_collect.ts);
 * - `alpha: "output"` chooses alpha and an exponent cap per channel to minimise the output error
 *   `(w - w_hat)^T C (w - w_hat)` (C = H - mu mu^T with bias correction, else H), searched on a
 *   diagonal-plus-low-rank approximation of C (quant/pow2_lowrank.ts; docs/denseshift.md), not only the
 *   weight error; `keepEnergy` then rescales alpha so the channel keeps its float output energy (the MSE
 *   optimum shrinks outputs, and the shrinkage compounds through deep models);
 * - `biasCorrection` adds `delta_b = (W - W_hat) mu` to the bias (for a Conv, mu is the mean patch);
 * - `minSqnr`: a layer whose output SQNR on the calibration data (from H: signal `sum_c w_c^T H w_c`, error
 *   `sum_c e_c^T H e_c - [bias corrected] (mu . e_c)^2`) falls below the bound keeps int8 symmetric
 *   per-channel weights (DequantizeLinear on the weight) instead; `keepFirstLast` does that for the first and
 *   last weighted layers. ConvTranspose has no ShiftConv form in the op spec: it always takes the int8 path.
 * - `maxAverageBits`: int8 fallback chosen under an average stored-bits budget, greedily by estimated
 *   relative output-noise reduction per extra byte (passes/denseshift/dense_shift_budget.ts);
 * - `sequential`: calibrate later layers on the outputs of the already converted earlier ones.
 * @module
 */
import { intAttr, intsAttr } from "../../onnx/attributes.ts";
import type { Model, Node, Value } from "../../onnx/ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { packShiftWeight } from "../../quant/dense_shift.ts";
import { decodePow2 } from "../../quant/pow2.ts";
import { packedByteLength } from "../../quant/bitpack.ts";
import type { Pow2AlphaOutputOptions } from "../../quant/pow2.ts";
import { DENSE_SHIFT_MIN_OPSET, ensureShiftFunctions, explicitConvAttrs } from "./_dense_shift_body.ts";
import { quantizeWeight, weightInput } from "../qdq/insert_qdq.ts";
import { chooseInt8Layers } from "./dense_shift_budget.ts";
import { plan, rowsToWeight, type Target } from "./dense_shift_calib.ts";
import { collectStats } from "./dense_shift_collect.ts";
import { blockTarget, findBlockEnds } from "./dense_shift_block.ts";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import { int8Noise, type LayerStats, type QuantizedLayer, quantizeLayer } from "./dense_shift_layer.ts";
import { fitLayers } from "./dense_shift_task.ts";
import { upgradeOpset } from "../normalize/opset_upgrade.ts";
import type { LayerStorage } from "../storage.ts";
import type { Pass, PassContext, PassResult, PassRuntime } from "../pass.ts";

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
   * Conv, nearest rounding: most sampled patches per layer (group) over the whole calibration set. Where the
   * calibration set has more samples than `rowBudget / positions`, each sample gives
   * `ceil(rowBudget / samples)` positions instead, so that the statistics' cost (a Gram of the patches: rows
   * times K^2) stops growing with the calibration set while the patches spread over more samples. Learned
   * rounding keeps `positions` per sample (it over-fits on fewer rows). Needs the runtime to know its sample
   * count (a `PassRuntime` without `count` samples `positions` per sample).
   * @default 4096 (256 positions of 16 samples: nothing changes up to 16 samples; chosen on calibration
   *   scores, bench/README.md "Conv statistics row budget")
   */
  rowBudget?: number;
  /**
   * Grid of the alpha searches (`"mse"`, `"output"`): see quant/pow2.ts `Pow2AlphaOutputOptions`. A coarser
   * grid (e.g. 16 steps per octave) or `minBits = bits` cuts the output search's cost several-fold.
   * Chosen on calibration data (bench/dense_shift.ts --score-on-calib, openWakeWord and PP-OCR cls at 3-5 bits,
   * learned rounding): 16 steps were better or equal to 64 in 5 of 6 settings (oww 3 bits: 0.9777 vs 0.9787)
   * at half the CPU time; learned rounding's closed-form alpha refit makes a finer grid unnecessary.
   * @default { stepsPerOctave: 16 } (other fields: quant/pow2.ts defaults, octaves [-4, 1], minBits 3)
   */
  search?: Omit<Pow2AlphaOutputOptions, "bits">;
  /**
   * Budget-driven fallback: store at most this many bits per weight on average (codes, alphas, int8 values,
   * scales and zero points, over all converted layers). Layers move to int8 greedily by estimated output
   * noise reduction per extra stored byte (passes/denseshift/dense_shift_budget.ts) until the budget is spent. Layers
   * forced to int8 (`minSqnr`, `keepFirstLast`, ConvTranspose) count against it.
   * @default undefined (no budget)
   */
  maxAverageBits?: number;
  /**
   * Sequential calibration: the layers are converted in this many rounds (graph order, equal numbers of
   * layers); before each round the calibration data runs through the model with the earlier rounds' layers
   * already quantized, so each layer's alpha search and bias correction see the inputs it will see at
   * inference. 1 calibrates every layer on the float model (one calibration run); each extra round costs one
   * more run. (Matching the float output instead, with a cross-Gram and a drift term in the bias, was tried
   * and hurt on openWakeWord: the quantized activations shrink and the additive drift term over-corrects.)
   * @default 1
   */
  sequential?: number;
  /**
   * With bias correction, search alpha on the input covariance `H - mu mu^T` (the error left after the bias
   * correction) instead of the raw Gram matrix H.
   * @default true
   */
  centeredAlpha?: boolean;
  /**
   * After the alpha search, rescale each channel's alpha so its output energy on the calibration data equals
   * the float channel's (codes unchanged). The output-error optimum is a minimum-MSE fit that shrinks every
   * channel's output by its correlation with the float output; through a deep model the shrinkage
   * compounds (PP-OCRv4 det at 3 bits: map IoU 0.002 without, 0.14 with; openWakeWord 4 bits: cosine 0.946
   * without, 0.957 with).
   * @default true
   */
  keepEnergy?: boolean;
  /**
   * How each weight picks its level: `"nearest"`, or `"learned"` (between its two neighbouring powers of two,
   * never zero, by the layer's output error on the calibration data, alternating with a closed-form alpha;
   * quant/learned_rounding.ts). Learned rounding needs calibration data. Chosen as the default on the
   * calibration sets of the three repository CNNs (bench/dense_shift.ts --score-on-calib, 3-5 bits): it
   * is better or equal in 9 of 9 cases (PP-OCRv4 det 3 bits: map IoU 0.09 -> 0.91; openWakeWord 3 bits:
   * cosine 0.937 -> 0.978), while sequential calibration on top of it (4 rounds) helped in 2 of 9 and hurt in 6.
   * @default "learned"
   */
  rounding?: "nearest" | "learned";
  /**
   * Rank of the diagonal-plus-low-rank approximation of each layer's input covariance that the alpha search
   * runs on (quant/pow2_lowrank.ts; the learned-rounding objective and the fallback estimates keep the full
   * Gram). Chosen on calibration data (docs/denseshift.md): im2col patches of a Conv spread their
   * correlation over many directions (rank 32 beat 8 and 16 on the three CNNs), the token features of
   * MatMul / Gemm layers are dominated by a few (8, 16 and 32 tied on the repository LMs and segmenters, and
   * the search's cost grows with the rank).
   * @default 32 for Conv, 8 for MatMul and Gemm
   */
  searchRank?: number;
  /**
   * Nearest rounding: calibration rows per sample (MatMul / Gemm: tokens; Conv, only when this option is
   * given: of the `positions` sampled patches) in the Gram whose dominant subspace the low-rank part comes
   * from; the diagonal uses every row. By default Conv layers collect the full Gram over their sampled
   * patches (bounded by `positions`).
   * @default 32
   */
  sketchRows?: number;
  /**
   * How `maxAverageBits` ranks the layers that may stay int8: `"estimate"` by each layer's own output noise
   * on its calibration Gram (free), `"output"` by the measured relative error of the model's outputs on the
   * calibration data with only that layer converted (one calibration run per layer).
   * @default "estimate"
   */
  budgetBy?: "estimate" | "output";
  /**
   * Block-output reconstruction (BRECQ-style; passes/denseshift/dense_shift_block.ts): the last layer of each
   * residual unit (1x1 Conv -> Add) is rounded to minimise the block's output error against the float model,
   * on its inputs from the already converted layers (one calibration run of the partly converted model per
   * block). Needs learned rounding or the output alpha (calibration data). Measured (bench/dense_shift_zoo.ts,
   * evaluation photos): MobileNetV2 3 bits cosine 0.763 -> 0.822, 4 bits 0.856 -> 0.879; MediaPipe selfie 4 bits
   * 0.983 -> 0.987 but 3 bits 0.973 -> 0.951; so it is opt-in.
   * @default false
   */
  blockwise?: boolean;
  /**
   * Ridge of the block reconstruction towards the float weights, relative to the mean input variance.
   * Chosen on calibration data (bench/dense_shift_zoo.ts --score-on calib: MobileNetV2 4 bits, 4 photos
   * calibrate, the other 4 score): mean cosine 0.840 at 0.1, 0.862 at 1, 0.862 at 10 (fewer top-1 labels kept);
   * 0.01 over-fits the 7x7 layers, where 8 photos give fewer positions than the layer has inputs.
   * @default 1
   */
  blockRidge?: number;
  /**
   * With or without `blockwise`: every other 1x1 Conv is also rebuilt, on its own float output from its
   * quantized inputs (asymmetric reconstruction, one calibration run per layer). On MobileNetV2's
   * calibration split (bench/dense_shift_zoo.ts --score-on calib, 4 bits) it scored 0.850, below the block
   * ends alone (0.862), so it is off by default.
   * @default false
   */
  pointwiseReconstruction?: boolean;
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
  /**
   * With `maxAverageBits`: the estimated reduction of the relative output noise (noise / signal on the
   * calibration Gram matrix) if the layer is int8 instead of shift codes, the budget rule's ranking key
   * together with the extra bytes.
   */
  int8Gain?: number;
  /** Number of weights. */
  weights: number;
  /** Stored weight bytes (codes + alphas, or int8 values + scales + zero points; float: 4 per weight). */
  bytes: number;
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

/** int8 symmetric per-channel weight behind a DequantizeLinear; returns the stored bytes (names into `inits`). */
function int8Weight(model: Model, node: Node, inits: string[] = []): number {
  const g = model.graph;
  const w = weightInput(node)!;
  const wv = node.inputs[w.index]!;
  const { q, scale, zero } = quantizeWeight(wv.const!, w.axis, 8);
  const qv = g.addInitializer(`${wv.name}_int8`, q);
  const sv = g.addInitializer(`${wv.name}_int8_scale`, scale);
  const zv = g.addInitializer(`${wv.name}_int8_zero_point`, zero);
  inits.push(qv.name, sv.name, zv.name);
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

/**
 * Emit a ShiftConv / ShiftMatMul for a quantized target; returns the stored bytes (codes + alphas), their
 * initializer names into `inits`.
 */
function emitShift(model: Model, t: Target, q: QuantizedLayer, bits: number, inits: string[] = []): number {
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
  inits.push(cv.name, av.name);
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
 * passes/normalize/opset_upgrade.ts (which refuses, and so does this pass, when some op cannot be converted).
 * Run constants-to-initializers and BatchNorm folding first: weights must be initializers.
 *
 * @param options bits, alpha rule, bias correction, fallback bound, exclusions
 * @returns the pass; after a run, `layers` lists what happened to every weighted layer
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
 * import { silentReporter } from "../../onnx/reporter.ts";
 * import { denseShiftPass } from "./dense_shift.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 8] };
 * m.graph.inputs.push(x);
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [8, 2], new Float32Array(16).fill(0.5)));
 * m.graph.outputs.push(m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!);
 * // Plain power-of-two rounding needs no calibration data (the default, learned rounding, does).
 * const pass = denseShiftPass({ bits: 4, alpha: "max", biasCorrection: false, rounding: "nearest" });
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
    centered: options.centeredAlpha ?? true,
    energy: options.keepEnergy ?? true,
    rounding: options.rounding ?? "learned",
    search: options.search ?? { stepsPerOctave: 16 },
    rank: options.searchRank,
  } as const;
  const maxBits = options.maxAverageBits;
  if (maxBits !== undefined && !(maxBits > 0)) {
    throw new RangeError(`DenseShift maxAverageBits must be > 0, got ${maxBits}`);
  }
  const seq = options.sequential ?? 1;
  if (!Number.isInteger(seq) || seq < 1) {
    throw new RangeError(`DenseShift sequential must be a positive integer, got ${seq}`);
  }
  const positions = options.positions ?? 256;
  const rowBudget = options.rowBudget ?? 4096;
  if (!(Number.isInteger(positions) && positions >= 1) || !(Number.isInteger(rowBudget) && rowBudget >= 1)) {
    throw new RangeError(
      `DenseShift positions and rowBudget must be positive integers, got ${positions} and ${rowBudget}`,
    );
  }
  const sketchRows = options.sketchRows ?? 32;
  const sketchConv = options.sketchRows !== undefined;
  const pass: Pass & { layers?: DenseShiftLayer[] } = {
    name: "dense-shift",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const notes: string[] = [];
      const { targets, skipped } = plan(model, new Set(options.exclude ?? []));
      if (targets.length === 0) {
        return {
          modified: false,
          notes: ["no Conv/Gemm/MatMul with constant float weights"],
          sites: { converted: 0, skipped: skipped.map((l) => `${l.node}: ${l.reason}`) },
        };
      }
      if (model.opset < DENSE_SHIFT_MIN_OPSET) {
        notes.push(
          ...(upgradeOpset(model, DENSE_SHIFT_MIN_OPSET).notes ?? []).map((n) => `opset upgrade: ${n}`),
        );
      }
      const decide = options.minSqnr !== undefined || maxBits !== undefined;
      const needCalib = o.alpha === "output" || o.biasCorrection || decide || o.rounding === "learned";
      const runtime = ctx.runtime;
      if (needCalib && !runtime) {
        throw new TypeError(
          "The DenseShift pass needs calibration data (alpha=output, bias correction, learned rounding, minSqnr or maxAverageBits): the context has no runtime",
        );
      }
      // Why each layer is int8 (absent: shift).
      const int8 = new Map<Target, string>();
      if (options.keepFirstLast) {
        for (const t of [targets[0]!, targets[targets.length - 1]!]) int8.set(t, "first/last layer");
      }
      for (const t of targets) if (t.reason) int8.set(t, t.reason);
      const rounds = needCalib ? Math.min(seq, targets.length) : 1;
      const ends = (options.blockwise || options.pointwiseReconstruction) && needCalib
        ? findBlockEnds(targets, { allPointwise: options.pointwiseReconstruction === true })
        : new Map();
      const floatModel = ends.size ? decodeModel(encodeModel(model)) : undefined;
      let rebuilt = 0;
      const chunks = Array.from(
        { length: rounds },
        (_, r) =>
          targets.slice(
            Math.floor(r * targets.length / rounds),
            Math.floor((r + 1) * targets.length / rounds),
          ),
      );
      // The full Gram matrix only where it is used: learned rounding's objective, the fallback decisions
      // (SQNR bound, bits budget) and Conv layers, whose rows are already bounded by `positions` per sample
      // (nearest rounding on the full patch Gram: det 4 bits map IoU 0.94 vs 0.93 on a 32-row sketch).
      // Nearest rounding's MatMul / Gemm layers need only a diagonal-plus-low-rank approximation for the alpha
      // search (quant/pow2_lowrank.ts): the diagonal over every row (O(rows * K)) and the dominant subspace
      // from a Gram over `sketchRows` rows per sample, instead of O(rows * K^2) over every token.
      const needGram = o.rounding === "learned" || decide;
      const full = (t: Target) => needGram || (t.kind === "conv" && !sketchConv);
      // Conv positions per sample: `positions`, fewer where the calibration set would exceed the row budget.
      // Nearest rounding only: learned rounding fits every weight to the Gram and over-fits on fewer rows
      // (openWakeWord 3 bits, 32 samples at 4096 rows: calibration score 0.979 -> 0.972; bench/README.md).
      const count = o.rounding === "learned" ? undefined : runtime?.count;
      const perSample = count !== undefined && count * positions > rowBudget
        ? Math.max(1, Math.ceil(rowBudget / count))
        : positions;
      if (perSample < positions && targets.some((t) => t.kind === "conv")) {
        notes.push(
          `Conv statistics: ${perSample} sampled positions per sample (${count} samples, row budget ${rowBudget})`,
        );
      }
      const collect = (ts: Target[]) =>
        needCalib
          ? collectStats(runtime!, model, {
            gramFor: ts.filter(full),
            meanFor: [],
            sketchFor: ts.filter((t) => !full(t)),
            sketchRows,
            searchRank: o.rank,
            // nearest rounding: a Conv with fewer sampled patches than features keeps them as rows
            rowsWhenCheaper: !needGram,
          }, perSample)
          : Promise.resolve(new Map<Target, LayerStats>());
      const shiftable = (ts: Target[]) => ts.filter((t) => !int8.has(t));
      // Float statistics: for every layer where a decision needs them, else for round 0.
      const floatStats = await collect(decide ? shiftable(targets) : shiftable(chunks[0]!));
      const first = new Map<Target, QuantizedLayer>();
      const sqnr = new Map<Target, number>(), gains = new Map<Target, number>();
      if (decide) {
        // Estimates on the float model; with sequential rounds a cheaper grid (the layers are redone).
        const est = rounds > 1 ? { ...o, search: { ...o.search, stepsPerOctave: 8, minBits: bits } } : o;
        const cands: { t: Target; shiftBytes: number; int8Bytes: number; gain: number }[] = [];
        const measure = maxBits !== undefined && (options.budgetBy ?? "estimate") === "output"
          ? await outputErrorMeter(runtime!, model, bits)
          : undefined;
        for (const t of shiftable(targets)) {
          ctx.reporter.progress("dense-shift estimate", cands.length, targets.length);
          const st = floatStats.get(t);
          const q = quantizeLayer(t, st, est);
          if (rounds === 1) first.set(t, q);
          if (q.sqnrDb !== undefined) sqnr.set(t, q.sqnrDb);
          if (options.minSqnr !== undefined && q.sqnrDb !== undefined && q.sqnrDb < options.minSqnr) {
            int8.set(t, `SQNR ${q.sqnrDb.toFixed(1)} dB < ${options.minSqnr}`);
            continue;
          }
          let gain = st && q.signal > 0 ? (q.noise - int8Noise(t, st)) / q.signal : 0;
          if (measure && st && q.noise > 0) {
            // The layer's measured effect on the model output: its relative output error with only this
            // layer converted, times the share of its noise int8 removes (estimated on its Gram).
            gain = await measure(t, q) * Math.max(0, 1 - int8Noise(t, st) / q.noise);
          }
          gains.set(t, gain);
          cands.push({ t, shiftBytes: shiftBytes(t, bits), int8Bytes: int8Bytes(t.node), gain });
        }
        if (maxBits !== undefined) {
          const weights = targets.reduce((s, t) => s + t.node.inputs[1]!.const!.data.length, 0);
          const fixed = [...int8.keys()].reduce((s, t) => s + int8Bytes(t.node), 0);
          const bytes = Math.floor(maxBits * weights / 8);
          for (const i of chooseInt8Layers(cands, { bytes, fixedBytes: fixed })) {
            int8.set(cands[i]!.t, `budget ${maxBits} bits/weight`);
          }
        }
      }
      const layers: DenseShiftLayer[] = [...skipped];
      const storage: LayerStorage[] = [];
      let useConv = false, useMatMul = false, done = 0;
      for (let r = 0; r < rounds; r++) {
        const chunk = chunks[r]!;
        let stats = floatStats;
        if (r > 0) {
          ensureShiftFunctions(model, { conv: useConv, matMul: useMatMul, bits });
          model.graph.sort();
          stats = await collect(shiftable(chunk));
        }
        // One round (no sequential calibration): every layer from the float model's statistics alone, with
        // nearest and learned rounding alike, so the layers are independent and are fitted through ctx.pool
        // (worker threads where it has them; the same bytes). Block ends are rebuilt on the converted model.
        const fitted = rounds === 1
          ? await fitLayers(ctx, chunk.filter((t) => !int8.has(t) && !ends.get(t) && !first.has(t)), stats, o)
          : undefined;
        for (const t of chunk) {
          ctx.reporter.progress("dense-shift", done++, targets.length);
          const name = t.node.name, op = t.node.opType;
          const weights = t.node.inputs[1]!.const!.data.length;
          const reason = int8.get(t);
          if (reason !== undefined) {
            const inits: string[] = [];
            const bytes = int8Weight(model, t.node, inits);
            storage.push({ layer: name, weights, initializers: inits });
            const s = sqnr.get(t);
            layers.push({
              node: name,
              op,
              kind: "int8",
              reason,
              weights,
              bytes,
              ...(s !== undefined ? { sqnrDb: s } : {}),
              ...(gains.has(t) ? { int8Gain: gains.get(t)! } : {}),
            });
            continue;
          }
          const end = ends.get(t);
          let q = end ? undefined : first.get(t);
          if (end) {
            // the block's earlier layers are converted: rebuild its last one on the block output
            ensureShiftFunctions(model, { conv: useConv, matMul: useMatMul, bits });
            model.graph.sort();
            const bt = await blockTarget(runtime!, floatModel!, model, end, options.blockRidge ?? 1);
            if (bt) (q = quantizeLayer(bt.target, bt.stats, o)), rebuilt++;
          }
          q ??= fitted?.get(t) ?? quantizeLayer(t, stats.get(t), o);
          const inits: string[] = [];
          const bytes = emitShift(model, t, q, bits, inits);
          storage.push({ layer: name, weights, initializers: inits });
          if (t.kind === "conv") useConv = true;
          else useMatMul = true;
          layers.push({
            node: name,
            op,
            kind: "shift",
            weights,
            bytes,
            ...(q.sqnrDb !== undefined ? { sqnrDb: q.sqnrDb } : {}),
            ...(gains.has(t) ? { int8Gain: gains.get(t)! } : {}),
          });
        }
      }
      ensureShiftFunctions(model, { conv: useConv, matMul: useMatMul, bits });
      model.graph.sort();
      pass.layers = layers;
      const conv = layers.filter((l) => l.kind !== "float");
      const nW = conv.reduce((s, l) => s + l.weights, 0), nB = conv.reduce((s, l) => s + l.bytes, 0);
      const shift = layers.filter((l) => l.kind === "shift");
      const fell = layers.filter((l) => l.kind === "int8");
      notes.push(
        `${shift.length} layers -> ${bits}-bit shift weights (alpha=${o.alpha}, bias correction ${
          o.biasCorrection ? "on" : "off"
        }${rounds > 1 ? `, sequential calibration in ${rounds} rounds` : ""})`,
        `average stored bits per weight: ${
          (8 * nB / Math.max(nW, 1)).toFixed(3)
        } (${nB} bytes for ${nW} weights, alphas and int8 fallback included)`,
      );
      if ((options.blockwise || options.pointwiseReconstruction) && !ends.size) {
        notes.push(
          needCalib
            ? "block-output reconstruction asked, not done: no residual unit ends in a stride-1 ungrouped 1x1 Conv"
            : "block-output reconstruction asked, not done: it needs calibration data (learned rounding or the output alpha)",
        );
      }
      if (ends.size) {
        notes.push(
          `block-output reconstruction: ${rebuilt} of ${ends.size} ${
            options.pointwiseReconstruction ? "1x1 layers" : "residual-unit ends"
          }`,
        );
      }
      if (fell.length) {
        notes.push(
          `int8 fallback (${fell.length}): ${fell.map((l) => `${l.node} (${l.reason})`).join(", ")}`,
        );
      }
      const fl = layers.filter((l) => l.kind === "float");
      if (fl.length) {
        notes.push(`left in float (${fl.length}): ${fl.map((l) => `${l.node} (${l.reason})`).join(", ")}`);
      }
      return {
        modified: true,
        notes,
        storage,
        sites: { converted: conv.length, skipped: fl.map((l) => `${l.node}: ${l.reason}`) },
      };
    },
  };
  return pass;
}

/** Stored bytes of a layer as N-bit shift codes (as {@linkcode emitShift} writes them). */
function shiftBytes(t: Target, bits: number): number {
  return packedByteLength(t.node.inputs[1]!.const!.data.length, bits) + 4 * t.nOut;
}

/** Stored bytes of a layer as int8 (as {@linkcode int8Weight} writes them). */
function int8Bytes(node: Node): number {
  const w = weightInput(node)!, t = node.inputs[w.index]!.const!;
  return t.data.length + 5 * (w.axis < 0 ? 1 : t.dims[w.axis]!);
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

/**
 * A meter of one layer's effect on the model outputs: runs the calibration data once through the float model,
 * then for each call swaps in the layer's decoded shift weights (and corrected bias), runs again and returns
 * `sum (y_q - y)^2 / sum y^2` over every float output and sample. The model is restored after each call.
 */
async function outputErrorMeter(
  runtime: PassRuntime,
  model: Model,
  bits: number,
): Promise<(t: Target, q: QuantizedLayer) => Promise<number>> {
  const outs = model.graph.outputs.map((v) => v.name);
  const ref: Record<string, Tensor>[] = [];
  await runtime.collect(model, outs, (v) => {
    ref.push(v);
  });
  return async (t, q) => {
    const wv = t.node.inputs[1]!, saved = wv.const!;
    const bv = t.node.inputs[2], savedBias = bv?.const;
    wv.const = makeTensor(
      DataType.FLOAT,
      saved.dims,
      rowsToWeight(t, decodePow2(q.codes, q.alpha, { bits })),
    );
    if (bv && savedBias && q.bias && savedBias.data.length === q.bias.length && t.kind !== "gemm") {
      bv.const = makeTensor(DataType.FLOAT, savedBias.dims, q.bias);
    }
    let err = 0, sig = 0;
    try {
      await runtime.collect(model, outs, (v, b) => {
        for (const name of outs) {
          const y = ref[b]?.[name], yq = v[name];
          if (!y || !yq || y.dtype !== DataType.FLOAT) continue;
          const a = y.data as Float32Array, c = yq.data as Float32Array;
          for (let i = 0; i < a.length; i++) err += (c[i]! - a[i]!) ** 2, sig += a[i]! ** 2;
        }
      });
    } finally {
      wv.const = saved;
      if (bv && savedBias) bv.const = savedBias;
    }
    return sig > 0 ? err / sig : 0;
  };
}
