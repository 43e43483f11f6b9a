/**
 * Node emission for the integer-only conversion (passes/intvit/integer_only.ts): integer tensors with their real
 * scale ({@link QTensor}), dyadic requantization between scales and widths, weight and bias quantization,
 * and the per-op log the pass reports. All nodes are appended; the pass sorts the graph at the end.
 * @module
 */
import { type Attribute, intAttr } from "../../onnx/attributes.ts";
import type { Model, Value } from "../../onnx/ir.ts";
import { addIntegerOp, type IntegerOutputType } from "../../onnx/integer_functions.ts";
import { Op, type OpSchema } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import { dyadic } from "../../quant/dyadic.ts";
import { roundHalfEven } from "../../quant/round.ts";

/** An integer tensor and the real value of one LSB. */
export interface QTensor {
  v: Value;
  scale: number;
  dtype: IntegerOutputType;
}

/** One converted op, for the report. */
export interface OpRecord {
  /** Node name of the emitted op. */
  node: string;
  /** Op type (shiftkit or ONNX). */
  op: string;
  /** Output scale (real value of one LSB). */
  scale: number;
  /** Output element type name. */
  dtype: string;
  /** Op attributes worth reporting (p, n, lambda, shifts...). */
  detail?: Record<string, number>;
}

/** Largest magnitude of a signed integer type. */
export function qmaxOf(dtype: IntegerOutputType): number {
  return dtype === DataType.INT8 ? 127 : dtype === DataType.INT16 ? 32767 : 2 ** 31 - 1;
}

/** Symmetric scale of a range for a width (never 0). */
export function scaleFor(range: readonly [number, number], dtype: IntegerOutputType): number {
  const m = Math.max(Math.abs(range[0]), Math.abs(range[1]), 1e-8);
  return m / qmaxOf(dtype);
}

const NAMES: Record<number, string> = {
  [DataType.INT8]: "int8",
  [DataType.INT16]: "int16",
  [DataType.INT32]: "int32",
};

/** Appends integer nodes to a model's main graph. */
export class Emitter {
  /** What was emitted, in order. */
  readonly log: OpRecord[] = [];
  constructor(readonly model: Model) {}

  get graph() {
    return this.model.graph;
  }

  /** A new initializer. */
  init(name: string, t: Tensor): Value {
    return this.graph.addInitializer(name, t);
  }

  /** A standard ONNX node with one output of a known element type. */
  node(
    op: OpSchema,
    inputs: (Value | null)[],
    name: string,
    elemType: number,
    attrs: Attribute[] = [],
  ): Value {
    const n = this.graph.addNode(op.type, inputs, [`${name}_out`], {
      name: this.graph.uniqueNodeName(name),
      attrs,
    });
    const v = n.outputs[0]!;
    v.type = { elemType };
    return v;
  }

  /** A shiftkit integer op (function body + overload), logged with its output scale. */
  integer(
    op: OpSchema,
    inputs: (Value | null)[],
    attrs: Record<string, number>,
    out: { name: string; scale: number; dtype: IntegerOutputType },
  ): QTensor {
    const n = addIntegerOp(this.model, this.graph, { op, inputs, attrs, outputType: out.dtype }, {
      name: this.graph.uniqueNodeName(out.name),
    });
    const detail = { ...attrs };
    this.log.push({ node: n.name, op: op.type, scale: out.scale, dtype: NAMES[out.dtype]!, detail });
    return { v: n.outputs[0]!, scale: out.scale, dtype: out.dtype };
  }

  /**
   * Requantize an integer tensor (or int32 accumulators with one ratio per channel) to a new scale/width.
   *
   * @param x input tensor
   * @param ratios s_in / s_out, one number (per tensor) or one per channel along `axis`
   * @param out name, output scale and width
   * @param axis channel axis when `ratios` is an array
   */
  requantize(
    x: Value,
    ratios: number | number[],
    out: { name: string; scale: number; dtype: IntegerOutputType },
    axis = -1,
  ): QTensor {
    const list = typeof ratios === "number" ? [ratios] : ratios;
    const ds = list.map((r) => dyadic(r));
    const dims = typeof ratios === "number" ? [] : [list.length];
    const m = this.init(
      `${out.name}_multiplier`,
      makeTensor(DataType.INT32, dims, Int32Array.from(ds, (d) => d.multiplier)),
    );
    const s = this.init(
      `${out.name}_shift`,
      makeTensor(DataType.INT32, dims, Int32Array.from(ds, (d) => d.shift)),
    );
    const bits = out.dtype === DataType.INT8 ? 8 : out.dtype === DataType.INT16 ? 16 : 32;
    return this.integer(Op.Requantize, [x, m, s], { output_bits: bits, zero_point: 0, axis }, out);
  }

  /** The same tensor at another scale and/or width (no node when nothing changes). */
  convert(x: QTensor, scale: number, dtype: IntegerOutputType, name: string): QTensor {
    if (x.dtype === dtype && Math.abs(x.scale - scale) <= 1e-12 * scale) return x;
    return this.requantize(x.v, x.scale / scale, { name, scale, dtype });
  }

  /** Quantize a float constant symmetric at a given scale and width. */
  constant(name: string, t: Tensor, scale: number, dtype: IntegerOutputType): QTensor {
    const src = t.data as Float32Array;
    const q = qmaxOf(dtype);
    const data = dtype === DataType.INT8
      ? new Int8Array(src.length)
      : dtype === DataType.INT16
      ? new Int16Array(src.length)
      : new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      data[i] = Math.max(-q - 1, Math.min(q, roundHalfEven(src[i]! / scale)));
    }
    return { v: this.init(name, makeTensor(dtype, t.dims, data)), scale, dtype };
  }

  /** Cast an integer tensor to another integer type (same scale). */
  cast(x: QTensor, dtype: IntegerOutputType, name: string): QTensor {
    if (x.dtype === dtype) return x;
    const v = this.node(Op.Cast, [x.v], name, dtype, [intAttr("to", dtype)]);
    return { v, scale: x.scale, dtype };
  }
}
