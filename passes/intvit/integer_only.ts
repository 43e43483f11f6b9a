/**
 * Integer-only conversion of a vision transformer (I-ViT, arXiv 2207.01405; I-Segmenter, arXiv 2509.10334;
 * METHODS.md section 4): after this pass everything between the QuantizeLinear of the model input and the
 * DequantizeLinear of the model output is integer arithmetic, function bodies included:
 * - Conv / MatMul with constant weights -> ConvInteger / MatMulInteger (int8 x int8 -> int32, weights per
 *   output channel), int32 bias at s_w * s_x, shiftkit.Requantize (dyadic, per channel) to int8, or to int16
 *   where the result feeds a residual add;
 * - activation x activation MatMul (QK^T, attention x V) -> MatMulInteger; a positive constant factor
 *   (1/sqrt(d)) is folded into the scale; Softmax -> Shiftmax on the int32 scores (output int8, 2^-7);
 * - GELU exported as `x * 0.5 * (1 + Erf(x / sqrt2))` -> ShiftGelu or LambdaShiftGelu;
 * - LayerNormalization -> ILayerNorm; residual Add -> IntAdd with an int16 residual stream; Add of a
 *   constant (position embeddings) in int32 then saturated to int16;
 * - Reshape/Transpose/Concat/Slice/Gather/Split/Expand pass through on integers;
 * - Segmenter mask decoder: the L2 normalisation is removed (default; `keepL2norm` keeps it in float between
 *   a DequantizeLinear and a QuantizeLinear) and the bilinear Resize becomes nearest on integers (default;
 *   `nearestResize: false` keeps it bilinear in float after the output dequantization).
 * Calibration: per-tensor symmetric ranges (min-max or percentile) from one float run; `samples` limits it.
 *
 * With `region`, only a part of the graph becomes integer (passes/intvit/integer_only_region.ts): QuantizeLinear
 * at the region's entry values, DequantizeLinear at its exits, the rest untouched (float, or QDQ after
 * passes/intvit/integer_only_mixed.ts). Decomposed LayerNorms and Swish (`x * Sigmoid(x)`, as ShiftSigmoid x
 * integer Mul + Requantize) are recognised in either mode.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { verify } from "../../onnx/verify.ts";
import { eliminateDeadCode } from "../normalize/dce.ts";
import { calibrateValues } from "./integer_only_calib.ts";
import { Converter } from "./integer_only_convert.ts";
import type { OpRecord } from "./integer_only_emit.ts";
import { type IntegerRegion, regionNodes, type RegionSpec, resolveRegion } from "./integer_only_region.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import type { ReportSection } from "../report/report.ts";
import { decodeModel, encodeModel } from "../../onnx/codec.ts";
import { type LayerSqnr, layerSqnr } from "./integer_only_sqnr.ts";

export type { OpRecord } from "./integer_only_emit.ts";
export type { IntegerRegion, RegionSpec } from "./integer_only_region.ts";
export type { LayerSqnr } from "./integer_only_sqnr.ts";

/** Options of the integer-only conversion. */
export interface IntegerOnlyOptions {
  /** Range estimator of every 8-bit activation (wider twins use min-max). @default "minmax" */
  calibrator?: "minmax" | "percentile" | "mse";
  /** Percentile of the percentile calibrator. @default 99.99 */
  percentile?: number;
  /** Calibration samples used (whole batches; see calibrateValues). @default all */
  samples?: number;
  /** GELU replacement: I-ViT's ShiftGelu or shiftkit's lambda-ShiftGelu (docs/ops/integer.md). @default "lambda" */
  gelu?: "shift" | "lambda";
  /** Keep the mask decoder's L2 normalisation (in float) instead of converting it. @default false */
  keepL2norm?: boolean;
  /**
   * The L2 normalisation in integers: `integer` rebuilds it exactly from ILayerNorm
   * (passes/intvit/integer_only_l2norm.ts), `remove` drops it as I-Segmenter does. @default "integer"
   */
  l2Norm?: "integer" | "remove";
  /** Replace bilinear Resize by nearest on integers. @default true */
  nearestResize?: boolean;
  /**
   * Shiftmax output width: 8 (int8, scale 2^-7, I-ViT) or 16 (int16, scale 2^-15; attention x V then runs as
   * two int8 MatMulIntegers on the high and low bytes). @default 16
   */
  softmaxBits?: 8 | 16;
  /**
   * Convert only a region: "transformer-blocks" (found automatically: from the input of the first block's
   * LayerNorm to the last residual Add) or `{ from, to }` value names. @default the whole graph
   */
  region?: RegionSpec;
  /**
   * Calibration batches on which the per-layer SQNR of the result against the float model is measured
   * (`report.layers`); 0 skips it. @default 4
   */
  sqnrBatches?: number;
}

/** What the conversion did. */
export interface IntegerOnlyReport {
  /** Every integer op emitted, with its output scale and width. */
  ops: OpRecord[];
  /** Nodes that stayed float (`name: op`); empty for a fully integer model. */
  floatNodes: string[];
  /** Rewrites worth knowing (L2 removal, Resize, re-quantized leftovers). */
  notes: string[];
  /** Nodes of the converted main graph. */
  nodes: number;
  /** Per-layer SQNR of the integer twins against the float values, on calibration data (graph order). */
  layers: LayerSqnr[];
  /** The converted region (region mode only). */
  region?: IntegerRegion & {
    /** Nodes of the float region that were replaced. */
    floatNodes: number;
    /** Names of the integer nodes emitted for it (and of float leftovers inside it). */
    nodes: string[];
  };
}

