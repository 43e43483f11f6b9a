/**
 * The contract between the executor (kernels/executor.ts) and its op table (kernels/executor_ops.ts,
 * kernels/executor_ops_default.ts): what an entry receives, what it returns, and how it declares a form it
 * does not cover.
 * @module
 */

import type { Attrs } from "../onnx/attributes.ts";
import type { Tensor } from "../onnx/tensor.ts";
import type { DeviceTensor } from "./device_tensor.ts";
import type { BufferScope } from "./gpu.ts";

/** What a table entry may use to build its kernel. */
export interface GpuOpContext {
  /** Owner of every buffer of the run. */
  readonly scope: BufferScope;
  /** The node's attributes. */
  readonly attrs: Attrs;
  /** Opset of the node's domain. */
  readonly opset: number;
  /** Number of inputs the node has (optional ones may be absent). */
  readonly inputCount: number;
  /** Number of outputs the node has. */
  readonly numOutputs: number;
  /** Shape of input i wherever it is (no transfer), undefined when absent. */
  dims(i: number): readonly number[] | undefined;
  /** Input i on the GPU (uploaded on first use), undefined when absent. */
  device(i: number): Promise<DeviceTensor | undefined>;
  /** Input i on the host (downloaded on first use), undefined when absent. */
  host(i: number): Promise<Tensor | undefined>;
}

/**
 * What an entry produced: a recorded GPU op with device outputs, outputs computed on the host by a GPU kernel,
 * or the reason the node's form is not covered (the executor then runs the CPU evaluator and reports it).
 */
export type GpuOpResult =
  | { readonly run: () => GPUCommandBuffer; readonly outputs: DeviceTensor[] }
  | { readonly run?: undefined; readonly outputs: Tensor[] }
  | { readonly fallback: string };

/** A table entry. */
export type GpuOp = (ctx: GpuOpContext) => Promise<GpuOpResult>;

/** Thrown by an entry (or `ctx.device`) for a node form no GPU kernel covers: a fallback, not a failure. */
export class NotCoveredError extends Error {
  /** @param message why the form is not covered */
  constructor(message: string) {
    super(message);
    this.name = "NotCoveredError";
  }
}

/** The result of an entry for a form no kernel covers. */
export function notCovered(reason: string): { fallback: string } {
  return { fallback: reason };
}

/** 16 for 16, else 8 (an `output_bits` attribute). */
export function bits8or16(v: number): 8 | 16 {
  return v === 16 ? 16 : 8;
}

/** Input i on the host, required. */
export async function need(ctx: GpuOpContext, i: number, what: string): Promise<Tensor> {
  const t = await ctx.host(i);
  if (!t) throw new TypeError(`Missing input ${i} (${what})`);
  return t;
}

/** Input i on the GPU, required. */
export async function needDevice(ctx: GpuOpContext, i: number): Promise<DeviceTensor> {
  const t = await ctx.device(i);
  if (!t) throw new TypeError(`Missing input ${i}`);
  return t;
}
