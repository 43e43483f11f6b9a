/**
 * Per-layer (sequential) calibration for the weight quantizers that minimise a layer's output error (GPTQ,
 * ShiftAddLLM's output objective): memory bounded by one segment's weights and Hessians plus the boundary
 * activations of the calibration set, so models larger than memory can be calibrated (issue 17, item 3).
 *
 * Steps, as GPTQ's reference implementation runs a decoder block by block (Frantar et al., arXiv
 * 2210.17323, §5 and its `opt_sequential`):
 * 1. cut the graph at the gaps with the fewest live activations (passes/segments.ts), every segment holding
 *    at least one layer to quantize;
 * 2. the first segment's inputs are the calibration batches; for segment k, build a model of that segment
 *    alone (only its weights, read from disk), run it on every batch of boundary activations, accumulate
 *    `H = XᵀX / rows` for its layers (batch by batch, the same row order as a whole-model run);
 * 3. hand the segment's layers and Hessians to the quantizer (which rewrites them in the model);
 * 4. the next segment's inputs: the outputs of this segment run again after its rewrite (`"quantized"`, the
 *    reference implementation's choice: later layers correct the error of earlier ones) or of the float
 *    segment, taken from the run of step 2 (`"float"`: the same Hessians as whole-model calibration, up to
 *    the runtime's summation order);
 * 5. drop the segment's model, Hessians and old boundary activations, and go on.
 *
 * Boundary activations of every calibration batch stay in memory (samples x sequence x width float32: 32 x
 * 128 x 1536 values are 25 MB).
 * @module
 */
import { constByteLength } from "../onnx/codec.ts";
import type { Model, Node, Value } from "../onnx/ir.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { arenaMatrix } from "../quant/f64_factor.ts";
import { GramAccumulator } from "../quant/gram.ts";
import { collectHessians, type HessianSite } from "./hessians.ts";
import type { PassContext } from "./pass.ts";
import { planSegments, segmentModel, segmentNodes } from "./segments.ts";

/** Where Hessians come from: one run of the whole model, segment by segment, or chosen by size. */
export type CalibrateMode = "auto" | "whole" | "per-layer";

/** What the next segment is fed: the outputs of the quantized or of the float earlier segments. */
export type LayerInputs = "quantized" | "float";

/**
 * Above this many bytes of weights plus all layers' Hessians (float64 `K x K` per distinct layer input),
 * `"auto"` calibrates per layer: a whole-model run holds the model in the runtime and every Hessian at once.
 */
export const PER_LAYER_AUTO_BYTES = 2 ** 30;

/** How calibration ran, for the summary and `--json`. */
export interface CalibrationInfo {
  /** `"whole"`: one run of the whole model; `"per-layer"`: segment by segment. */
  mode: "whole" | "per-layer";
  /** Why this mode (the option, or the sizes behind `"auto"`). */
  reason: string;
  /** Segments run (1 for a whole-model run). */
  segments: number;
  /** Per layer: what each segment was fed. */
  layerInputs?: LayerInputs;
  /** Rows (tokens / positions) per layer input. */
  rows: number;
  /** Largest boundary activations held at once (all batches), bytes; per layer only. */
  boundaryBytes?: number;
  /** Wall time of the runtime runs and Gram accumulation, seconds. */
  seconds: number;
}

/**
 * The calibration as one phrase for a pass's summary note.
 *
 * @param c how calibration ran
 * @returns e.g. `per-layer, 9 segments fed by the quantized ones, 4096 rows (auto: weights ...)`
 */
export function calibrationNote(c: CalibrationInfo): string {
  const how = c.mode === "whole"
    ? "whole model"
    : `per-layer, ${c.segments} segments fed by the ${c.layerInputs} earlier ones`;
  return `${how}, ${c.rows} rows, ${c.seconds.toFixed(1)} s; ${c.reason}`;
}

/** A layer to calibrate: a Hessian site, its node and its weight. */
export interface SequentialSite extends HessianSite {
  /** The MatMul / Gemm reading `x`. */
  node: Node;
  /** Its constant weight input. */
  weight: Value;
  /** The weight is stored `N x K` (Gemm transB = 1). */
  transposed: boolean;
  /** N, outputs. */
  n: number;
}

/**
 * Bytes of the model's constants, from their dims (nothing decoded).
 *
 * @param model the model
 * @returns bytes of every initializer of the main graph
 */
export function weightBytes(model: Model): number {
  let bytes = 0;
  for (const v of model.graph.initializers) bytes += constByteLength(v) ?? 0;
  return bytes;
}

