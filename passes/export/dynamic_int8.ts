/**
 * Dynamic int8 quantization in the form transformers.js calls `q8` (`onnx/model_quantized.onnx`) and
 * onnxruntime's `quantize_dynamic` writes: every MatMul with a constant 2-D weight becomes
 *
 * ```
 * x ─ DynamicQuantizeLinear ─┬ x_q (uint8) ─┐
 *                            ├ x_zp ────────┼ MatMulInteger(x_q, W_q int8, x_zp, 0) ─ Cast(float) ─ Mul ─ y
 *                            └ x_scale ─ Mul(x_scale, w_scale[N]) ───────────────────────────────────┘
 * ```
 *
 * Weights: symmetric int8 per output column (narrow range, zero point 0; the same rounding as the QDQ
 * baseline, {@link quantizeWeight}). Activations: DynamicQuantizeLinear computes an asymmetric uint8 range
 * per tensor at run time, so no calibration data is needed. Nothing else changes: bias Adds, LayerNorm,
 * Softmax and activation x activation MatMuls (attention) stay in float and are reported as such.
 *
 * Choices: per-column weight scales (onnxruntime's `per_channel=True`), because MatMulInteger takes a 1-D
 * `b_zero_point` of length N in onnxruntime and onnxruntime-web, and the accuracy is better than one scale per
 * tensor at the same storage (N extra floats). No reduce-range: the weights use the full [-127, 127].
 * @module
 */
import type { Model, Node } from "../../onnx/ir.ts";
import { intAttr } from "../../onnx/attributes.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType } from "../../onnx/tensor.ts";
import type { Pass, PassResult } from "../pass.ts";
import { quantizeWeight } from "../qdq/mod.ts";

/** Options of {@link dynamicInt8Pass}. */
export interface DynamicInt8Options {
  /** Node names left in float. @default [] */
  exclude?: readonly string[];
}

/** What {@link dynamicInt8Pass} did. */
export interface DynamicInt8Stats {
  /** MatMuls converted to DynamicQuantizeLinear + MatMulInteger. */
  converted: string[];
  /** Weighted nodes left in float, each with its reason. */
  skipped: { node: string; reason: string }[];
  /** Bytes of the converted weights in float32 and as stored (int8 + per-column scales). */
  floatWeightBytes: number;
  /** See {@link DynamicInt8Stats.floatWeightBytes}. */
  quantWeightBytes: number;
}

/**
 * Why a node is not converted to MatMulInteger, or undefined when it is.
 *
 * @param node a node
 * @returns the reason, for the pass's notes
 */
export function whyNotDynamicInt8(node: Node): string | undefined {
  if (!isOp(node, Op.MatMul)) {
    return `${node.opType} is not rewritten by q8 (only MatMul with a constant weight, like quantize_dynamic)`;
  }
  const w = node.inputs[1];
  if (!w?.isConst) return "activation x activation MatMul (no constant weight)";
  const t = w.const!;
  if (t.dtype !== DataType.FLOAT) return `weight "${w.name}" is not float32`;
  if (t.dims.length !== 2) return `weight "${w.name}" has rank ${t.dims.length}, MatMulInteger needs 2`;
  return undefined;
}

/**
 * The q8 pass: MatMul with a constant float weight -> DynamicQuantizeLinear + MatMulInteger + Cast + Mul.
 *
 * @param options exclusions
 * @param stats filled with what the pass did (for reports and tests)
 * @returns the pass
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { runPipeline } from "../pass.ts";
 * import { dynamicInt8Pass } from "./dynamic_int8.ts";
 * const m = new Model();
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 4] };
 * m.graph.inputs.push(x);
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [4, 2], new Float32Array(8).fill(0.5)));
 * m.graph.outputs.push(m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!);
 * m.opsets.set("", 17);
 * await runPipeline(m, [dynamicInt8Pass()]);
 * assertEquals(m.graph.nodes.map((n) => n.opType), ["DynamicQuantizeLinear", "Mul", "MatMulInteger", "Cast", "Mul"]);
 * ```
 */
