/**
 * Standard post-training quantization in QDQ form (METHODS.md section 0): weights per output channel,
 * symmetric, stored as int8; activations per tensor, static, from calibration; QuantizeLinear /
 * DequantizeLinear pairs on the inputs of MatMul / Gemm / Conv (and optionally of activation x activation
 * MatMuls). LayerNorm, Softmax and GELU stay in float. Sub-8-bit settings (W6A6, W4A4) keep int8/uint8
 * storage but limit values to the N-bit range: weights are rounded into it, activations are clipped in the
 * integer domain by a Clip between QuantizeLinear and DequantizeLinear.
 * @module
 */
import { intAttr } from "../../onnx/attributes.ts";
import type { Graph, Model, Node, Value } from "../../onnx/ir.ts";
import { Op } from "../../onnx/ops.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../onnx/tensor.ts";
import {
  type CalibratorKind,
  HistogramObserver,
  MinMaxObserver,
  rangeFromObserver,
} from "../../quant/observers.ts";
import { computeQParams, computeQParamsPerChannel } from "../../quant/qparams.ts";
import { dequantizeLinear, quantizeLinear } from "../../quant/quantize.ts";
import { sqnrDb } from "../../quant/error_metrics.ts";
import type { ReportSection } from "../report/report.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import type { LayerStorage } from "../storage.ts";
import { NodeNames } from "./_node_names.ts";
import { activationValues, planQdq, type QdqTarget, reachedTargets } from "./plan_qdq.ts";

export { activationValues, planQdq, type QdqTarget, reachedTargets, weightInput } from "./plan_qdq.ts";

/** Options of the QDQ pass. */
export interface QdqOptions {
  /** Weight bits (2..8). @default 8 */
  weightBits?: number;
  /** Activation bits (2..8). @default 8 */
  activationBits?: number;
  /** Activation scheme: asymmetric uint8 (onnxruntime's default) or symmetric int8. @default false */
  activationSymmetric?: boolean;
  /** How activation ranges are derived from calibration. @default "minmax" */
  calibrator?: CalibratorKind;
  /** Percentile for the percentile calibrator. @default 99.99 */
  percentile?: number;
  /** Node names (or output names) left in float. @default [] */
  exclude?: readonly string[];
  /** Also quantize MatMuls whose both inputs are activations (attention scores, context). @default true */
  activationMatMuls?: boolean;
  /** Called for every weighted node left in float, with the reason (signal-processing constants...). */
  onSkip?: (node: Node, reason: string) => void;
}

/**
 * Calibrate per-tensor ranges for `values` through the context's runtime.
 *
 * @param model the float model
 * @param values value names
 * @param ctx pass context with a runtime
 * @param options calibrator kind and percentile
 * @returns value name -> [lo, hi], for every value the calibration data reached (a value inside an If
 *   branch no calibration sample takes is absent)
 */
export async function calibrateRanges(
  model: Model,
  values: readonly string[],
  ctx: PassContext,
  options: QdqOptions = {},
): Promise<Map<string, [number, number]>> {
  if (!ctx.runtime) {
    throw new TypeError("The QDQ pass needs calibration data: the pass context has no runtime");
  }
  const kind = options.calibrator ?? "minmax";
  const observers = new Map<string, MinMaxObserver | HistogramObserver>();
  for (const v of values) {
    observers.set(v, kind === "minmax" ? new MinMaxObserver() : new HistogramObserver({ mode: "signed" }));
  }
  const seen = new Set<string>();
  // min-max needs only each batch's extremes: the runtime may reduce the tensors where they live
  const request = kind === "minmax" ? { minMax: values } : {};
  await ctx.runtime.collect(model, values, (batch) => {
    for (const [name, obs] of observers) {
      const t = batch[name];
      if (t && t.data.length > 0) {
        obs.observe(t.data as Float32Array);
        seen.add(name);
      }
    }
  }, request);
  // A value inside an If branch the calibration data never takes has no range: it is left out here, and
  // the caller keeps its consumers in float (with a note) rather than inventing a range.
  const ranges = new Map<string, [number, number]>();
  const rangeOptions = { bits: options.activationBits ?? 8, percentile: options.percentile ?? 99.99 };
  for (const [name, obs] of observers) {
    if (seen.has(name)) ranges.set(name, rangeFromObserver(obs, kind, rangeOptions));
  }
  return ranges;
}

