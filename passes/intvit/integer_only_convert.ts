/**
 * The integer-only rewrite of a calibrated float transformer (I-ViT arXiv 2207.01405, I-Segmenter arXiv
 * 2509.10334; METHODS.md section 4). The float graph is walked in order and an integer twin is built next to
 * it: every float activation gets an integer tensor with a real scale ({@link QTensor}); data-movement nodes
 * (Reshape, Transpose, Gather, Slice, Concat, Expand...) are rewired in place to the integer tensor; compute
 * nodes get integer replacements (MatMulInteger/ConvInteger + int32 bias + Requantize, Shiftmax, ShiftGelu /
 * LambdaShiftGelu, ILayerNorm, IntAdd). The model's outputs are then re-pointed at DequantizeLinear of their
 * integer twins and the float graph dies (DCE). Anything unrecognised stays float between a
 * DequantizeLinear and a QuantizeLinear and is reported.
 * @module
 */
import { intAttr } from "../../onnx/attributes.ts";
import type { Model, Node, Value } from "../../onnx/ir.ts";
import { isAnyOp, isOp, Op } from "../../onnx/ops.ts";
import { findLayerNorms, type LayerNormMatch } from "../../onnx/patterns.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { dyadic, quantizeBias } from "../../quant/dyadic.ts";
import { iLayerNormParams } from "../../quant/ilayernorm.ts";
import { shiftGeluParams } from "../../quant/shiftgelu.ts";
import { shiftExpParams } from "../../quant/shiftmax.ts";
import { quantizeWeight } from "../qdq/insert_qdq.ts";
import type { ValueStats } from "./integer_only_calib.ts";
import { Emitter, type QTensor, scaleFor } from "./integer_only_emit.ts";
import {
  concatOp,
  dequantizeExits,
  dequantizeOutputs,
  movementOp,
  resizeOp,
} from "./integer_only_movement.ts";
import {
  biasAddAfter,
  constOf,
  findGelus,
  findL2Norms,
  findSwishes,
  type GeluMatch,
  scalarOf,
  type SwishMatch,
} from "./integer_only_patterns.ts";
import { swishOp } from "./integer_only_swish.ts";
import { l2NormOp, l2OverLastAxis } from "./integer_only_l2norm.ts";

const I8 = DataType.INT8, I16 = DataType.INT16, I32 = DataType.INT32;
/** Integer widths of twins. */
export type IntType = typeof I8 | typeof I16 | typeof I32;

/** Ops that only move or select elements: they run on integers unchanged (same scale). */
export const MOVEMENT = [
  Op.Reshape,
  Op.Transpose,
  Op.Gather,
  Op.Slice,
  Op.Squeeze,
  Op.Unsqueeze,
  Op.Flatten,
  Op.Expand,
  Op.Identity,
  Op.Split,
];

/** Conversion choices (see IntegerOnlyOptions in passes/intvit/integer_only.ts). */
export interface ConvertOptions {
  gelu: "shift" | "lambda";
  keepL2norm: boolean;
  /** L2 normalisation (unless kept in float): rebuilt in integers, or removed (I-Segmenter). */
  l2Norm: "integer" | "remove";
  nearestResize: boolean;
  softmaxBits: 8 | 16;
  /**
   * Convert only these nodes: `entries` are quantized where read, `exits` dequantized for the consumers
   * outside (passes/intvit/integer_only_region.ts). Undefined: the whole graph, from the inputs to the outputs.
   */
  region?: { nodes: ReadonlySet<Node>; entries: ReadonlySet<string>; exits: readonly string[] };
}

/** The rewrite of one model; `run()` once. */
export class Converter {
  readonly emit: Emitter;
  /** Nodes left in float (name: op type). */
  readonly floatNodes: string[] = [];
  /** Notes for the report. */
  readonly notes: string[] = [];
  readonly #q = new Map<Value, QTensor>();
  readonly #dq = new Map<Value, Value>();
  readonly #handled = new Set<Node>();
  readonly #need = new Map<string, QTensor>();

