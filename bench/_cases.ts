/**
 * Shared by bench/overhead.ts and bench/latency.ts: every repository model (testdata/) with its calibration
 * and evaluation data, the methods that apply to it, and one conversion through the public `quantize()`.
 * @module
 */
import { type Method, METHODS, quantize, type QuantizeReport } from "../api/quantize.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import type { Tensor } from "../onnx/tensor.ts";
import { openDataSource } from "../runtime/data/mod.ts";

const ROOT = new URL("../", import.meta.url);
/** Absolute path of a repository file. */
export const repo = (p: string): string => new URL(p, ROOT).pathname;

/** One repository model. */
export interface BenchModel {
  name: string;
  file: string;
  calib: string;
  eval: string;
  /** Methods that do not apply (intvit is for ViT-style image models). */
  skip: readonly string[];
}

/** The repository models (testdata/*.onnx). */
export const MODELS: readonly BenchModel[] = [
  ...["byte-lm-opt", "byte-lm-opt-outliers", "byte-lm-llama", "byte-lm-llama-outliers"].map((name) => ({
    name,
    file: `testdata/${name}.onnx`,
    calib: "testdata/lm-calib.txt",
    eval: "testdata/lm-eval.txt",
    skip: ["intvit"],
  })),
  ...["segmenter-tiny", "segmenter-base"].map((name) => ({
    name,
    file: `testdata/${name}.onnx`,
    calib: `testdata/${name}-calib`,
    eval: `testdata/${name}-eval`,
    skip: [],
  })),
];

/** Methods that apply to a model (every method `quantize()` knows, so new ones join automatically). */
export function methodsFor(m: BenchModel): Method[] {
  return METHODS.filter((x) => !m.skip.includes(x));
}

/** Parse `--models a,b`, `--methods x,y` style filters. */
export function listArg(args: string[], flag: string): string[] | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1]?.split(",").filter(Boolean) : undefined;
}

/** Numeric `--flag N`. */
export function numArg(args: string[], flag: string, dflt: number): number {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** The model's float bytes. */
export function floatBytes(m: BenchModel): Promise<Uint8Array> {
  return Deno.readFile(repo(m.file));
}

/**
 * Convert one model with one method at its default bits, calibrating on `samples` samples (all when
 * undefined), exactly as `shiftkit quantize` does (`extra`: the method-specific options, as the CLI's flags;
 * `threads`: `--threads`, default the CPU count).
 */
export async function convert(
  m: BenchModel,
  method: Method,
  samples?: number,
  extra?: Record<string, unknown>,
  threads?: number,
  bits?: string | number,
): Promise<{ bytes: Uint8Array; report: QuantizeReport }> {
  const model = decodeModel(await floatBytes(m));
  const report = await quantize(model, {
    method,
    ...(bits !== undefined ? { bits } : {}),
    calib: repo(m.calib),
    ...(samples !== undefined ? { samples } : {}),
    ...(extra ? { extra } : {}),
    ...(threads !== undefined ? { threads } : {}),
  });
  return { bytes: encodeModel(model), report };
}

/** The first `n` samples of a data set as separate feeds (batch 1), under the model's first input name. */
export async function firstSamples(
  spec: string,
  inputName: string,
  n: number,
): Promise<Record<string, Tensor>[]> {
  const src = await openDataSource(repo(spec), { inputName, maxSamples: n });
  const out: Record<string, Tensor>[] = [];
  for await (const b of src.batches(1)) out.push(b);
  return out;
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
