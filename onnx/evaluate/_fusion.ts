/**
 * Node groups the CPU evaluator runs as one kernel when nothing observes the values between them (no
 * `onValue` observer, each intermediate read once and not a graph output). Each fused kernel rounds every
 * step to float32 exactly as the separate ops do, so the results are the same bits; only the intermediate
 * tensors and their passes over memory go away. Where the operands met at run time do not fit (a bias that
 * is not a row, a constant that is not a scalar, no WebAssembly), the nodes run one by one.
 *
 * - `MatMul -> Add(a bias row, a matrix the same for every batch element (an attention mask), or one of the
 *   output's shape) [-> Add(a residual of the output's shape)]`: added as the GEMM writes its output
 *   (`matMulAdd`).
 * - Transposes and Gathers that only feed MatMuls become strided views; `MatMul -> Transpose` and
 *   `MatMul -> Mul(scalar or matrix)` store the product transposed or scaled (`_fusion_views.ts`).
 * - GELU as exporters write it, `Mul(Mul(x, Add(Erf(Div(x, c1)), c2)), c3)` (in either operand order of
 *   Add and the Muls): one WebAssembly pass (`geluF32`).
 * - SiLU, `Mul(x, Sigmoid(x))`: one WebAssembly pass (`siluF32`).
 * - RMSNorm as exporters write it, `Mul(Mul(x, Div(c, Sqrt(Add(ReduceMean(Pow(x, 2)), eps)))), w)` over the
 *   last axis (the weight Mul optional): one pass per row (`rmsNormF32`).
 * @module
 */
import type { Graph, Node, Value } from "../ir.ts";
import { DataType, makeTensor, type Tensor, toNumbers } from "../tensor.ts";
import { matMulAdd } from "./ops/matmul.ts";
import type { PackCache } from "./ops/_gemm.ts";
import { geluF32 } from "./ops/_erf_wasm.ts";
import { siluF32 } from "./ops/_exp_wasm.ts";
import { rmsNormF32 } from "./ops/_rms_norm.ts";
import { type Matcher, productFusion, viewFusion, viewSafety } from "./_fusion_views.ts";
import { getOp } from "./registry.ts";

/** A group started by its first node (the map key). */
export interface Fusion {
  /** The group's other nodes, skipped when the evaluator reaches them (after a fused run). */
  rest: Node[];
  /** The value the fused kernel produces (the last node's output). */
  out: Value;
  /** The kernel writes every element of the float32 storage it allocates (recycled storage is not zeroed). */
  overwrites?: boolean;
  /**
   * The fused kernel, or undefined where the run-time operands do not fit (then the nodes run one by one).
   * @param inputs the first node's inputs
   * @param lookup the current tensor of any value
   * @param cache packed constant GEMM operands, where the first node's second input is a constant
   */
  run(
    inputs: (Tensor | undefined)[],
    lookup: (v: Value) => Tensor | undefined,
    cache: PackCache | undefined,
  ): Tensor | undefined;
}

/**
 * The fusable groups of `graph`, by first node.
 *
 * @param graph the graph being evaluated
 * @param reads the number of reads of each value by the graph's nodes (bodies included)
 * @param keep the graph outputs
 * @param opset the graph's ai.onnx opset (ReduceMean takes its axes as an input from 18)
 */
