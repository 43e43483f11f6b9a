/**
 * Learned rounding of QDQ weights (AdaRound, Nagel et al. 2020; quant/learned_rounding.ts): on the QDQ
 * pass's own weight grid (symmetric, per output channel, narrow N-bit range: `quantizeWeight`), choose for
 * each weight its lower or upper grid level by the layer's output error on calibration inputs instead of
 * the nearest level, and write the chosen levels back as the float weights. The QDQ pass that runs next
 * derives the same per-channel scales from them (the channel maximum is a grid point that rounds to itself)
 * and its nearest rounding reproduces the learned codes exactly, so the rewrite composes with every method
 * that uses that grid (`--method qdq --rounding learned`).
 *
 * The layer statistics (Gram matrices E[x x^T] of each layer's inputs, per group for a grouped Conv) come
 * from the same collector as DenseShift's (passes/denseshift), one calibration run for all layers.
 * @module
 */
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { learnRounding } from "../../quant/learned_rounding.ts";
import { clamp } from "../../quant/round.ts";
import { collectStats } from "../denseshift/dense_shift_collect.ts";
import { plan, rowsToWeight } from "../denseshift/dense_shift_calib.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import { quantizeWeight, weightInput } from "./insert_qdq.ts";

/** Options of {@linkcode learnedRoundingPass}. */
export interface LearnedRoundingPassOptions {
  /** Weight bits of the grid (the QDQ pass's `weightBits`), 2..8. */
  bits: number;
  /** Node names (or output names) left alone. @default [] */
  exclude?: readonly string[];
  /** Conv: im2col positions sampled per calibration sample and group. @default 256 */
  positions?: number;
}

/** What the pass did to one layer. */
export interface LearnedRoundingLayer {
  node: string;
  /** Output error `sum e^T H e` of nearest rounding and of the learned rounding, relative to the signal. */
  nearest: number;
  learned: number;
}

/**
 * The learned-rounding pre-pass for QDQ weights (see the module doc). Needs calibration data.
 *
 * @param options weight bits, exclusions
 * @returns the pass; after a run, `layers` holds the relative output error before and after per layer
 */
export function learnedRoundingPass(
  options: LearnedRoundingPassOptions,
): Pass & { layers?: LearnedRoundingLayer[] } {
  const bits = options.bits;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) {
    throw new RangeError(`Learned rounding needs weight bits in 2..8, got ${bits}`);
  }
  const qmax = 2 ** (bits - 1) - 1;
  const pass: Pass & { layers?: LearnedRoundingLayer[] } = {
    name: "learned-rounding",
    async run(model, ctx: PassContext): Promise<PassResult> {
      if (!ctx.runtime) {
        throw new TypeError("Learned rounding needs calibration data: the context has no runtime");
      }
      const { targets } = plan(model, new Set(options.exclude ?? []));
      const usable = targets.filter((t) => t.kind !== "convT");
      if (usable.length === 0) {
        return { modified: false, notes: ["learned rounding: no Conv/Gemm/MatMul weights"] };
      }
      const stats = await collectStats(
        ctx.runtime,
        model,
        { gramFor: usable, meanFor: [] },
        options.positions ?? 256,
      );
      const layers: LearnedRoundingLayer[] = [];
      let done = 0;
      for (const t of usable) {
        ctx.reporter.progress("learned rounding", done++, usable.length);
        const st = stats.get(t);
        const wi = weightInput(t.node);
        const wv = t.node.inputs[wi?.index ?? 1]!;
        if (!st || !wi || wi.axis < 0 || wv.uses.length !== 1) continue;
        const tensor = wv.const!;
        // The QDQ grid of this weight, in the rows' units (Gemm rows carry alpha).
        const scale = quantizeWeight(tensor, wi.axis, bits).scale.data as Float32Array;
        const alpha = t.kind === "gemm" ? t.node.a.float("alpha", 1) : 1;
        const { nOut, fanIn, groups } = t;
        const perGroup = nOut / groups;
        const codes = new Int32Array(nOut * fanIn);
        let nearest = 0, learned = 0, signal = 0;
        for (let gi = 0; gi < groups; gi++) {
          const from = gi * perGroup * fanIn, to = (gi + 1) * perGroup * fanIn;
          const w = t.rows.subarray(from, to);
          const lo = new Float32Array(w.length), hi = new Float32Array(w.length);
          const loK = new Int32Array(w.length);
          for (let i = 0; i < w.length; i++) {
            const step = alpha * scale[gi * perGroup + Math.floor(i / fanIn)]!;
            if (step === 0) continue;
            const f = clamp(Math.floor(w[i]! / step), -qmax, qmax);
            const c = clamp(f + 1, -qmax, qmax);
            loK[i] = f;
            lo[i] = f * step;
            hi[i] = Math.max(c * step, lo[i]!);
            if (w[i]! <= lo[i]!) hi[i] = lo[i]!; // saturated below (or exactly on a level)
            // The channel maximum defines the scale the QDQ pass derives again from these weights: pin it to
            // the top level so the scale (and so every other code) is reproduced.
            if (Math.abs(w[i]!) >= qmax * step * (1 - 1e-6)) {
              const top = Math.sign(w[i]!) * qmax;
              loK[i] = top, lo[i] = top * step, hi[i] = lo[i]!;
            }
          }
          const H = st.gram[gi]!;
          const r = learnRounding(w, { H, lo, hi });
          nearest += r.nearestLoss, learned += r.loss;
          for (let j = 0; j < perGroup; j++) {
            let s = 0;
            for (let a = 0; a < fanIn; a++) {
              let hw = 0;
              for (let b = 0; b < fanIn; b++) hw += H[a * fanIn + b]! * w[j * fanIn + b]!;
              s += w[j * fanIn + a]! * hw;
            }
            signal += s;
          }
          for (let i = 0; i < w.length; i++) {
            codes[from + i] = r.choice[i] && hi[i]! !== lo[i]! ? loK[i]! + 1 : loK[i]!;
          }
        }
        // Write the chosen levels back in the weight's own layout, exactly code * scale (float32).
        const levels = new Float32Array(codes.length);
        for (let i = 0; i < codes.length; i++) levels[i] = codes[i]! * alpha * scale[Math.floor(i / fanIn)]!;
        const out = rowsToWeight(t, levels);
        for (let j = 0; j < out.length; j++) out[j] = Math.fround(out[j]!);
        wv.const = makeTensor(DataType.FLOAT, tensor.dims, out);
        layers.push({ node: t.node.name, nearest: nearest / signal, learned: learned / signal });
      }
      pass.layers = layers;
      const gain = layers.length
        ? layers.reduce((s, l) => s + 10 * Math.log10(l.nearest / Math.max(l.learned, 1e-300)), 0) /
          layers.length
        : 0;
      return {
        modified: layers.length > 0,
        notes: [
          `learned rounding of ${layers.length} of ${usable.length} layers on the ${bits}-bit per-channel grid: ` +
          `layer output error ${gain.toFixed(2)} dB lower than nearest rounding on average`,
        ],
      };
    },
  };
  return pass;
}
