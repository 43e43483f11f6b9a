/**
 * Task metrics measured on model outputs (definitions in MODELS.md): bits per byte of a byte-level LM,
 * segmentation mean IoU, thresholded-map IoU for the text detector, and per-output comparisons of a
 * candidate model with its float reference. OCR metrics live in ctc.ts.
 * @module
 */
import { DataType, sizeOf, type Tensor } from "../onnx/tensor.ts";
import { cosineSimilarity, maxAbsError, sqnrDb } from "../quant/error_metrics.ts";

function numbers(t: Tensor, what: string): ArrayLike<number> {
  switch (t.dtype) {
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.UINT32:
    case DataType.BOOL:
      return t.data as ArrayLike<number>;
    case DataType.INT64:
    case DataType.UINT64:
      return Float64Array.from(t.data as BigInt64Array, Number);
    case DataType.FLOAT16:
      return Float64Array.from(t.data as Uint16Array, halfToNumber);
    default:
      throw new TypeError(`Cannot measure ${what}: element type ${t.dtype} is not numeric`);
  }
}

/** IEEE 754 binary16 bits -> number. */
function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Cross-entropy in bits of a byte-level LM over one batch of windows: logits at positions 0..L-2 predict
 * bytes 1..L-1 (log-softmax in float64).
 *
 * @param logits [B, L, 256] float32
 * @param inputIds the window bytes [B, L] (int64 or any integer type)
 * @returns total bits and the number of predicted bytes
 * @throws {RangeError} when the shapes disagree
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { lmCrossEntropyBits } from "./metrics.ts";
 * // uniform logits: every byte costs log2(256) = 8 bits
 * const logits = makeTensor(DataType.FLOAT, [1, 3, 256]);
 * const ids = makeTensor(DataType.INT64, [1, 3], new BigInt64Array([1n, 2n, 3n]));
 * const r = lmCrossEntropyBits(logits, ids);
 * assertAlmostEquals(r.bits / r.predictions, 8, 1e-12);
 * ```
 */
export function lmCrossEntropyBits(logits: Tensor, inputIds: Tensor): { bits: number; predictions: number } {
  const [B, L, V] = logits.dims;
  if (
    logits.dims.length !== 3 || inputIds.dims.length !== 2 || inputIds.dims[0] !== B || inputIds.dims[1] !== L
  ) {
    throw new RangeError(
      `LM logits [${logits.dims.join(", ")}] do not match input ids [${
        inputIds.dims.join(", ")
      }] ([B, L, V] vs [B, L])`,
    );
  }
  const x = numbers(logits, "bits per byte");
  const ids = numbers(inputIds, "bits per byte");
  let nats = 0;
  for (let b = 0; b < B!; b++) {
    for (let p = 0; p < L! - 1; p++) {
      const base = (b * L! + p) * V!;
      let max = -Infinity;
      for (let v = 0; v < V!; v++) max = Math.max(max, x[base + v]!);
      let sum = 0;
      for (let v = 0; v < V!; v++) sum += Math.exp(x[base + v]! - max);
      const target = ids[b * L! + p + 1]!;
      if (!(target >= 0 && target < V!)) {
        throw new RangeError(`Token ${target} is outside the vocabulary 0..${V! - 1}`);
      }
      nats += max + Math.log(sum) - x[base + target]!;
    }
  }
  return { bits: nats / Math.LN2, predictions: B! * (L! - 1) };
}

/**
 * Bits per byte accumulated over windows: total cross-entropy / ln 2 / predicted bytes.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { BitsPerByteMeter } from "./metrics.ts";
 * const m = new BitsPerByteMeter();
 * m.add(makeTensor(DataType.FLOAT, [2, 4, 256]), makeTensor(DataType.INT64, [2, 4]));
 * assertAlmostEquals(m.value, 8, 1e-12);
 * ```
 */
export class BitsPerByteMeter {
  /** Total bits. */
  bits = 0;
  /** Predicted bytes. */
  predictions = 0;
  /**
   * Add one batch.
   *
   * @param logits [B, L, 256]
   * @param inputIds [B, L]
   */
  add(logits: Tensor, inputIds: Tensor): void {
    const r = lmCrossEntropyBits(logits, inputIds);
    this.bits += r.bits;
    this.predictions += r.predictions;
  }
  /** Mean bits per predicted byte (NaN before any batch). */
  get value(): number {
    return this.bits / this.predictions;
  }
}