/** Quantize a float weight per channel (symmetric, narrow N-bit range, int8 storage). */
export function quantizeWeight(
  w: Tensor,
  axis: number,
  bits: number,
): { q: Tensor; scale: Tensor; zero: Tensor } {
  const data = w.data as Float32Array;
  const qmax = 2 ** (bits - 1) - 1;
  const channels = axis < 0 ? 1 : w.dims[axis]!;
  const mins = new Float32Array(channels), maxs = new Float32Array(channels);
  const inner = axis < 0 ? data.length : w.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  // element i belongs to channel floor(i / inner) % channels: visited in index order, as one flat loop would
  if (inner === 1) {
    // channels on the last axis (a MatMul weight [K, N] per column): one sweep per row, same comparisons
    for (let i = 0; i < data.length;) {
      for (let c = 0; c < channels; c++, i++) {
        const x = data[i]!;
        if (x < mins[c]!) mins[c] = x;
        if (x > maxs[c]!) maxs[c] = x;
      }
    }
  } else {
    for (let i = 0; i < data.length;) {
      for (let c = 0; c < channels; c++) {
        let lo = mins[c]!, hi = maxs[c]!;
        for (const end = i + inner; i < end; i++) {
          const x = data[i]!;
          if (x < lo) lo = x;
          if (x > hi) hi = x;
        }
        mins[c] = lo, maxs[c] = hi;
      }
    }
  }
  const p = computeQParamsPerChannel(mins, maxs, { bits, symmetric: true, narrowRange: true });
  const q = quantizeLinear(data, w.dims, p.scale, null, {
    axis: Math.max(axis, 0),
    qmin: -qmax,
    qmax,
    out: new Int8Array(data.length),
  });
  const dims = axis < 0 ? [] : [channels];
  return {
    q: makeTensor(DataType.INT8, w.dims, q),
    scale: makeTensor(DataType.FLOAT, dims, axis < 0 ? new Float32Array([p.scale[0]!]) : p.scale),
    zero: makeTensor(DataType.INT8, dims, new Int8Array(channels === 1 && axis < 0 ? 1 : channels)),
  };
}

/** Statistics of one QDQ application. */
export interface QdqStats {
  /** Nodes quantized. */
  nodes: number;
  /** Weights quantized. */
  weights: number;
  /** Activations given a QDQ pair. */
  activations: number;
  /** Bytes of the quantized weights in float32, and as stored after quantization. */
  floatWeightBytes: number;
  /** Bytes of those weights as stored after quantization. */
  quantWeightBytes: number;
  /** Weight SQNR (float vs dequantized) per quantized weight, dB. */
  layers: { weight: string; node: string; sqnrDb: number }[];
  /** What each quantized weight stores (codes, scales, zero points), for passes/storage.ts. */
  storage: LayerStorage[];
}

/**
 * Rewrite the model: insert QDQ for the planned targets with the given activation ranges.
 *
 * @param model the model (changed in place; its default opset must be >= 13)
 * @param targets from {@link planQdq}
 * @param ranges activation ranges by value name
 * @param options bit widths and activation scheme
 * @returns what was inserted
 */