/**
 * Convert a float model in place (calibrating through `ctx.runtime`).
 *
 * @param model the float model (opset >= 13), changed in place
 * @param ctx pass context with a calibration runtime
 * @param options calibration and I-Segmenter choices
 * @returns the report
 * @throws {TypeError} when the context has no runtime
 * @throws {Error} when the result does not verify
 */
export async function convertIntegerOnly(
  model: Model,
  ctx: PassContext,
  options: IntegerOnlyOptions = {},
): Promise<IntegerOnlyReport> {
  const calib = {
    calibrator: options.calibrator ?? "minmax",
    percentile: options.percentile ?? 99.99,
    ...(options.samples !== undefined ? { samples: options.samples } : {}),
  };
  const g = model.graph;
  const region = options.region ? resolveRegion(g, options.region) : undefined;
  const inside = region ? new Set(regionNodes(g, region)) : undefined;
  const values = new Set<string>();
  for (const n of inside ?? []) for (const v of [...n.inputs, ...n.outputs]) if (v) values.add(v.name);
  const before = new Set(g.nodes);
  const sqnrBatches = options.sqnrBatches ?? 4;
  const floatCopy = sqnrBatches > 0 ? decodeModel(encodeModel(model)) : undefined;
  const stats = await calibrateValues(model, ctx, { ...calib, ...(inside ? { values: [...values] } : {}) });
  const conv = new Converter(model, stats, {
    gelu: options.gelu ?? "lambda",
    keepL2norm: options.keepL2norm ?? false,
    l2Norm: options.l2Norm ?? "integer",
    nearestResize: options.nearestResize ?? true,
    softmaxBits: options.softmaxBits ?? 16,
    ...(region && inside
      ? { region: { nodes: inside, entries: new Set(region.from), exits: region.to } }
      : {}),
  });
  conv.run();
  eliminateDeadCode(model);
  model.graph.sort();
  model.opsets.set(SHIFTKIT_DOMAIN, 1);
  const problems = verify(model);
  if (problems.length) {
    throw new Error(`Integer-only model does not verify:\n  ${problems.slice(0, 10).join("\n  ")}`);
  }
  ctx.reporter.info(
    `integer-only: ${conv.emit.log.length} integer ops, ${conv.floatNodes.length} float nodes`,
  );
  const layers = floatCopy
    ? await layerSqnr(floatCopy, model, conv.twins(), ctx, { batches: sqnrBatches })
    : [];
  const report: IntegerOnlyReport = {
    ops: conv.emit.log,
    floatNodes: conv.floatNodes,
    notes: conv.notes,
    nodes: model.graph.nodes.length,
    layers,
  };
  if (layers.length) {
    const worst = [...layers].sort((a, b) => a.sqnrDb - b.sqnrDb).slice(0, 3);
    report.notes.push(
      `per-layer SQNR on ${sqnrBatches} calibration batches: worst ${
        worst.map((l) => `"${l.value}" (${l.op}) ${l.sqnrDb.toFixed(1)} dB`).join(", ")
      }`,
    );
  }
  if (region && inside) {
    const leftover = new Set(conv.floatNodes.map((s) => s.slice(0, s.lastIndexOf(": "))));
    const emitted = g.nodes.filter((n) => !before.has(n) || leftover.has(n.name)).map((n) => n.name);
    report.region = { ...region, floatNodes: inside.size, nodes: emitted };
  }
  return report;
}

/**
 * The integer-only pass (see {@link convertIntegerOnly}); its last report is kept on `report`.
 *
 * @param options calibration and I-Segmenter choices
 * @returns the pass
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { integerOnlyPass } from "./integer_only.ts";
 * assertEquals(integerOnlyPass({ gelu: "shift" }).name, "integer-only");
 * ```
 */
export function integerOnlyPass(options: IntegerOnlyOptions = {}): Pass & { report?: IntegerOnlyReport } {
  const pass: Pass & { report?: IntegerOnlyReport } = {
    name: "integer-only",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const report = await convertIntegerOnly(model, ctx, options);
      pass.report = report;
      const layers = report.layers.filter((l) => Number.isFinite(l.sqnrDb));
      const worst = [...layers].sort((a, b) => a.sqnrDb - b.sqnrDb).slice(0, 10);
      const sections: ReportSection[] = layers.length
        ? [{
          title: "Integer-only: per-layer SQNR against float (calibration data)",
          summary: [
            ["integer ops", report.ops.length],
            ["float nodes inside", report.floatNodes.length],
            ["last layer", `${layers[layers.length - 1]!.sqnrDb.toFixed(1)} dB`],
          ],
          notes: report.notes,
          bars: [{
            caption: "SQNR of each integer twin against its float value, in graph order",
            labels: layers.map((l) => l.value),
            series: [{ name: "SQNR", values: layers.map((l) => l.sqnrDb) }],
            unit: " dB",
          }],
          tables: [{
            caption: "Worst layers",
            columns: ["value", "op", "SQNR dB"],
            rows: worst.map((l) => [l.value, l.op, l.sqnrDb.toFixed(1)]),
          }],
        }]
        : [];
      return {
        modified: true,
        sections,
        notes: [
          `${report.ops.length} integer ops; float nodes: ${
            report.floatNodes.length ? report.floatNodes.join(", ") : "none"
          }`,
          ...report.notes,
        ],
      };
    },
  };
  return pass;
}
