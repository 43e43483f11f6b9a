/**
 * Block-output reconstruction for the DenseShift pass (BRECQ, Li et al. 2021, sec. 3.2-3.3: reconstruct the
 * output of a residual block rather than of each layer; here restricted to the block's last weighted layer).
 *
 * A residual unit ends `y = conv_last(x) + skip`. Once the layers before it are converted, its float output
 * error on calibration data is exactly `E || W_hat x_q + b_hat + skip_q - (y_f) ||^2`, with `x_q`, `skip_q`
 * what the partly converted model computes and `y_f` the float model's block output: a least-squares problem
 * in the last layer's weights, so that layer can absorb the error the block has accumulated (the earlier
 * layers of the block, the skip path, the prefix). Its minimiser over real weights, ridge-regularised
 * towards the float weights W,
 *
 *   w*_j = (Cov(x_q) + lambda I)^{-1} (Cov(x_q, t_j) + lambda w_j),  t = y_f - skip_q,
 *   b*_j = E[t_j] - w*_j . E[x_q],
 *
 * turns the block objective into the per-layer form `(w - w*)^T Cov(x_q) (w - w*)` + const, which the
 * pass's learned rounding already minimises exactly (quant/learned_rounding.ts): the layer is rounded
 * towards w* on the statistics of its quantized inputs instead of towards W on the float ones.
 *
 * Choices, where BRECQ differs: BRECQ optimises every layer of the block jointly through the block's
 * non-linearities with AdaRound's relaxation and Adam; here only the last layer's codes see the block
 * objective (the others keep their layer-wise learned rounding), which makes the block problem quadratic
 * and exact, at the cost of one calibration run of the partly converted model per block. Covered: block
 * ends that are 1x1, stride-1, ungrouped Convs (MobileNet-style inverted residuals, bottleneck ends), whose
 * output reaches the residual Add directly or through Clip/Identity; other block ends keep layer-wise
 * rounding (the pass says how many were reconstructed).
 *
 * `allPointwise` (the pass's `pointwiseReconstruction`) applies the same to every other 1x1 layer with its
 * own float output as the target (no skip term): AdaRound's asymmetric reconstruction, sequential through
 * the converted prefix.
 * @module
 */
import type { Model, Value } from "../../onnx/ir.ts";
import type { Tensor } from "../../onnx/tensor.ts";
import { choleskyInverse } from "../../quant/linalg.ts";
import type { Target } from "./dense_shift_calib.ts";
import type { LayerStats } from "./dense_shift_layer.ts";
import type { PassRuntime } from "../pass.ts";

/** The last weighted layer of a residual unit, and the values its reconstruction reads. */
export interface BlockEnd {
  /** The layer. */
  target: Target;
  /** The residual Add's input on the layer's side (the branch output). */
  branch: string;
  /** The Add's other input (the skip path); undefined for a layer rebuilt on its own float output. */
  skip?: string;
  /** The layer's input. */
  input: string;
}

const PASS_THROUGH = new Set(["Clip", "Identity"]);

/**
 * The targets that end a residual unit and that this module can reconstruct (see the module doc).
 * @param targets the pass's layers
 * @param options `allPointwise`: also every other 1x1 layer, rebuilt on its own float output
 * @returns the block ends by target
 */
export function findBlockEnds(
  targets: readonly Target[],
  options: { allPointwise?: boolean } = {},
): Map<Target, BlockEnd> {
  const ends = new Map<Target, BlockEnd>();
  for (const t of targets) {
    if (t.kind !== "conv" || t.groups !== 1 || !t.conv) continue;
    const g = t.conv;
    if (g.kernel.some((k) => k !== 1) || g.strides.some((s) => s !== 1) || g.pads.some((p) => p !== 0)) {
      continue;
    }
    if (options.allPointwise) {
      // every other 1x1 layer: rebuilt on its own float output from its quantized inputs
      ends.set(t, { target: t, branch: t.node.outputs[0]!.name, input: t.node.inputs[0]!.name });
    }
    let v: Value = t.node.outputs[0]!;
    for (;;) {
      const users = v.consumers();
      if (users.length !== 1 || v.isGraphOutput) break;
      const u = users[0]!;
      if (PASS_THROUGH.has(u.opType) && u.inputs[0] === v) {
        v = u.outputs[0]!;
        continue;
      }
      if (u.opType === "Add" && u.inputs.length === 2 && u.inputs.every((x) => x && !x.isConst)) {
        const other = u.inputs[0] === v ? u.inputs[1]! : u.inputs[0]!;
        if (other !== v) {
          ends.set(t, { target: t, branch: v.name, skip: other.name, input: t.node.inputs[0]!.name });
        }
      }
      break;
    }
  }
  return ends;
}

/** Positions sampled per sample (a deterministic stride over H x W). */
const POSITIONS = 1024;

