/**
 * `decodeForLoad(model, out)`: the decode-at-load path of the packed shiftkit ops that onnxruntime runs
 * through function bodies, one decoder per pass family ({@linkcode DECODERS}: ShiftAdd's `ShiftAddMatMul`,
 * passes/shiftadd/decode.ts; DenseShift's `ShiftMatMul` / `ShiftConv`, passes/denseshift/decode.ts), for
 * runtimes that cannot fold their decode functions at session creation (onnxruntime on a ShiftAdd model of
 * hundreds of millions of weights: the fold holds about 80 bytes per weight) or that should not spend the
 * decode at every session creation. shiftkit decodes the packed weights layer by
 * layer with its own decoder, each float weight spilled to a scratch file as soon as it is made
 * (onnx/spill.ts), and writes a float model with external data (`out` + `out.data`, written atomically);
 * onnxruntime then loads that file with every optimization on and runs at float speed. Memory stays one
 * layer's packed and float weight plus the model's other tensors.
 * @module
 */
import { saveModel } from "../onnx/io.ts";
import type { Model } from "../onnx/ir.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import { TensorSpill } from "../onnx/spill.ts";
import { dirname } from "../onnx/_fs.ts";
import { runPipeline } from "../passes/pass.ts";
import type { DecodePass, DecodeStats } from "../passes/_decode.ts";
import { decodeShiftAddPass, type DecodeShiftAddStats } from "../passes/shiftadd/decode.ts";
import { decodeDenseShiftPass } from "../passes/denseshift/decode.ts";

export type { DecodePass, DecodeShiftAddStats, DecodeStats };

/** The decoders {@linkcode decodeForLoad} runs, in order: one per pass family that emits packed ops. */
export const DECODERS: readonly (() => DecodePass)[] = [decodeShiftAddPass, decodeDenseShiftPass];

/** Options of {@linkcode decodeForLoad}. */
export interface DecodeForLoadOptions {
  /** Progress. @default silent */
  reporter?: Reporter;
  /** Folder of the scratch file the float weights wait in until saved. @default `out`'s folder */
  spillDir?: string;
}

/** What {@linkcode decodeForLoad} did. */
export interface DecodeForLoadReport extends DecodeStats {
  /** Packed nodes left packed (their weights are not constants), with why; empty when all were decoded. */
  skipped: string[];
  /** The files written, model file last. */
  written: string[];
  /** Wall time, seconds. */
  seconds: number;
}

/** The model holds no packed op to decode. */
export class NothingToDecodeError extends TypeError {
  /** @param detail why */
  constructor(detail: string) {
    super(detail);
    this.name = "NothingToDecodeError";
  }
}

/**
 * Decode a model's packed weights into float MatMul / Conv nodes (every decoder of {@linkcode DECODERS}) and
 * save it with external data.
 *
 * @param model the model (changed in place: its ShiftAddMatMul / ShiftMatMul nodes become MatMul, its
 *   ShiftConv nodes Conv)
 * @param out the `.onnx` file to write (its weights go to `out.data`)
 * @param options reporter, spill folder
 * @returns counts, sizes and the files written
 * @throws {NothingToDecodeError} when the model has no packed op with constant packed weights
 */
export async function decodeForLoad(
  model: Model,
  out: string,
  options: DecodeForLoadOptions = {},
): Promise<DecodeForLoadReport> {
  const t0 = performance.now();
  const spill = new TensorSpill({ dir: options.spillDir ?? (dirname(out) || ".") });
  try {
    const passes = DECODERS.map((d) => d());
    const res = await runPipeline(model, passes, {
      reporter: options.reporter ?? silentReporter,
      spill: (vs) => vs.forEach((v) => spill.spill(v)),
    });
    const stats: DecodeStats = { layers: 0, byOp: {}, floatBytes: 0, packedBytes: 0 };
    for (const p of passes) {
      const s = p.stats!;
      stats.layers += s.layers;
      stats.floatBytes += s.floatBytes;
      stats.packedBytes += s.packedBytes;
      for (const [op, n] of Object.entries(s.byOp)) stats.byOp[op] = (stats.byOp[op] ?? 0) + n;
    }
    const skipped = res.steps.flatMap((st) => st.sites?.skipped ?? []);
    if (stats.layers === 0) {
      const ops = passes.flatMap((p) => p.ops.map((o) => `shiftkit.${o}`)).join(", ");
      throw new NothingToDecodeError(
        `Cannot decode: the model has no packed op with constant weights (${ops})${
          skipped.length ? `; left packed: ${skipped.join("; ")}` : ""
        }`,
      );
    }
    const written = await saveModel(model, out, { externalData: true });
    return { ...stats, skipped, written, seconds: (performance.now() - t0) / 1000 };
  } finally {
    spill.close();
  }
}
