/**
 * ShiftAddLLM (METHODS.md §2, arXiv 2406.05981): every MatMul / Gemm with a constant float weight becomes
 * `shiftkit.ShiftAddMatMul` (docs/ops/shiftadd.md) — binary-coded weights packed 8 per byte along K and
 * power-of-two alphas — plus the model-local function of that op in standard ONNX ops, so an unmodified
 * onnxruntime runs the emitted file.
 *
 * Steps: plan the targets; raise the default opset to 18 (BitwiseAnd in the function body) when that changes
 * no op's signature; one calibration run collecting `H = XᵀX / N` per distinct layer input (all
 * tokens / positions flattened to `[-1, K]`); optional automatic bit allocation (§3.3) under an average-bit
 * budget; per layer `quantizeShiftAdd` (BCQ + PoT alphas, output or weight objective) and `packShiftAdd`;
 * rewrite. Gemm is handled as `Y = alpha · X·B' + beta · C`: the weight is transposed to `K x N` when
 * `transB = 1`, `alpha` becomes a Mul and `beta · C` an Add after the ShiftAddMatMul.
 * @module
 */
import { type Attribute, intAttr, stringAttr } from "../../onnx/attributes.ts";
import { ensureShiftAddFunction, SHIFT_ADD_OPSET } from "./_shift_add_body.ts";
import type { Graph, Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op, opVersionAt, schemaOf, SHIFTKIT_DOMAIN } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { allocateBits, layerSensitivity } from "../../quant/bit_alloc.ts";
import { packShiftAdd, shiftAddTermBytes } from "../../quant/shiftadd_pack.ts";
import { weightInput } from "../qdq/insert_qdq.ts";
import {
  calibrate,
  type CalibrateMode,
  type CalibrationInfo,
  calibrationNote,
  chooseCalibration,
  type LayerInputs,
} from "../sequential.ts";
import type { LayerStorage } from "../storage.ts";
import { POT_EXP_NONE } from "../../quant/bcq.ts";
import { mapLayers } from "../layer_map.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";
import {
  SHIFT_ADD_TASK,
  type ShiftAddFit,
  type ShiftAddGroupJob,
  type ShiftAddLayerJob,
} from "./shift_add_task.ts";
import type { ReportSection } from "../report/mod.ts";

export { buildShiftAddFunction, SHIFT_ADD_OPSET, type ShiftAddBodyVariant } from "./_shift_add_body.ts";

/** Options of {@linkcode shiftAddPass}. */
export interface ShiftAddPassOptions {
  /** Binary planes per weight when no budget is given. @default {3} */
  bits?: 2 | 3 | 4;
  /**
   * Average stored bits per weight (planes and alphas, weighted by parameter count); chooses 2/3/4 planes per
   * layer. @default {undefined}
   */
  budget?: number;
  /** `"acc"`: one alpha set per output column and group; `"lat"`: per 8 output columns. @default {"acc"} */
  mode?: "acc" | "lat";
  /** `"output"` minimises the layer's output error on calibration data; `"weight"` only the weight error. @default {"output"} */
  objective?: "weight" | "output";
  /**
   * Input features per alpha group (a multiple of 8; 0 = one group over K). 64 rather than 128: on the byte
   * LM, 3-bit output-objective BCQ closes 58% of round-to-nearest's gap at 64 and 47% at 128 (bench/shift_add.ts).
   * @default {64}
   */
  groupSize?: number;
  /** GPTQ act-order (quantize features by decreasing `diag H`). @default {false} */
  actOrder?: boolean;
  /** Power-of-two terms per alpha. @default {3} */
  terms?: number;
  /** Dampening of `diag H`, as a fraction of its mean. @default {0.01} */
  damp?: number;
  /** Node names (or output names) left in float. @default {[]} */
  exclude?: readonly string[];
  /**
   * Output objective: Hessians from one run of the whole model, per layer (segment by segment,
   * passes/sequential.ts), or per layer when the weights plus all Hessians exceed 1 GiB. A bit budget needs
   * every Hessian at once: whole model.
   * @default {"auto"}
   */
  calibrate?: CalibrateMode;
  /** Per layer: each segment is fed the outputs of the quantized or the float earlier segments. @default {"quantized"} */
  layerInputs?: LayerInputs;
  /**
   * When the model's opset is below 18: ops missing from the schema table (onnx/ops.ts) either stop the pass
   * (`"refuse"`) or are assumed to keep their signature up to opset 18.
   * @default {"refuse"}
   */
  unknownOps?: "refuse" | "assume-unchanged";
}

