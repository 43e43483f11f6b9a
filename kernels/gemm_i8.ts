/**
 * WebGPU int8 x int8 -> int32 GEMM (ONNX MatMulInteger semantics) built on `dot4I8Packed`, in two variants:
 * "naive" (one invocation per 4x4 output block, operands straight from storage) and "tiled" (32x128 output
 * tiles per workgroup, a 16x16 register block per invocation fed by vec4 loads; gemm_i8.wgsl says why it
 * does not stage through workgroup memory on llvmpipe). The CPU oracle is `matMulInteger` in quant/int_gemm.ts.
 * @module
 */

import {
  expandZeroPoint,
  type Int8Data,
  type IntTensor,
  type MatMulIntegerOptions,
  type ZeroPoint,
} from "../quant/int_gemm.ts";
import { BufferScope, encodeDispatch, getGpu, getPipeline } from "./gpu.ts";
import { defineStruct, loadWgsl, withPrelude } from "./wgsl.ts";

/** The two GEMM kernels. */
export type GemmI8Variant = "naive" | "tiled";

/** Uniforms of gemm_i8.wgsl. */
const PARAMS = defineStruct("Params", { M: "u32", N: "u32", K: "i32", Kw: "u32", G: "u32" });

/** K is padded to this many bytes (the tiled kernel's K step: one vec4 of packed words). */
export const K_GRANULE = 16;

/** Output tile per workgroup of each variant: [columns, rows] (workgroup size x block of one invocation). */
const BLOCK: Record<GemmI8Variant, readonly [number, number]> = { naive: [32, 32], tiled: [128, 32] };

/** One operand packed for the kernel: 4 signed bytes per u32, rows padded to `kw` words, plus row sums. */
export interface PackedI8 {
  /** `[rows][kw]` words; byte j of word w is element `4w + j` of the row (little-endian), zero past K. */
  readonly words: Uint32Array;
  /** Sum over K of each row's (shifted) elements. */
  readonly sums: Int32Array;
  /** Rows (M for A, N for B). */
  readonly rows: number;
  /** The reduction length K. */
  readonly k: number;
  /** Words per row: ceil(K / 16) * 4. */
  readonly kw: number;
  /** True when the source was uint8: elements (and zero points) were shifted by -128. */
  readonly unsigned: boolean;
}

/** Options of {@linkcode packI8}. */
export interface PackI8Options {
  /**
   * "rows": the tensor is `[rows, K]` (operand A). "columns": the tensor is `[K, rows]` and is packed
   * transposed, one row per column (operand B).
   * @default {"rows"}
   */
  layout?: "rows" | "columns";
}

/**
 * Pack an 8-bit matrix for the GEMM kernels: transpose if asked, shift uint8 to int8 (x - 128, which keeps
 * every difference with an equally shifted zero point), pad K with zeros to a multiple of 16 bytes, and
 * compute the row sums the zero-point correction needs.
 *
 * @param t the matrix, dims `[rows, K]` or (columns layout) `[K, rows]`
 * @param options layout
 * @returns the packed operand
 * @throws {RangeError} when `t` is not 2-D or its data length disagrees
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { packI8 } from "./gemm_i8.ts";
 * const p = packI8({ data: new Int8Array([1, -1, 2]), dims: [1, 3] });
 * assertEquals([p.words[0]!.toString(16), p.kw, [...p.sums]], ["2ff01", 4, [2]]);
 * ```
 */
export function packI8(t: IntTensor, options: PackI8Options = {}): PackedI8 {
  if (t.dims.length !== 2 || t.dims[0]! * t.dims[1]! !== t.data.length) {
    throw new RangeError(
      `Cannot pack: expected a 2-D tensor, got dims [${t.dims.join(",")}] for ${t.data.length}`,
    );
  }
  const columns = (options.layout ?? "rows") === "columns";
  const [d0, d1] = t.dims as [number, number];
  const rows = columns ? d1 : d0, k = columns ? d0 : d1;
  const rowStride = columns ? 1 : k, kStride = columns ? rows : 1;
  const kw = Math.ceil(k / K_GRANULE) * (K_GRANULE / 4);
  const unsigned = t.data instanceof Uint8Array;
  const flip = unsigned ? 0x80 : 0; // u8 ^ 0x80 read as i8 equals u8 - 128
  const words = new Uint32Array(rows * kw);
  const bytes = new Uint8Array(words.buffer);
  const sums = new Int32Array(rows);
  const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * kw * 4, base = r * rowStride;
    for (let i = 0; i < k; i++) {
      const v = src[base + i * kStride]! ^ flip;
      bytes[o + i] = v;
      s += (v << 24) >> 24; // sign-extend the byte
    }
    sums[r] = s;
  }
  return { words, sums, rows, k, kw, unsigned };
}