/**
 * Per-pixel class ids from segmentation scores: argmax over axis 1 of [B, C, H, W] (first maximum wins).
 *
 * @param scores logits or probabilities [B, C, H, W]
 * @returns one Uint8Array of H*W class ids per image
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { argmaxClasses } from "./metrics.ts";
 * const s = makeTensor(DataType.FLOAT, [1, 2, 1, 2], new Float32Array([0, 5, 1, 2]));
 * assertEquals(Array.from(argmaxClasses(s)[0]!), [1, 0]);
 * ```
 */
export function argmaxClasses(scores: Tensor): Uint8Array[] {
  if (scores.dims.length !== 4) {
    throw new RangeError(`Segmentation scores must be [B, C, H, W], got [${scores.dims}]`);
  }
  const [B, C, H, W] = scores.dims as [number, number, number, number];
  if (C > 256) throw new RangeError(`Cannot hold ${C} classes in uint8 class ids`);
  const x = numbers(scores, "segmentation classes");
  const plane = H * W;
  const out: Uint8Array[] = [];
  for (let b = 0; b < B; b++) {
    const ids = new Uint8Array(plane);
    for (let i = 0; i < plane; i++) {
      let best = 0;
      let bestV = x[b * C * plane + i]!;
      for (let c = 1; c < C; c++) {
        const v = x[(b * C + c) * plane + i]!;
        if (v > bestV) {
          bestV = v;
          best = c;
        }
      }
      ids[i] = best;
    }
    out.push(ids);
  }
  return out;
}

/**
 * Segmentation confusion matrix accumulated over images, and mean IoU over classes.
 * IoU_c = TP / (TP + FP + FN); a class absent from both prediction and truth over the whole set (union 0)
 * is excluded from the mean rather than counted as 0 or 1. Truth ids >= `classes` are ignored (void).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SegmentationMeter } from "./metrics.ts";
 * const m = new SegmentationMeter(3);
 * m.add(new Uint8Array([0, 0, 1, 1]), new Uint8Array([0, 1, 1, 1]));
 * assertEquals(m.iouPerClass(), [0.5, 2 / 3, NaN]); // class 2 never appears: excluded
 * assertEquals(m.meanIoU(), (0.5 + 2 / 3) / 2);
 * ```
 */
export class SegmentationMeter {
  /** confusion[truth * classes + predicted] = pixel count. */
  readonly confusion: Float64Array;
  /**
   * @param classes number of classes
   */
  constructor(readonly classes: number) {
    if (!(Number.isInteger(classes) && classes >= 1)) {
      throw new RangeError(`Need >= 1 classes, got ${classes}`);
    }
    this.confusion = new Float64Array(classes * classes);
  }
  /**
   * Add one image.
   *
   * @param predicted class id per pixel
   * @param truth class id per pixel (same length)
   */
  add(predicted: ArrayLike<number>, truth: ArrayLike<number>): void {
    if (predicted.length !== truth.length) {
      throw new RangeError(`Prediction has ${predicted.length} pixels, truth ${truth.length}`);
    }
    const C = this.classes;
    for (let i = 0; i < truth.length; i++) {
      const t = truth[i]!;
      if (t >= C) continue;
      const p = predicted[i]!;
      if (!(p >= 0 && p < C)) throw new RangeError(`Predicted class ${p} is outside 0..${C - 1}`);
      this.confusion[t * C + p]!++;
    }
  }
  /** IoU of each class; NaN for a class absent from both prediction and truth. */
  iouPerClass(): number[] {
    const C = this.classes;
    const out: number[] = [];
    for (let c = 0; c < C; c++) {
      let row = 0, col = 0;
      for (let k = 0; k < C; k++) {
        row += this.confusion[c * C + k]!;
        col += this.confusion[k * C + c]!;
      }
      const tp = this.confusion[c * C + c]!;
      const union = row + col - tp;
      out.push(union === 0 ? NaN : tp / union);
    }
    return out;
  }
  /** Mean IoU over the classes that occur (NaN when none does). */
  meanIoU(): number {
    const present = this.iouPerClass().filter((v) => !Number.isNaN(v));
    return present.reduce((a, b) => a + b, 0) / present.length;
  }
}

/** Options of {@link MapIoUMeter}. */
export interface MapIoUOptions {
  /** A pixel is "text" where the map value exceeds this. @default 0.3 */
  threshold?: number;
}

