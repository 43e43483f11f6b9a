/**
 * MatMul (numpy semantics: 1-D promotion, batch broadcasting) and Gemm (transA/transB, alpha, beta,
 * unidirectionally broadcast C), on the blocked GEMM of `_gemm.ts`.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { type Epilogue, gemm, gemmBatch, gemmView, packBCached, type PackCache } from "./_gemm.ts";
import { broadcastOffsets, broadcastShapes, f32, req, shapeStr, stridesOf } from "./_util.ts";
import { isView, materialize, viewOf } from "./_strided.ts";

/** What {@link matMul} does beyond the product (the CPU evaluator's fused groups). */
export interface MatMulExtras {
  /** Applied to the product before it is stored (a bias row or matrix, or a scale), as `_gemm.ts` defines. */
  epilogue?: Epilogue;
  /**
   * The output is stored transposed by this permutation of its axes (a Transpose that reads the product
   * only), which must keep the last axis last: each output row stays contiguous.
   */
  perm?: readonly number[];
}

/**
 * Float32 matrix product with numpy broadcasting; either operand may be a strided view (`_strided.ts`). With
 * an epilogue, the product plus a bias (or times a scale), rounded as the separate op would round it; with a
 * permutation, the product as the following Transpose would give it.
 */
export function matMul(
  a: Tensor,
  b: Tensor,
  op = "MatMul",
  cache?: PackCache,
  extras: MatMulExtras = {},
): Tensor {
  f32(a, op, "A"), f32(b, op, "B");
  if (a.dims.length < 2) a = materialize(a);
  if (b.dims.length < 2) b = materialize(b);
  const A = a.data as Float32Array, B = b.data as Float32Array;
  const va = viewOf(a), vb = viewOf(b);
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : [...b.dims];
  const aStr = a.dims.length === 1 ? [0, 1] : va.strides, bStr = b.dims.length === 1 ? [1, 0] : vb.strides;
  if (aDims.length === 0 || bDims.length === 0) {
    throw new RangeError(`${op}: scalar operands are not allowed`);
  }
  const M = aDims[aDims.length - 2]!, K = aDims[aDims.length - 1]!;
  const K2 = bDims[bDims.length - 2]!, N = bDims[bDims.length - 1]!;
  if (K !== K2) {
    throw new RangeError(`${op}: inner dimensions differ: A ${shapeStr(a.dims)}, B ${shapeStr(b.dims)}`);
  }
  const aBatch = aDims.slice(0, -2), bBatch = bDims.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch], op);
  const nb = sizeOf(batch), r = batch.length + 2;
  const full = [...batch, M, N];
  const perm = extras.perm;
  if (perm && (a.dims.length === 1 || b.dims.length === 1 || perm.length !== r || perm[r - 1] !== r - 1)) {
    throw new RangeError(`${op}: cannot store the product transposed by [${perm}]`);
  }
  const outDims = perm ? perm.map((p) => full[p]!) : [...full];
  if (a.dims.length === 1) outDims.splice(outDims.length - 2, 1);
  if (b.dims.length === 1) outDims.splice(outDims.length - 1, 1);
  const out = makeTensor(DataType.FLOAT, outDims);
  const O = out.data as Float32Array;
  if (M * N === 0) return out;
  // per batch element: the offsets of A, B and C (an odometer over the batch axes; broadcast axes stride 0)
  const outStr = stridesOf(perm ? perm.map((p) => full[p]!) : full), cStr = new Array<number>(r).fill(0);
  if (perm) perm.forEach((p, i) => cStr[p] = outStr[i]!);
  else outStr.forEach((st, i) => cStr[i] = st);
  const axisStride = (dims: number[], str: readonly number[], k: number) => {
    const i = k - batch.length + dims.length - 2; // the operand's own batch axis for batch axis k
    return i >= 0 && dims[i] !== 1 ? str[i]! : 0;
  };
  const sa = batch.map((_, k) => axisStride(aDims, aStr, k)),
    sb = batch.map((_, k) => axisStride(bDims, bStr, k));
  const aOffs = new Float64Array(nb), bOffs = new Float64Array(nb), cOffs = new Float64Array(nb);
  const idx = new Array<number>(batch.length).fill(0);
  let ao = va.off, bo = vb.off, co = 0;
  for (let i = 0; i < nb; i++) {
    aOffs[i] = ao, bOffs[i] = bo, cOffs[i] = co;
    for (let k = batch.length - 1; k >= 0; k--) {
      ao += sa[k]!, bo += sb[k]!, co += cStr[k]!;
      if (++idx[k]! < batch[k]!) break;
      ao -= sa[k]! * batch[k]!, bo -= sb[k]! * batch[k]!, co -= cStr[k]! * batch[k]!;
      idx[k] = 0;
    }
  }
  const ldc = cStr[r - 2]!;
  const ar = aStr[aStr.length - 2]!, ac = aStr[aStr.length - 1]!;
  const br = bStr[bStr.length - 2]!, bc = bStr[bStr.length - 1]!;
  const aop = { data: A, rs: ar, cs: ac, offs: aOffs };
  // One B for the whole batch, A's and C's batch elements one after the other (a stride of M rows), no
  // epilogue matrix shared by the batch elements: the batch is one product of nb M rows (the weights pass
  // through the kernel once, not once per element; the same bits)
  const fold = nb > 1 && sizeOf(bBatch) === 1 && aOffs.every((o, i) => o === va.off + i * M * ar) &&
    cOffs.every((o, i) => o === i * M * ldc) && sharedFree(extras.epilogue);
  const [nbF, MF] = fold ? [1, nb * M] : [nb, M];
  // A constant B (a weight) is packed once and kept, resident in the kernel memory; other B operands are
  // packed on the fly, once per distinct batch element
  if (cache && sizeOf(bBatch) === 1) {
    const packed = packBCached(cache, { data: B, off: vb.off, rs: br, cs: bc }, K, N);
    gemmBatch(nbF, MF, K, N, aop, packed, O, cOffs, ldc, extras.epilogue);
  } else if (fold) {
    gemmBatch(1, MF, K, N, aop, { data: B, rs: br, cs: bc, offs: bOffs }, O, cOffs, ldc, extras.epilogue);
  } else if (cache) {
    for (let i = 0; i < nb; i++) {
      const packed = packBCached(cache, { data: B, off: bOffs[i]!, rs: br, cs: bc }, K, N);
      const one = { ...aop, offs: [aOffs[i]!] };
      gemmBatch(1, M, K, N, one, packed, O, [cOffs[i]!], ldc, extras.epilogue);
    }
  } else {gemmBatch(
      nb,
      M,
      K,
      N,
      aop,
      { data: B, rs: br, cs: bc, offs: bOffs },
      O,
      cOffs,
      ldc,
      extras.epilogue,
    );}
  return out;
}

