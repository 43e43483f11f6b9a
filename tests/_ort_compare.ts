/**
 * Test helpers (private): random inputs for the real models and onnxruntime-node comparisons of a rewritten
 * model against the original. Used by the pass tests and by onnx/infer_test.ts, onnx/patterns_test.ts.
 * @module
 */
import { gunzipSync } from "fflate";
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../onnx/tensor.ts";
import { OrtRuntime } from "../runtime/ort.ts";
import { type ModelName, repoPath } from "./_models.ts";
import { mulberry32 } from "../quant/_rng.ts";

/** Input shapes (and int64 value range) used to run each real model. */
export const MODEL_INPUTS: Record<ModelName, Record<string, { dims: number[]; max?: number }>> = {
  "byte-lm-opt": { input_ids: { dims: [1, 16], max: 255 } },
  "byte-lm-opt-outliers": { input_ids: { dims: [1, 16], max: 255 } },
  "byte-lm-llama": { input_ids: { dims: [1, 16], max: 255 } },
  "byte-lm-llama-outliers": { input_ids: { dims: [1, 16], max: 255 } },
  "segmenter-tiny": { pixel_values: { dims: [1, 3, 64, 64] } },
  "segmenter-base": { pixel_values: { dims: [1, 3, 64, 64] } },
  "ppocr-rec": { x: { dims: [1, 3, 48, 160] } },
  "ppocr-det": { x: { dims: [1, 3, 96, 96] } },
  "ppocr-cls": { x: { dims: [1, 3, 48, 192] } },
  "oww-embedding": { input_1: { dims: [1, 76, 32, 1] } },
  "silero-vad": {
    input: { dims: [1, 512] },
    sr: { dims: [] },
    h: { dims: [2, 1, 64] },
    c: { dims: [2, 1, 64] },
  },
};

/** Random feeds for a model's inputs: floats in [-1, 1), int64 in [0, max]; silero's `sr` is 16000. */
export function randomFeeds(
  model: Model,
  shapes: Record<string, { dims: number[]; max?: number }>,
  seed = 1,
): Record<string, Tensor> {
  const r = mulberry32(seed);
  const feeds: Record<string, Tensor> = {};
  for (const v of model.graph.inputs) {
    if (v.isConst) continue;
    const s = shapes[v.name];
    if (!s) throw new Error(`no test shape for input "${v.name}"`);
    const n = sizeOf(s.dims);
    if (v.type?.elemType === DataType.INT64) {
      const d = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        d[i] = v.name === "sr" ? 16000n : BigInt(Math.floor(r() * ((s.max ?? 10) + 1)));
      }
      feeds[v.name] = makeTensor(DataType.INT64, s.dims, d);
    } else {
      const d = new Float32Array(n);
      for (let i = 0; i < n; i++) d[i] = r() * 2 - 1;
      feeds[v.name] = makeTensor(DataType.FLOAT, s.dims, d);
    }
  }
  return feeds;
}

/** Run a model (IR or bytes) in onnxruntime-node with graph optimizations off (an independent oracle). */
export async function runOrt(
  model: Model | Uint8Array,
  feeds: Record<string, Tensor>,
): Promise<Record<string, Tensor>> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const rt = await OrtRuntime.create(bytes, { graphOptimizationLevel: "disabled", intraOpNumThreads: 2 });
  try {
    return await rt.run(feeds);
  } finally {
    await rt.release();
  }
}

/** Relative L2 error ||a - b|| / max(||b||, tiny); integers compare through Number. */
export function relL2(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = Number(a.data[i]), y = Number(b.data[i]);
    num += (x - y) ** 2;
    den += y * y;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** Per-output relative L2 of `got` against `want` (same output names required). */
export function compareOutputs(
  got: Record<string, Tensor>,
  want: Record<string, Tensor>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    out[k] = g && g.dims.join() === w.dims.join() ? relL2(g, w) : Infinity;
  }
  return out;
}

/** Op type histogram of a model's main graph. */
export function opCounts(model: Model): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of model.graph.nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
}

/**
 * A real input for ppocr-det (random inputs drive its sigmoid output to ~1e-7, where float rounding alone
 * moves the relative error): the top-left `h` x `w` crop of text page 0, ImageNet-normalised, NCHW.
 */
export async function detPageFeed(h = 160, w = 320): Promise<Record<string, Tensor>> {
  const rgb = gunzipSync(await Deno.readFile(repoPath("testdata/text-pages.rgb.gz")));
  const W = 640, mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const d = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        d[(c * h + y) * w + x] = (rgb[(y * W + x) * 3 + c]! / 255 - mean[c]!) / std[c]!;
      }
    }
  }
  return { x: makeTensor(DataType.FLOAT, [1, 3, h, w], d) };
}