/**
 * IoU of thresholded probability maps (PP-OCR det: a candidate model's map against the float model's),
 * accumulated over images as sum(intersection) / sum(union); 1 when both maps are empty everywhere.
 * "Above" is strict (`p > threshold`), compared at the map's precision (float32 maps: `Math.fround`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { MapIoUMeter } from "./metrics.ts";
 * const m = new MapIoUMeter();
 * const ref = makeTensor(DataType.FLOAT, [1, 1, 1, 4], new Float32Array([0.9, 0.8, 0.1, 0]));
 * const cand = makeTensor(DataType.FLOAT, [1, 1, 1, 4], new Float32Array([0.9, 0.2, 0.5, 0]));
 * m.add(cand, ref);
 * assertEquals(m.value, 1 / 3);
 * ```
 */
export class MapIoUMeter {
  /** Pixels above the threshold in both maps. */
  intersection = 0;
  /** Pixels above the threshold in either map. */
  union = 0;
  readonly threshold: number;
  /** @param options see {@link MapIoUOptions} */
  constructor(options: MapIoUOptions = {}) {
    this.threshold = options.threshold ?? 0.3;
  }
  /**
   * Add one batch of maps.
   *
   * @param candidate the candidate model's map
   * @param reference the reference (float) model's map, same shape
   */
  add(candidate: Tensor, reference: Tensor): void {
    if (candidate.dims.join() !== reference.dims.join()) {
      throw new RangeError(`Map shapes differ: [${candidate.dims}] vs [${reference.dims}]`);
    }
    const a = numbers(candidate, "map IoU");
    const b = numbers(reference, "map IoU");
    // Compare at the maps' precision, as numpy does for `float32_map > 0.3` (0.3 rounds up in float32).
    const t = candidate.dtype === DataType.FLOAT ? Math.fround(this.threshold) : this.threshold;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]! > t;
      const y = b[i]! > t;
      if (x && y) this.intersection++;
      if (x || y) this.union++;
    }
  }
  /** sum(intersection) / sum(union). */
  get value(): number {
    return this.union === 0 ? 1 : this.intersection / this.union;
  }
}

/** How a candidate output compares with the reference output, over all samples seen. */
export interface OutputComparison {
  /** Samples (items along axis 0) compared. */
  samples: number;
  /**
   * Pooled SQNR in dB: `10·log10(Σ ref² / Σ (ref − cand)²)` over every element of every sample (total signal
   * over total error), so a few near-exact samples cannot dominate it. `Infinity` when identical.
   */
  sqnrDb: number;
  /** Lowest per-sample SQNR in dB. */
  minSqnrDb: number;
  /** Mean over samples of the per-sample cosine similarity. */
  cosine: number;
  /** Lowest per-sample cosine similarity. */
  minCosine: number;
  /** Whether the output looks like class scores (float, rank 2 or 3, last axis of 2 or more). */
  classLike: boolean;
  /** Class-like outputs: fraction of rows of the last axis whose argmax agrees (first maximum wins); else NaN. */
  top1Agreement: number;
  /** Largest absolute difference over all elements. */
  maxAbsError: number;
  /** `Σ ref²` and `Σ (ref − cand)²` (float64), for pooling over outputs. */
  signalEnergy: number;
  errorEnergy: number;
}

interface Acc {
  samples: number;
  signal: number;
  error: number;
  minSqnr: number;
  cos: number;
  minCos: number;
  rows: number;
  agree: number;
  maxAbs: number;
  classLike: boolean;
}

const FLOAT_TYPES: readonly number[] = [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16];

/**
 * Compares every output of a candidate model with the reference model's, batch by batch. Per-sample
 * metrics treat each item along axis 0 as one sample (a tensor with no axes is one sample); the SQNR is
 * pooled over all elements seen ({@linkcode pooledSqnrDb} pools over outputs too).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { CompareMeter } from "./metrics.ts";
 * const m = new CompareMeter();
 * const ref = makeTensor(DataType.FLOAT, [2, 2], new Float32Array([1, 0, 0, 1]));
 * const cand = makeTensor(DataType.FLOAT, [2, 2], new Float32Array([1, 0, 0.5, 0.25]));
 * m.add({ y: ref }, { y: cand });
 * const r = m.report().y!;
 * assertEquals([r.samples, r.top1Agreement, r.maxAbsError, r.minCosine < 1], [2, 0.5, 0.75, true]);
 * ```
 */
export class CompareMeter {
  #acc = new Map<string, Acc>();

