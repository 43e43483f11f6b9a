/**
 * WebGPU `shiftkit.ShiftAddMatMul` as a LUT GEMM (lut_gemm.wgsl): 256-entry tables per 8 activations in
 * workgroup memory, a bit-plane loop, power-of-two alphas rebuilt from their exponents. It follows the
 * spec's float32 operation order, so on an adapter without FMA contraction or subnormal flushing (llvmpipe
 * here) it is **bit-identical** to `shiftAddMatMulRef` of quant/shiftadd_matmul.ts, its CPU oracle;
 * elsewhere the spec's `shiftAddTolerance` bounds the difference.
 * @module
 */

import { shiftAddGroups, type ShiftAddPacked, shiftAddTerms } from "../quant/shiftadd_pack.ts";
import { DataType } from "../onnx/tensor.ts";
import { allocate, type DeviceTensor, type Encoded, encodeKernel, upload } from "./device_tensor.ts";
import { BufferScope, getGpu } from "./gpu.ts";
import { defineStruct } from "./wgsl.ts";

const PARAMS = defineStruct("Params", {
  M: "u32",
  N: "u32",
  K: "u32",
  J: "u32",
  Jw: "u32",
  q: "u32",
  G: "u32",
  T: "u32",
  gs: "u32",
});

/** Variant key of the LUT GEMM pipeline (no override constants). */
export const LUT_GEMM_VARIANT_KEY = "lut_gemm:tiled";

/** Rows and outputs per workgroup (TM and 64 * OPT of lut_gemm.wgsl). */
const TILE_M = 2, TILE_N = 256;

/** The op's weights on the GPU. */
export interface LutGemmWeights {
  /** The packed op (shapes and attributes). */
  readonly packed: ShiftAddPacked;
  /** Plane bytes, each `[i][n]` row padded to whole words. */
  readonly planes: GPUBuffer;
  /** Per-term exponents `[q, N, G, T]` as i32 (`shiftAddTerms`: the stored 16-bit alphas expanded once on upload). */
  readonly alphaExp: GPUBuffer;
  /** Per-alpha term sign masks `[q, N, G]` as u32. */
  readonly alphaSign: GPUBuffer;
}

/**
 * Upload the weights of one ShiftAddMatMul.
 *
 * @param scope owner of the buffers
 * @param packed planes, alpha exponents and signs with their attributes
 * @returns the device weights
 * @throws {RangeError} for more than 8 planes or a group size that is not a multiple of 8 below K
 */
export function uploadLutGemmWeights(scope: BufferScope, packed: ShiftAddPacked): LutGemmWeights {
  const { k: K, n: N, bits: q } = packed;
  if (!Number.isInteger(q) || q < 1 || q > 8) {
    throw new RangeError(`ShiftAddMatMul bits must be 1..8, got ${q}`);
  }
  shiftAddGroups(K, packed.groupSize);
  const J = Math.ceil(K / 8), Jw = Math.ceil(J / 4);
  const bytes = new Uint8Array(q * N * Jw * 4);
  for (let r = 0; r < q * N; r++) bytes.set(packed.planes.subarray(r * J, (r + 1) * J), r * Jw * 4);
  const terms = shiftAddTerms(packed);
  return {
    packed,
    planes: scope.storage(bytes, "planes"),
    alphaExp: scope.storage(Int32Array.from(terms.exps), "alpha_exp"),
    alphaSign: scope.storage(Uint32Array.from(terms.signs), "alpha_sign"),
  };
}

/**
 * Encode `Y = X @ Ŵ` for X already on the GPU.
 *
 * @param scope owner of the new buffers
 * @param x float32 activations `[..., K]`
 * @param w the uploaded weights
 * @returns the recorded op and Y `[..., N]` float32
 * @throws {RangeError} when X's last dimension is not K
 */
