/**
 * Data kind `npz-folder`: a folder of `.npz` files, one sample each (files in name order). Each file holds
 * one array per model input in the input's own shape (a scalar input: a 0-d array); the samples are
 * stacked into the per-sample form of tensors.ts, so batching and checks are the same as for one `.npz`.
 * @module
 */
import { makeTensor, sizeOf, type Tensor, type TypedArray } from "../../onnx/tensor.ts";
import { limitSamples } from "../_samples.ts";
import { decodeNpz } from "../npy.ts";
import { type DataKind, DataMismatchError, type DataSource, formatDims, statOrNull } from "./source.ts";
import { tensorOptions, tensorSource } from "./tensors.ts";

async function npzFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && /\.npz$/i.test(e.name)) names.push(e.name);
  return names.sort();
}

/**
 * Stack per-sample arrays (same name, dtype and shape in every file) into [samples, ...shape].
 *
 * @param samples one map per file, with the file name for messages
 * @returns array name -> stacked tensor
 * @throws {DataMismatchError} when files disagree on names, types or shapes
 */
export function stackSamples(
  samples: readonly { file: string; arrays: Map<string, Tensor> }[],
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const first = samples[0];
  if (!first) return out;
  for (const [name, t0] of first.arrays) {
    const per = sizeOf(t0.dims);
    const parts: Tensor[] = [];
    for (const s of samples) {
      const t = s.arrays.get(name);
      if (!t || t.dtype !== t0.dtype || t.dims.join() !== t0.dims.join()) {
        throw new DataMismatchError(
          name,
          `${formatDims(t0.dims)} in every file (as in ${first.file})`,
          t ? `${formatDims(t.dims)} in ${s.file}` : `no array "${name}" in ${s.file}`,
        );
      }
      parts.push(t);
    }
    for (const s of samples) {
      const extra = [...s.arrays.keys()].find((k) => !first.arrays.has(k));
      if (extra) {
        throw new DataMismatchError(extra, `only the arrays of ${first.file}`, `"${extra}" in ${s.file}`);
      }
    }
    const Ctor = (t0.data as TypedArray).constructor as new (n: number) => TypedArray;
    const data = Array.isArray(t0.data) ? ([] as unknown[]) : new Ctor(per * parts.length);
    parts.forEach((t, i) => {
      if (Array.isArray(data)) data.push(...(t.data as unknown[]));
      else (data as TypedArray).set(t.data as never, i * per);
    });
    out.set(name, makeTensor(t0.dtype, [parts.length, ...t0.dims], data as never));
  }
  return out;
}

/** A folder holding `.npz` files, one sample each. */
export const npzFolderKind: DataKind = {
  name: "npz-folder",
  describe: "a folder of .npz files, one sample each (arrays in the input's own shape)",
  async matches(spec: string): Promise<boolean> {
    const info = await statOrNull(spec);
    return !!info?.isDirectory && (await npzFiles(spec)).length > 0;
  },
  async open(spec, options): Promise<DataSource> {
    const names = await npzFiles(spec);
    const chosen = names.slice(0, limitSamples(names.length, options.maxSamples));
    const samples = [];
    for (const file of chosen) {
      samples.push({ file, arrays: decodeNpz(await Deno.readFile(`${spec}/${file}`)) });
    }
    return tensorSource(stackSamples(samples), tensorOptions(options));
  },
};