/**
 * Collect the block statistics of `end` and return the layer re-targeted at the block output: rows `w*`,
 * bias `b*` and the Gram / mean of its quantized inputs, for the pass's `quantizeLayer`.
 * @param runtime the pass's calibration runtime
 * @param floatModel the model before conversion
 * @param model the partly converted model (every layer before `end` converted, sorted)
 * @param end the block end
 * @param ridge lambda relative to the mean input variance
 * @returns the re-targeted layer, or undefined when the shapes do not line up (then layer-wise rounding)
 */
export async function blockTarget(
  runtime: PassRuntime,
  floatModel: Model,
  model: Model,
  end: BlockEnd,
  ridge: number,
): Promise<{ target: Target; stats: LayerStats } | undefined> {
  const t = end.target, K = t.fanIn, nOut = t.nOut;
  const floats = new Map<number, { y: Tensor; s: Tensor }>();
  const skip = end.skip;
  await runtime.collect(floatModel, skip ? [end.branch, skip] : [end.branch], (v, b) => {
    const y = v[end.branch], s = skip ? v[skip] : y;
    if (y && s) floats.set(b, { y, s });
  });
  const G = new Float64Array(K * K), C = new Float64Array(K * nOut);
  const mx = new Float64Array(K), mt = new Float64Array(nOut);
  let n = 0, mismatch = false;
  const xr = new Float64Array(K), tr = new Float64Array(nOut);
  await runtime.collect(model, skip ? [end.input, skip] : [end.input], (v, b) => {
    const x = v[end.input], f = floats.get(b), sq = skip ? v[skip] : f?.y;
    if (!x || !sq || !f) return;
    const [N, Cx, H = 1, W = 1] = x.dims as number[];
    const hw = H * W;
    if (
      Cx !== K || f.y.dims[1] !== nOut || f.y.data.length !== N! * nOut * hw ||
      sq.data.length !== f.y.data.length
    ) {
      mismatch = true;
      return;
    }
    const xd = x.data as Float32Array, yd = f.y.data as Float32Array;
    const sf = f.s.data as Float32Array, sd = sq.data as Float32Array;
    const step = Math.max(1, Math.floor(hw / POSITIONS));
    for (let s = 0; s < N!; s++) {
      for (let p = 0; p < hw; p += step) {
        for (let k = 0; k < K; k++) xr[k] = xd[(s * K + k) * hw + p]!;
        for (let j = 0; j < nOut; j++) {
          const i = (s * nOut + j) * hw + p;
          tr[j] = skip ? yd[i]! + sf[i]! - sd[i]! : yd[i]!; // t = (branch_f + skip_f) - skip_q
        }
        for (let a = 0; a < K; a++) {
          const xa = xr[a]!;
          if (xa === 0) continue;
          mx[a]! += xa;
          const ga = a * K, ca = a * nOut;
          for (let c = 0; c < K; c++) G[ga + c]! += xa * xr[c]!;
          for (let j = 0; j < nOut; j++) C[ca + j]! += xa * tr[j]!;
        }
        for (let j = 0; j < nOut; j++) mt[j]! += tr[j]!;
        n++;
      }
    }
  });
  if (mismatch || n === 0) return undefined;
  for (let i = 0; i < G.length; i++) G[i]! /= n;
  for (let i = 0; i < C.length; i++) C[i]! /= n;
  for (let k = 0; k < K; k++) mx[k]! /= n;
  for (let j = 0; j < nOut; j++) mt[j]! /= n;
  // centred second moments, ridge, solve
  const A = new Float64Array(K * K);
  let diag = 0;
  for (let a = 0; a < K; a++) {
    for (let c = 0; c < K; c++) A[a * K + c] = G[a * K + c]! - mx[a]! * mx[c]!;
    diag += A[a * K + a]!;
  }
  const lambda = Math.max(ridge * diag / K, 1e-12);
  for (let a = 0; a < K; a++) A[a * K + a]! += lambda;
  const Ainv = choleskyInverse(A);
  const rows = new Float32Array(nOut * K), bias = new Float32Array(nOut);
  const rhs = new Float64Array(K);
  for (let j = 0; j < nOut; j++) {
    const w = t.rows.subarray(j * K, (j + 1) * K);
    for (let a = 0; a < K; a++) rhs[a] = C[a * nOut + j]! - mx[a]! * mt[j]! + lambda * w[a]!;
    let b = mt[j]!;
    for (let a = 0; a < K; a++) {
      let s = 0;
      for (let c = 0; c < K; c++) s += Ainv[a * K + c]! * rhs[c]!;
      rows[j * K + a] = s;
      b -= s * mx[a]!;
    }
    bias[j] = b;
  }
  return { target: { ...t, rows, bias }, stats: { gram: [G], mean: [mx] } };
}
