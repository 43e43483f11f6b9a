/**
 * Batched, broadcasting `MatMulInteger` on WebGPU (A `[..., M, K]` x B `[..., K, N]`, ONNX/numpy batch
 * broadcasting, rank-1 operands promoted as MatMul does): the attention products QK^T and attention x V of
 * an integer-only transformer. Every broadcast batch is packed on the host into the `[Z][M][Kw]` / `[Z][N][Kw]`
 * layout of gemm_i8.wgsl and the whole batch runs as one dispatch (grid z = batch). Oracle: `matMulInteger`
 * of quant/int_gemm.ts per batch, as the CPU evaluator's MatMulInteger.
 * @module
 */

import { broadcastOffsets, broadcastShapes } from "../onnx/evaluate/ops/_util.ts";
import type { Int8Data, ZeroPoint } from "../quant/int_gemm.ts";
import { encodeGemmI8, type GemmI8Variant, kernelZeroPoint, packI8 } from "./gemm_i8.ts";
import { BufferScope, getGpu } from "./gpu.ts";

/** An 8-bit operand of any rank >= 1. */
export interface BatchedOperand {
  /** int8 or uint8 elements, row-major. */
  readonly data: Int8Data;
  /** Shape (rank >= 1). */
  readonly dims: readonly number[];
}

/** Options of {@linkcode matMulIntegerBatchedGpu}. */
export interface BatchedGemmOptions {
  /** `a_zero_point`: scalar, or one per row of A (M values, shared by every batch). @default 0 */
  aZeroPoint?: ZeroPoint;
  /** `b_zero_point`: scalar, or one per column of B (N values). @default 0 */
  bZeroPoint?: ZeroPoint;
  /** Kernel variant. @default "tiled" */
  variant?: GemmI8Variant;
}

/**
 * Output shape of a batched MatMulInteger (MatMul's rules).
 *
 * @param a dims of A
 * @param b dims of B
 * @returns batch shape, M, K, N and the output dims
 * @throws {RangeError} when K differs or the batch shapes do not broadcast
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { batchedGemmShape } from "./gemm_i8_batched.ts";
 * assertEquals(batchedGemmShape([2, 1, 3, 4], [5, 4, 6]).dims, [2, 5, 3, 6]);
 * assertEquals(batchedGemmShape([4], [4, 6]).dims, [6]);
 * ```
 */
export function batchedGemmShape(a: readonly number[], b: readonly number[]) {
  const aD = a.length === 1 ? [1, a[0]!] : [...a];
  const bD = b.length === 1 ? [b[0]!, 1] : [...b];
  const M = aD[aD.length - 2]!, K = aD[aD.length - 1]!, N = bD[bD.length - 1]!;
  if (bD[bD.length - 2] !== K) {
    throw new RangeError(`Cannot multiply A [${a.join(",")}] by B [${b.join(",")}]: K differs`);
  }
  const aBatch = aD.slice(0, -2), bBatch = bD.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch], "MatMulInteger");
  const dims = [...batch, M, N];
  if (a.length === 1) dims.splice(dims.length - 2, 1);
  if (b.length === 1) dims.splice(dims.length - 1, 1);
  return { aBatch, bBatch, batch, M, K, N, dims };
}

/**
 * MatMulInteger of any ranks on WebGPU.
 *
 * @param a operand A `[..., M, K]`
 * @param b operand B `[..., K, N]`
 * @param options zero points and variant
 * @returns the int32 result and its dims
 * @throws {RangeError} on incompatible shapes or zero points of the wrong length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { matMulIntegerBatchedGpu } from "./gemm_i8_batched.ts";
 * const a = { data: new Int8Array([1, 2, 3, 4, 5, 6, 7, 8]), dims: [2, 2, 2] };
 * const b = { data: new Int8Array([1, 0, 0, 1]), dims: [2, 2] };
 * const y = await matMulIntegerBatchedGpu(a, b, { aZeroPoint: 1 });
 * assertEquals(y.dims, [2, 2, 2]);
 * assertEquals([...y.data], [0, 1, 2, 3, 4, 5, 6, 7]);
 * ```
 */
export async function matMulIntegerBatchedGpu(
  a: BatchedOperand,
  b: BatchedOperand,
  options: BatchedGemmOptions = {},
): Promise<{ data: Int32Array; dims: number[] }> {
  const s = batchedGemmShape(a.dims, b.dims);
  const { M, K, N } = s;
  const Z = s.batch.reduce((p, d) => p * d, 1);
  const out = new Int32Array(Z * M * N);
  if (out.length === 0) return { data: out, dims: s.dims };
  const oa = broadcastOffsets(s.aBatch, s.batch), ob = broadcastOffsets(s.bBatch, s.batch);
  const zpA = kernelZeroPoint("a_zero_point", options.aZeroPoint ?? 0, M, a.data);
  const zpB = kernelZeroPoint("b_zero_point", options.bZeroPoint ?? 0, N, b.data);
  const kw = Math.ceil(K / 16) * 4;
  const aWords = new Uint32Array(Z * M * kw), bWords = new Uint32Array(Z * N * kw);
  const aSums = new Int32Array(Z * M), bSums = new Int32Array(Z * N);
  const zpAll = zpA.perRow ? new Int32Array(Z * M) : zpA.values;
  for (let z = 0; z < Z; z++) {
    const ai = oa ? oa[z]! : z, bi = ob ? ob[z]! : z;
    const pa = packI8({ data: a.data.subarray(ai * M * K, (ai + 1) * M * K), dims: [M, K] });
    const pb = packI8({ data: b.data.subarray(bi * K * N, (bi + 1) * K * N), dims: [K, N] }, {
      layout: "columns",
    });
    aWords.set(pa.words, z * M * kw);
    bWords.set(pb.words, z * N * kw);
    aSums.set(pa.sums, z * M);
    bSums.set(pb.sums, z * N);
    if (zpA.perRow) zpAll.set(zpA.values, z * M);
  }
  const { device } = await getGpu();
  using scope = new BufferScope(device);
  const c = scope.storage(out.byteLength, "C");
  const run = await encodeGemmI8(scope, {
    variant: options.variant ?? "tiled",
    m: M,
    n: N,
    k: K,
    kw,
    groups: Z,
    batches: Z,
    a: scope.storage(aWords, "A"),
    b: scope.storage(bWords, "B"),
    sumA: scope.storage(aSums, "sumA"),
    sumB: scope.storage(bSums, "sumB"),
    zpA: scope.storage(zpAll, "zpA"),
    zpB: scope.storage(zpB.values, "zpB"),
    aPerRow: zpA.perRow,
    bPerColumn: zpB.perRow,
    c,
  });
  device.queue.submit([run()]);
  out.set(new Int32Array(await scope.read(c, out.byteLength)));
  return { data: out, dims: s.dims };
}
