/**
 * WebGPU plumbing shared by every kernel: one cached adapter + device, a one-time limits check, buffer
 * helpers that always pair a create with a destroy, and a compute-pipeline cache keyed by a variant key.
 *
 * Works wherever `navigator.gpu` exists (Deno with `"unstable": ["webgpu"]`, browsers). On a server without a
 * GPU, Mesa's llvmpipe software adapter is enough.
 * @module
 */

// WebGPU enum objects (GPUBufferUsage, GPUMapMode) are declared in Deno's webgpu lib, not in "dom".
/// <reference lib="deno.webgpu" />

/** Thrown when no WebGPU adapter (or no device, or too small a device) is available. */
export class GpuUnavailableError extends Error {
  /**
   * @param message why WebGPU cannot be used
   * @param options standard error options (`cause`)
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GpuUnavailableError";
  }
}

/** Device limits every shiftkit kernel may rely on; checked once when the device is created. */
export const REQUIRED_LIMITS = {
  /** Tiled GEMMs keep two 64 x 16-byte (int8) or 64 x 16 x 4-byte (f32) tiles in workgroup memory. */
  maxComputeWorkgroupStorageSize: 16384,
  /** 256 invocations per workgroup (16 x 16). */
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 16,
  maxStorageBuffersPerShaderStage: 8,
} as const;

/** WGSL language features the integer kernels need. */
export const REQUIRED_WGSL_FEATURES = ["packed_4x8_integer_dot_product"] as const;

/** The adapter and device every kernel shares. */
export interface Gpu {
  /** The adapter the device came from. */
  readonly adapter: GPUAdapter;
  /** The device; do not destroy it directly, call {@linkcode destroyGpu}. */
  readonly device: GPUDevice;
  /** A one-line description of the adapter, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly description: string;
}

let gpuPromise: Promise<Gpu> | null = null;
const pipelines = new Map<string, GPUComputePipeline>();
const shaderModules = new Map<string, GPUShaderModule>();

async function acquire(): Promise<Gpu> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) {
    throw new GpuUnavailableError(
      'WebGPU is not available: navigator.gpu is undefined (in Deno, set "unstable": ["webgpu"] in deno.json)',
    );
  }
  const adapter = await nav.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new GpuUnavailableError(
      "WebGPU is not available: navigator.gpu.requestAdapter() returned null (no GPU and no software adapter " +
        "such as Mesa llvmpipe)",
    );
  }
  const missingFeatures = REQUIRED_WGSL_FEATURES.filter((f) => !nav.gpu!.wgslLanguageFeatures?.has(f));
  if (missingFeatures.length > 0) {
    throw new GpuUnavailableError(
      `WebGPU adapter lacks WGSL language features: ${missingFeatures.join(", ")}`,
    );
  }
  const short: string[] = [];
  for (const [name, need] of Object.entries(REQUIRED_LIMITS)) {
    const have = (adapter.limits as unknown as Record<string, number>)[name] ?? 0;
    if (have < need) short.push(`${name} is ${have}, need ${need}`);
  }
  if (short.length > 0) throw new GpuUnavailableError(`WebGPU adapter limits too small: ${short.join("; ")}`);
  // Ask for the adapter's full storage sizes: the defaults (128 MiB bindings) are smaller than large GEMMs need.
  const requiredLimits: Record<string, number> = {
    ...REQUIRED_LIMITS,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits });
  } catch (e) {
    throw new GpuUnavailableError(`WebGPU adapter refused a device: ${(e as Error).message}`, { cause: e });
  }
  const info = adapter.info;
  const description = info?.description || info?.device || info?.vendor || "unknown adapter";
  return { adapter, device, description };
}

/**
 * The shared adapter and device, created on first use and cached; limits are checked once here.
 *
 * @returns the shared GPU
 * @throws {GpuUnavailableError} when there is no adapter, or it is too small for the kernels
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { getGpu } from "./gpu.ts";
 * const gpu = await getGpu();
 * assert(gpu.device.limits.maxComputeInvocationsPerWorkgroup >= 256);
 * ```
 */
export function getGpu(): Promise<Gpu> {
  if (!gpuPromise) {
    gpuPromise = acquire();
    // A failed acquisition is not cached: a later call may retry (e.g. after a driver came up).
    gpuPromise.catch(() => (gpuPromise = null));
  }
  return gpuPromise;
}

/**
 * Whether a WebGPU adapter usable by the kernels exists (never throws).
 *
 * @returns the error that {@linkcode getGpu} would throw, or null when a GPU is available
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gpuUnavailableReason } from "./gpu.ts";
 * assertEquals(typeof ((await gpuUnavailableReason()) ?? ""), "string");
 * ```
 */
export async function gpuUnavailableReason(): Promise<string | null> {
  try {
    await getGpu();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Destroy the shared device and forget every cached pipeline; the next {@linkcode getGpu} starts afresh.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { destroyGpu, getGpu } from "./gpu.ts";
 * const a = await getGpu();
 * await destroyGpu();
 * const b = await getGpu();
 * assert(a.device !== b.device);
 * await destroyGpu();
 * ```
 */
export async function destroyGpu(): Promise<void> {
  const p = gpuPromise;
  gpuPromise = null;
  pipelines.clear();
  shaderModules.clear();
  if (!p) return;
  try {
    (await p).device.destroy();
  } catch {
    // Acquisition failed: nothing to destroy.
  }
}

/** How a compute pipeline is built when its variant key is not yet cached. */
export interface PipelineSpec {
  /** Label for error messages and debuggers. */
  label: string;
  /** Complete WGSL source. Modules are cached by source text too. */
  code: string;
  /** Entry point name in `code`. */
  entryPoint: string;
  /** Values for the source's `override` constants (booleans as 0/1 or true/false). */
  constants?: Record<string, number>;
}

/**
 * The compute pipeline for a variant key, compiled on first request and cached for the device's lifetime.
 * The key must determine the spec (op, dtype, entry point and every override value): two specs with one key
 * would silently share a pipeline.
 *
 * @param key variant key, e.g. `gemm_i8:tiled:aZp=row:bZp=column`
 * @param spec how to build it when missing (only called on a cache miss)
 * @returns the pipeline
 * @throws {Error} with the WGSL compiler messages when the shader does not compile
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { getPipeline } from "./gpu.ts";
 * const spec = () => ({ label: "noop", code: "@compute @workgroup_size(1) fn main() {}", entryPoint: "main" });
 * const p = await getPipeline("noop", spec);
 * assert(p === await getPipeline("noop", spec));
 * ```
 */
export async function getPipeline(key: string, spec: () => PipelineSpec | Promise<PipelineSpec>): Promise<
  GPUComputePipeline
> {
  const cached = pipelines.get(key);
  if (cached) return cached;
  const { device } = await getGpu();
  const s = await spec();
  let module = shaderModules.get(s.code);
  if (!module) {
    device.pushErrorScope("validation");
    module = device.createShaderModule({ label: s.label, code: s.code });
    const info = await module.getCompilationInfo();
    const err = await device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length > 0 || err) {
      const text = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("\n") || err?.message;
      throw new Error(`Cannot compile WGSL for ${s.label} (${key}):\n${text}`);
    }
    shaderModules.set(s.code, module);
  }
  device.pushErrorScope("validation");
  const compute: GPUProgrammableStage = { module, entryPoint: s.entryPoint };
  if (s.constants) compute.constants = s.constants;
  const pipeline = device.createComputePipeline({ label: key, layout: "auto", compute });
  const err = await device.popErrorScope();
  if (err) throw new Error(`Cannot create pipeline ${key}: ${err.message}`);
  pipelines.set(key, pipeline);
  return pipeline;
}

/** Variant keys compiled so far on the current device (for tests that check coverage). */
export function cachedPipelineKeys(): string[] {
  return [...pipelines.keys()].sort();
}

/** Data a buffer can be created from. */
export type BufferData = ArrayBufferView | ArrayBuffer;

/**
 * Owns the buffers of one kernel run: every buffer created through a scope is destroyed by `destroy()` (or
 * `using`), so a run cannot leak GPU memory even when it throws halfway.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BufferScope, getGpu } from "./gpu.ts";
 * const { device } = await getGpu();
 * using scope = new BufferScope(device);
 * const buf = scope.storage(new Int32Array([1, 2, 3]));
 * assertEquals([...new Int32Array(await scope.read(buf, 12))], [1, 2, 3]);
 * ```
 */
export class BufferScope {
  readonly #device: GPUDevice;
  readonly #buffers: GPUBuffer[] = [];

  /** @param device the device buffers are created on */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Number of live buffers owned by this scope. */
  get size(): number {
    return this.#buffers.length;
  }

  #create(label: string, size: number, usage: number): GPUBuffer {
    // WebGPU requires sizes that are multiples of 4; zero-sized bindings are invalid, so keep at least 16 bytes.
    const padded = Math.max(16, Math.ceil(size / 4) * 4);
    const max = this.#device.limits.maxStorageBufferBindingSize;
    if (padded > max) {
      throw new RangeError(`Cannot create buffer "${label}": ${padded} bytes exceeds the device's ${max}`);
    }
    const buf = this.#device.createBuffer({ label, size: padded, usage });
    this.#buffers.push(buf);
    return buf;
  }

  /**
   * A storage buffer, initialised from `data` or zero-filled with `data` bytes.
   *
   * @param data contents, or a byte size for an empty (zeroed) buffer
   * @param label debug label
   * @returns the buffer (readable by `read`)
   */
  storage(data: BufferData | number, label = "storage"): GPUBuffer {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    if (typeof data === "number") return this.#create(label, data, usage);
    const buf = this.#create(label, data.byteLength, usage);
    this.#write(buf, data);
    return buf;
  }

  /**
   * A uniform buffer holding `data`.
   *
   * @param data contents (a packed struct, see wgsl.ts `defineStruct`)
   * @param label debug label
   * @returns the buffer
   */
  uniform(data: BufferData, label = "uniform"): GPUBuffer {
    const buf = this.#create(label, data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.#write(buf, data);
    return buf;
  }

  #write(buf: GPUBuffer, data: BufferData): void {
    const bytes = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // An empty write panics Deno's WebGPU (queue.rs unwraps a missing size): empty tensors stay zero-filled.
    if (bytes.byteLength === 0) return;
    if (bytes.byteLength % 4 === 0) {
      this.#device.queue.writeBuffer(buf, 0, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.#device.queue.writeBuffer(buf, 0, padded);
    }
  }