export async function encodeLutGemm(
  scope: BufferScope,
  x: DeviceTensor,
  w: LutGemmWeights,
): Promise<Encoded> {
  const { device } = await getGpu();
  const { k: K, n: N, bits: q, groupSize, terms: T } = w.packed;
  if (x.dims[x.dims.length - 1] !== K) {
    throw new RangeError(`ShiftAddMatMul expects X [..., ${K}], got [${x.dims.join(", ")}]`);
  }
  const M = x.dims.slice(0, -1).reduce((a, b) => a * b, 1);
  const G = shiftAddGroups(K, groupSize);
  const J = Math.ceil(K / 8);
  const y = allocate(scope, DataType.FLOAT, [...x.dims.slice(0, -1), N]);
  const run = await encodeKernel(device, {
    key: LUT_GEMM_VARIANT_KEY,
    label: "lut_gemm",
    file: "lut_gemm.wgsl",
    includes: [],
    structs: [PARAMS.wgsl],
    entryPoint: "lut_gemm",
    buffers: [
      x.buffer,
      w.planes,
      w.alphaExp,
      w.alphaSign,
      scope.storage(Math.max(1, M * N * q * G) * 4, "group sums"),
      y.buffer,
      scope.uniform(
        PARAMS.pack({ M, N, K, J, Jw: Math.ceil(J / 4), q, G, T, gs: Math.min(groupSize, 8 * J) }),
      ),
    ],
    workgroups: [Math.ceil(N / TILE_N), Math.ceil(M / TILE_M)],
  });
  return { run, outputs: [y] };
}

/** A LUT GEMM whose operands are uploaded, ready to run repeatedly (for benchmarks). */
export interface LutGemmPrepared extends Disposable {
  /**
   * Dispatch `repeat` times in one submission and wait for the GPU.
   * @param repeat dispatches (1 by default)
   */
  run(repeat?: number): Promise<void>;
  /** Read back Y. */
  read(): Promise<Float32Array>;
  /** Release the buffers (idempotent). */
  destroy(): void;
}

/**
 * Upload X and the weights; the kernel runs on each `run()`.
 *
 * @param x float32 activations, last dim K
 * @param packed the op's weights and attributes
 * @returns the prepared run; `destroy()` (or `using`) when done
 */
export async function prepareLutGemm(
  x: { data: Float32Array; dims: readonly number[] },
  packed: ShiftAddPacked,
): Promise<LutGemmPrepared> {
  const { device } = await getGpu();
  const scope = new BufferScope(device);
  try {
    const w = uploadLutGemmWeights(scope, packed);
    const enc = await encodeLutGemm(
      scope,
      upload(scope, { dtype: DataType.FLOAT, dims: x.dims, data: x.data }),
      w,
    );
    const out = enc.outputs[0]!;
    const n = out.dims.reduce((a, b) => a * b, 1);
    return {
      async run(repeat = 1) {
        device.queue.submit(Array.from({ length: repeat }, enc.run));
        await device.queue.onSubmittedWorkDone();
      },
      async read() {
        return new Float32Array(await scope.read(out.buffer, n * 4));
      },
      destroy: () => scope.destroy(),
      [Symbol.dispose]: () => scope.destroy(),
    };
  } catch (e) {
    scope.destroy();
    throw e;
  }
}

/**
 * shiftkit.ShiftAddMatMul on WebGPU, same signature as `shiftAddMatMulRef` (bit-identical on llvmpipe).
 *
 * @param x activations, last dim K
 * @param packed the op's weights and attributes
 * @returns Y, float32 `[..., N]`
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shiftAddMatMulGpu } from "./lut_gemm.ts";
 * const p = { k: 2, n: 1, bits: 1, groupSize: 2, terms: 1, mode: "accuracy" as const,
 *   planes: new Uint8Array([0b01]), alphaExp: new Int8Array([-1]), alphaTerms: new Uint8Array(0) };
 * const y = await shiftAddMatMulGpu({ data: new Float32Array([3, 1, 2, 6]), dims: [2, 2] }, p);
 * assertEquals([Array.from(y.data), y.dims], [[1, -2], [2, 1]]);
 * ```
 */
export async function shiftAddMatMulGpu(
  x: { data: Float32Array; dims: readonly number[] },
  packed: ShiftAddPacked,
): Promise<{ data: Float32Array; dims: number[] }> {
  using job = await prepareLutGemm(x, packed);
  await job.run();
  return { data: await job.read(), dims: [...x.dims.slice(0, -1), packed.n] };
}
