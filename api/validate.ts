/**
 * `validate(model, options)`: the product-level check of DESIGN.md "Validation is a product feature". Runs
 * the model through the validating executor (WebGPU kernels for every quantized op, CPU evaluator for the
 * rest, each GPU node re-run on the CPU with the same inputs) on real or random inputs, and reports per-op
 * agreement (bit for bit for integer ops), per-layer error against a float reference model where value
 * names match (SQNR, cosine), and a task-level comparison of the graph outputs.
 *
 * It fails (`ok: false`) on any integer mismatch, on any float kernel output beyond its spec's tolerance
 * (kernels/float_tolerance.ts), on any op with a GPU kernel (or any integer op) that ran on the CPU unless
 * `allowCpuFallback`, and, with a reference, when an output's pooled cosine similarity to the reference falls
 * below `minCosine`. SQNR and cosine are pooled over samples (total signal / total error).
 * @module
 */

import { limit } from "../onnx/limits.ts";
import type { Model, Value } from "../onnx/ir.ts";
import { loadModel } from "../onnx/io.ts";
import { DataType, dtypeInfo, isFloatType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import { type DataSource, modelInputs } from "../runtime/data/mod.ts";
import { executeModel } from "../kernels/executor.ts";
import { type OpAgreement, OpTable, Pooled } from "./_validate_agg.ts";
import { openData } from "./data.ts";

/** Options of {@linkcode validate}. */
export interface ValidateOptions {
  /** The float model the quantized one came from (for per-layer and task-level error). @default undefined */
  reference?: Model | Uint8Array | string;
  /** Inputs: a DATA spec or a source. @default random inputs from the model's input types and shapes */
  data?: DataSource | string;
  /** Samples to run. @default 2 */
  samples?: number;
  /** Seed of the random inputs. @default 1 */
  seed?: number;
  /** Accept kernel ops that ran on the CPU (still reported). @default false */
  allowCpuFallback?: boolean;
  /**
   * Smallest pooled cosine similarity of every output to the reference's (with a reference). The default
   * flags an output that is clearly not the reference's (a 0.09 cosine is not "OK") while passing W8A8 and
   * integer-only models (0.97-0.9999 on the test models). @default 0.9
   */
  minCosine?: number;
}

export type { OpAgreement } from "./_validate_agg.ts";

/** Error of one layer output against the reference model's value of the same name (pooled over samples). */
export interface LayerError {
  /** Value name. */
  name: string;
  /** Op type producing it in the validated model. */
  op: string;
  /** Signal-to-quantization-noise ratio in dB: total signal / total error over the samples. */
  sqnrDb: number;
  /** Cosine similarity of the concatenated samples. */
  cosine: number;
}

/** Task-level comparison of one graph output with the reference model's. */
export interface OutputCompare {
  /** Output name. */
  name: string;
  /** Pooled SQNR in dB. */
  sqnrDb: number;
  /** Pooled cosine similarity. */
  cosine: number;
  /** Smallest per-sample cosine. */
  minCosine: number;
  /** Largest absolute difference. */
  maxAbsDiff: number;
  /** Fraction of rows (last axis) whose argmax agrees, when the last axis has > 1 element. */
  top1Agreement: number | null;
  /** Whether the pooled cosine reaches the tolerance. */
  ok: boolean;
}

/** What {@linkcode validate} reports. */
export interface ValidateReport {
  /** The WebGPU adapter used. */
  adapter: string;
  /** Samples run. */
  samples: number;
  /** Where the inputs came from: "data" or "random". */
  inputs: "data" | "random";
  /** Per-op agreement and device counts, in first-seen order. */
  ops: OpAgreement[];
  /** Per-layer error vs the reference (empty without one). */
  layers: LayerError[];
  /** Graph outputs vs the reference (empty without one). */
  outputs: OutputCompare[];
  /** Integer GPU runs that differed from the CPU evaluator (must be 0). */
  integerMismatches: number;
  /** Float GPU runs beyond their spec's tolerance (must be 0). */
  toleranceFailures: number;
  /** Runs of kernel ops on the CPU (must be 0 unless allowed). */
  cpuFallbacks: number;
  /** Whether CPU fallbacks were allowed. */
  allowCpuFallback: boolean;
  /** The output tolerance: smallest pooled cosine to the reference. */
  minCosine: number;
  /** Why the validation failed (empty when ok). */
  failures: string[];
  /** True when nothing failed. */
  ok: boolean;
}

/** A small deterministic generator for random inputs. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * Random feeds from the model's input types and shapes (symbolic dimensions become 1): floats uniform in
 * [-1, 1), integers uniform over their type's range (int8/uint8/int16/int32 capped to +-1000 for int32/64).
 *
 * @param model the model
 * @param seed generator seed
 * @param maxBytes most bytes of generated inputs @default 256 MiB (or SHIFTKIT_MAX_GENERATED_INPUT_BYTES)
 * @returns a tensor per graph input without an initializer
 * @throws {TypeError} when an input has no known type
 * @throws {RangeError} when the inputs would exceed `maxBytes` (the user should pass real data)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { DataType } from "../onnx/tensor.ts";
 * import { randomFeeds } from "./validate.ts";
 * const m = new Model();
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.INT8, shape: ["batch", 3] };
 * m.graph.inputs.push(x);
 * assertEquals(randomFeeds(m, 1).x!.dims, [1, 3]);
 * ```
 */
export function randomFeeds(model: Model, seed: number, maxBytes?: number): Record<string, Tensor> {
  const next = rng(seed);
  const feeds: Record<string, Tensor> = {};
  // Sizes first, before anything is allocated: a declared input of [2^28, 4] must not build 4 GiB.
  const cap = limit("maxGeneratedInputBytes", maxBytes);
  let total = 0;
  for (const v of model.graph.inputs) {
    if (v.const || !v.type) continue;
    const dims = (v.type.shape ?? []).map((d) => (typeof d === "number" && d > 0 ? d : 1));
    total += dims.reduce((a, b) => a * b, 1) * Math.max(1, (dtypeInfo(v.type.elemType).bits || 8) / 8);
    if (total > cap) {
      throw new RangeError(
        `Cannot make a random input for "${v.name}" of shape [${dims.join(", ")}]: the random inputs would ` +
          `take ${total} bytes, over the limit of ${cap} (SHIFTKIT_MAX_GENERATED_INPUT_BYTES); pass --data`,
      );
    }
  }
  for (const v of model.graph.inputs) {
    if (v.const) continue;
    if (!v.type) {
      throw new TypeError(`Cannot make a random input for "${v.name}": its type is unknown; pass --data`);
    }
    const dims = (v.type.shape ?? []).map((d) => (typeof d === "number" && d > 0 ? d : 1));
    const t = makeTensor(v.type.elemType, dims);
    const data = t.data as unknown as { [i: number]: number | bigint; length: number };
    const dt = v.type.elemType;
    const info = dtypeInfo(dt);
    for (let i = 0; i < data.length; i++) {
      const u = next();
      if (isFloatType(dt)) data[i] = 2 * u - 1;
      else if (dt === DataType.INT64) data[i] = BigInt(Math.floor(u * 2000) - 1000);
      else if (dt === DataType.BOOL) data[i] = u < 0.5 ? 0 : 1;
      else {
        const bits = Math.min(info.bits, 11);
        const signed = dt === DataType.INT8 || dt === DataType.INT16 || dt === DataType.INT32;
        data[i] = Math.floor(u * 2 ** bits) - (signed ? 2 ** (bits - 1) : 0);
      }
    }
    feeds[v.name] = t;
  }
  return feeds;
}

function floats(t: Tensor): Float64Array | null {
  if (typeof t.data[0] === "string") return null;
  return Float64Array.from(t.data as ArrayLike<number>, Number);
}

function top1(a: Float64Array, b: Float64Array, dims: readonly number[]): number | null {
  const last = dims[dims.length - 1] ?? 1;
  if (last < 2 || a.length % last !== 0) return null;
  let agree = 0;
  const rows = a.length / last;
  for (let r = 0; r < rows; r++) {
    let ia = 0, ib = 0;
    for (let j = 1; j < last; j++) {
      if (a[r * last + j]! > a[r * last + ia]!) ia = j;
      if (b[r * last + j]! > b[r * last + ib]!) ib = j;
    }
    if (ia === ib) agree++;
  }
  return agree / rows;
}

async function asModel(m: Model | Uint8Array | string): Promise<Model> {
  return typeof m === "string" || m instanceof Uint8Array ? await loadModel(m) : m;
}

/**
 * Validate a quantized model on the machine's WebGPU adapter.
 *
 * @param model the model to validate (IR, bytes or path)
 * @param options reference model, data, samples
 * @returns the report; `ok` is false on any mismatch, tolerance failure, disallowed fallback or bad output
 * @throws {GpuUnavailableError} without a usable WebGPU adapter
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { validate } from "./validate.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [2, 4] };
 * m.graph.inputs.push(x);
 * const s = m.graph.addInitializer("s", makeTensor(DataType.FLOAT, [], new Float32Array([0.01])));
 * const [q] = m.graph.addNode("QuantizeLinear", [x, s], ["q"]).outputs;
 * m.graph.outputs.push(q!);
 * const r = await validate(m);
 * assert(r.ok);
 * assertEquals(r.ops.map((o) => [o.op, o.gpu, o.exact, o.fallbacks]), [["QuantizeLinear", 2, 2, 0]]);
 * ```
 */
export async function validate(
  model: Model | Uint8Array | string,
  options: ValidateOptions = {},
): Promise<ValidateReport> {
  const m = await asModel(model);
  const ref = options.reference === undefined ? undefined : await asModel(options.reference);
  const samples = Math.max(1, options.samples ?? 2);
  const feedsList: Record<string, Tensor>[] = [];
  if (options.data !== undefined) {
    const source = await openData(options.data, { inputs: modelInputs(m) });
    for await (const batch of source.batches(1)) {
      feedsList.push(batch);
      if (feedsList.length >= samples) break;
    }
    if (feedsList.length === 0) throw new RangeError("Cannot validate: the data source holds no samples");
  } else {
    for (let i = 0; i < samples; i++) feedsList.push(randomFeeds(m, (options.seed ?? 1) + i));
  }
  const refNames = new Set<string>();
  // (values inside If/Loop/Scan bodies too: compared at their last execution)
  if (ref) {
    for (const g of [ref.graph, ...ref.graph.subgraphs()]) {
      for (const n of g.nodes) for (const v of n.outputs) if (v.name) refNames.add(v.name);
    }
  }
  const table = new OpTable();
  const layerAcc = new Map<string, { op: string; p: Pooled }>();
  const outAcc = new Map<string, { p: Pooled; top1: number | null }>();
  let adapter = "";
  for (const feeds of feedsList) {
    const mine = new Map<string, { t: Tensor; op: string }>();
    const onValue = (v: Value, t: Tensor) => {
      if (refNames.has(v.name)) mine.set(v.name, { t, op: v.producer?.opType ?? "" });
    };
    const res = await executeModel(m, feeds, ref ? { onValue } : {});
    adapter = res.adapter;
    res.records.forEach((r) => table.add(r));
    if (!ref) continue;
    const theirs = new Map<string, Tensor>();
    const refOut = evaluateModel(ref, feeds, {
      onValue: (v, t) => {
        if (mine.has(v.name)) theirs.set(v.name, t);
      },
    });
    for (const [name, { t, op }] of mine) {
      const r = theirs.get(name);
      const a = floats(t), b = r && floats(r);
      if (!a || !b || a.length !== b.length || !isFloatType(t.dtype) || !isFloatType(r.dtype)) continue;
      const acc = layerAcc.get(name) ?? { op, p: new Pooled() };
      acc.p.add(b, a);
      layerAcc.set(name, acc);
    }
    for (const [name, t] of Object.entries(res.outputs)) {
      const r = refOut[name];
      const a = floats(t), b = r && floats(r);
      if (!a || !b || a.length !== b.length) continue;
      const acc = outAcc.get(name) ?? { p: new Pooled(), top1: null };
      acc.p.add(b, a);
      const t1 = top1(a, b, t.dims);
      acc.top1 = t1 === null ? null : (acc.top1 ?? 0) + t1;
      outAcc.set(name, acc);
    }
  }
  const minCosine = options.minCosine ?? 0.9;
  const allowCpuFallback = options.allowCpuFallback ?? false;
  const layers = [...layerAcc].map(([name, a]) => ({
    name,
    op: a.op,
    sqnrDb: a.p.sqnrDb,
    cosine: a.p.cosine,
  }));
  const outputs = [...outAcc].map(([name, a]) => ({
    name,
    sqnrDb: a.p.sqnrDb,
    cosine: a.p.cosine,
    minCosine: a.p.minCosine,
    maxAbsDiff: a.p.maxAbsDiff,
    top1Agreement: a.top1 === null ? null : a.top1 / a.p.n,
    ok: a.p.cosine >= minCosine,
  }));
  const failures: string[] = [];
  if (table.integerMismatches) failures.push(`${table.integerMismatches} integer mismatches`);
  if (table.toleranceFailures) failures.push(`${table.toleranceFailures} float outputs beyond tolerance`);
  if (table.fallbacks && !allowCpuFallback) {
    failures.push(`${table.fallbacks} CPU fallbacks (--allow-cpu-fallback accepts them)`);
  }
  const bad = outputs.filter((o) => !o.ok);
  if (bad.length) {
    failures.push(
      `output${bad.length > 1 ? "s" : ""} ${
        bad.map((o) => `"${o.name}" (cosine ${o.cosine.toFixed(4)})`).join(", ")
      } ` +
        `below the tolerance: cosine >= ${minCosine}`,
    );
  }
  return {
    adapter,
    samples: feedsList.length,
    inputs: options.data !== undefined ? "data" : "random",
    ops: table.rows(),
    layers,
    outputs,
    integerMismatches: table.integerMismatches,
    toleranceFailures: table.toleranceFailures,
    cpuFallbacks: table.fallbacks,
    allowCpuFallback,
    minCosine,
    failures,
    ok: failures.length === 0,
  };
}