/** One rewritten layer. */
export interface ShiftAddLayerReport {
  /** Name of the original node (kept by the ShiftAddMatMul node). */
  node: string;
  /** K, N. */
  k: number;
  /** N (output features). */
  n: number;
  /** Planes used. */
  bits: number;
  /** `‖W − Ŵ‖ / ‖W‖`. */
  relWeightError: number;
  /** `‖XW − XŴ‖ / ‖XW‖` on the calibration data (NaN without calibration). */
  relOutputError: number;
  /** Bytes of the float weight and of planes + alpha_exp + alpha_terms. */
  floatBytes: number;
  /** Bytes of planes + alpha_exp + alpha_sign. */
  packedBytes: number;
  /** Wall time of this layer's quantization. */
  seconds: number;
}

/** What the pass did. */
export interface ShiftAddStats {
  /** One entry per converted layer. */
  layers: ShiftAddLayerReport[];
  /** Rows (tokens / positions) in the calibration run; 0 without calibration. */
  calibrationRows: number;
  /** Wall time of the calibration run (inference + Gram accumulation). */
  calibrationSeconds: number;
  /** How calibration ran (absent without calibration). */
  calibration?: CalibrationInfo;
  /** `Σ params · bits / Σ params`. */
  averageBits: number;
  /** Bytes of all converted float weights, and of their packed form. */
  floatBytes: number;
  /** Bytes of planes + alpha_exp + alpha_sign. */
  packedBytes: number;
}

/** A MatMul / Gemm the pass rewrites. */
export interface ShiftAddTarget {
  /** The node. */
  node: Node;
  /** Activation input. */
  x: Value;
  /** Constant weight input. */
  weight: Value;
  /** The weight is stored `N x K` (Gemm transB = 1). */
  transposed: boolean;
  /** K, input features (the reduction axis). */
  k: number;
  /** N, outputs. */
  n: number;
}

/**
 * Find the MatMul / Gemm nodes of the main graph with a constant 2-D float weight and a float activation.
 *
 * @param graph the main graph (normalized: weights are initializers)
 * @param options exclusions
 * @returns targets in graph order, and the reasons candidates were skipped
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { planShiftAdd } from "./shift_add.ts";
 * const g = new Graph("g");
 * const x = g.value("x");
 * g.inputs.push(x);
 * const w = g.addInitializer("w", makeTensor(DataType.FLOAT, [8, 3], new Float32Array(24)));
 * g.addNode("Gemm", [x, w], ["y"], { name: "fc" });
 * const { targets } = planShiftAdd(g);
 * assertEquals(targets.map((t) => [t.node.name, t.k, t.n, t.transposed]), [["fc", 8, 3, false]]);
 * ```
 */
