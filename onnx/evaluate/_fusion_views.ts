/**
 * Fused groups around the evaluator's matrix products that remove copies rather than arithmetic
 * (`_fusion.ts` finds them; each gives the bits of the separate ops):
 *
 * - a Transpose, or a Gather of one index along axis 0, whose value only MatMuls read (directly or through
 *   more such ops) becomes a strided view of its input (`ops/_strided.ts`), which the MatMul reads in
 *   place: attention's Q, K^T and V cost no copy. `Transpose -> Mul|Div(scalar)` (the scaled Q) scales the
 *   untransposed data (the same products, in another order) and views that.
 * - `MatMul -> Transpose` with the last axis kept last: the product is stored in the transposed layout
 *   directly (attention's heads back to [batch, tokens, heads, dim]).
 * - `MatMul -> Mul(scalar, or an M x N matrix the same for every batch element)`: the factor is applied as the
 *   product is stored (attention's scale; SwiGLU's `silu(gate) * up`).
 * @module
 */
import type { Graph, Node, Value } from "../ir.ts";
import { DataType, makeTensor, type Tensor, toNumbers } from "../tensor.ts";
import { getOp } from "./registry.ts";
import { epilogueStep, matMul } from "./ops/matmul.ts";
import { indexView, materialize, transposeView } from "./ops/_strided.ts";
import type { Fusion } from "./_fusion.ts";

/** Helpers of `findFusions` shared with this file. */
export interface Matcher {
  graph: Graph;
  reads: ReadonlyMap<Value, number>;
  keep: ReadonlySet<Value>;
  onlyReader: (v: Value, op: string) => Node | undefined;
  other: (n: Node, v: Value) => Value | null | false | undefined;
  constant: (v: Value, lookup: (v: Value) => Tensor | undefined) => Tensor | undefined;
}

/** A float32 scalar (one element, rank at most `rank`), or undefined. */
function scalarOf(t: Tensor | undefined, rank: number): number | undefined {
  return t && t.dtype === DataType.FLOAT && t.data.length === 1 && t.dims.length <= rank
    ? (t.data as Float32Array)[0]
    : undefined;
}

function permOf(n: Node, rank: number): number[] {
  return n.a.ints("perm", Array.from({ length: rank }, (_, i) => rank - 1 - i));
}

/**
 * A predicate: whether every reader of v (in this graph, v not a graph output) is a MatMul or a view op
 * (Transpose, Gather along axis 0) whose own value passes the same test. Memoized.
 */
export function viewSafety(m: Matcher): (v: Value) => boolean {
  const memo = new Map<Value, boolean>();
  const safe = (v: Value): boolean => {
    const known = memo.get(v);
    if (known !== undefined) return known;
    memo.set(v, false); // cycles cannot occur in a sorted graph; this only guards
    const ok = v.graph === m.graph && !m.keep.has(v) && v.uses.length > 0 &&
      m.reads.get(v) === v.uses.length &&
      v.uses.every(({ node: n, index }) =>
        n.domain === "" && n.outputs.length === 1 && (
          (n.opType === "MatMul" && index <= 1) ||
          (n.opType === "Transpose" && safe(n.outputs[0]!)) ||
          (n.opType === "Gather" && index === 0 && n.a.int("axis", 0) === 0 && safe(n.outputs[0]!))
        )
      );
    memo.set(v, ok);
    return ok;
  };
  return safe;
}

