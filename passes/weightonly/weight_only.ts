/**
 * Weight-only baselines (METHODS.md §0, the format every LLM deployment uses): round-to-nearest (RTN) and
 * GPTQ (Frantar et al., arXiv 2210.17323, Alg. 1) with group scales along the input dimension, for every
 * MatMul / Gemm with a constant 2-D float weight. Activations stay float.
 *
 * Steps: plan the targets (passes/shiftadd `planShiftAdd`: constant 2-D float weight, float activation,
 * exclusions); GPTQ only: one calibration run collecting `H = XᵀX / rows` per distinct layer input
 * (passes/hessians.ts); per layer quant/weight_only.ts `quantizeBlockwise` (RTN: no hessian; GPTQ: damping,
 * optional act-order, lazy batch updates of 128 features); emit
 * - `nbits` (default): `com.microsoft.MatMulNBits` exactly as onnxruntime's quantizer writes it
 *   (quant/matmul_nbits.ts packs, ./matmul_nbits.ts builds); Gemm's `C` becomes the `bias` input when it is
 *   a constant `[N]` with `beta = 1`, else an Add after; `alpha != 1` a Mul after;
 * - `qdq`: a blocked `DequantizeLinear` (opset 21; 4-bit types for bits <= 4, 8-bit above) replaces the
 *   weight input, the MatMul / Gemm stays (Gemm with `transB = 0`).
 * Each layer declares its initializers for the storage account (passes/storage.ts).
 *
 * Choices, where onnxruntime's and GPTQ's released code differ: MatMulNBits is written for every bits value
 * 2..8 with `block_size · bits` a multiple of 8 (onnxruntime 1.30's CPU kernel runs 2, 4 and 8 bits; a
 * 3-bit file is refused there, so `--format nbits --bits 3` is refused here with that reason); GPTQ groups
 * stay contiguous under act-order (quant/weight_only.ts).
 * @module
 */
