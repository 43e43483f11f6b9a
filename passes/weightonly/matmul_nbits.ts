/**
 * Builders of the two weight-only formats in a graph: `com.microsoft.MatMulNBits` with the initializers named
 * and shaped as onnxruntime's `MatMulNBitsQuantizer` writes them (`<weight>_Q<bits>`, `<weight>_scales`,
 * `<weight>_zero_points`; node `<name>_Q<bits>`), and a blocked `DequantizeLinear` (opset 21) feeding the
 * weight input of the MatMul / Gemm. Packing lives in quant/matmul_nbits.ts; these only add nodes.
 * @module
 */
import { intAttr } from "../../onnx/attributes.ts";
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import { MS_DOMAIN, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import type { BlockedDqTensors, MatMulNBitsPacked } from "../../quant/matmul_nbits.ts";

/** Options of {@linkcode addMatMulNBits}. */
export interface AddMatMulNBitsOptions {
  /** Prefix of the initializer names (the float weight's name, as onnxruntime does). */
  prefix: string;
  /** Node name. @default {""} */
  name?: string;
  /** Output value name. @default {`${prefix}_matmulnbits`} */
  output?: string;
  /** Optional bias `[N]` (float). @default {undefined} */
  bias?: Value;
  /** `accuracy_level` attribute; omitted when 0, as onnxruntime's quantizer does. @default {0} */
  accuracyLevel?: number;
  /** Insert the node before this one (topological order). @default {appended} */
  before?: Node;
}

/**
 * Add `Y = MatMulNBits(A, B, scales[, zero_points][, bias])` with its initializers to a graph. The caller
 * raises the `com.microsoft` opset import (version 1).
 *
 * @param g the graph
 * @param a the activation `[..., K]`
 * @param p packed tensors from quant/matmul_nbits.ts `packMatMulNBits`
 * @param options names, bias, accuracy level, position
 * @returns the node and the initializers it stores the weight in
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Graph } from "../../onnx/ir.ts";
 * import { packMatMulNBits } from "../../quant/matmul_nbits.ts";
 * import { addMatMulNBits } from "./matmul_nbits.ts";
 * const g = new Graph("g");
 * const x = g.value("x");
 * const p = packMatMulNBits({ rows: 32, cols: 2, bits: 4, groupSize: 32, symmetric: true,
 *   codes: new Uint8Array(64), scales: new Float32Array(2), zeroPoints: new Uint8Array(2) });
 * const { node, initializers } = addMatMulNBits(g, x, p, { prefix: "w" });
 * assertEquals([node.opType, node.a.int("block_size"), initializers.map((v) => v.name)], ["MatMulNBits", 32, ["w_Q4", "w_scales"]]);
 * ```
 */
export function addMatMulNBits(
  g: Graph,
  a: Value,
  p: MatMulNBitsPacked,
  options: AddMatMulNBitsOptions,
): { node: Node; initializers: Value[] } {
  const pre = options.prefix;
  const inits = [
    g.addInitializer(`${pre}_Q${p.bits}`, makeTensor(DataType.UINT8, p.bDims, p.b)),
    g.addInitializer(`${pre}_scales`, makeTensor(DataType.FLOAT, [p.scales.length], p.scales)),
  ];
  if (p.zeroPoints) {
    inits.push(
      g.addInitializer(`${pre}_zero_points`, makeTensor(DataType.UINT8, [p.zeroPoints.length], p.zeroPoints)),
    );
  }
  const inputs: (Value | null)[] = [a, ...inits];
  if (options.bias) {
    while (inputs.length < 5) inputs.push(null);
    inputs.push(options.bias);
  }
  const attrs = [
    intAttr("K", p.k),
    intAttr("N", p.n),
    intAttr("bits", p.bits),
    intAttr("block_size", p.blockSize),
    ...(options.accuracyLevel ? [intAttr("accuracy_level", options.accuracyLevel)] : []),
  ];
  const node = g.addNode(Op.MatMulNBits.type, inputs, [options.output ?? `${pre}_matmulnbits`], {
    domain: MS_DOMAIN,
    attrs,
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.before ? { before: options.before } : {}),
  });
  node.outputs[0]!.type = { elemType: DataType.FLOAT };
  return { node, initializers: inits };
}

const DQ_TYPES = {
  int4: DataType.INT4,
  uint4: DataType.UINT4,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
} as const;

/**
 * Add `Ŵ = DequantizeLinear(codes, scales[, zero_points], axis = 0, block_size)` (opset 21) with its
 * initializers; `Ŵ` is `[K, N]` float.
 *
 * @param g the graph
 * @param k K
 * @param n N
 * @param t tensors from quant/matmul_nbits.ts `blockedDequantizeLinear`
 * @param options `prefix` of the initializer names, `before`
 * @returns the dequantized value and the initializers
 */
export function addBlockedDequantize(
  g: Graph,
  k: number,
  n: number,
  t: BlockedDqTensors,
  options: { prefix: string; before?: Node },
): { value: Value; initializers: Value[] } {
  const type = DQ_TYPES[t.type];
  const kb = t.scales.length / n;
  const inits = [
    g.addInitializer(`${options.prefix}_DQ_Q`, makeTensor(type, [k, n], t.codes)),
    g.addInitializer(`${options.prefix}_DQ_scales`, makeTensor(DataType.FLOAT, [kb, n], t.scales)),
  ];
  if (t.zeroPoints) {
    inits.push(g.addInitializer(`${options.prefix}_DQ_zero_points`, makeTensor(type, [kb, n], t.zeroPoints)));
  }
  const node = g.addNode(Op.DequantizeLinear.type, inits, [`${options.prefix}_DQ`], {
    attrs: [intAttr("axis", 0), intAttr("block_size", t.blockSize)],
    ...(options.before ? { before: options.before } : {}),
  });
  const value = node.outputs[0]!;
  value.type = { elemType: DataType.FLOAT, shape: [k, n] };
  return { value, initializers: inits };
}
