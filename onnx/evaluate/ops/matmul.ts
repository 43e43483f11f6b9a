/**
 * MatMul (numpy semantics: 1-D promotion, batch broadcasting) and Gemm (transA/transB, alpha, beta,
 * unidirectionally broadcast C), on the blocked GEMM of `_gemm.ts`.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import type { OpContext, OpKernel } from "../registry.ts";
import { gemm, gemmView, packBCached, type PackCache, type PackedB } from "./_gemm.ts";
import { broadcastOffsets, broadcastShapes, f32, req, shapeStr } from "./_util.ts";

/**
 * Float32 matrix product with numpy broadcasting; with `bias` (one value per output column), the product
 * plus the bias, rounded as a separate Add would round it.
 */
export function matMul(a: Tensor, b: Tensor, op = "MatMul", cache?: PackCache, bias?: Float32Array): Tensor {
  const A = f32(a, op, "A"), B = f32(b, op, "B");
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : [...b.dims];
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
  const nb = sizeOf(batch);
  const outDims = [...batch, M, N];
  if (a.dims.length === 1) outDims.splice(outDims.length - 2, 1);
  if (b.dims.length === 1) outDims.splice(outDims.length - 1, 1);
  const out = makeTensor(DataType.FLOAT, outDims);
  const O = out.data as Float32Array;
  if (M * N === 0) return out;
  const oa = broadcastOffsets(aBatch, batch), ob = broadcastOffsets(bBatch, batch);
  // A constant B (a weight) is packed once and kept; a B shared across the batch is packed once per call;
  // a B used once (attention's K^T and V) is packed on the fly by the kernel.
  const shared = cache !== undefined || sizeOf(bBatch) < nb;
  let lastB = -1;
  let packed: PackedB | undefined;
  for (let i = 0; i < nb; i++) {
    const ai = oa ? oa[i]! : i, bi = ob ? ob[i]! : i;
    const av = { data: A, off: ai * M * K, rs: K, cs: 1 }, bv = { data: B, off: bi * K * N, rs: N, cs: 1 };
    if (!shared) {
      gemmView(M, av, bv, K, N, O, i * M * N, N, bias);
      continue;
    }
    if (bi !== lastB) {
      packed = packBCached(cache, bv, K, N);
      lastB = bi;
    }
    gemm(M, av, packed!, O, i * M * N, N, false, bias);
  }
  return out;
}

/**
 * MatMul followed by an Add of `bias` (the CPU evaluator fuses the pair): the bits of the two ops, without the
 * intermediate tensor and its extra pass. Undefined where the bias does not run along the output's last axis
 * only (`[N]`, `[1, ..., N]` of rank at most the output's) or an operand is not float32 or a matrix: then
 * the caller runs the two ops.
 *
 * @param a MatMul's first input
 * @param b MatMul's second input
 * @param bias the Add's other input
 * @param cache packed constant operands, where `b` is a constant
 * @returns `a @ b + bias`, or undefined
 */
export function matMulAdd(a: Tensor, b: Tensor, bias: Tensor, cache?: PackCache): Tensor | undefined {
  if (a.dtype !== DataType.FLOAT || b.dtype !== DataType.FLOAT || bias.dtype !== DataType.FLOAT) {
    return undefined;
  }
  if (a.dims.length < 2 || b.dims.length < 2 || !(bias.data instanceof Float32Array)) return undefined;
  const N = b.dims[b.dims.length - 1]!, rank = Math.max(a.dims.length, b.dims.length);
  const bd = bias.dims;
  if (bd.length > rank || bias.data.length !== N || bd.slice(0, -1).some((d) => d !== 1)) return undefined;
  return matMul(a, b, "MatMul", cache, bias.data);
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