/**
 * Zero points as the kernel takes them: int32, shifted by -128 for uint8 operands, scalar or one per row.
 *
 * @param name input name for messages
 * @param zp the zero point(s)
 * @param count rows the per-row form must cover
 * @param data the operand's data (its type fixes the range and the shift)
 * @returns `{ values, perRow }` (values has length 1 for a scalar)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { kernelZeroPoint } from "./gemm_i8.ts";
 * assertEquals(kernelZeroPoint("a", 130, 4, new Uint8Array(1)), { values: new Int32Array([2]), perRow: false });
 * ```
 */
export function kernelZeroPoint(
  name: string,
  zp: ZeroPoint,
  count: number,
  data: Int8Data,
): { values: Int32Array; perRow: boolean } {
  const perRow = typeof zp !== "number" && zp.length !== 1;
  const full = expandZeroPoint(name, zp, count, data);
  const values = perRow ? full : full.subarray(0, 1);
  if (data instanceof Uint8Array) { for (let i = 0; i < values.length; i++) values[i]! -= 128; }
  return { values: values.slice(), perRow };
}

/**
 * The variant key of one GEMM pipeline: kernel + zero-point modes (the override constants).
 *
 * @param variant "naive" or "tiled"
 * @param modes per-row A zero points and per-column B zero points
 * @returns the key, e.g. `gemm_i8:tiled:aZp=row:bZp=tensor`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gemmI8VariantKey } from "./gemm_i8.ts";
 * assertEquals(gemmI8VariantKey("naive", { aPerRow: false, bPerColumn: true }), "gemm_i8:naive:aZp=tensor:bZp=column");
 * ```
 */
export function gemmI8VariantKey(
  variant: GemmI8Variant,
  modes: { aPerRow: boolean; bPerColumn: boolean },
): string {
  return `gemm_i8:${variant}:aZp=${modes.aPerRow ? "row" : "tensor"}:bZp=${
    modes.bPerColumn ? "column" : "tensor"
  }`;
}

/** Every variant key {@linkcode gemmI8VariantKey} can produce (variants_test compiles and runs each). */
export const GEMM_I8_VARIANT_KEYS: readonly string[] = (["naive", "tiled"] as const).flatMap((v) =>
  [false, true].flatMap((aPerRow) =>
    [false, true].map((bPerColumn) => gemmI8VariantKey(v, { aPerRow, bPerColumn }))
  )
);

/**
 * The compiled pipeline of one variant (cached by its variant key).
 *
 * @param variant "naive" or "tiled"
 * @param modes zero-point modes
 * @returns the pipeline
 */
export async function gemmI8Pipeline(
  variant: GemmI8Variant,
  modes: { aPerRow: boolean; bPerColumn: boolean },
): Promise<GPUComputePipeline> {
  return await getPipeline(gemmI8VariantKey(variant, modes), async () => ({
    label: `gemm_i8_${variant}`,
    code: withPrelude(await loadWgsl(new URL("./gemm_i8.wgsl", import.meta.url)), PARAMS.wgsl),
    entryPoint: `gemm_${variant}`,
    constants: { A_ZP_PER_ROW: modes.aPerRow ? 1 : 0, B_ZP_PER_COL: modes.bPerColumn ? 1 : 0 },
  }));
}

/** GPU buffers and shape of one (batched, grouped) GEMM call. */
export interface GemmI8Dispatch {
  /** Kernel to use. */
  variant: GemmI8Variant;
  /** Rows of A / C per group, columns of B / C, true K, and padded words per row (multiple of 4). */
  m: number;
  n: number;
  k: number;
  kw: number;
  /** Groups G (A is `[G][M][Kw]`, selected by `z % G`) and batches Z (B is `[Z][N][Kw]`, C is `[Z][M][N]`). */
  groups: number;
  batches: number;
  /** Packed A, packed B, row sums of A `[G][M]`, column sums of B `[Z][N]`. */
  a: GPUBuffer;
  b: GPUBuffer;
  sumA: GPUBuffer;
  sumB: GPUBuffer;
  /** Kernel zero points (see {@linkcode kernelZeroPoint}): `[G*M]` or `[1]`, and `[N]` or `[1]`. */
  zpA: GPUBuffer;
  zpB: GPUBuffer;
  aPerRow: boolean;
  bPerColumn: boolean;
  /** Output `[Z][M][N]` int32. */
  c: GPUBuffer;
}

/**
 * Prepare a GEMM dispatch on buffers that are already on the GPU (used by conv_i8 and the executor).
 *
 * @param scope the scope that owns the run's buffers (the uniform buffer is created in it)
 * @param d buffers, shape and variant
 * @returns a recorder producing a fresh command buffer per call (submit with `device.queue.submit`)
 */
export async function encodeGemmI8(scope: BufferScope, d: GemmI8Dispatch): Promise<() => GPUCommandBuffer> {
  const { device } = await getGpu();
  const pipeline = await gemmI8Pipeline(d.variant, { aPerRow: d.aPerRow, bPerColumn: d.bPerColumn });
  const params = scope.uniform(
    PARAMS.pack({ M: d.m, N: d.n, K: d.k | 0, Kw: d.kw, G: d.groups }),
    "gemm params",
  );
  const [bn, bm] = BLOCK[d.variant];
  return encodeDispatch(device, {
    pipeline,
    buffers: [d.a, d.b, d.sumA, d.sumB, d.zpA, d.zpB, d.c, params],
    workgroups: [Math.ceil(d.n / bn), Math.ceil(d.m / bm), d.batches],
  });
}