export function planShiftAdd(
  graph: Graph,
  options: ShiftAddPassOptions = {},
): { targets: ShiftAddTarget[]; skipped: string[] } {
  const exclude = new Set(options.exclude ?? []);
  const targets: ShiftAddTarget[] = [], skipped: string[] = [];
  for (const node of graph.nodes) {
    const gemm = isOp(node, Op.Gemm);
    if (!gemm && !isOp(node, Op.MatMul)) continue;
    const wi = weightInput(node);
    if (!wi) continue;
    const w = node.inputs[wi.index]!, x = node.inputs[0];
    const t = w.constInfo()!; // dtype and dims only: weights are read one layer at a time below
    const why = exclude.has(node.name) || node.outputs.some((o) => exclude.has(o.name))
      ? "excluded"
      : t.dtype !== DataType.FLOAT
      ? "weight is not float32"
      : t.dims.length !== 2
      ? `weight has rank ${t.dims.length}, not 2`
      : !x || x.isConst || (x.type?.elemType ?? DataType.FLOAT) !== DataType.FLOAT
      ? "activation is not a float32 tensor"
      : gemm && node.a.int("transA", 0) !== 0
      ? "Gemm with transA = 1"
      : "";
    if (why) {
      skipped.push(`${node.name}: ${why}`);
      continue;
    }
    const transposed = gemm && node.a.int("transB", 0) !== 0;
    const [r, c] = t.dims as [number, number];
    targets.push({ node, x: x!, weight: w, transposed, k: transposed ? c : r, n: transposed ? r : c });
  }
  return { targets, skipped };
}

/** Every node of the default domain in the model: main graph, subgraphs and function bodies. */
function* defaultDomainNodes(model: Model): Generator<Node> {
  const graphs: Graph[] = [model.graph, ...model.graph.subgraphs()];
  for (const f of model.functions) graphs.push(f.body, ...f.body.subgraphs());
  for (const g of graphs) for (const n of g.nodes) if (n.domain === "" || n.domain === "ai.onnx") yield n;
}

/**
 * Raise the model's default opset to 18 when no op it uses changes signature in between (ONNX requires the
 * function body and the model to import the same opset).
 *
 * @returns a note when the opset was raised, else undefined
 * @throws {RangeError} naming the ops that would change (or are unknown, with `unknownOps: "refuse"`)
 */
function raiseOpset(model: Model, unknownOps: "refuse" | "assume-unchanged"): string | undefined {
  const from = model.opset;
  if (from >= SHIFT_ADD_OPSET) return undefined;
  const changed = new Set<string>(), unknown = new Set<string>();
  for (const n of defaultDomainNodes(model)) {
    const s = schemaOf(n);
    if (!s) unknown.add(n.opType);
    else if (opVersionAt(s, from) !== opVersionAt(s, SHIFT_ADD_OPSET)) changed.add(n.opType);
  }
  const why =
    `Cannot emit ShiftAddMatMul: its function body needs opset ${SHIFT_ADD_OPSET}, the model has ${from}`;
  if (changed.size > 0) {
    throw new RangeError(
      `${why}, and ${[...changed].join(", ")} change signature in between: upgrade the model first`,
    );
  }
  if (unknown.size > 0 && unknownOps === "refuse") {
    throw new RangeError(
      `${why}, and ${[...unknown].join(", ")} ${
        unknown.size > 1 ? "are" : "is"
      } not in the op schema table, ` +
        `so an unchanged signature cannot be checked (add the op to onnx/ops.ts, or pass unknownOps: "assume-unchanged")`,
    );
  }
  model.opsets.set(model.opsets.has("ai.onnx") ? "ai.onnx" : "", SHIFT_ADD_OPSET);
  for (const f of model.functions) {
    if (f.opsets.get("") === from) f.opsets.set("", SHIFT_ADD_OPSET);
  }
  const assumed = unknown.size > 0 ? ` (assumed unchanged: ${[...unknown].join(", ")})` : "";
  return `raised the default opset from ${from} to ${SHIFT_ADD_OPSET}${assumed}`;
}

/**
 * The weight as `K x N` row-major float32, read without caching it on the value (`peekConst`): with lazily
 * loaded external data only the layer being converted is in memory.
 */
export function weightKxN(t: ShiftAddTarget): Float32Array {
  const d = t.weight.peekConst()!.data as Float32Array;
  if (!t.transposed) return d;
  const out = new Float32Array(t.k * t.n);
  for (let n = 0; n < t.n; n++) for (let k = 0; k < t.k; k++) out[k * t.n + n] = d[n * t.k + k]!;
  return out;
}

