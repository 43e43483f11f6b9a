/**
 * Calibration plumbing: runs a float model over a data source and hands the requested values (graph
 * outputs or intermediate tensors) to a callback, batch by batch. Intermediate tensors are exposed the way
 * calibrators do it: a copy of the model gets them as extra graph outputs. Statistics are the caller's
 * business (streamed observers in quant/), so memory does not grow with the number of samples.
 * @module
 */
import { intAttr } from "../onnx/attributes.ts";
import { decodeModel, encodeModel } from "../onnx/codec.ts";
import { InternalError } from "../onnx/errors.ts";
import { stack } from "../onnx/evaluate/control_flow.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import type { Model, Node } from "../onnx/ir.ts";
import { type Reporter, silentReporter } from "../onnx/reporter.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { type DataSource, samplesIn } from "./data/source.ts";
import type { CollectRequest, FloatRuntime, PassRuntime, RuntimeFactory } from "./runtime.ts";

/** Options for {@link collectValues} and {@link makePassRuntime}. */
export interface CollectOptions extends CollectRequest {
  /** Samples per run. @default 8 */
  batchSize?: number;
  /** Progress reporting ("calibrate" task). @default silent */
  reporter?: Reporter;
  /** Progress task name. @default "calibrate" */
  task?: string;
}

/**
 * Return a copy of `model` whose graph outputs are exactly `values` (by name).
 *
 * @param model the model (not changed)
 * @param values names of values in the main graph
 * @returns the copy
 * @throws {RangeError} when a name is not a value of the main graph
 */
export function exposeValues(model: Model, values: readonly string[]): Model {
  const copy = decodeModel(encodeModel(model));
  const g = copy.graph;
  const outs = values.map((name) => {
    const v = g.local(name);
    if (!v) throw new RangeError(`Cannot expose "${name}": no such value in the main graph`);
    return v;
  });
  g.outputs.splice(0, g.outputs.length, ...outs);
  return copy;
}

/** The graph outputs that carry one reduced value's batch minimum, maximum and sum. */
interface Reduced {
  min: string;
  max: string;
  sum: string;
}

/**
 * The bytes of `model` with graph outputs `whole` (by name) followed by ReduceMin, ReduceMax and ReduceSum of
 * each value in `reduce` over all its elements (scalars). The sum only detects NaN: a NaN element makes it
 * NaN, and onnxruntime's min/max reductions do not promise to skip NaN as the observers do. Encoded from the
 * model itself (outputs swapped and reductions added for the encoding, then restored: nothing awaits in
 * between), which spares the decode and second encode of a copy.
 */
function exposedBytes(
  model: Model,
  whole: readonly string[],
  reduce: readonly string[],
): { bytes: Uint8Array; reduced: Map<string, Reduced> } {
  const g = model.graph;
  const lookup = (name: string) => {
    const v = g.local(name);
    if (!v) throw new RangeError(`Cannot expose "${name}": no such value in the main graph`);
    return v;
  };
  const outs = whole.map(lookup);
  const saved = [...g.outputs];
  const added: Node[] = [];
  const reduced = new Map<string, Reduced>();
  const taken = new Set(reduce.length ? g.nodes.map((n) => n.name) : []);
  const nodeName = (base: string) => {
    let n = base, k = 0;
    while (taken.has(n)) n = `${base}_${++k}`;
    taken.add(n);
    return n;
  };
  try {
    for (const name of reduce) {
      const v = lookup(name);
      const one = (op: string) => {
        const node = g.addNode(op, [v], [`${name}_calib_${op}`], {
          name: nodeName(`${name}_calib_${op}`),
          attrs: [intAttr("keepdims", 0)],
        });
        added.push(node);
        outs.push(node.outputs[0]!);
        return node.outputs[0]!.name;
      };
      reduced.set(name, { min: one("ReduceMin"), max: one("ReduceMax"), sum: one("ReduceSum") });
    }
    g.outputs.splice(0, g.outputs.length, ...outs);
    return { bytes: encodeModel(model), reduced };
  } finally {
    g.outputs.splice(0, g.outputs.length, ...saved);
    for (const n of added) g.removeNode(n);
  }
}