/** The view group headed by a Transpose or Gather node, or undefined. */
export function viewFusion(head: Node, m: Matcher, safe: (v: Value) => boolean): Fusion | undefined {
  const y = head.outputs[0]!;
  if (head.outputs.length !== 1 || !head.inputs[0]) return undefined;
  // falls back to the op's own kernel, on a row-major copy of a viewed input
  const plain = (inputs: (Tensor | undefined)[]) =>
    getOp("", head.opType)(inputs.map((t) => t && materialize(t)), head.a, { opset: 21, numOutputs: 1 })[0];
  if (head.opType === "Transpose") {
    const transposed = (x: Tensor) =>
      x.dtype === DataType.FLOAT ? transposeView(x, permOf(head, x.dims.length)) : plain([x]);
    if (safe(y)) return { rest: [], out: y, run: (inputs) => transposed(inputs[0]!) };
    // Transpose -> Mul|Div by a scalar -> MatMuls
    const mul = m.onlyReader(y, "Mul") ?? m.onlyReader(y, "Div");
    const s = mul && m.other(mul, y);
    if (!mul || !s || (mul.opType === "Div" && mul.inputs[0] !== y) || !safe(mul.outputs[0]!)) {
      return undefined;
    }
    return {
      rest: [mul],
      out: mul.outputs[0]!,
      run: (inputs, lookup) => {
        const x = materialize(inputs[0]!), c = scalarOf(m.constant(s, lookup), x.dims.length);
        if (x.dtype !== DataType.FLOAT || c === undefined) {
          // op by op: the Mul or Div on the row-major transposed value (which nothing else reads)
          const t = plain([x])!;
          const ins = mul.inputs[0] === y ? [t, m.constant(s, lookup)] : [m.constant(s, lookup), t];
          return getOp("", mul.opType)(ins, mul.a, { opset: 21, numOutputs: 1 })[0];
        }
        const X = x.data as Float32Array, z = makeTensor(DataType.FLOAT, x.dims), Z = z.data as Float32Array;
        if (mul.opType === "Mul") { for (let i = 0; i < X.length; i++) Z[i] = X[i]! * c; }
        else for (let i = 0; i < X.length; i++) Z[i] = X[i]! / c;
        return transposeView(z, permOf(head, x.dims.length));
      },
    };
  }
  if (head.opType === "Gather" && head.inputs[1] && safe(y) && head.a.int("axis", 0) === 0) {
    return {
      rest: [],
      out: y,
      run: (inputs) => {
        const x = inputs[0]!, idx = inputs[1]!;
        const d0 = x.dims[0];
        if (x.dtype !== DataType.FLOAT || idx.dims.length !== 0 || d0 === undefined) return plain(inputs);
        const i = toNumbers(idx)[0]!;
        if (!Number.isInteger(i) || i < -d0 || i >= d0) return plain(inputs); // its error message
        return indexView(x, i < 0 ? i + d0 : i);
      },
    };
  }
  return undefined;
}

/** MatMul groups that store the product transposed or scaled (see the module doc), or undefined. */
export function productFusion(head: Node, m: Matcher): Fusion | undefined {
  const p = head.outputs[0]!;
  const tr = m.onlyReader(p, "Transpose");
  if (tr) {
    return {
      overwrites: true,
      rest: [tr],
      out: tr.outputs[0]!,
      run: (inputs, _lookup, cache) => {
        const a = inputs[0]!, b = inputs[1]!;
        if (
          a.dtype !== DataType.FLOAT || b.dtype !== DataType.FLOAT || a.dims.length < 2 || b.dims.length < 2
        ) {
          return undefined;
        }
        const r = Math.max(a.dims.length, b.dims.length), perm = permOf(tr, r);
        if (perm.length !== r || perm[r - 1] !== r - 1) return undefined;
        return matMul(a, b, "MatMul", cache, { perm });
      },
    };
  }
  const mul = m.onlyReader(p, "Mul"), s = mul && m.other(mul, p);
  if (!mul || !s) return undefined;
  return {
    overwrites: true,
    rest: [mul],
    out: mul.outputs[0]!,
    run: (inputs, lookup, cache) => {
      const a = inputs[0]!, b = inputs[1]!, t = m.constant(s, lookup);
      const r = Math.max(a.dims.length, b.dims.length), c = scalarOf(t, r);
      if (a.dtype !== DataType.FLOAT || b.dtype !== DataType.FLOAT || !t || t.dtype !== DataType.FLOAT) {
        return undefined;
      }
      if (a.dims.length < 2 || b.dims.length < 2) return undefined;
      if (c !== undefined) return matMul(a, b, "MatMul", cache, { epilogue: { mul: c } });
      // a matrix (SwiGLU's silu(gate) times the up projection)
      const step = epilogueStep(a, b, t, "mul");
      return step && matMul(a, b, "MatMul", cache, { epilogue: step });
    },
  };
}
