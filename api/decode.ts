/**
 * `decodeForLoad(model, out)`: the decode-at-load path of a ShiftAdd file (passes/shiftadd/decode.ts), for
 * runtimes that cannot fold its decode functions at session creation (onnxruntime on a model of hundreds of
 * millions of weights: the fold holds about 80 bytes per weight). shiftkit decodes the packed weights layer by
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
import { decodeShiftAddPass, type DecodeShiftAddStats } from "../passes/shiftadd/decode.ts";

export type { DecodeShiftAddStats };

/** Options of {@linkcode decodeForLoad}. */
export interface DecodeForLoadOptions {
  /** Progress. @default silent */
  reporter?: Reporter;
  /** Folder of the scratch file the float weights wait in until saved. @default `out`'s folder */
  spillDir?: string;
}

/** What {@linkcode decodeForLoad} did. */
export interface DecodeForLoadReport extends DecodeShiftAddStats {
  /** The files written, model file last. */
  written: string[];
  /** Wall time, seconds. */
  seconds: number;
}

/** The model holds no ShiftAddMatMul to decode. */
export class NothingToDecodeError extends TypeError {
  /** @param detail why */
  constructor(detail: string) {
    super(detail);
    this.name = "NothingToDecodeError";
  }
}

/**
 * Decode a ShiftAdd model's packed weights into float MatMuls and save it with external data.
 *
 * @param model the model (changed in place: its ShiftAddMatMul nodes become MatMul)
 * @param out the `.onnx` file to write (its weights go to `out.data`)
 * @param options reporter, spill folder
 * @returns counts, sizes and the files written
 * @throws {NothingToDecodeError} when the model has no ShiftAddMatMul with constant packed weights
 */
export async function decodeForLoad(
  model: Model,
  out: string,
  options: DecodeForLoadOptions = {},
): Promise<DecodeForLoadReport> {
  const t0 = performance.now();
  const spill = new TensorSpill({ dir: options.spillDir ?? (dirname(out) || ".") });
  try {
    const pass = decodeShiftAddPass();
    await runPipeline(model, [pass], {
      reporter: options.reporter ?? silentReporter,
      spill: (vs) => vs.forEach((v) => spill.spill(v)),
    });
    const stats = pass.stats!;
    if (stats.layers === 0) {
      throw new NothingToDecodeError(
        "Cannot decode: the model has no shiftkit.ShiftAddMatMul with constant packed weights",
      );
    }
    const written = await saveModel(model, out, { externalData: true });
    return { ...stats, written, seconds: (performance.now() - t0) / 1000 };
  } finally {
    spill.close();
  }
}