export function findFusions(
  graph: Graph,
  reads: ReadonlyMap<Value, number>,
  keep: ReadonlySet<Value>,
  opset = 21,
): Map<Node, Fusion> {
  const out = new Map<Node, Fusion>();
  const taken = new Set<Node>();
  // the single node of this graph reading v, where v is read once and not a graph output
  const onlyReader = (v: Value, op: string): Node | undefined => {
    if (v.graph !== graph || reads.get(v) !== 1 || keep.has(v) || v.uses.length !== 1) return undefined;
    const n = v.uses[0]!.node;
    return n.opType === op && n.domain === "" && n.outputs.length === 1 && !taken.has(n) ? n : undefined;
  };
  const other = (n: Node, v: Value) =>
    n.inputs.length === 2 && (n.inputs[0] === v ? n.inputs[1] : n.inputs[1] === v ? n.inputs[0] : null);
  const m: Matcher = { graph, reads, keep, onlyReader, other, constant };
  const safe = viewSafety(m);
  const claim = (head: Node, f: Fusion | undefined) => {
    if (!f) return;
    f.rest.forEach((n) => taken.add(n));
    out.set(head, f);
  };
  for (const head of graph.nodes) {
    if (head.domain !== "" || taken.has(head) || out.has(head)) continue;
    if (head.opType === "Transpose" || head.opType === "Gather") claim(head, viewFusion(head, m, safe));
    else if (head.opType === "MatMul" && head.outputs.length === 1) {
      const add = onlyReader(head.outputs[0]!, "Add"), bias = add && other(add, head.outputs[0]!);
      if (!add || !bias) {
        claim(head, productFusion(head, m));
        continue;
      }
      taken.add(add);
      // a second Add (a residual) joins where the first one's value only feeds it
      const add2 = onlyReader(add.outputs[0]!, "Add"), res = add2 && other(add2, add.outputs[0]!);
      if (add2 && res) taken.add(add2);
      out.set(head, {
        overwrites: true,
        rest: add2 && res ? [add, add2] : [add],
        out: (add2 && res ? add2 : add).outputs[0]!,
        run: (inputs, lookup, cache) => {
          const b = lookup(bias), r = res ? lookup(res) : undefined;
          return b && (!res || r) ? matMulAdd(inputs[0]!, inputs[1]!, b, cache, r) : undefined;
        },
      });
    } else if (head.opType === "Sigmoid" && head.inputs[0] && head.outputs.length === 1) {
      // SiLU: Mul(x, Sigmoid(x)) in one pass
      const x = head.inputs[0], mul = onlyReader(head.outputs[0]!, "Mul");
      if (!mul || other(mul, head.outputs[0]!) !== x) continue;
      claim(head, {
        overwrites: true,
        rest: [mul],
        out: mul.outputs[0]!,
        run: (inputs) => {
          const t = inputs[0]!;
          if (t.dtype !== DataType.FLOAT || !(t.data instanceof Float32Array)) return undefined;
          const y = makeTensor(DataType.FLOAT, t.dims);
          return siluF32(t.data, y.data as Float32Array) ? y : undefined;
        },
      });
    } else if (head.opType === "Pow" && head.inputs.length === 2 && head.outputs.length === 1) {
      const f = rmsNorm(head, opset, onlyReader, other);
      if (!f) continue;
      f.rest.forEach((n) => taken.add(n));
      out.set(head, f);
    } else if (head.opType === "Div" && head.inputs.length === 2 && head.outputs.length === 1) {
      const x = head.inputs[0]!, c1 = head.inputs[1];
      const erf = onlyReader(head.outputs[0]!, "Erf");
      const add = erf && onlyReader(erf.outputs[0]!, "Add"), c2 = add && other(add, erf!.outputs[0]!);
      const mul = add && onlyReader(add.outputs[0]!, "Mul");
      const mul2 = mul && other(mul, add!.outputs[0]!) === x ? onlyReader(mul.outputs[0]!, "Mul") : undefined;
      const c3 = mul2 && other(mul2, mul!.outputs[0]!);
      if (!x || !c1 || !c2 || !c3 || x === c1) continue;
      const rest = [erf!, add!, mul!, mul2!];
      rest.forEach((n) => taken.add(n));
      out.set(head, {
        overwrites: true,
        rest,
        out: mul2!.outputs[0]!,
        run: (inputs, lookup) => gelu(inputs, constant(c2, lookup), constant(c3, lookup)),
      });
    }
  }
  return out;
}

/**
 * The tensor of v, also where v comes from a Constant node that the evaluator has not reached yet
 * (exporters place each Constant right before its reader, after the group's first node).
 */
function constant(v: Value, lookup: (v: Value) => Tensor | undefined): Tensor | undefined {
  const t = lookup(v);
  if (t) return t;
  const p = v.producer;
  if (!p || p.opType !== "Constant" || p.domain !== "" || p.inputs.length !== 0) return undefined;
  return getOp("", "Constant")([], p.a, { opset: 21, numOutputs: 1 })[0];
}

