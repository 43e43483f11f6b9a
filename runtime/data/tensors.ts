/**
 * Ready input tensors (the arrays of an `.npz`/`.npy`, or of a folder of `.npz` files) as a data source,
 * following the data contract of the README ("Data"):
 *
 * - axis 0 of every array is the sample axis;
 * - an array of rank r+1 for an input of rank r is the per-sample form `[samples, ...input dims]`: one model
 *   call per sample, or several samples concatenated on the input's axis 0 where that axis is dynamic and
 *   each sample has extent 1 there (so recurrent state `[2, batch, 128]`, time-major sequences and scalars
 *   are fed one sample per call);
 * - an array of the input's own rank is the older stacked form: split on axis 0 into batches of the model's
 *   batch size (the fixed axis-0 size, e.g. 1 for a PyTorch export with a fixed batch) or of the requested
 *   batch size where axis 0 is dynamic;
 * - a scalar input takes `[samples]`.
 *
 * Given the model's inputs, every mismatch (missing input, unknown array, wrong element type, wrong shape,
 * sample counts that differ) is refused when the source is made, before any inference.
 * @module
 */
import { dtypeName, makeTensor, sizeOf, type Tensor, type TypedArray } from "../../onnx/tensor.ts";
import { checkBatchSize, limitSamples } from "../_samples.ts";
import {
  DataMismatchError,
  type DataSource,
  formatDims,
  type ModelInput,
  type OpenDataOptions,
} from "./source.ts";

/** Options of {@link tensorSource}. */
export interface TensorSourceOptions {
  /** Use only the first N samples. @default all */
  maxSamples?: number;
  /** The model's inputs: apply and check the data contract. @default undefined (stacked on axis 0, unchecked) */
  inputs?: readonly ModelInput[];
}

/**
 * The tensor-source options carried over from a kind's open options.
 *
 * @param options the open options
 * @returns the options of {@link tensorSource}
 */
export function tensorOptions(options: OpenDataOptions): TensorSourceOptions {
  return {
    ...(options.maxSamples !== undefined ? { maxSamples: options.maxSamples } : {}),
    ...(options.inputs ? { inputs: options.inputs } : {}),
  };
}

/** How one input is fed. */
interface Plan {
  name: string;
  tensor: Tensor;
  /** "sample": rank r+1, row i is sample i. "stacked": rank r, split on axis 0. */
  form: "sample" | "stacked";
  /** Samples the array holds. */
  samples: number;
  /** Calls must hold exactly this many samples (fixed batch axis, non-concatenable sample), or null. */
  fixed: number | null;
}

/** Elements [from, to) of axis 0, with the given dims (a copy). */
function rows(t: Tensor, from: number, to: number, dims: readonly number[]): Tensor {
  const per = sizeOf(t.dims.slice(1));
  const data = Array.isArray(t.data)
    ? t.data.slice(from * per, to * per)
    : (t.data as TypedArray).slice(from * per, to * per);
  return makeTensor(t.dtype, dims, data);
}

/** The first dimension of `given` that contradicts a fixed dimension of `expected` (same rank), or -1. */
function firstMismatch(expected: readonly (number | string | null)[], given: readonly number[]): number {
  return expected.findIndex((d, i) => typeof d === "number" && d !== given[i]);
}

function planInput(input: ModelInput, t: Tensor): Plan {
  const shape = formatDims;
  if (input.dtype !== null && t.dtype !== input.dtype) {
    throw new DataMismatchError(
      input.name,
      `element type ${dtypeName(input.dtype).toLowerCase()}`,
      `${dtypeName(t.dtype).toLowerCase()} ${shape(t.dims)}`,
      `convert the array (numpy: .astype(...))`,
    );
  }
  const g = t.dims;
  const d = input.dims;
  if (d === null) {
    if (g.length === 0) throw new DataMismatchError(input.name, "[samples, ...]", "a scalar []");
    return { name: input.name, tensor: t, form: "stacked", samples: g[0]!, fixed: null };
  }
  const r = d.length;
  const forms = r === 0
    ? `[samples] (one value per sample)`
    : `${shape(d)} per sample, i.e. [samples, ${d.map((x) => x ?? "?").join(", ")}], or stacked ${shape(d)}`;
  if (g.length === r + 1) {
    const bad = firstMismatch(d, g.slice(1));
    if (bad >= 0) {
      throw new DataMismatchError(
        input.name,
        forms,
        `${shape(g)} (per-sample dim ${bad} is ${g[bad + 1]}, the model fixes ${d[bad]})`,
      );
    }
    // Concatenate samples on axis 0 only where that axis is dynamic and each sample has extent 1 there:
    // a fixed axis 0 (recurrent state [2, batch, 128]) or a sample that is already a sequence is fed alone.
    const concat = r >= 1 && typeof d[0] !== "number" && g[1] === 1;
    return { name: input.name, tensor: t, form: "sample", samples: g[0]!, fixed: concat ? null : 1 };
  }
  if (g.length === r && r >= 1) {
    const bad = firstMismatch(d.slice(1), g.slice(1));
    if (bad >= 0) {
      throw new DataMismatchError(
        input.name,
        forms,
        `${shape(g)} (dim ${bad + 1} is ${g[bad + 1]}, the model fixes ${d[bad + 1]})`,
      );
    }
    const b = typeof d[0] === "number" ? d[0] : null;
    if (b !== null && b > 0 && g[0]! % b !== 0) {
      throw new DataMismatchError(
        input.name,
        forms,
        `${shape(g)}: ${g[0]} stacked rows are not a multiple of the model's fixed batch ${b}`,
      );
    }
    return { name: input.name, tensor: t, form: "stacked", samples: g[0]!, fixed: b };
  }
  throw new DataMismatchError(input.name, forms, `${shape(g)} (rank ${g.length}, the input has rank ${r})`);
}