/** Replace `t.node` by ShiftAddMatMul (+ Mul / Add for Gemm's alpha, beta and C). */
function rewrite(
  g: Graph,
  t: ShiftAddTarget,
  tensors: [Tensor, Tensor, Tensor],
  attrs: Attribute[],
): string[] {
  const node = t.node, out = node.outputs[0]!, bias = node.inputs[2] ?? null;
  const inits = ["planes", "alpha_exp", "alpha_terms"].map((s, i) =>
    g.addInitializer(`${t.weight.name}_${s}`, tensors[i]!)
  );
  const sa = g.addNode(Op.ShiftAddMatMul.type, [t.x, ...inits], [`${out.name}_shiftadd`], {
    domain: SHIFTKIT_DOMAIN,
    attrs,
    before: node,
  });
  let y = sa.outputs[0]!;
  const floatType = { elemType: DataType.FLOAT };
  y.type = isOp(node, Op.Gemm) ? floatType : out.type ? { ...out.type } : floatType;
  const scalar = (name: string, v: number) =>
    g.addInitializer(name, makeTensor(DataType.FLOAT, [], new Float32Array([v])));
  const after = (opType: string, inputs: Value[], name: string) => {
    const n = g.addNode(opType, inputs, [name], { before: node });
    n.outputs[0]!.type = floatType;
    return n.outputs[0]!;
  };
  if (isOp(node, Op.Gemm)) {
    const alpha = node.a.float("alpha", 1), beta = node.a.float("beta", 1);
    const c = bias;
    if (alpha !== 1) y = after(Op.Mul.type, [y, scalar(`${node.name}_alpha`, alpha)], `${out.name}_scaled`);
    if (c && beta !== 0) {
      let cv: Value = c;
      if (beta !== 1 && c.isConst && c.const!.dtype === DataType.FLOAT) {
        const d = (c.const!.data as Float32Array).map((v) => Math.fround(beta * v));
        cv = g.addInitializer(`${c.name}_beta`, makeTensor(DataType.FLOAT, c.const!.dims, d));
      } else if (beta !== 1) {
        cv = after(Op.Mul.type, [c, scalar(`${node.name}_beta`, beta)], `${c.name}_beta`);
      }
      y = after(Op.Add.type, [y, cv], `${out.name}_biased`);
    }
  }
  out.replaceAllUsesWith(y);
  const name = node.name;
  g.removeNode(node);
  sa.name = name;
  y.type = out.type ? { ...out.type } : y.type;
  g.rename(y, out.name);
  for (const v of [t.weight, bias]) {
    if (v?.isConst && v.uses.length === 0 && !v.isGraphOutput && v.graph === g) g.removeInitializer(v);
  }
  return inits.map((v) => v.name);
}

/**
 * Bits a layer stores at `bits` planes in the format this pass emits: the packed tensors of an all-zero
 * quantization of that shape (planes, alpha exponents, alpha term nibbles), so the budget follows any change of
 * quant/shiftadd_pack.ts.
 */
function storedBits(k: number, n: number, bits: number, groupSize: number, terms: number): number {
  const gs = groupSize === 0 || groupSize > k ? k : groupSize;
  const G = Math.ceil(k / gs);
  const p = packShiftAdd({
    rows: k,
    cols: n,
    bits,
    groupSize: gs,
    terms,
    mode: "accuracy",
    codes: new Uint8Array(k * n),
    alphaExp: new Int8Array(bits * n * G * terms).fill(POT_EXP_NONE),
    alphaSign: new Int8Array(bits * n * G * terms),
  });
  return 8 * (p.planes.byteLength + p.alphaExp.byteLength + p.alphaTerms.byteLength);
}