  constructor(
    readonly model: Model,
    readonly stats: ReadonlyMap<string, ValueStats>,
    readonly options: ConvertOptions,
  ) {
    this.emit = new Emitter(model);
  }

  /** True for a computed float tensor (not a constant). */
  isFloat(v: Value | null | undefined): v is Value {
    return !!v && !v.isConst && !constOf(v) && this.stats.get(v.name)?.dtype === DataType.FLOAT;
  }

  /**
   * The clipping range of a float value for a width: the calibrator's range for int8, the min-max range for
   * wider twins (a clipping range tuned for 256 levels would clip a 16-bit twin for nothing).
   */
  #range(v: Value, dtype: IntType = I8): [number, number] {
    const st = this.stats.get(v.name);
    const r = dtype === I8 ? st?.range : st?.minmax ?? st?.range;
    if (!r) throw new RangeError(`No calibration range for "${v.name}"`);
    return r;
  }

  /** The integer twin of a float value (QuantizeLinear for the model input or a float leftover). */
  q(v: Value): QTensor {
    const have = this.#q.get(v);
    if (have) return have;
    const scale = scaleFor(this.#range(v), I8);
    const s = this.emit.init(`${v.name}_scale`, makeTensor(DataType.FLOAT, [], new Float32Array([scale])));
    const z = this.emit.init(`${v.name}_zero_point`, makeTensor(I8, [], new Int8Array(1)));
    const out = this.emit.node(Op.QuantizeLinear, [v, s, z], `${v.name}_quantize`, I8);
    this.emit.log.push({ node: out.producer!.name, op: Op.QuantizeLinear.type, scale, dtype: "int8" });
    if (!v.isGraphInput && !this.options.region?.entries.has(v.name)) {
      this.notes.push(`float value "${v.name}" re-quantized (QuantizeLinear)`);
    }
    const qt: QTensor = { v: out, scale: Math.fround(scale), dtype: I8 };
    this.#q.set(v, qt);
    return qt;
  }

  /** The integer twin in one of `allowed` widths, requantized to `prefer` at the value's range otherwise. */
  need(v: Value, allowed: IntType[], prefer: IntType): QTensor {
    const qt = this.q(v);
    if (allowed.includes(qt.dtype)) return qt;
    const key = `${v.name}\u0000${prefer}`;
    let c = this.#need.get(key);
    if (!c) {
      c = this.emit.convert(qt, scaleFor(this.#range(v, prefer), prefer), prefer, `${v.name}_rq`);
      this.#need.set(key, c);
    }
    return c;
  }

  /** A float view (DequantizeLinear) of an integer twin, for ops that stay float. */
  dq(v: Value): Value {
    let f = this.#dq.get(v);
    if (f) return f;
    let qt = this.#q.get(v)!;
    if (qt.dtype === I16) qt = this.emit.cast(qt, I32, `${v.name}_i32`);
    const s = this.emit.init(
      `${v.name}_dq_scale`,
      makeTensor(DataType.FLOAT, [], new Float32Array([qt.scale])),
    );
    f = this.emit.node(Op.DequantizeLinear, [qt.v, s], `${v.name}_dequantize`, DataType.FLOAT);
    this.#dq.set(v, f);
    return f;
  }

  /** Record the integer twin of a float value. */
  bind(v: Value, qt: QTensor): void {
    this.#q.set(v, qt);
  }

  /** The integer twin, when one exists. */
  twin(v: Value): QTensor | undefined {
    return this.#q.get(v);
  }

  /** Every float value with an integer twin: names, scale and the twin's producer (for per-layer SQNR). */
  twins(): { float: string; integer: string; scale: number; op: string }[] {
    return [...this.#q].filter(([f]) => !f.isGraphInput).map(([f, q]) => ({
      float: f.name,
      integer: q.v.name,
      scale: q.scale,
      op: q.v.producer?.opType ?? "",
    }));
  }

  /** Scale of a float value for a width, from its calibrated range. */
  scaleOf(v: Value, dtype: IntType): number {
    return scaleFor(this.#range(v, dtype), dtype);
  }

  /** Rewrite the graph. */
  run(): void {
    const g = this.model.graph;
    const region = this.options.region?.nodes;
    const inRegion = (nodes: Node[]) => !region || nodes.every((n) => region.has(n));
    const gelus = findGelus(g).filter((m) => inRegion(m.nodes));
    const geluAt = new Map<Node, GeluMatch>();
    for (const m of gelus) {
      geluAt.set(m.nodes[m.nodes.length - 1]!, m);
      for (const n of m.nodes) this.#handled.add(n);
    }
    const swishAt = new Map<Node, SwishMatch>();
    for (const m of findSwishes(g).filter((m) => inRegion(m.nodes))) {
      swishAt.set(m.nodes[m.nodes.length - 1]!, m);
      for (const n of m.nodes) this.#handled.add(n);
    }
    const lnAt = new Map<Node, LayerNormMatch>();
    for (const m of findLayerNorms(g)) {
      // fused LayerNormalization nodes go through #convert; decomposed ones are converted as a unit
      if (m.kind !== "decomposed" || m.axis !== -1 || !constOf(m.gamma) || !constOf(m.beta)) continue;
      if (!inRegion(m.nodes) || !m.output.producer) continue;
      lnAt.set(m.output.producer, m);
      for (const n of m.nodes) this.#handled.add(n);
    }
    for (const m of findL2Norms(g).filter((m) => inRegion(m.nodes))) {
      for (const n of m.nodes) this.#handled.add(n);
      const dims = this.stats.get(m.input.name)?.dims;
      if (
        !this.options.keepL2norm && this.options.l2Norm === "integer" && dims &&
        l2OverLastAxis(m, dims.length)
      ) {
        this.#l2.set(m.nodes[m.nodes.length - 1]!, () => l2NormOp(this, m, dims[dims.length - 1]!));
      } else if (!this.options.keepL2norm) {
        this.notes.push(`L2 normalisation of "${m.input.name}" removed (I-Segmenter)`);
        this.#l2.set(m.nodes[m.nodes.length - 1]!, () => this.bind(m.output, this.q(m.input)));
      } else {
        this.#l2.set(m.nodes[m.nodes.length - 1]!, () => {
          for (const n of m.nodes) {
            n.inputs.forEach((x, i) => x === m.input && n.setInput(i, this.dq(m.input)));
            this.floatNodes.push(`${n.name}: ${n.opType}`);
          }
        });
      }
    }
    for (const node of [...g.nodes]) {
      if (region && !region.has(node)) continue;
      const gelu = geluAt.get(node);
      if (gelu) this.#gelu(gelu);
      const swish = swishAt.get(node);
      if (swish) swishOp(this, swish);
      const ln = lnAt.get(node);
      if (ln) {
        const c = (v: Value | null) => constOf(v)!.data as Float32Array;
        this.#iLayerNorm(ln.input, c(ln.gamma), c(ln.beta), ln.output, `${ln.nodes[0]!.name}_ilayernorm`);
      }
      const l2 = this.#l2.get(node);
      if (l2) l2();
      if (this.#handled.has(node)) continue;
      const floatIn = node.inputs.some((v) => this.isFloat(v));
      const floatOut = node.outputs.some((v) => this.isFloat(v));
      if (!floatIn && !floatOut) continue;
      this.#convert(node);
    }
    if (this.options.region) dequantizeExits(this, this.options.region.exits);
    else dequantizeOutputs(this);
  }

  readonly #l2 = new Map<Node, () => void>();

  #convert(node: Node): void {
    const ins = node.inputs;
    if (isOp(node, Op.Shape)) {
      node.setInput(0, this.q(ins[0]!).v);
    } else if ((isOp(node, Op.MatMul) || isOp(node, Op.Conv)) && constOf(ins[1]) && this.isFloat(ins[0])) {
      this.#linear(node);
    } else if (isOp(node, Op.MatMul) && this.isFloat(ins[0]) && this.isFloat(ins[1])) {
      this.#actMatMul(node);
    } else if ((isOp(node, Op.Mul) || isOp(node, Op.Div)) && this.#scaleOnly(node)) {
      // folded into the scale: a positive constant factor changes the meaning of an LSB, not the integers
    } else if (isOp(node, Op.Softmax) && this.isFloat(ins[0])) {
      this.#softmax(node);
    } else if (
      isOp(node, Op.LayerNormalization) && this.isFloat(ins[0]) && constOf(ins[1]) && constOf(ins[2])
    ) {
      this.#layerNorm(node);
    } else if (isOp(node, Op.Add) && this.#add(node)) {
      // IntAdd or constant add
    } else if (isOp(node, Op.Concat)) {
      concatOp(this, node);
    } else if (
      isAnyOp(node, MOVEMENT) && (this.isFloat(ins[0]) || constOf(ins[0])?.dtype === DataType.FLOAT)
    ) {
      movementOp(this, node);
    } else if (isOp(node, Op.Resize) && this.options.nearestResize && this.isFloat(ins[0])) {
      resizeOp(this, node);
    } else {
      this.fallback(node);
    }
  }

  /** Leave a node in float: its integer inputs are dequantized. */
  fallback(node: Node): void {
    node.inputs.forEach((v, i) => {
      if (v && this.#q.has(v)) node.setInput(i, this.dq(v));
    });
    this.floatNodes.push(`${node.name}: ${node.opType}`);
  }

  /** True for a value whose consumers are all residual Adds (two computed inputs): it gets int16. */
  feedsResidual(v: Value): boolean {
    return v.uses.length > 0 &&
      v.uses.every((u) => isOp(u.node, Op.Add) && u.node.inputs.every((x) => this.isFloat(x)));
  }

  /** True for a value that one residual Add (two computed inputs) reads: the start of a residual stream. */
  startsResidual(v: Value): boolean {
    return v.uses.some((u) => isOp(u.node, Op.Add) && u.node.inputs.every((x) => this.isFloat(x)));
  }

  /** True when only data movement (and Resize) lies between `v` and a graph output. */
  #reachesOutput(v: Value): boolean {
    if (v.isGraphOutput || this.options.region?.exits.includes(v.name)) return true;
    return v.uses.some((u) =>
      (isAnyOp(u.node, MOVEMENT) || isOp(u.node, Op.Resize)) && u.index === 0 &&
      u.node.outputs.some((o) => this.#reachesOutput(o))
    );
  }

  #linear(node: Node): void {
    const conv = isOp(node, Op.Conv);
    const w = constOf(node.inputs[1])!;
    if (!conv && w.dims.length !== 2) return this.fallback(node);
    const x = this.need(node.inputs[0]!, [I8], I8);
    const { q, scale } = quantizeWeight(w, conv ? 0 : 1, 8);
    const ws = Array.from(scale.data as Float32Array);
    const wv = this.emit.init(`${node.name}_w_int8`, q);
    const attrs = conv ? [...node.attrs.values()] : [];
    let acc = this.emit.node(conv ? Op.ConvInteger : Op.MatMulInteger, [x.v, wv], node.name, I32, attrs);
    let out = node.outputs[0]!;
    let bias: Float32Array | undefined;
    if (conv && constOf(node.inputs[2])) bias = constOf(node.inputs[2])!.data as Float32Array;
    const fused = conv ? undefined : biasAddAfter(out);
    if (fused) {
      bias = fused.bias;
      out = fused.add.outputs[0]!;
      this.#handled.add(fused.add);
    }
    if (bias) {
      const bq = quantizeBias(bias, { inputScale: x.scale, weightScale: ws });
      const dims = conv ? [bias.length, 1, 1] : [bias.length];
      const bv = this.emit.init(`${node.name}_bias_int32`, makeTensor(I32, dims, bq));
      acc = this.emit.node(Op.Add, [acc, bv], `${node.name}_bias`, I32);
    }
    const dtype = this.feedsResidual(out) ? I16 : I8;
    const sOut = scaleFor(this.#range(out, dtype), dtype);
    const ratios = ws.map((s) => x.scale * s / sOut);
    this.bind(
      out,
      this.emit.requantize(acc, ratios, { name: `${node.name}_requant`, scale: sOut, dtype }, conv ? 1 : -1),
    );
  }

  /**
   * Activation x activation MatMul: MatMulInteger on int8. An int16 left operand (the 16-bit Shiftmax output,
   * in [0, 32767]) is split into bytes, hi = floor(a / 256) in [0, 127] (int8) and lo = a mod 256 (uint8), and
   * acc = 256 * (hi x b) + (lo x b): 16-bit attention weights with 8-bit integer matmuls only.
   */
  #actMatMul(node: Node): void {
    const [ia, ib] = node.inputs as [Value, Value];
    const b = this.need(ib, [I8], I8);
    const qa = this.q(ia);
    let a = qa;
    let acc: Value;
    if (qa.dtype === I16 && this.#softmaxOut.has(qa.v)) {
      const n = node.name;
      const a32 = this.emit.cast(qa, I32, `${n}_a32`).v;
      const k256 = this.emit.init(`${n}_256`, makeTensor(I32, [], new Int32Array([256])));
      const hi = this.emit.cast(
        { v: this.emit.node(Op.Div, [a32, k256], `${n}_hi`, I32), scale: 1, dtype: I32 },
        I8,
        `${n}_hi8`,
      );
      const lo = this.emit.node(Op.Mod, [a32, k256], `${n}_lo`, I32);
      const lo8 = this.emit.node(Op.Cast, [lo], `${n}_lo8`, DataType.UINT8, [intAttr("to", DataType.UINT8)]);
      const mh = this.emit.node(Op.MatMulInteger, [hi.v, b.v], `${n}_hi_mm`, I32);
      const ml = this.emit.node(Op.MatMulInteger, [lo8, b.v], `${n}_lo_mm`, I32);
      acc = this.emit.node(Op.Add, [this.emit.node(Op.Mul, [mh, k256], `${n}_hi_x256`, I32), ml], n, I32);
    } else {
      a = this.need(ia, [I8], I8);
      acc = this.emit.node(Op.MatMulInteger, [a.v, b.v], node.name, I32);
    }
    const scale = a.scale * b.scale;
    this.emit.log.push({ node: acc.producer!.name, op: Op.MatMulInteger.type, scale, dtype: "int32" });
    this.bind(node.outputs[0]!, { v: acc, scale, dtype: I32 });
  }

  readonly #softmaxOut = new Set<Value>();

  #scaleOnly(node: Node): boolean {
    const [a, b] = node.inputs;
    const x = this.isFloat(a) ? a : this.isFloat(b) && isOp(node, Op.Mul) ? b : undefined;
    const c = scalarOf(x === a ? b : a);
    if (!x || c === undefined || !(c > 0) || !this.#q.has(x)) return false;
    const qt = this.#q.get(x)!;
    this.bind(node.outputs[0]!, { ...qt, scale: isOp(node, Op.Mul) ? qt.scale * c : qt.scale / c });
    return true;
  }

  #softmax(node: Node): void {
    const dims = this.stats.get(node.inputs[0]!.name)!.dims;
    const axis = node.a.int("axis", -1);
    if (axis !== -1 && axis !== dims.length - 1) return this.fallback(node);
    const x = this.q(node.inputs[0]!);
    const L = dims[dims.length - 1]!;
    const p = shiftExpParams(x.scale, {
      expShift: "auto",
      maxE0: Math.min(2 ** 30, Math.floor((2 ** 31 - 1) / L)),
    });
    const bits = this.options.softmaxBits;
    const attrs = { p: p.p, n: p.n, exp_shift: p.expShift, output_bits: bits };
    const out = { name: node.name, scale: 2 ** (1 - bits), dtype: bits === 8 ? I8 : I16 } as const;
    const y = this.emit.integer(Op.Shiftmax, [x.v], attrs, out);
    this.#softmaxOut.add(y.v);
    this.bind(node.outputs[0]!, y);
  }

  #layerNorm(node: Node): void {
    if (node.a.int("axis", -1) !== -1) return this.fallback(node);
    const gamma = constOf(node.inputs[1])!.data as Float32Array,
      beta = constOf(node.inputs[2])!.data as Float32Array;
    this.#iLayerNorm(node.inputs[0]!, gamma, beta, node.outputs[0]!, node.name);
  }

  /** ILayerNorm over the last axis (fused or decomposed LayerNorm; epsilon is below one LSB and dropped). */
  #iLayerNorm(input: Value, gamma: Float32Array, beta: Float32Array, out: Value, name: string): void {
    const x = this.need(input, [I8, I16], I16);
    const dtype = this.#reachesOutput(out) ? I16 : I8;
    const sOut = scaleFor(this.#range(out, dtype), dtype);
    const p = iLayerNormParams(gamma, beta, {
      outputScale: sOut,
      inputBits: x.dtype === I8 ? 8 : 16,
      outputBits: dtype === I8 ? 8 : 16,
    });
    const g = this.emit.init(`${name}_gamma_int16`, makeTensor(I16, [gamma.length], p.gamma));
    const b = this.emit.init(`${name}_beta_int32`, makeTensor(I32, [beta.length], p.beta));
    const attrs = {
      multiplier: p.multiplier,
      shift: p.shift,
      var_shift: p.varShift ?? 0,
      output_bits: p.outputBits ?? 8,
    };
    this.bind(
      out,
      this.emit.integer(Op.ILayerNorm, [x.v, g, b], attrs, { name, scale: sOut, dtype }),
    );
  }

  #gelu(m: GeluMatch): void {
    const x = this.need(m.input, [I8, I16], I8);
    const lambda = this.options.gelu === "lambda";
    const p = shiftGeluParams(x.scale, { lambda: lambda ? "auto" : 0 });
    const attrs: Record<string, number> = lambda ? { p: p.p, n: p.n, lambda: p.lambda } : { p: p.p, n: p.n };
    const name = `${m.nodes[0]!.name}_gelu`;
    const op = lambda ? Op.LambdaShiftGelu : Op.ShiftGelu;
    this.bind(m.output, this.emit.integer(op, [x.v], attrs, { name, scale: x.scale, dtype: x.dtype }));
  }

  #add(node: Node): boolean {
    const [a, b] = node.inputs;
    const out = node.outputs[0]!;
    if (!this.isFloat(out)) return false;
    const sOut = scaleFor(this.#range(out, I16), I16);
    if (this.isFloat(a) && this.isFloat(b)) {
      const da = this.stats.get(a.name)!.dims.join(), db = this.stats.get(b.name)!.dims.join();
      if (da !== db) return false;
      const qa = this.q(a), qb = this.q(b);
      const ra = dyadic(qa.scale / sOut), rb = dyadic(qb.scale / sOut);
      const attrs = {
        a_multiplier: ra.multiplier,
        a_shift: ra.shift,
        b_multiplier: rb.multiplier,
        b_shift: rb.shift,
        output_bits: 16,
      };
      this.bind(
        out,
        this.emit.integer(Op.IntAdd, [qa.v, qb.v], attrs, { name: node.name, scale: sOut, dtype: I16 }),
      );
      return true;
    }
    const x = this.isFloat(a) ? a : this.isFloat(b) ? b : undefined;
    const c = constOf(x === a ? b : a);
    if (!x || !c || c.dtype !== DataType.FLOAT) return false;
    // x + C at the output scale: int32 x and C, integer Add, saturate to int16 (Requantize by 1).
    const qx = this.q(x);
    const x32 = this.emit.requantize(qx.v, qx.scale / sOut, {
      name: `${node.name}_lhs`,
      scale: sOut,
      dtype: I32,
    });
    const cq = this.emit.constant(`${node.name}_const_int32`, c, sOut, I32);
    const sum = this.emit.node(Op.Add, [x32.v, cq.v], node.name, I32);
    this.bind(out, this.emit.requantize(sum, 1, { name: `${node.name}_sat`, scale: sOut, dtype: I16 }));
    return true;
  }
}