function scalar(t: Tensor | undefined, rank: number): number | undefined {
  return t && t.dtype === DataType.FLOAT && t.data.length === 1 && t.dims.length <= rank
    ? (t.data as Float32Array)[0]
    : undefined;
}

function gelu(
  inputs: (Tensor | undefined)[],
  t2: Tensor | undefined,
  t3: Tensor | undefined,
): Tensor | undefined {
  const x = inputs[0]!;
  if (x.dtype !== DataType.FLOAT || !(x.data instanceof Float32Array)) return undefined;
  const r = x.dims.length;
  const c1 = scalar(inputs[1], r), c2 = scalar(t2, r), c3 = scalar(t3, r);
  if (c1 === undefined || c2 === undefined || c3 === undefined) return undefined;
  const y = makeTensor(DataType.FLOAT, x.dims);
  return geluF32(x.data, y.data as Float32Array, c1, c2, c3) ? y : undefined;
}

/** The RMSNorm group headed by `pow` (see the module doc), or undefined where the graph does not match. */
function rmsNorm(
  pow: Node,
  opset: number,
  onlyReader: (v: Value, op: string) => Node | undefined,
  other: (n: Node, v: Value) => Value | null | false | undefined,
): Fusion | undefined {
  const x = pow.inputs[0], two = pow.inputs[1];
  const mean = onlyReader(pow.outputs[0]!, "ReduceMean");
  if (!x || !two || !mean || mean.a.int("keepdims", 1) !== 1) return undefined;
  // the axes: an attribute before opset 18, a (constant) input from 18
  const axesIn = opset >= 18 ? mean.inputs[1] : undefined;
  if (opset >= 18 ? !axesIn : mean.inputs.length > 1) return undefined;
  const add = onlyReader(mean.outputs[0]!, "Add"), eps = add && other(add, mean.outputs[0]!);
  const sqrt = add && onlyReader(add.outputs[0]!, "Sqrt");
  const div = sqrt && onlyReader(sqrt.outputs[0]!, "Div");
  const c = div && div.inputs[1] === sqrt!.outputs[0] ? div.inputs[0] : undefined;
  const mul = div && onlyReader(div.outputs[0]!, "Mul");
  if (!eps || !c || !mul || other(mul, div!.outputs[0]!) !== x) return undefined;
  const mul2 = onlyReader(mul.outputs[0]!, "Mul"), w = mul2 && other(mul2, mul.outputs[0]!);
  const rest = [mean, add!, sqrt!, div!, mul, ...(w ? [mul2!] : [])];
  return {
    overwrites: true,
    rest,
    out: (w ? mul2! : mul).outputs[0]!,
    run: (inputs, lookup) => {
      const X = inputs[0]!, r = X.dims.length, L = X.dims[r - 1] ?? 0;
      if (X.dtype !== DataType.FLOAT || !(X.data instanceof Float32Array) || r === 0) return undefined;
      const at = axesIn && constant(axesIn, lookup);
      const axes = axesIn ? (at ? toNumbers(at) : []) : mean.a.ints("axes", []);
      if (axes.length !== 1 || (axes[0] !== -1 && axes[0] !== r - 1)) return undefined;
      const e = scalar(constant(eps, lookup), r), cv = scalar(constant(c, lookup), r);
      if (scalar(inputs[1], r) !== 2 || e === undefined || cv === undefined) return undefined;
      let wd: Float32Array | undefined;
      if (w) { // a row of L floats along the last axis
        const t = constant(w, lookup);
        if (!t || t.dtype !== DataType.FLOAT || !(t.data instanceof Float32Array)) return undefined;
        if (t.data.length !== L || t.dims.length > r || t.dims.slice(0, -1).some((d) => d !== 1)) {
          return undefined;
        }
        wd = t.data;
      }
      const y = makeTensor(DataType.FLOAT, X.dims);
      rmsNormF32(X.data, y.data as Float32Array, L, e, cv, wd);
      return y;
    },
  };
}