/**
 * Resolve `"auto"`: per layer when the weights plus every Hessian exceed {@linkcode PER_LAYER_AUTO_BYTES}.
 *
 * @param model the model
 * @param sites the layer inputs
 * @param mode the requested mode
 * @returns the mode and a reason for the summary
 */
export function chooseCalibration(
  model: Model,
  sites: readonly HessianSite[],
  mode: CalibrateMode,
): { mode: "whole" | "per-layer"; reason: string } {
  if (mode !== "auto") return { mode, reason: "as asked" };
  const seen = new Set<string>();
  let hBytes = 0;
  for (const s of sites) {
    if (seen.has(s.x.name)) continue;
    seen.add(s.x.name);
    hBytes += 8 * s.k * s.k;
  }
  const w = weightBytes(model);
  const gb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const over = w + hBytes > PER_LAYER_AUTO_BYTES;
  return {
    mode: over ? "per-layer" : "whole",
    reason: `auto: weights ${gb(w)} + Hessians ${gb(hBytes)} ${over ? "above" : "within"} ${
      gb(PER_LAYER_AUTO_BYTES)
    }`,
  };
}

/** One segment's layers and their Hessians, handed to the quantizer. */
export interface SegmentWork<T extends SequentialSite> {
  /** Segment index and count. */
  index: number;
  /** Segments in all. */
  count: number;
  /** The layers of this segment, in graph order. */
  sites: T[];
  /** `H = XᵀX / rows` by the layer's planned activation value (layers reading one input share one array). */
  hessians: Map<Value, Float64Array>;
}

/**
 * What the quantizer hands back for a segment: each layer's dequantized weight `Ŵ`, `K x N` row-major
 * (needed when later segments are fed the quantized ones).
 */
export type Dequantized<T> = Map<T, Float32Array>;

/** Options of {@linkcode calibratePerLayer}. */
export interface PerLayerOptions {
  /** What each segment is fed. @default {"quantized"} */
  layerInputs?: LayerInputs;
  /** Progress task name. @default {"calibrate per layer"} */
  task?: string;
}

/**
 * {@linkcode calibratePerLayer} converting each site from its own Hessian (what the GPTQ and ShiftAdd passes
 * do per layer), with the reason for the mode recorded in the returned {@linkcode CalibrationInfo}.
 *
 * @param convert quantizes one site from `H` and returns its dequantized weight (fed to later segments)
 * @param reason why calibration runs per layer (the option, or the sizes behind `"auto"`)
 */
export async function convertPerLayer<T extends SequentialSite>(
  model: Model,
  sites: readonly T[],
  ctx: PassContext,
  convert: (site: T, hessian: Float64Array) => Float32Array,
  reason: string,
  layerInputs?: LayerInputs,
): Promise<CalibrationInfo> {
  const info = await calibratePerLayer(
    model,
    sites,
    ctx,
    ({ sites, hessians }) => new Map(sites.map((t) => [t, convert(t, hessians.get(t.x)!)])),
    layerInputs ? { layerInputs } : {},
  );
  return { ...info, reason };
}

/**
 * Calibrate as `chosen` says: per layer, quantizing each segment through `perLayer` as it goes, or with one
 * run of the whole model, whose Hessians (by layer input) come back for the caller to quantize from.
 *
 * @param chosen the mode and why (from {@linkcode chooseCalibration}, or the caller's own rule)
 * @param perLayer quantizes one segment's layers given their Hessians, returning their dequantized weights
 * @param options layerInputs, task (per-layer only)
 * @returns how calibration ran, and the Hessians of a whole-model run (undefined per layer: already used)
 */
export async function calibrate<T extends SequentialSite>(
  model: Model,
  sites: readonly T[],
  ctx: PassContext,
  chosen: { mode: "whole" | "per-layer"; reason: string },
  perLayer: (work: SegmentWork<T>) => Dequantized<T> | Promise<Dequantized<T>>,
  options: PerLayerOptions = {},
): Promise<{ calibration: CalibrationInfo; hessians?: Map<Value, Float64Array> }> {
  if (chosen.mode === "per-layer") {
    const info = await calibratePerLayer(model, sites, ctx, perLayer, options);
    return { calibration: { ...info, reason: chosen.reason } };
  }
  const t0 = performance.now();
  const { hessians, rows } = await collectHessians(model, sites, ctx);
  const seconds = (performance.now() - t0) / 1000;
  return { calibration: { mode: "whole", reason: chosen.reason, segments: 1, rows, seconds }, hessians };
}