/** Whether no step of the epilogue is a matrix shared by every batch element (those index rows per element). */
function sharedFree(epi: Epilogue | undefined): boolean {
  for (let e = epi; e; e = e.then) if ((e.mulBy || (e.add && e.addMatrix)) && !e.full) return false;
  return true;
}

/**
 * The epilogue step that adds (or multiplies by) `t` after a product of `a` and `b`, where `t` is one of: a
 * row along the output's last axis (`[N]`, `[1, ..., N]`; add only), an M x N matrix the same for every batch
 * element (`[M, N]`, `[1, ..., M, N]`: an attention mask), or a tensor of the output's own shape (a
 * residual), of rank at most the output's; else undefined.
 */
export function epilogueStep(a: Tensor, b: Tensor, t: Tensor, op: "add" | "mul"): Epilogue | undefined {
  if (t.dtype !== DataType.FLOAT || !(t.data instanceof Float32Array) || isView(t)) return undefined;
  if (a.dims.length < 2 || b.dims.length < 2) return undefined;
  const M = a.dims[a.dims.length - 2]!, N = b.dims[b.dims.length - 1]!;
  const batch = broadcastShapes([a.dims.slice(0, -2), b.dims.slice(0, -2)], "MatMul");
  const out = [...batch, M, N], td = t.dims, data = t.data;
  if (td.length > out.length) return undefined;
  const ones = (xs: readonly number[]) => xs.every((d) => d === 1);
  if (op === "add" && data.length === N && ones(td.slice(0, -1))) return { add: data };
  const matrix = op === "add" ? { add: data, addMatrix: true } : { mulBy: data };
  if (td.length >= 2 && data.length === M * N && td[td.length - 2] === M && ones(td.slice(0, -2))) {
    return matrix;
  }
  if (td.length === out.length && td.every((d, i) => d === out[i])) return { ...matrix, full: true };
  return undefined;
}