/** Options of {@linkcode gemmI8} and {@linkcode prepareGemmI8}. */
export interface GemmI8Options extends MatMulIntegerOptions {
  /**
   * Kernel variant.
   * @default {"tiled"}
   */
  variant?: GemmI8Variant;
}

/** A GEMM whose operands are packed and uploaded, ready to run repeatedly (for benchmarks). */
export interface GemmI8Prepared extends Disposable {
  /** Milliseconds spent packing on the CPU. */
  readonly packMs: number;
  /** Milliseconds spent uploading to the GPU (write + wait). */
  readonly uploadMs: number;
  /**
   * Dispatch `repeat` times in one submission and wait until the GPU has finished.
   * @param repeat dispatches (1 by default); batching amortises the fixed submit-and-wait latency
   */
  run(repeat?: number): Promise<void>;
  /** Read back C `[M, N]`. */
  read(): Promise<Int32Array>;
  /** Release the buffers (idempotent). */
  destroy(): void;
}

/**
 * Pack and upload a MatMulInteger problem; the kernel runs on each `run()`.
 *
 * @param a A, dims `[M, K]`, int8 or uint8
 * @param b B, dims `[K, N]`, int8 or uint8
 * @param options zero points and variant
 * @returns the prepared run; call `destroy()` (or `using`) when done
 * @throws {RangeError} for mismatched shapes or out-of-range zero points
 */
export async function prepareGemmI8(
  a: IntTensor,
  b: IntTensor,
  options: GemmI8Options = {},
): Promise<GemmI8Prepared> {
  if (a.dims.length !== 2 || b.dims.length !== 2 || a.dims[1] !== b.dims[0]) {
    throw new RangeError(`Cannot multiply A [${a.dims.join(",")}] by B [${b.dims.join(",")}]`);
  }
  const M = a.dims[0]!, K = a.dims[1]!, N = b.dims[1]!;
  if (M === 0 || N === 0) throw new RangeError(`Cannot run an empty GEMM: M=${M}, N=${N}`);
  const t0 = performance.now();
  const zpA = kernelZeroPoint("a_zero_point", options.aZeroPoint ?? 0, M, a.data);
  const zpB = kernelZeroPoint("b_zero_point", options.bZeroPoint ?? 0, N, b.data);
  const pa = packI8(a);
  const pb = packI8(b, { layout: "columns" });
  const t1 = performance.now();
  const { device } = await getGpu();
  const scope = new BufferScope(device);
  try {
    const c = scope.storage(M * N * 4, "C");
    const d: GemmI8Dispatch = {
      variant: options.variant ?? "tiled",
      m: M,
      n: N,
      k: K,
      kw: pa.kw,
      groups: 1,
      batches: 1,
      a: scope.storage(pa.words, "A"),
      b: scope.storage(pb.words, "B"),
      sumA: scope.storage(pa.sums, "sumA"),
      sumB: scope.storage(pb.sums, "sumB"),
      zpA: scope.storage(zpA.values, "zpA"),
      zpB: scope.storage(zpB.values, "zpB"),
      aPerRow: zpA.perRow,
      bPerColumn: zpB.perRow,
      c,
    };
    await device.queue.onSubmittedWorkDone();
    const uploadMs = performance.now() - t1;
    const cmd = await encodeGemmI8(scope, d); // compiles (or fetches from cache) before any timing
    return {
      packMs: t1 - t0,
      uploadMs,
      async run(repeat = 1) {
        device.queue.submit(Array.from({ length: repeat }, cmd));
        await device.queue.onSubmittedWorkDone();
      },
      async read() {
        return new Int32Array(await scope.read(c, M * N * 4));
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
 * ONNX MatMulInteger on WebGPU: `Y = (A - a_zero_point) x (B - b_zero_point)` in int32, bit-exact with
 * `matMulInteger` of quant/int_gemm.ts.
 *
 * @param a A, dims `[M, K]`, int8 or uint8
 * @param b B, dims `[K, N]`, int8 or uint8
 * @param options zero points (scalar or per row of A / per column of B) and variant
 * @returns Y `[M, N]`
 * @throws {GpuUnavailableError} without a WebGPU adapter
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gemmI8 } from "./gemm_i8.ts";
 * const a = { data: new Uint8Array([11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]), dims: [4, 3] };
 * const b = { data: new Uint8Array([1, 4, 2, 5, 3, 6]), dims: [3, 2] };
 * const y = await gemmI8(a, b, { aZeroPoint: 12 });
 * assertEquals([...y], [-38, -83, -44, -98, -50, -113, -56, -128]);
 * ```
 */
export async function gemmI8(a: IntTensor, b: IntTensor, options: GemmI8Options = {}): Promise<Int32Array> {
  using job = await prepareGemmI8(a, b, options);
  await job.run();
  return await job.read();
}