/** The batch's [min, max] of a reduced value, or undefined when it must come whole (NaN, empty, not float). */
function minMaxOf(out: Record<string, Tensor>, r: Reduced): Tensor | undefined {
  const lo = out[r.min], hi = out[r.max], sum = out[r.sum];
  delete out[r.min], delete out[r.max], delete out[r.sum];
  if (!lo || !hi || !sum) return undefined;
  if (lo.dtype !== DataType.FLOAT || hi.dtype !== DataType.FLOAT || sum.dtype !== DataType.FLOAT) {
    return undefined;
  }
  const a = lo.data[0] as number, b = hi.data[0] as number, s = sum.data[0] as number;
  // a <= b fails for NaN and for an empty tensor (min +Infinity, max -Infinity)
  if (!(a <= b) || Number.isNaN(s)) return undefined;
  return makeTensor(DataType.FLOAT, [2], new Float32Array([a, b]));
}

/**
 * A runner that evaluates `model` on the CPU evaluator and returns the values named `names`, which live inside
 * subgraphs (If branches, Loop and Scan bodies). onnxruntime cannot expose a subgraph value as a graph output,
 * and hoisting would change what runs (both If branches, every Loop iteration flattened), so the reference
 * evaluator runs the model and observes them in place. A value computed several times in one run (a body
 * executed per iteration) is handed over as all its occurrences stacked on a new axis 0, or flattened and
 * concatenated when their shapes differ; one not computed in this run (an If branch not taken) is absent.
 *
 * @param model the model
 * @param names value names inside subgraphs
 * @returns feeds -> values by name
 * @throws {RangeError} when a name is not a value of any subgraph
 */
export function subgraphValues(
  model: Model,
  names: readonly string[],
): (feeds: Record<string, Tensor>) => Record<string, Tensor> {
  const copy = decodeModel(encodeModel(model));
  copy.graph.sort();
  const known = new Set<string>();
  for (const g of copy.graph.subgraphs()) {
    for (const n of g.nodes) for (const o of n.outputs) known.add(o.name);
    for (const v of g.inputs) known.add(v.name);
  }
  const missing = names.filter((n) => !known.has(n));
  if (missing.length) {
    throw new RangeError(`Cannot expose "${missing.join('", "')}": no such value in the model's graphs`);
  }
  const wanted = new Set(names);
  return (feeds) => {
    const seen = new Map<string, Tensor[]>();
    evaluateModel(copy, feeds, {
      onValue: (v, t) => {
        if (wanted.has(v.name)) seen.set(v.name, [...(seen.get(v.name) ?? []), t]);
      },
      onInput: (v, t) => {
        if (wanted.has(v.name)) seen.set(v.name, [...(seen.get(v.name) ?? []), t]);
      },
    });
    const out: Record<string, Tensor> = {};
    for (const [name, ts] of seen) out[name] = ts.length === 1 ? ts[0]! : gather(ts);
    return out;
  };
}

function gather(ts: Tensor[]): Tensor {
  const d0 = ts[0]!.dims.join();
  if (ts.every((t) => t.dims.join() === d0)) return stack(ts, 0, ts[0]!.dtype);
  const n = ts.reduce((a, t) => a + t.data.length, 0);
  const out = makeTensor(ts[0]!.dtype, [n]);
  let o = 0;
  for (const t of ts) {
    (out.data as Float32Array).set(t.data as Float32Array, o);
    o += t.data.length;
  }
  return out;
}

/**
 * Run `model` over `data` and call `onBatch` with the requested values of each batch.
 *
 * @param model the float model
 * @param values names of graph values to collect
 * @param data inputs
 * @param factory float runtime (onnxruntime-node, or the CPU evaluator)
 * @param onBatch receives the values of one batch
 * @param options batch size and progress
 */