/**
 * MatMul followed by an Add of `bias` (the CPU evaluator fuses the pair), and optionally by a second Add of
 * `residual`: the bits of the separate ops, without the intermediate tensors and their passes. Undefined
 * where an addend is not of a form {@link epilogueStep} takes or an operand is not float32 or a matrix: then
 * the caller runs the ops one by one.
 *
 * @param a MatMul's first input
 * @param b MatMul's second input
 * @param bias the Add's other input
 * @param cache packed constant operands, where `b` is a constant
 * @param residual the second Add's other input
 * @returns `a @ b + bias (+ residual)`, or undefined
 */
export function matMulAdd(
  a: Tensor,
  b: Tensor,
  bias: Tensor,
  cache?: PackCache,
  residual?: Tensor,
): Tensor | undefined {
  if (a.dtype !== DataType.FLOAT || b.dtype !== DataType.FLOAT) return undefined;
  const first = epilogueStep(a, b, bias, "add"), then = residual && epilogueStep(a, b, residual, "add");
  if (!first || (residual && !then)) return undefined;
  return matMul(a, b, "MatMul", cache, { epilogue: then ? { ...first, then } : first });
}

/** Gemm: Y = alpha * op(A) * op(B) + beta * C. */
function gemmOp(inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext): Tensor[] {
  const a = req(inputs, 0, "Gemm"), b = req(inputs, 1, "Gemm"), c = inputs[2];
  const A = f32(a, "Gemm", "A"), B = f32(b, "Gemm", "B");
  const transA = attrs.int("transA", 0) !== 0, transB = attrs.int("transB", 0) !== 0;
  const alpha = attrs.float("alpha", 1), beta = attrs.float("beta", 1);
  if (a.dims.length !== 2 || b.dims.length !== 2) {
    throw new RangeError(`Gemm: A and B must be 2-D, got ${shapeStr(a.dims)} and ${shapeStr(b.dims)}`);
  }
  const [ar, ac] = a.dims as [number, number], [br, bc] = b.dims as [number, number];
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const K2 = transB ? bc : br, N = transB ? br : bc;
  if (K !== K2) {
    throw new RangeError(
      `Gemm: inner dimensions differ: A ${shapeStr(a.dims)} (transA=${+transA}), ` +
        `B ${shapeStr(b.dims)} (transB=${+transB})`,
    );
  }
  const out = makeTensor(DataType.FLOAT, [M, N]);
  const O = out.data as Float32Array;
  const av = transA ? { data: A, off: 0, rs: 1, cs: ac } : { data: A, off: 0, rs: ac, cs: 1 };
  const bv = transB ? { data: B, off: 0, rs: 1, cs: bc } : { data: B, off: 0, rs: bc, cs: 1 };
  if (ctx.constInputs?.[1] && ctx.packCache) gemm(M, av, packBCached(ctx.packCache, bv, K, N), O, 0, N);
  else gemmView(M, av, bv, K, N, O, 0, N);
  const cData = c && beta !== 0 ? f32(c, "Gemm", "C") : undefined;
  const oc = c && cData ? broadcastOffsets(c.dims, [M, N]) : null;
  if (c) broadcastShapes([c.dims, [M, N]], "Gemm");
  for (let i = 0; i < M * N; i++) {
    let v = alpha === 1 ? O[i]! : alpha * O[i]!;
    if (cData) v += beta * cData[oc ? oc[i]! : i]!;
    O[i] = v;
  }
  return [out];
}

/** MatMul and Gemm kernels for the default domain. */
export const matmulOps: Record<string, OpKernel> = {
  MatMul: (inputs, _attrs, ctx) => [
    matMul(
      req(inputs, 0, "MatMul"),
      req(inputs, 1, "MatMul"),
      "MatMul",
      ctx.constInputs?.[1] ? ctx.packCache : undefined,
    ),
  ],
  Gemm: gemmOp,
};
