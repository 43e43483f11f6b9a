/**
 * Integer-only conversion helpers for ops that only move data (passes/intvit/integer_only_convert.ts): Concat,
 * Reshape/Transpose/Gather/Slice/Expand..., nearest Resize, and the output (or region exit) dequantization.
 * @module
 */
import { stringAttr } from "../../onnx/attributes.ts";
import type { Node } from "../../onnx/ir.ts";
import { Op } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import type { Converter } from "./integer_only_convert.ts";
import { type QTensor, scaleFor } from "./integer_only_emit.ts";
import { constOf } from "./integer_only_patterns.ts";

const I8 = DataType.INT8, I16 = DataType.INT16, I32 = DataType.INT32;

/** Concat on integers: every input requantized (or a constant quantized) to the output scale, in place. */
export function concatOp(conv: Converter, node: Node): void {
  const out = node.outputs[0]!;
  if (!conv.isFloat(out)) return conv.fallback(node);
  const parts = node.inputs.map((v) => (conv.isFloat(v) ? conv.q(v) : undefined));
  // int16 when a part is wider, or when the result starts a residual stream (it feeds a residual Add): rows of
  // very different magnitude then share one scale, and the LayerNorm that reads the stream rescales each row.
  const dtype = parts.some((p) => p && p.dtype !== I8) || conv.startsResidual(out) ? I16 : I8;
  const sOut = conv.scaleOf(out, dtype);
  node.inputs.forEach((v, i) => {
    const p = parts[i];
    const c = constOf(v);
    if (p) node.setInput(i, conv.emit.convert(p, sOut, dtype, `${node.name}_in${i}`).v);
    else if (c && c.dtype === DataType.FLOAT) {
      node.setInput(i, conv.emit.constant(`${node.name}_c${i}`, c, sOut, dtype).v);
    }
  });
  out.type = { elemType: dtype };
  conv.bind(out, { v: out, scale: sOut, dtype });
}

/** Data movement on the integer twin, in place (a float constant data input is quantized to int8). */
export function movementOp(conv: Converter, node: Node): void {
  const data = node.inputs[0]!;
  const dataName = data.name;
  let qt: QTensor;
  if (conv.isFloat(data)) qt = conv.q(data);
  else {
    const c = constOf(data)!;
    let m = 0;
    for (const x of c.data as Float32Array) m = Math.max(m, Math.abs(x));
    qt = conv.emit.constant(`${dataName}_int8`, c, scaleFor([-m, m], I8), I8);
  }
  node.setInput(0, qt.v);
  for (const o of node.outputs) {
    o.type = { elemType: qt.dtype };
    conv.bind(o, { v: o, scale: qt.scale, dtype: qt.dtype });
  }
}

/** Bilinear Resize -> nearest on integers (I-Segmenter), in place. */
export function resizeOp(conv: Converter, node: Node): void {
  let x = conv.q(node.inputs[0]!);
  // onnxruntime's Resize has no int16 kernel: widen to int32 (same scale).
  if (x.dtype === I16) x = conv.emit.cast(x, I32, `${node.name}_in`);
  node.setInput(0, x.v);
  for (const a of ["mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a"]) {
    node.attrs.delete(a);
  }
  for (
    const a of [
      stringAttr("mode", "nearest"),
      stringAttr("coordinate_transformation_mode", "asymmetric"),
      stringAttr("nearest_mode", "floor"),
    ]
  ) {
    node.attrs.set(a.name, a);
  }
  const o = node.outputs[0]!;
  o.type = { elemType: x.dtype };
  conv.bind(o, { v: o, scale: x.scale, dtype: x.dtype });
  conv.notes.push(`Resize "${node.name}": bilinear -> nearest on integers (I-Segmenter)`);
}

/** Graph outputs with an integer twin get a DequantizeLinear under their original name. */
export function dequantizeOutputs(conv: Converter): void {
  const g = conv.model.graph;
  g.outputs.forEach((v, i) => {
    let qt = conv.twin(v);
    if (!qt) return;
    const type = v.type;
    if (qt.dtype === I16) qt = conv.emit.cast(qt, I32, `${v.name}_i32`);
    const name = v.name;
    g.rename(v, qt.v === v ? `${name}_int` : `${name}_float`);
    const s = conv.emit.init(`${name}_scale`, makeTensor(DataType.FLOAT, [], new Float32Array([qt.scale])));
    const dq = g.addNode(Op.DequantizeLinear.type, [qt.v, s], [name], {
      name: g.uniqueNodeName(`${name}_dequantize`),
    });
    const y = dq.outputs[0]!;
    y.type = { elemType: DataType.FLOAT, ...(type?.shape ? { shape: [...type.shape] } : {}) };
    g.outputs[i] = y;
    conv.emit.log.push({ node: dq.name, op: Op.DequantizeLinear.type, scale: qt.scale, dtype: "float" });
  });
}

/**
 * Region exits: every consumer outside the region reads a DequantizeLinear of the exit's integer twin.
 *
 * @param conv the running conversion (region mode)
 * @param exits exit value names
 * @throws {RangeError} when an exit got no integer twin or is a graph output
 */
export function dequantizeExits(conv: Converter, exits: readonly string[]): void {
  const g = conv.model.graph;
  const region = conv.options.region!.nodes;
  for (const name of exits) {
    const v = g.lookup(name)!;
    if (!conv.twin(v)) throw new RangeError(`Region exit "${name}" was not converted to integers`);
    if (v.isGraphOutput) {
      throw new RangeError(`Region exit "${name}" is a graph output: convert the whole model instead`);
    }
    const f = conv.dq(v);
    for (const u of [...v.uses]) if (!region.has(u.node)) u.node.setInput(u.index, f);
    const dq = f.producer!;
    conv.emit.log.push({
      node: dq.name,
      op: Op.DequantizeLinear.type,
      scale: conv.twin(v)!.scale,
      dtype: "float",
    });
  }
}