export function applyQdq(
  model: Model,
  targets: readonly QdqTarget[],
  ranges: ReadonlyMap<string, [number, number]>,
  options: QdqOptions = {},
): QdqStats {
  if (model.opset < 13) {
    throw new RangeError(
      `QDQ with per-channel weights needs opset >= 13, the model has ${model.opset}: upgrade it first`,
    );
  }
  const touched = new Set<Graph>();
  const names = new NodeNames();
  const wBits = options.weightBits ?? 8, aBits = options.activationBits ?? 8;
  const symmetric = options.activationSymmetric ?? false;
  const stats: QdqStats = {
    nodes: 0,
    weights: 0,
    activations: 0,
    floatWeightBytes: 0,
    quantWeightBytes: 0,
    layers: [],
    storage: [],
  };
  const dqOfWeight = new Map<Value, Value>();
  const dqOfActivation = new Map<Value, Value>();

  for (const t of targets) {
    const node = t.node;
    // a node inside an If/Loop/Scan body: its weight DQ goes into its own graph, an activation's QDQ into
    // the graph that defines the activation (visible from the body by outer-scope reference)
    const g = node.graph ?? model.graph;
    touched.add(g);
    stats.nodes++;
    for (const i of t.activations) {
      const x = node.inputs[i]!;
      let dq = dqOfActivation.get(x);
      if (!dq) {
        const r = ranges.get(x.name);
        if (!r) {
          throw new RangeError(`No calibration range for activation "${x.name}" (input of ${node.name})`);
        }
        dq = insertActivationQdq(x.graph, x, r, aBits, symmetric, names);
        touched.add(x.graph);
        dqOfActivation.set(x, dq);
        stats.activations++;
      }
      node.setInput(i, dq);
    }
    if (t.weight >= 0) {
      const w = node.inputs[t.weight]!;
      let dq = dqOfWeight.get(w);
      if (!dq) {
        const { q, scale, zero } = quantizeWeight(w.const!, t.weightAxis, wBits);
        const qv = g.addInitializer(`${w.name}_quantized`, q);
        const sv = g.addInitializer(`${w.name}_scale`, scale);
        const zv = g.addInitializer(`${w.name}_zero_point`, zero);
        const attrs = t.weightAxis >= 0 ? [intAttr("axis", t.weightAxis)] : [];
        const dqNode = g.addNode(Op.DequantizeLinear.type, [qv, sv, zv], [`${w.name}_dequantized`], {
          name: names.take(g, Op.DequantizeLinear.type),
          attrs,
          before: g.nodes[0]!,
        });
        dq = dqNode.outputs[0]!;
        dq.type = { elemType: DataType.FLOAT, shape: [...q.dims] };
        dqOfWeight.set(w, dq);
        stats.weights++;
        stats.floatWeightBytes += (w.const!.data as Float32Array).byteLength;
        stats.quantWeightBytes += q.data.length + scale.data.length * 4;
        const deq = dequantizeLinear(q.data as Int8Array, q.dims, scale.data as Float32Array, null, {
          axis: Math.max(t.weightAxis, 0),
        });
        stats.storage.push({
          layer: node.name,
          weights: sizeOf(w.const!.dims),
          initializers: [qv.name, sv.name, zv.name],
        });
        stats.layers.push({
          weight: w.name,
          node: node.name,
          sqnrDb: sqnrDb(w.const!.data as Float32Array, deq),
        });
      }
      node.setInput(t.weight, dq);
      if (w.uses.length === 0 && !w.isGraphOutput) w.graph.removeInitializer(w);
    }
  }
  for (const g of touched) g.sort();
  return stats;
}

/** The one-line summary of a QDQ application (the QDQ pass and OS+ print it). */
export function qdqNote(stats: QdqStats, options: QdqOptions): string {
  return `quantized ${stats.nodes} nodes: ${stats.weights} weights per channel (W${
    options.weightBits ?? 8
  }), ` +
    `${stats.activations} activations per tensor (A${options.activationBits ?? 8}, ${
      options.calibrator ?? "minmax"
    })`;
}