/**
 * Calibrate and quantize segment by segment (see the module doc).
 *
 * @param model the float model; `quantize` rewrites it segment by segment
 * @param sites the layers to calibrate (all in the main graph)
 * @param ctx pass context; its runtime must offer `inputs` and `load`
 * @param quantize rewrites one segment's layers given their Hessians
 * @param options layerInputs, task
 * @returns how calibration ran
 * @throws {TypeError} when the runtime cannot run segments, or returns no float32 tensor for a layer input
 * @throws {RangeError} when the graph cannot be cut (control flow)
 */
export async function calibratePerLayer<T extends SequentialSite>(
  model: Model,
  sites: readonly T[],
  ctx: PassContext,
  quantize: (work: SegmentWork<T>) => Dequantized<T> | Promise<Dequantized<T>>,
  options: PerLayerOptions = {},
): Promise<Omit<CalibrationInfo, "reason">> {
  const rt = ctx.runtime;
  if (!rt?.inputs || !rt.load) {
    throw new TypeError(
      "Cannot calibrate per layer: the pass context's runtime cannot run model segments on given inputs",
    );
  }
  const t0 = performance.now();
  let quantSeconds = 0;
  const layerInputs = options.layerInputs ?? "quantized", task = options.task ?? "calibrate per layer";
  const g = model.graph;
  const plan = planSegments(g, { anchors: new Set(sites.map((s) => s.node)) });
  if (plan.why) throw new RangeError(`Cannot calibrate per layer: ${plan.why}`);
  const segments = plan.segments;
  // Boundary activations of every batch, by name: the graph inputs first.
  let feeds: Record<string, Tensor>[] = [];
  for await (const b of rt.inputs()) feeds.push(pick(b, segments[0]!.inputs));
  let rows = 0, boundaryBytes = bytesOf(feeds);
  for (let s = 0; s < segments.length; s++) {
    ctx.reporter.progress(task, s, segments.length);
    const seg = segments[s]!;
    const inSeg = new Set(seg.nodes);
    const mine = sites.filter((t) => inSeg.has(t.node));
    const given = new Set(seg.inputs);
    const accs = new Map<string, GramAccumulator>();
    // Sums in float64 arenas where WebAssembly SIMD runs: a quantizer that consumes a Hessian then factors it
    // in place on the SIMD kernels (no second K x K buffer: quant/gptq.ts `consume`).
    for (const t of mine) {
      if (accs.has(t.x.name)) continue;
      const sum = arenaMatrix(t.k);
      accs.set(t.x.name, new GramAccumulator(t.k, sum ? { sum } : {}));
    }
    const computed = seg.outputs.filter((o) => !given.has(o));
    const fetchX = [...accs.keys()].filter((x) => !given.has(x));
    // The segment as a model of its own, float weights read from disk for it alone.
    const nodes = segmentNodes(g, seg.inputs, seg.outputs);
    const read = new Set(nodes.flatMap((n) => n.inputs.filter((v) => v !== null).map((v) => v!.name)));
    const used = seg.inputs.filter((n) => read.has(n)); // runtimes refuse feeds a model does not declare
    const copies = new Map<Node, Node>();
    const sub = segmentModel(
      model,
      { nodes, inputs: used, outputs: [...new Set([...fetchX, ...computed])] },
      {
        feeds: feeds[0] ?? {},
        copies,
      },
    );
    // Where each layer's weight enters its copy, taken before the quantizer rewrites the layer.
    const slots = mine.map((t) => ({ t, copy: copies.get(t.node)!, index: t.node.inputs.indexOf(t.weight) }));
    const next: Record<string, Tensor>[] = [];
    await runAll(sub, used, feeds, (out, i) => {
      for (const [name, acc] of accs) {
        const v = out[name] ?? feeds[i]![name];
        if (!v || !(v.data instanceof Float32Array)) {
          throw new TypeError(`Per-layer calibration returned no float32 tensor for "${name}"`);
        }
        if (v.data.length % acc.k !== 0) {
          throw new RangeError(
            `Calibration tensor "${name}" [${v.dims}] does not split into rows of ${acc.k}`,
          );
        }
        acc.add(v.data, v.data.length / acc.k);
      }
      if (layerInputs === "float") next.push(carry(seg.outputs, out, feeds[i]!));
    });
    const hessians = new Map<Value, Float64Array>();
    const byName = new Map<string, Float64Array>();
    for (const t of mine) {
      const acc = accs.get(t.x.name)!;
      if (!byName.has(t.x.name)) {
        rows = Math.max(rows, acc.count);
        byName.set(t.x.name, acc.takeMean()); // in place: one K x K buffer per input, not two
      }
      hessians.set(t.x, byName.get(t.x.name)!);
    }
    accs.clear();
    // The segment model keeps its other constants but not the layers' float weights while they are quantized.
    for (const { copy, index } of slots) {
      const old = copy.inputs[index];
      if (!old) continue;
      copy.setInput(index, null);
      if (old.uses.length === 0) sub.graph.removeInitializer(old);
    }
    collectGarbage(); // the runs' activations and the encoded segment, before the quantizer's peak
    const q0 = performance.now();
    const deq = await quantize({ index: s, count: segments.length, sites: mine, hessians });
    quantSeconds += (performance.now() - q0) / 1000;
    hessians.clear();
    if (layerInputs === "quantized" && s + 1 < segments.length) {
      // The quantized segment runs as float MatMul / Gemm on the dequantized weights Ŵ (as GPTQ's reference
      // code writes Q back into the float layer): no custom op, no per-call decode in the runtime.
      for (const { t, copy, index } of slots) {
        const d = deq.get(t);
        if (!d) {
          throw new TypeError(`Per-layer calibration: the quantizer returned no weight for "${t.node.name}"`);
        }
        const w = sub.graph.addInitializer(
          `${t.weight.name}_dequantized`,
          t.transposed
            ? makeTensor(DataType.FLOAT, [t.n, t.k], transpose(d, t.k, t.n))
            : makeTensor(DataType.FLOAT, [t.k, t.n], d),
        );
        copy.setInput(index, w);
      }
      sub.graph.outputs.splice(0, sub.graph.outputs.length, ...computed.map((n) => sub.graph.local(n)!));
      await runAll(sub, used, feeds, (out, i) => next.push(carry(seg.outputs, out, feeds[i]!)));
    }
    feeds = next;
    boundaryBytes = Math.max(boundaryBytes, bytesOf(feeds));
    collectGarbage();
  }
  ctx.reporter.progress(task, segments.length, segments.length);
  return {
    mode: "per-layer",
    segments: segments.length,
    layerInputs,
    rows,
    boundaryBytes,
    seconds: (performance.now() - t0) / 1000 - quantSeconds,
  };

  /** Load `sub` in the runtime, run it on every batch, release it. */
  async function runAll(
    sub: Model,
    inputs: readonly string[],
    batches: readonly Record<string, Tensor>[],
    onBatch: (out: Record<string, Tensor>, i: number) => void,
  ): Promise<void> {
    if (sub.graph.outputs.length === 0) {
      batches.forEach((_, i) => onBatch({}, i));
      return;
    }
    const session = await rt!.load!(sub);
    try {
      for (let i = 0; i < batches.length; i++) onBatch(await session.run(pick(batches[i]!, inputs)), i);
    } finally {
      await session.release();
    }
  }
}