export function dynamicInt8Pass(options: DynamicInt8Options = {}, stats?: DynamicInt8Stats): Pass {
  return {
    name: "dynamic-int8",
    run(model: Model): PassResult {
      const s: DynamicInt8Stats = stats ??
        { converted: [], skipped: [], floatWeightBytes: 0, quantWeightBytes: 0 };
      const exclude = new Set(options.exclude ?? []);
      const g = model.graph;
      for (const node of [...g.nodes]) {
        if (!isOp(node, Op.MatMul) && !isOp(node, Op.Gemm) && !isOp(node, Op.Conv)) continue;
        const why = exclude.has(node.name) ? "excluded by the user" : whyNotDynamicInt8(node);
        if (why) {
          s.skipped.push({ node: node.name, reason: why });
          continue;
        }
        const x = node.inputs[0]!, w = node.inputs[1]!, y = node.outputs[0]!;
        const t = w.const!;
        const { q, scale, zero } = quantizeWeight(t, 1, 8);
        const n = t.dims[1]!;
        const base = node.name || y.name;
        const qv = g.addInitializer(`${w.name}_quantized`, q);
        const sv = g.addInitializer(`${w.name}_scale`, scale);
        const zv = g.addInitializer(`${w.name}_zero_point`, zero);
        const dq = g.addNode(Op.DynamicQuantizeLinear.type, [x], [
          `${x.name}_quantized_${base}`,
          `${x.name}_scale_${base}`,
          `${x.name}_zero_point_${base}`,
        ], { name: g.uniqueNodeName(`${base}_quant`), before: node });
        const [xq, xs, xz] = dq.outputs as [typeof y, typeof y, typeof y];
        const sc = g.addNode(Op.Mul.type, [xs, sv], [`${base}_output_scale`], {
          name: g.uniqueNodeName(`${base}_scale_mul`),
          before: node,
        });
        const mi = g.addNode(Op.MatMulInteger.type, [xq, qv, xz, zv], [`${base}_output_int32`], {
          name: g.uniqueNodeName(`${base}_integer`),
          before: node,
        });
        const cast = g.addNode(Op.Cast.type, [mi.outputs[0]!], [`${base}_output_float`], {
          name: g.uniqueNodeName(`${base}_cast`),
          attrs: [intAttr("to", DataType.FLOAT)],
          before: node,
        });
        const out = g.addNode(Op.Mul.type, [cast.outputs[0]!, sc.outputs[0]!], [`${base}_output`], {
          name: g.uniqueNodeName(`${base}_rescale`),
          before: node,
        });
        const yq = out.outputs[0]!;
        yq.type = y.type;
        // Keep the original output name (graph outputs and downstream nodes read it).
        y.replaceAllUsesWith(yq);
        g.removeNode(node);
        const oldName = y.name;
        g.rename(yq, oldName);
        if (w.uses.length === 0 && !w.isGraphOutput) g.removeInitializer(w);
        s.converted.push(base);
        s.floatWeightBytes += t.dims[0]! * n * 4;
        s.quantWeightBytes += t.dims[0]! * n + n * 4 + n;
      }
      if (model.opset < 11) model.opsets.set("", 11);
      const notes = [
        `${s.converted.length} MatMul -> DynamicQuantizeLinear + MatMulInteger (int8 weights per column)`,
      ];
      const reasons = new Map<string, number>();
      for (const k of s.skipped) reasons.set(k.reason, (reasons.get(k.reason) ?? 0) + 1);
      for (const [r, c] of reasons) notes.push(`${c} left in float: ${r}`);
      return { modified: s.converted.length > 0, notes };
    },
  };
}

/** Empty statistics to pass to {@link dynamicInt8Pass}. */
export function newDynamicInt8Stats(): DynamicInt8Stats {
  return { converted: [], skipped: [], floatWeightBytes: 0, quantWeightBytes: 0 };
}