import { intAttr } from "../../onnx/attributes.ts";
import type { Graph, Model, Value } from "../../onnx/ir.ts";
import { isOp, MS_DOMAIN, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { blockedDequantizeLinear, type GroupCodes, packMatMulNBits } from "../../quant/matmul_nbits.ts";
import {
  calibrate,
  type CalibrateMode,
  type CalibrationInfo,
  calibrationNote,
  chooseCalibration,
  type LayerInputs,
} from "../sequential.ts";
import { mapLayers } from "../layer_map.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import { planShiftAdd as planMatMulTargets, type ShiftAddTarget, weightKxN } from "../shiftadd/shift_add.ts";
import type { LayerStorage } from "../storage.ts";
import { addBlockedDequantize, addMatMulNBits } from "./matmul_nbits.ts";
import { type BlockwiseFit, type BlockwiseJob, GPTQ_TASK, RTN_TASK } from "./weight_only_task.ts";

/** Bits MatMulNBits runs with in onnxruntime 1.30's CPU kernel. */
export const NBITS_RUNNABLE_BITS: readonly number[] = [2, 4, 8];

/** Options of {@linkcode weightOnlyPass}. */
export interface WeightOnlyPassOptions {
  /** `"rtn"` or `"gptq"` (needs calibration data). @default {"rtn"} */
  method?: "rtn" | "gptq";
  /** Code width. @default {4} */
  bits?: 2 | 3 | 4 | 8;
  /**
   * Input features per scale group (MatMulNBits' `block_size`: a power of two >= 16). 32 as transformers.js
   * `q4` files.
   * @default {32}
   */
  groupSize?: number;
  /** Symmetric grid (no zero points stored). @default {false} */
  symmetric?: boolean;
  /** `"nbits"`: com.microsoft.MatMulNBits; `"qdq"`: blocked DequantizeLinear + MatMul. @default {"nbits"} */
  format?: "nbits" | "qdq";
  /** GPTQ act-order. @default {false} */
  actOrder?: boolean;
  /** GPTQ dampening of `diag H`, as a fraction of its mean. @default {0.01} */
  damp?: number;
  /** Node names (or output names) left in float. @default {[]} */
  exclude?: readonly string[];
  /**
   * GPTQ: Hessians from one run of the whole model, per layer (segment by segment, passes/sequential.ts), or
   * per layer when the weights plus all Hessians exceed 1 GiB.
   * @default {"auto"}
   */
  calibrate?: CalibrateMode;
  /** GPTQ per layer: each segment is fed the outputs of the quantized or the float earlier segments. @default {"quantized"} */
  layerInputs?: LayerInputs;
}

/** One converted layer. */
export interface WeightOnlyLayerReport {
  /** Name of the converted node. */
  node: string;
  /** Input features K. */
  k: number;
  /** Output features N. */
  n: number;
  /** `‖W − Ŵ‖ / ‖W‖`. */
  relWeightError: number;
  /** `‖XW − XŴ‖ / ‖XW‖` on the calibration data (NaN for RTN). */
  relOutputError: number;
  /** Wall time of this layer's quantization. */
  seconds: number;
}

/** What the pass did. */
export interface WeightOnlyStats {
  /** One entry per converted layer. */
  layers: WeightOnlyLayerReport[];
  /** Rows (tokens) in the calibration run; 0 for RTN. */
  calibrationRows: number;
  /** How GPTQ calibrated (absent for RTN). */
  calibration?: CalibrationInfo;
}

/** Check options; returns why they cannot be used, or undefined. */
function whyBadOptions(o: WeightOnlyPassOptions): string | undefined {
  const bits = o.bits ?? 4, gs = o.groupSize ?? 32, format = o.format ?? "nbits";
  if (![2, 3, 4, 8].includes(bits)) return `bits must be 2, 3, 4 or 8, got ${bits}`;
  if (!Number.isInteger(gs) || gs < 16 || (gs & (gs - 1)) !== 0) {
    return `group size must be a power of two >= 16 (MatMulNBits' block_size), got ${gs}`;
  }
  if (format === "nbits" && gs > 256) {
    return `onnxruntime's MatMulNBits kernels take block sizes 16..256, got ${gs}: use --format qdq`;
  }
  if (format === "nbits" && !NBITS_RUNNABLE_BITS.includes(bits)) {
    return `MatMulNBits with ${bits} bits does not run in onnxruntime 1.30 (CPU kernel: ${
      NBITS_RUNNABLE_BITS.join(", ")
    } bits): use --format qdq (stores 4-bit codes)`;
  }
  return undefined;
}

/** Replace a MatMul / Gemm by MatMulNBits (+ Mul / Add for Gemm's alpha, beta, C). */
function emitNBits(
  g: Graph,
  t: ShiftAddTarget,
  q: GroupCodes,
): Value[] {
  const node = t.node, out = node.outputs[0]!;
  const gemm = isOp(node, Op.Gemm);
  const c = gemm ? node.inputs[2] ?? null : null;
  const alpha = gemm ? node.a.float("alpha", 1) : 1, beta = gemm ? node.a.float("beta", 1) : 1;
  const cIsBias = !!c && c.isConst && beta === 1 && alpha === 1 && c.const!.dtype === DataType.FLOAT &&
    c.const!.dims.length === 1 && c.const!.dims[0] === t.n;
  // The activation as it is now (an earlier rewrite may have replaced the planned value).
  const { node: mm, initializers } = addMatMulNBits(g, node.inputs[0]!, packMatMulNBits(q), {
    prefix: t.weight.name,
    name: `${node.name}_Q${q.bits}`,
    output: `${out.name}_Q${q.bits}`,
    ...(cIsBias ? { bias: c! } : {}),
    before: node,
  });
  let y = mm.outputs[0]!;
  const floatType = { elemType: DataType.FLOAT };
  const after = (opType: string, inputs: Value[], name: string) => {
    const n = g.addNode(opType, inputs, [name], { before: node });
    n.outputs[0]!.type = floatType;
    return n.outputs[0]!;
  };
  const scalar = (name: string, v: number) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, [], new Float32Array([v])));
  if (alpha !== 1) y = after(Op.Mul.type, [y, scalar(`${node.name}_alpha`, alpha)], `${out.name}_scaled`);
  if (c && !cIsBias && beta !== 0) {
    const cv = beta === 1 ? c : after(Op.Mul.type, [c, scalar(`${node.name}_beta`, beta)], `${c.name}_beta`);
    y = after(Op.Add.type, [y, cv], `${out.name}_biased`);
  }
  out.replaceAllUsesWith(y);
  g.removeNode(node);
  y.type = out.type ? { ...out.type } : floatType;
  g.rename(y, out.name);
  if (t.weight.uses.length === 0 && !t.weight.isGraphOutput && t.weight.graph === g) {
    g.removeInitializer(t.weight);
  }
  return initializers;
}