/**
 * A full garbage collection where the JavaScript engine exposes one (Deno `--v8-flags=--expose-gc`, Node
 * `--expose-gc`; bench/streaming.ts runs `quantize` so). A segment frees hundreds of MB of weights, Hessians
 * and activations held as ArrayBuffers, whose memory V8 accounts as external and may leave uncollected for
 * minutes: on the 2.72 GB synthetic LM the resident set stayed 600 MB above the live data through a whole
 * segment. Without the hook nothing changes but the peak resident set.
 */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** `K x N` -> `N x K`. */
function transpose(d: Float32Array, k: number, n: number): Float32Array {
  const out = new Float32Array(k * n);
  for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) out[c * k + r] = d[r * n + c]!;
  return out;
}

/** The next segment's inputs: computed outputs from `out`, pass-through values from `feeds`. */
function carry(
  names: readonly string[],
  out: Record<string, Tensor>,
  feeds: Record<string, Tensor>,
): Record<string, Tensor> {
  const r: Record<string, Tensor> = {};
  for (const n of names) {
    const t = out[n] ?? feeds[n];
    if (!t) throw new TypeError(`Per-layer calibration: the segment returned no value "${n}"`);
    r[n] = t;
  }
  return r;
}

/** The named entries of a feed. */
function pick(feeds: Record<string, Tensor>, names: readonly string[]): Record<string, Tensor> {
  const r: Record<string, Tensor> = {};
  for (const n of names) {
    const t = feeds[n];
    if (!t) {
      throw new RangeError(`Calibration data has no input "${n}" (it has: ${Object.keys(feeds).join(", ")})`);
    }
    r[n] = t;
  }
  return r;
}

function bytesOf(feeds: readonly Record<string, Tensor>[]): number {
  let b = 0;
  for (const f of feeds) for (const t of Object.values(f)) b += (t.data as ArrayBufferView).byteLength;
  return b;
}