/**
 * The ShiftAddLLM pass. Needs `ctx.runtime` for the output objective and for bit allocation; the weight
 * objective without a budget runs without calibration data.
 *
 * @param options bits or budget, mode, objective, groupSize, actOrder, terms, damp, exclude, unknownOps
 * @returns the pass; after a run, `stats` holds per-layer bits, errors, times and sizes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { runPipeline } from "../pass.ts";
 * import { shiftAddPass } from "./shift_add.ts";
 * const m = new Model();
 * m.opsets.set("", 18);
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 16] };
 * m.graph.inputs.push(x);
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [16, 4], Float32Array.from({ length: 64 }, (_, i) => Math.sin(i))));
 * const y = m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!;
 * y.type = { elemType: DataType.FLOAT, shape: [1, 4] };
 * m.graph.outputs.push(y);
 * const r = await runPipeline(m, [shiftAddPass({ bits: 2, objective: "weight" })], {}, { verifyEach: true });
 * assertEquals(r.modified, true);
 * assertEquals(m.graph.nodes.map((n) => n.opType), ["ShiftAddMatMul"]);
 * ```
 */
export function shiftAddPass(options: ShiftAddPassOptions = {}): Pass & { stats?: ShiftAddStats } {
  const pass: Pass & { stats?: ShiftAddStats } = {
    name: "shift-add",
    async run(model: Model, ctx: PassContext): Promise<PassResult> {
      const { targets, skipped } = planShiftAdd(model.graph, options);
      const notes = skipped.map((s) => `kept in float: ${s}`);
      if (targets.length === 0) {
        return {
          modified: false,
          notes: ["no MatMul/Gemm with a constant float weight", ...notes],
          sites: { converted: 0, skipped },
        };
      }
      const objective = options.objective ?? "output";
      const needH = objective === "output" || options.budget !== undefined;
      if (needH && !ctx.runtime) {
        throw new TypeError(
          `The shift-add pass needs calibration data for the ${
            options.budget !== undefined ? "bit budget" : "output objective"
          }: the pass context has no runtime`,
        );
      }
      const raised = raiseOpset(model, options.unknownOps ?? "refuse");
      if (raised) notes.push(raised);

      const damp = options.damp ?? 0.01;
      const bits = new Map<Node, number>(targets.map((t) => [t.node, options.bits ?? 3]));
      const groupSize = options.groupSize ?? 64, terms = options.terms ?? 3;
      const mode = options.mode === "lat" ? "latency" : "accuracy";
      // Layers still to come per layer input, and the Hessians factored into the cache so far (the serial
      // path's bookkeeping: q/k/v share one H, factored once; the last reader alone may consume it).
      const pending = new Map<Value, number>();
      for (const t of targets) pending.set(t.x, (pending.get(t.x) ?? 0) + 1);
      const cached = new Set<Float64Array>();
      const layers: ShiftAddLayerReport[] = [];
      const storage: LayerStorage[] = [];
      const g = model.graph;
      // Before any rewrite: per-layer calibration runs the rewritten segments, which call the function.
      ensureShiftAddFunction(model, terms);
      const emit = (t: ShiftAddTarget, q: ShiftAddFit) => {
        ctx.reporter.progress("shift-add", layers.length, targets.length);
        const p = packShiftAdd(q);
        const G = q.groups;
        const tensors: [Tensor, Tensor, Tensor] = [
          makeTensor(DataType.UINT8, [p.bits, t.n, Math.ceil(t.k / 8)], p.planes),
          makeTensor(DataType.INT8, [p.bits, t.n, G], p.alphaExp),
          makeTensor(DataType.UINT8, [p.bits, t.n, G, shiftAddTermBytes(p.terms)], p.alphaTerms),
        ];
        const name = t.node.name;
        const inits = rewrite(g, t, tensors, [
          intAttr("bits", p.bits),
          intAttr("group_size", p.groupSize),
          intAttr("k", t.k),
          intAttr("terms", p.terms),
          stringAttr("mode", mode),
        ]);
        // the layer is done: its planes and alphas may leave memory
        if (ctx.spill) ctx.spill(inits.map((n) => g.local(n)!));
        storage.push({ layer: name, weights: t.k * t.n, initializers: inits });
        layers.push({
          node: name,
          k: t.k,
          n: t.n,
          bits: p.bits,
          relWeightError: q.stats.relWeightError,
          relOutputError: q.stats.relOutputError,
          floatBytes: 4 * t.k * t.n,
          packedBytes: p.planes.length + p.alphaExp.length + p.alphaTerms.length,
          seconds: q.seconds,
        });
      };
      /**
       * Fit `ts` (Hessians by layer input) and rewrite them in order, through ctx.pool: one job per Hessian
       * (its layers in order, one factor cache), one per layer without; `Ŵ` per layer when `dequantized`.
       */
      const convert = async (
        ts: ShiftAddTarget[],
        hessians: Map<Value, Float64Array>,
        dequantized: boolean,
      ): Promise<Map<ShiftAddTarget, Float32Array>> => {
        const groups: { h: Float64Array | null; ts: ShiftAddTarget[]; layers: ShiftAddLayerJob[] }[] = [];
        const byH = new Map<Float64Array, (typeof groups)[number]>();
        for (const t of ts) {
          const h = hessians.get(t.x) ?? null;
          const useCache = pending.get(t.x)! > 1 || (h !== null && cached.has(h));
          pending.set(t.x, pending.get(t.x)! - 1);
          if (h && useCache) cached.add(h);
          if (h && pending.get(t.x) === 0) cached.delete(h);
          let grp = h ? byH.get(h) : undefined;
          if (!grp) groups.push(grp = { h, ts: [], layers: [] });
          if (h) byH.set(h, grp);
          grp.ts.push(t);
          grp.layers.push({
            weight: weightKxN(t),
            k: t.k,
            n: t.n,
            options: {
              bits: bits.get(t.node)!,
              groupSize,
              mode,
              objective,
              actOrder: options.actOrder ?? false,
              terms,
              damp,
            },
            cached: useCache,
          });
        }
        const fits = new Map<ShiftAddTarget, ShiftAddFit>();
        const out = new Map<ShiftAddTarget, Float32Array>();
        let emitted = 0;
        await mapLayers(
          ctx,
          SHIFT_ADD_TASK,
          groups.map((grp) => ({
            label: grp.ts.map((t) => t.node.name).join(", "),
            weights: grp.ts.reduce((n, t) => n + t.k * t.n, 0),
            bytes: grp.ts.reduce((n, t) => n + 4 * t.k * t.n, grp.h ? grp.h.byteLength : 0),
            cost: grp.ts.reduce((n, t) => n + t.k * t.k * t.n, 0),
            args: (onWorker: boolean) => {
              // On a worker: copies it owns (initializers may view the whole file, Hessians may be shared
              // or live in WebAssembly memory), moved there.
              const layers = onWorker
                ? grp.layers.map((l) => ({ ...l, weight: l.weight.slice() }))
                : grp.layers;
              const hessian = onWorker && grp.h ? grp.h.slice() : grp.h;
              const args: ShiftAddGroupJob = { hessian, layers, dequantized };
              if (!onWorker) return { args };
              const moved = layers.map((l) => l.weight.buffer as ArrayBuffer);
              return { args, transfer: hessian ? [...moved, hessian.buffer as ArrayBuffer] : moved };
            },
          })),
          (qs, i) => {
            groups[i]!.ts.forEach((t, j) => fits.set(t, qs[j]!));
            // rewrite in target order: every layer whose fit is in, up to the first still missing
            while (emitted < ts.length && fits.has(ts[emitted]!)) {
              const t = ts[emitted++]!, q = fits.get(t)!;
              fits.delete(t);
              emit(t, q);
              if (dequantized) out.set(t, q.dequantized);
            }
          },
        );
        return out;
      };

      const asked = options.calibrate ?? "auto";
      if (asked === "per-layer" && options.budget !== undefined) {
        throw new RangeError(
          "Cannot calibrate per layer with a bit budget: the allocation needs every layer's Hessian at once (use the whole-model calibration)",
        );
      }
      const chosen = !ctx.runtime
        ? undefined
        : options.budget !== undefined
        ? { mode: "whole" as const, reason: "a bit budget needs every layer's Hessian at once" }
        : chooseCalibration(model, targets, asked);
      const run = chosen
        ? await calibrate(
          model,
          targets,
          ctx,
          chosen,
          ({ sites, hessians }) => convert(sites, hessians, true),
          options.layerInputs ? { layerInputs: options.layerInputs } : {},
        )
        : undefined;
      const calibration: CalibrationInfo | undefined = run?.calibration;
      if (!run || run.hessians) {
        const hessians = run?.hessians ?? new Map<Value, Float64Array>();
        if (options.budget !== undefined) {
          // The budget bounds all stored bits per weight (planes and alphas), not only the planes.
          const alloc = allocateBits(
            targets.map((t) => ({
              params: t.k * t.n,
              sensitivity: layerSensitivity(
                { data: weightKxN(t), rows: t.k, cols: t.n },
                hessians.get(t.x)!,
                {
                  damp,
                },
              ),
              storedBits: [2, 3, 4].map((b) => storedBits(t.k, t.n, b, groupSize, terms)),
            })),
            options.budget,
          );
          targets.forEach((t, i) => bits.set(t.node, alloc.bits[i]!));
          notes.push(
            `bit allocation under a budget of ${options.budget} stored bits per weight (planes + alphas): ` +
              `${alloc.storedBitsPerWeight.toFixed(3)} stored, ${
                alloc.averageBits.toFixed(3)
              } planes average`,
          );
        }
        await convert(targets, hessians, false);
      }
      const rows = calibration?.rows ?? 0;
      const calibrationSeconds = calibration?.seconds ?? 0;
      if (calibration) notes.push(`calibration: ${calibrationNote(calibration)}`);
      ctx.reporter.progress("shift-add", targets.length, targets.length);
      g.sort();

      const sum = (f: (l: ShiftAddLayerReport) => number) => layers.reduce((a, l) => a + f(l), 0);
      const params = sum((l) => l.k * l.n);
      pass.stats = {
        layers,
        calibrationRows: rows,
        calibrationSeconds,
        averageBits: sum((l) => l.k * l.n * l.bits) / params,
        floatBytes: sum((l) => l.floatBytes),
        packedBytes: sum((l) => l.packedBytes),
        ...(calibration ? { calibration } : {}),
      };
      // The terminal gets a count and the worst three layers; the report gets the full table (STYLE.md).
      const err = (l: ShiftAddLayerReport) =>
        Number.isNaN(l.relOutputError) ? l.relWeightError : l.relOutputError;
      const fmt = (x: number) => Number.isNaN(x) ? "n/a" : x.toFixed(4);
      const worst = [...layers].sort((a, b) => err(b) - err(a)).slice(0, 3);
      notes.push(
        `largest relative ${
          worst.some((l) => !Number.isNaN(l.relOutputError)) ? "output" : "weight"
        } error: ${
          worst.map((l) => `${l.node} ${fmt(err(l))} at ${l.bits} bits`).join(", ")
        } (every layer in the report)`,
      );
      const section: ReportSection = {
        title: "ShiftAdd layers",
        tables: [{
          caption: "Per layer: shape, bit-planes, relative weight and output error on the calibration data",
          columns: ["layer", "K x N", "bits", "weight error", "output error"],
          rows: layers.map((
            l,
          ) => [l.node, `${l.k}x${l.n}`, l.bits, fmt(l.relWeightError), fmt(l.relOutputError)]),
        }],
      };
      const st = pass.stats;
      notes.push(
        `ShiftAddMatMul on ${layers.length} layers (${mode}, ${objective} objective, ${
          st.averageBits.toFixed(2)
        } bits ` +
          `average): weights ${st.floatBytes} -> ${st.packedBytes} bytes (${
            (st.packedBytes / st.floatBytes).toFixed(3)
          }x)`,
      );
      return {
        modified: true,
        notes,
        storage,
        sections: [section],
        sites: { converted: targets.length, skipped },
        ...(calibration ? { calibration } : {}),
      };
    },
  };
  return pass;
}