/**
 * Ready input tensors as a data source (kind "tensors"). With `inputs`, the data contract of the module
 * doc applies and is checked here; without, every array is stacked on axis 0 (the form before the contract).
 *
 * @param tensors array name -> tensor, axis 0 = samples
 * @param options see {@link TensorSourceOptions}
 * @returns the source
 * @throws {DataMismatchError} (a RangeError) for data that does not fit the model, naming the input and the
 *   expected and given shapes; also for scalars without `inputs` and sample counts that differ
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { tensorSource } from "./tensors.ts";
 * // A model with a fixed batch of 1 gets 3 stacked samples one call at a time.
 * const x = makeTensor(DataType.FLOAT, [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]));
 * const inputs = [{ name: "x", dtype: DataType.FLOAT, dims: [1, 2] }];
 * const src = tensorSource(new Map([["x", x]]), { inputs });
 * const batches = [];
 * for await (const b of src.batches(8)) batches.push(Array.from(b.x!.data as Float32Array));
 * assertEquals(batches, [[1, 2], [3, 4], [5, 6]]);
 * ```
 */
export function tensorSource(
  tensors: ReadonlyMap<string, Tensor>,
  options: TensorSourceOptions = {},
): DataSource {
  const plans: Plan[] = [];
  if (options.inputs) {
    const wanted = new Set(options.inputs.map((i) => i.name));
    for (const name of tensors.keys()) {
      if (!wanted.has(name)) {
        throw new DataMismatchError(
          name,
          `one of the model inputs [${[...wanted].join(", ")}]`,
          `an array named "${name}"`,
          "name each array after the input it feeds",
        );
      }
    }
    for (const input of options.inputs) {
      const t = tensors.get(input.name);
      if (!t) {
        throw new DataMismatchError(
          input.name,
          `an array ${formatDims(input.dims)}${
            input.dtype !== null ? ` of ${dtypeName(input.dtype).toLowerCase()}` : ""
          }`,
          `no array of that name (arrays: ${[...tensors.keys()].join(", ") || "none"})`,
        );
      }
      plans.push(planInput(input, t));
    }
  } else {
    for (const [name, t] of tensors) {
      if (t.dims.length === 0) {
        throw new DataMismatchError(name, "[samples, ...]", "a scalar []", "nothing to split on axis 0");
      }
      plans.push({ name, tensor: t, form: "stacked", samples: t.dims[0]!, fixed: null });
    }
  }
  const n = plans[0]?.samples ?? 0;
  for (const p of plans) {
    if (p.samples !== n) {
      throw new DataMismatchError(
        p.name,
        `${n} samples on axis 0 (as "${plans[0]!.name}" ${formatDims(plans[0]!.tensor.dims)})`,
        `${p.samples} samples ${formatDims(p.tensor.dims)}`,
      );
    }
  }
  const fixed = [...new Set(plans.map((p) => p.fixed).filter((f): f is number => f !== null))];
  if (fixed.length > 1) {
    const which = plans.filter((p) => p.fixed !== null).map((p) => `"${p.name}" ${p.fixed}`).join(", ");
    throw new DataMismatchError(
      plans.find((p) => p.fixed !== null)!.name,
      "one number of samples per model call for all inputs",
      `inputs that need different ones (${which})`,
      "give fixed-batch inputs in per-sample form",
    );
  }
  let count = limitSamples(n, options.maxSamples);
  const step = fixed[0];
  if (step !== undefined && step > 1) count -= count % step;
  const sizes = new WeakMap<Record<string, Tensor>, number>();
  return {
    kind: "tensors",
    count,
    inputNames: plans.map((p) => p.name),
    samplesIn: (feeds) => sizes.get(feeds) ?? Object.values(feeds)[0]?.dims[0] ?? 1,
    async *batches(batchSize: number) {
      checkBatchSize(batchSize);
      const k = step ?? batchSize;
      for (let i = 0; i < count; i += k) {
        const to = Math.min(count, i + k);
        const feeds: Record<string, Tensor> = {};
        for (const p of plans) {
          const g = p.tensor.dims;
          if (p.form === "stacked") feeds[p.name] = rows(p.tensor, i, to, [to - i, ...g.slice(1)]);
          else if (to - i === 1 && p.fixed === 1) feeds[p.name] = rows(p.tensor, i, to, g.slice(1));
          else feeds[p.name] = rows(p.tensor, i, to, [(to - i) * (g[1] ?? 1), ...g.slice(2)]);
        }
        sizes.set(feeds, to - i);
        yield feeds;
      }
    },
  };
}