/** QuantizeLinear -> [Clip to the N-bit range] -> DequantizeLinear after `x`; returns the DQ output. */
function insertActivationQdq(
  g: Graph,
  x: Value,
  range: [number, number],
  bits: number,
  symmetric: boolean,
  names: NodeNames,
): Value {
  const p = computeQParams(range[0], range[1], { bits, signed: symmetric, symmetric });
  const storage = symmetric ? DataType.INT8 : DataType.UINT8;
  const zeroData = symmetric ? new Int8Array([p.zeroPoint]) : new Uint8Array([p.zeroPoint]);
  const s = g.addInitializer(`${x.name}_scale`, makeTensor(DataType.FLOAT, [], new Float32Array([p.scale])));
  const z = g.addInitializer(`${x.name}_zero_point`, makeTensor(storage, [], zeroData));
  const after = x.producer ?? undefined;
  const qn = g.addNode(
    Op.QuantizeLinear.type,
    [x, s, z],
    [`${x.name}_quantized`],
    { name: names.take(g, Op.QuantizeLinear.type), ...(after ? { after } : { before: g.nodes[0]! }) },
  );
  let q = qn.outputs[0]!;
  q.type = { elemType: storage, ...(x.type?.shape ? { shape: [...x.type.shape] } : {}) };
  const fullMin = symmetric ? -128 : 0, fullMax = symmetric ? 127 : 255;
  if (p.qmin > fullMin || p.qmax < fullMax) {
    const mk = (v: number) => makeTensor(storage, [], symmetric ? new Int8Array([v]) : new Uint8Array([v]));
    const lo = g.addInitializer(`${x.name}_qmin`, mk(p.qmin));
    const hi = g.addInitializer(`${x.name}_qmax`, mk(p.qmax));
    const clip = g.addNode(Op.Clip.type, [q, lo, hi], [`${x.name}_clipped`], {
      name: names.take(g, Op.Clip.type),
      after: qn,
    });
    clip.outputs[0]!.type = q.type;
    q = clip.outputs[0]!;
  }
  const dqn = g.addNode(Op.DequantizeLinear.type, [q, s, z], [`${x.name}_dequantized`], {
    name: names.take(g, Op.DequantizeLinear.type),
    after: q.producer!,
  });
  const dq = dqn.outputs[0]!;
  dq.type = x.type ? { ...x.type } : { elemType: DataType.FLOAT };
  return dq;
}

/**
 * The QDQ pass: plan, calibrate activation ranges through `ctx.runtime`, rewrite.
 *
 * @param options bit widths, calibrator, exclusions
 * @returns the pass
 */
export function qdqPass(options: QdqOptions = {}): Pass & { stats?: QdqStats } {
  const pass: Pass & { stats?: QdqStats } = {
    name: "insert-qdq",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const skipped: string[] = [];
      const targets = planQdq(model.graph, {
        ...options,
        onSkip: (node, reason) => {
          skipped.push(`${node.name} kept in float: ${reason}`);
          ctx.reporter.warn(`${node.name} kept in float: ${reason}`);
        },
      });
      if (targets.length === 0) {
        return {
          modified: false,
          notes: ["no MatMul/Gemm/Conv with float inputs to quantize", ...skipped],
          sites: { converted: 0, skipped },
        };
      }
      const ranges = await calibrateRanges(model, activationValues(targets), ctx, options);
      const { reached, unreached } = reachedTargets(targets, ranges);
      for (const why of unreached) {
        skipped.push(why);
        ctx.reporter.warn(why);
      }
      if (reached.length === 0) {
        return {
          modified: false,
          notes: ["no quantizable node was reached by the calibration data", ...skipped],
        };
      }
      const stats = applyQdq(model, reached, ranges, options);
      pass.stats = stats;
      return {
        modified: true,
        storage: stats.storage,
        sites: { converted: stats.nodes, skipped },
        sections: [qdqSection(stats)],
        notes: [
          qdqNote(stats, options),
          ...skipped,
        ],
      };
    },
  };
  return pass;
}

/**
 * The report section of a QDQ application: weight SQNR per layer (table and bars) and sizes.
 *
 * @param stats what {@link applyQdq} returned
 * @returns a report section
 */
export function qdqSection(stats: QdqStats): ReportSection {
  return {
    title: "QDQ quantization",
    summary: [
      ["quantized nodes", stats.nodes],
      ["weights (per channel)", stats.weights],
      ["activations (per tensor)", stats.activations],
      [
        "weight bytes",
        `${(stats.floatWeightBytes / 1e6).toFixed(2)} MB -> ${(stats.quantWeightBytes / 1e6).toFixed(2)} MB`,
      ],
    ],
    tables: [{
      caption: "Weight SQNR per layer (float vs dequantized weights)",
      columns: ["node", "weight", "SQNR dB"],
      rows: stats.layers.map((l) => [l.node, l.weight, l.sqnrDb.toFixed(2)]),
    }],
    bars: [{
      caption: "Weight SQNR per layer",
      labels: stats.layers.map((l) => l.node),
      series: [{ name: "SQNR", values: stats.layers.map((l) => l.sqnrDb) }],
      unit: " dB",
    }],
  };
}
