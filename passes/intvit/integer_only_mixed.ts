/**
 * Integer-only region + QDQ elsewhere (issue 6: "the transformer blocks of PP-OCRv4 rec converted to
 * integer-only with the rest in QDQ"): the integer-only pass converts a region (by default the transformer
 * blocks, passes/intvit/integer_only_region.ts) between a QuantizeLinear and a DequantizeLinear, then the standard
 * QDQ pass (passes/qdq/insert_qdq.ts, W8A8 by default) quantizes the remaining MatMul / Gemm / Conv with the
 * region's nodes excluded. The QDQ ranges are calibrated on the model with the integer region in place, so
 * the layers after it see the integer region's outputs.
 * @module
 */
import type { Model } from "../../onnx/ir.ts";
import { type QdqOptions, qdqPass, type QdqStats } from "../qdq/insert_qdq.ts";
import { convertIntegerOnly, type IntegerOnlyOptions, type IntegerOnlyReport } from "./integer_only.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/** Options of {@link integerRegionQdqPass}. */
export interface IntegerRegionQdqOptions extends IntegerOnlyOptions {
  /** QDQ settings of the rest of the model (its `exclude` is extended by the region's nodes). @default W8A8 */
  qdq?: QdqOptions;
}

/** What {@link convertIntegerRegionQdq} did. */
export interface IntegerRegionQdqReport {
  /** The integer-only conversion of the region. */
  integer: IntegerOnlyReport;
  /** The QDQ pass over the rest (undefined when nothing was left to quantize). */
  qdq?: QdqStats;
  /** Notes of the QDQ pass. */
  qdqNotes: string[];
}

/**
 * Convert a region to integers and quantize the rest with QDQ, in place.
 *
 * @param model the float model (opset >= 13, weights as initializers), changed in place
 * @param ctx pass context with a calibration runtime
 * @param options region (default "transformer-blocks"), integer-only choices and QDQ settings
 * @returns both reports
 * @throws {TypeError} when the context has no runtime
 * @throws {RangeError} when no region is found
 */
export async function convertIntegerRegionQdq(
  model: Model,
  ctx: PassContext,
  options: IntegerRegionQdqOptions = {},
): Promise<IntegerRegionQdqReport> {
  const { qdq: qdqOptions = {}, ...intOptions } = options;
  const integer = await convertIntegerOnly(model, ctx, {
    ...intOptions,
    region: intOptions.region ?? "transformer-blocks",
  });
  const exclude = [...(qdqOptions.exclude ?? []), ...(integer.region?.nodes ?? [])];
  const pass = qdqPass({ ...qdqOptions, exclude });
  const result = await pass.run(model, ctx);
  return { integer, ...(pass.stats ? { qdq: pass.stats } : {}), qdqNotes: result.notes ?? [] };
}

/**
 * The mixed pass (see {@link convertIntegerRegionQdq}); its last report is kept on `report`.
 *
 * @param options region, integer-only choices, QDQ settings
 * @returns the pass
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { integerRegionQdqPass } from "./integer_only_mixed.ts";
 * assertEquals(integerRegionQdqPass().name, "integer-region-qdq");
 * ```
 */
export function integerRegionQdqPass(
  options: IntegerRegionQdqOptions = {},
): Pass & { report?: IntegerRegionQdqReport } {
  const pass: Pass & { report?: IntegerRegionQdqReport } = {
    name: "integer-region-qdq",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const report = await convertIntegerRegionQdq(model, ctx, options);
      pass.report = report;
      const r = report.integer.region!;
      return {
        modified: true,
        notes: [
          `integer region [${r.from.join(", ")}] -> [${r.to.join(", ")}]: ${r.floatNodes} float nodes -> ` +
          `${report.integer.ops.length} integer ops; float nodes left inside: ${
            report.integer.floatNodes.length ? report.integer.floatNodes.join(", ") : "none"
          }`,
          ...report.integer.notes,
          ...report.qdqNotes,
        ],
      };
    },
  };
  return pass;
}