  /**
   * Copy `byteLength` bytes of `buf` back to the CPU (waits for all submitted work first).
   *
   * @param buf a buffer created with COPY_SRC usage (every `storage` buffer)
   * @param byteLength bytes to read, a multiple of 4
   * @returns a fresh ArrayBuffer with the bytes
   */
  async read(buf: GPUBuffer, byteLength: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
    const staging = this.#device.createBuffer({
      label: "readback",
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const enc = this.#device.createCommandEncoder();
      enc.copyBufferToBuffer(buf, 0, staging, 0, size);
      this.#device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, byteLength);
    } finally {
      staging.destroy();
    }
  }

  /** Destroy every buffer of the scope (idempotent). */
  destroy(): void {
    for (const b of this.#buffers.splice(0)) b.destroy();
  }

  /** Same as `destroy`, for `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** One compute dispatch: a pipeline, its group-0 buffers in binding order, and a grid size. */
export interface DispatchSpec {
  /** The compute pipeline (layout "auto"). */
  pipeline: GPUComputePipeline;
  /** Buffers bound to group 0 at bindings 0..n-1, in order. */
  buffers: readonly GPUBuffer[];
  /** Workgroup grid `[x, y?, z?]`. */
  workgroups: readonly [number, number?, number?];
}

/**
 * Prepare one compute dispatch (the bind group is built once) and return a recorder that produces a fresh
 * command buffer per call, so the same dispatch can be submitted repeatedly.
 *
 * @param device the device
 * @param spec pipeline, buffers and grid
 * @returns a function recording the dispatch into a new command buffer
 * @throws {RangeError} when a grid dimension exceeds the device limit
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BufferScope, encodeDispatch, getGpu, getPipeline } from "./gpu.ts";
 * const { device } = await getGpu();
 * const code = "@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n" +
 *   "@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) i: vec3u) { o[i.x] = i.x * 2u; }";
 * const pipeline = await getPipeline("doc:double", () => ({ label: "double", code, entryPoint: "main" }));
 * using scope = new BufferScope(device);
 * const out = scope.storage(16);
 * device.queue.submit([encodeDispatch(device, { pipeline, buffers: [out], workgroups: [1] })()]);
 * assertEquals([...new Uint32Array(await scope.read(out, 16))], [0, 2, 4, 6]);
 * ```
 */
export function encodeDispatch(device: GPUDevice, spec: DispatchSpec): () => GPUCommandBuffer {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const [x, y = 1, z = 1] = spec.workgroups;
  if (x > max || y > max || z > max) {
    throw new RangeError(`Cannot dispatch ${x}x${y}x${z} workgroups: the device allows ${max} per dimension`);
  }
  const bindGroup = device.createBindGroup({
    layout: spec.pipeline.getBindGroupLayout(0),
    entries: spec.buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  return () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(spec.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    return enc.finish();
  };
}