/** Feed the MatMul / Gemm a blocked DequantizeLinear of the codes instead of the float weight. */
function emitQdq(g: Graph, t: ShiftAddTarget, q: GroupCodes): Value[] {
  const { value, initializers } = addBlockedDequantize(g, t.k, t.n, blockedDequantizeLinear(q), {
    prefix: t.weight.name,
    before: t.node,
  });
  const wi = t.node.inputs.indexOf(t.weight);
  t.node.setInput(wi, value);
  if (t.transposed) t.node.attrs.set("transB", intAttr("transB", 0));
  if (t.weight.uses.length === 0 && !t.weight.isGraphOutput && t.weight.graph === g) {
    g.removeInitializer(t.weight);
  }
  return initializers;
}

/**
 * The weight-only RTN / GPTQ pass. GPTQ needs `ctx.runtime` (calibration data); RTN runs without.
 *
 * @param options method, bits, groupSize, symmetric, format, actOrder, damp, exclude
 * @returns the pass; after a run, `stats` holds per-layer errors and times
 * @throws {RangeError} (from run) for options the format cannot store or onnxruntime cannot run
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { runPipeline } from "../pass.ts";
 * import { weightOnlyPass } from "./weight_only.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 32] };
 * m.graph.inputs.push(x);
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [32, 4], Float32Array.from({ length: 128 }, (_, i) => Math.sin(i))));
 * const y = m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!;
 * y.type = { elemType: DataType.FLOAT, shape: [1, 4] };
 * m.graph.outputs.push(y);
 * const r = await runPipeline(m, [weightOnlyPass({ bits: 4 })], {}, { verifyEach: true });
 * assertEquals([r.modified, m.graph.nodes.map((n) => n.opType)], [true, ["MatMulNBits"]]);
 * ```
 */