  /**
   * Add one batch of outputs. Outputs present in only one of the two records are an error.
   *
   * @param reference the reference model's outputs
   * @param candidate the candidate model's outputs for the same feeds
   */
  add(reference: Record<string, Tensor>, candidate: Record<string, Tensor>): void {
    for (const name of Object.keys(reference)) {
      const r = reference[name]!;
      const c = candidate[name];
      if (!c) throw new TypeError(`Candidate has no output "${name}"`);
      if (r.dims.join() !== c.dims.join()) {
        throw new RangeError(`Output "${name}": shapes differ, [${r.dims}] vs [${c.dims}]`);
      }
      const a = numbers(r, `output "${name}"`);
      const b = numbers(c, `output "${name}"`);
      const last = r.dims.length === 0 ? 1 : r.dims[r.dims.length - 1]!;
      const acc = this.#acc.get(name) ?? {
        samples: 0,
        signal: 0,
        error: 0,
        minSqnr: Infinity,
        cos: 0,
        minCos: Infinity,
        rows: 0,
        agree: 0,
        maxAbs: 0,
        classLike: FLOAT_TYPES.includes(r.dtype) && (r.dims.length === 2 || r.dims.length === 3) && last >= 2,
      };
      const n = r.dims.length === 0 ? 1 : r.dims[0]!;
      const per = r.dims.length === 0 ? 1 : sizeOf(r.dims.slice(1));
      const sub = (x: ArrayLike<number>, i: number) =>
        (x as Float32Array).subarray
          ? (x as Float32Array).subarray(i * per, (i + 1) * per)
          : Array.prototype.slice
            .call(x, i * per, (i + 1) * per) as number[];
      for (let i = 0; i < n; i++) {
        const s = sqnrDb(sub(a, i), sub(b, i));
        const k = cosineSimilarity(sub(a, i), sub(b, i));
        acc.minSqnr = Math.min(acc.minSqnr, s);
        acc.cos += k;
        acc.minCos = Math.min(acc.minCos, k);
      }
      for (let i = 0; i < a.length; i++) {
        const x = a[i]!, d = x - b[i]!;
        acc.signal += x * x;
        acc.error += d * d;
      }
      acc.samples += n;
      acc.maxAbs = Math.max(acc.maxAbs, maxAbsError(a, b));
      for (let base = 0; acc.classLike && base < a.length; base += last) {
        let ia = 0, ib = 0;
        for (let j = 1; j < last; j++) {
          if (a[base + j]! > a[base + ia]!) ia = j;
          if (b[base + j]! > b[base + ib]!) ib = j;
        }
        acc.rows++;
        if (ia === ib) acc.agree++;
      }
      this.#acc.set(name, acc);
    }
  }

  /** The comparison of each output seen so far. */
  report(): Record<string, OutputComparison> {
    const out: Record<string, OutputComparison> = {};
    for (const [name, a] of this.#acc) {
      out[name] = {
        samples: a.samples,
        sqnrDb: energyDb(a.signal, a.error),
        minSqnrDb: a.minSqnr,
        cosine: a.cos / a.samples,
        minCosine: a.minCos,
        classLike: a.classLike,
        top1Agreement: a.classLike ? a.agree / a.rows : NaN,
        maxAbsError: a.maxAbs,
        signalEnergy: a.signal,
        errorEnergy: a.error,
      };
    }
    return out;
  }
}

function energyDb(signal: number, error: number): number {
  if (Number.isNaN(signal) || Number.isNaN(error)) return NaN;
  return error === 0 ? Infinity : 10 * Math.log10(signal / error);
}

/**
 * SQNR pooled over outputs: `10·log10(Σ_outputs Σ ref² / Σ_outputs Σ (ref − cand)²)`.
 *
 * @param outputs a {@linkcode CompareMeter} report
 * @returns dB (`Infinity` when every output is identical)
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { pooledSqnrDb } from "./metrics.ts";
 * const o = (signalEnergy: number, errorEnergy: number) => ({ signalEnergy, errorEnergy });
 * assertAlmostEquals(pooledSqnrDb({ a: o(90, 1), b: o(10, 0) }), 20, 1e-12);
 * ```
 */
export function pooledSqnrDb(
  outputs: Record<string, Pick<OutputComparison, "signalEnergy" | "errorEnergy">>,
): number {
  let s = 0, e = 0;
  for (const o of Object.values(outputs)) {
    s += o.signalEnergy;
    e += o.errorEnergy;
  }
  return energyDb(s, e);
}