export async function collectValues(
  model: Model,
  values: readonly string[],
  data: DataSource,
  factory: RuntimeFactory,
  onBatch: (values: Record<string, Tensor>, batchIndex: number) => void | Promise<void>,
  options: CollectOptions = {},
): Promise<void> {
  const reporter = options.reporter ?? silentReporter;
  const task = options.task ?? "calibrate";
  // values inside If/Loop/Scan bodies: onnxruntime cannot expose them, the CPU evaluator observes them
  const inner = values.filter((n) => !model.graph.local(n));
  const outer = values.filter((n) => model.graph.local(n));
  const innerRun = inner.length ? subgraphValues(model, inner) : undefined;
  // min-max-only values of the main graph: reduced inside the runtime (see CollectRequest.minMax)
  const wanted = new Set(options.minMax ?? []);
  const reduce = [...new Set(outer.filter((n) => wanted.has(n)))];
  const whole = outer.filter((n) => !wanted.has(n));
  const exposed = whole.length || reduce.length || !innerRun ? whole : model.graph.outputs.map((v) => v.name);
  const built = exposedBytes(model, exposed, reduce);
  const rt = await loadBuiltBytes(factory, built.bytes, "calibration");
  // where a reduced value must come whole (NaN, no elements, a run that fails on the reductions), the batch
  // runs again on a copy that exposes every value whole, loaded on first need
  let wholeRt: FloatRuntime | undefined;
  const runWhole = async (feeds: Record<string, Tensor>) => {
    wholeRt ??= await loadBuiltBytes(
      factory,
      exposedBytes(model, [...exposed, ...reduce], []).bytes,
      "calibration",
    );
    return await wholeRt.run(feeds);
  };
  try {
    let done = 0, b = 0;
    reporter.progress(task, 0, data.count);
    for await (const batch of data.batches(options.batchSize ?? 8)) {
      const feeds: Record<string, Tensor> = {};
      for (const name of rt.inputNames) {
        const t = batch[name];
        if (!t) {
          throw new RangeError(
            `Calibration data has no input "${name}" (it has: ${Object.keys(batch).join(", ")})`,
          );
        }
        feeds[name] = t;
      }
      let out: Record<string, Tensor>;
      if (reduce.length === 0) out = await rt.run(feeds);
      else {
        const ran = await rt.run(feeds).catch(() => undefined);
        out = ran ?? await runWhole(feeds);
        if (ran) {
          const redo: string[] = [];
          for (const [name, r] of built.reduced) {
            const mm = minMaxOf(out, r);
            if (mm) out[name] = mm;
            else redo.push(name);
          }
          if (redo.length) {
            const again = await runWhole(feeds);
            for (const name of redo) out[name] = again[name]!;
          }
        }
      }
      if (innerRun) {
        for (const k of exposed) if (!outer.includes(k)) delete out[k];
        Object.assign(out, innerRun(feeds));
      }
      await onBatch(out, b++);
      done += samplesIn(data, batch);
      reporter.progress(task, Math.min(done, data.count), data.count);
    }
  } finally {
    await rt.release();
    await wholeRt?.release();
  }
}

/**
 * Load a model that shiftkit built (not the user's file) in `factory`; a rejection is shiftkit's bug.
 *
 * @param factory float runtime
 * @param model the built model
 * @param what what the model is for, for the message ("calibration", "the emitted model")
 * @returns the runtime
 * @throws {InternalError} when the runtime cannot load the model
 */
export function loadBuilt(factory: RuntimeFactory, model: Model, what: string): Promise<FloatRuntime> {
  return loadBuiltBytes(factory, encodeModel(model), what);
}

/** {@link loadBuilt} for a model already encoded. */
async function loadBuiltBytes(
  factory: RuntimeFactory,
  bytes: Uint8Array,
  what: string,
): Promise<FloatRuntime> {
  try {
    return await factory(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/\s*\n\s*/g, " ") : String(e);
    throw new InternalError(
      `the model shiftkit built for ${what} was rejected (a shiftkit bug, not a problem with your input): ${why}`,
      { cause: e },
    );
  }
}

/**
 * A {@link PassRuntime} over a data source and a runtime factory: what passes receive in their context.
 *
 * @param data calibration inputs
 * @param factory float runtime
 * @param options batch size and progress
 * @returns the pass runtime
 */
export function makePassRuntime(
  data: DataSource,
  factory: RuntimeFactory,
  options: CollectOptions = {},
): PassRuntime {
  return {
    collect: (model, values, onBatch, request) =>
      collectValues(model, values, data, factory, onBatch, { ...options, ...request }),
    inputs: () => data.batches(options.batchSize ?? 8),
    load: (model) => loadBuilt(factory, model, "per-layer calibration"),
    count: data.count,
  };
}