export function weightOnlyPass(options: WeightOnlyPassOptions = {}): Pass & { stats?: WeightOnlyStats } {
  const method = options.method ?? "rtn";
  const pass: Pass & { stats?: WeightOnlyStats } = {
    name: `weight-only-${method}`,
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const bad = whyBadOptions(options);
      if (bad) throw new RangeError(`Cannot run ${method}: ${bad}`);
      const bits = options.bits ?? 4, groupSize = options.groupSize ?? 32, format = options.format ?? "nbits";
      const symmetric = options.symmetric ?? false;
      const { targets, skipped } = planMatMulTargets(model.graph, { exclude: options.exclude ?? [] });
      const notes = skipped.map((s) => `kept in float: ${s}`);
      if (targets.length === 0) {
        return {
          modified: false,
          notes: ["no MatMul/Gemm with a constant float weight", ...notes],
          sites: { converted: 0, skipped },
        };
      }
      if (method === "gptq" && !ctx.runtime) {
        throw new TypeError("GPTQ needs calibration data: the pass context has no runtime");
      }
      if (format === "qdq" && model.opset < 21) {
        throw new RangeError(
          `Cannot emit blocked DequantizeLinear: it needs opset 21, the model has ${model.opset} (run the opset upgrade first)`,
        );
      }
      if (format === "nbits" && !model.opsets.has(MS_DOMAIN)) model.opsets.set(MS_DOMAIN, 1);
      const g = model.graph;
      const layers: WeightOnlyLayerReport[] = [];
      const storage: LayerStorage[] = [];
      // Layers still to come per layer input: the last one reading a hessian may factor in its memory.
      const pending = new Map<Value, number>();
      for (const t of targets) pending.set(t.x, (pending.get(t.x) ?? 0) + 1);
      // The fits run per layer through ctx.pool (worker threads where it has them, passes/layer_map.ts); the
      // graph is rewritten here, in target order.
      const job = (t: ShiftAddTarget, hessian: Float64Array | null, dequantized: boolean) => {
        const last = pending.get(t.x) === 1;
        pending.set(t.x, pending.get(t.x)! - 1);
        return {
          label: t.node.name,
          weights: t.k * t.n,
          bytes: 4 * t.k * t.n + (hessian ? 8 * t.k * t.k : 0),
          cost: t.k * t.k * t.n,
          args: (onWorker: boolean) => {
            // On a worker: its own copies (the initializer may view the whole file; a Hessian may be shared
            // or live in WebAssembly memory), moved there.
            const w = weightKxN(t), weight = onWorker && !t.transposed ? w.slice() : w;
            const h = hessian && onWorker ? hessian.slice() : hessian;
            const args: BlockwiseJob = {
              weight,
              k: t.k,
              n: t.n,
              hessian: h,
              options: {
                bits,
                groupSize,
                symmetric,
                actOrder: options.actOrder ?? false,
                damp: options.damp ?? 0.01,
                ...(last && hessian ? { consumeHessian: true } : {}),
              },
              dequantized,
            };
            if (!onWorker) return { args };
            return {
              args,
              transfer: [weight.buffer as ArrayBuffer, ...(h ? [h.buffer as ArrayBuffer] : [])],
            };
          },
        };
      };
      const emit = (t: ShiftAddTarget, q: BlockwiseFit) => {
        ctx.reporter.progress(pass.name, layers.length, targets.length);
        const name = t.node.name;
        // K below the group size: one group, stored as one zero-padded block of the requested size (the
        // block sizes onnxruntime's kernels take are 16..256, powers of two).
        const codes = { ...q, groupSize };
        const inits = format === "nbits" ? emitNBits(g, t, codes) : emitQdq(g, t, codes);
        ctx.spill?.(inits); // the layer is done: its codes and scales may leave memory
        storage.push({ layer: name, weights: t.k * t.n, initializers: inits.map((v) => v.name) });
        layers.push({
          node: name,
          k: t.k,
          n: t.n,
          relWeightError: q.stats.relWeightError,
          relOutputError: q.stats.relOutputError,
          seconds: q.seconds,
        });
      };
      const task = method === "gptq" ? GPTQ_TASK : RTN_TASK;
      /** Quantize `ts` (their Hessians by layer input) and rewrite them; `Ŵ` per layer when `dequantized`. */
      const convert = async (
        ts: ShiftAddTarget[],
        hessians: Map<Value, Float64Array> | null,
        dequantized: boolean,
      ) => {
        const out = new Map<ShiftAddTarget, Float32Array>();
        await mapLayers(ctx, task, ts.map((t) => job(t, hessians?.get(t.x) ?? null, dequantized)), (q, i) => {
          emit(ts[i]!, q);
          if (dequantized) out.set(ts[i]!, q.dequantized);
        });
        return out;
      };
      let calibration: CalibrationInfo | undefined;
      if (method === "gptq") {
        const chosen = chooseCalibration(model, targets, options.calibrate ?? "auto");
        const run = await calibrate(
          model,
          targets,
          ctx,
          chosen,
          ({ sites, hessians }) => convert(sites, hessians, true),
          options.layerInputs ? { layerInputs: options.layerInputs } : {},
        );
        calibration = run.calibration;
        if (run.hessians) await convert(targets, run.hessians, false);
      } else {
        await convert(targets, null, false);
      }
      const rows = calibration?.rows ?? 0;
      ctx.reporter.progress(pass.name, targets.length, targets.length);
      g.sort();
      pass.stats = { layers, calibrationRows: rows, ...(calibration ? { calibration } : {}) };
      const worst = [...layers].sort((a, b) =>
        (b.relOutputError || b.relWeightError) - (a.relOutputError || a.relWeightError)
      ).slice(0, 3);
      notes.push(
        `${method.toUpperCase()} ${bits}-bit ${
          symmetric ? "symmetric" : "asymmetric"
        }, group ${groupSize}, ` +
          `${format === "nbits" ? "MatMulNBits" : "blocked DequantizeLinear"} on ${layers.length} layers` +
          (calibration ? ` (calibration: ${calibrationNote(calibration)})` : ""),
        `largest ${method === "gptq" ? "output" : "weight"} errors: ${
          worst.map((l) =>
            `${l.node} ${(method === "gptq" ? l.relOutputError : l.relWeightError).toFixed(4)}`
          ).join(", ")
        }`,
      );
      return {
        modified: true,
        notes,
        storage,
        sites: { converted: layers.length, skipped },
        ...(calibration ? { calibration } : {}),
      };
    },
  };
  return pass;
}
