/**
 * Entries of the executor's op table for default-domain ops on integers (kernels/executor_ops.ts): the
 * broadcasting integer Add, Sub, Mul, Div, Mod and Cast of kernels/int_elementwise.ts, and every data-movement
 * op through the gather kernel of kernels/gather_map.ts. A movement node's index map is the CPU evaluator's
 * own kernel of that node run on int32 index tensors in place of its data inputs (shapes and attributes
 * only), so the maps follow the evaluator's semantics exactly; the data then moves on the GPU.
 * @module
 */

import { getOp } from "../onnx/evaluate/registry.ts";
import { DataType, dtypeName, type Tensor } from "../onnx/tensor.ts";
import type { DeviceTensor } from "./device_tensor.ts";
import { encodeGatherMap } from "./gather_map.ts";
import { encodeIntBinary, encodeIntCast, type IntBinaryOp, isDeviceInteger } from "./int_elementwise.ts";
import { type GpuOp, needDevice, notCovered } from "./executor_op_types.ts";

/**
 * An integer binary op (float inputs are not covered: float ops run on the CPU by design).
 *
 * @param op the op
 * @returns the table entry
 */
export function intBinary(op: "Add" | "Sub" | "Mul" | "Div" | "Mod"): GpuOp {
  return async (ctx) => {
    const a = await needDevice(ctx, 0), b = await needDevice(ctx, 1);
    if (!isDeviceInteger(a.dtype)) {
      return notCovered(`${op} on ${dtypeName(a.dtype)} (the GPU runs integer ${op})`);
    }
    const kind: IntBinaryOp = op === "Mod" && ctx.attrs.int("fmod", 0) === 1 ? "Fmod" : op;
    return await encodeIntBinary(ctx.scope, kind, a, b);
  };
}

export const castOp: GpuOp = async (ctx) => {
  const x = await needDevice(ctx, 0);
  const to = ctx.attrs.int("to");
  if (!isDeviceInteger(x.dtype) || !(isDeviceInteger(to) || to === DataType.FLOAT)) {
    return notCovered(`Cast ${dtypeName(x.dtype)} -> ${dtypeName(to)} (the GPU casts integers)`);
  }
  return await encodeIntCast(ctx.scope, x, to);
};

/** Largest source (elements, all data inputs together) the gather kernel takes: 2^24 words = 64 MiB. */
export const MAX_GATHER_SOURCE = 2 ** 24;

/** Data inputs of the movement ops (the others are shapes, indices, axes, sizes: read on the host). */
export const DATA_INPUTS: Readonly<Record<string, "first" | "all">> = {
  Reshape: "first",
  Transpose: "first",
  Gather: "first",
  Slice: "first",
  Squeeze: "first",
  Unsqueeze: "first",
  Flatten: "first",
  Expand: "first",
  Identity: "first",
  Split: "first",
  Tile: "first",
  Resize: "first",
  Concat: "all",
};

/**
 * A data-movement node on the GPU: the CPU evaluator's kernel of the same node, run on int32 index tensors in
 * place of the data inputs, gives each output's index map; the gather kernel then moves the words.
 *
 * @param opType the op
 * @param maxSource largest source (elements over all data inputs) moved on the GPU
 * @returns the table entry
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { movement } from "./executor_ops_default.ts";
 * import type { GpuOpContext } from "./executor_op_types.ts";
 * // A source over the limit is declined before anything is uploaded.
 * const ctx = { inputCount: 2, dims: (i: number) => (i === 0 ? [4, 8] : [2]) } as unknown as GpuOpContext;
 * assertEquals(await movement("Reshape", 16)(ctx), { fallback: "a 32-element source (limit 16)" });
 * ```
 */
export function movement(opType: string, maxSource = MAX_GATHER_SOURCE): GpuOp {
  return async (ctx) => {
    if (opType === "Resize" && ctx.attrs.string("mode", "nearest") !== "nearest") {
      return notCovered(`Resize mode "${ctx.attrs.string("mode")}" (the GPU moves data; nearest only)`);
    }
    const nData = DATA_INPUTS[opType] === "all" ? ctx.inputCount : 1;
    // The index map is as large as the output and the source is uploaded whole: a large constant table (an
    // LM's embedding read by Gather) stays on the CPU.
    let total = 0;
    for (let i = 0; i < nData; i++) total += (ctx.dims(i) ?? []).reduce((p, q) => p * q, 1);
    if (total > maxSource) return notCovered(`a ${total}-element source (limit ${maxSource})`);
    const data: DeviceTensor[] = [];
    for (let i = 0; i < nData; i++) {
      const d = await ctx.device(i);
      if (d) data.push(d);
    }
    if (data.length === 0) return notCovered("no data input");
    if (data.some((d) => d.dtype !== data[0]!.dtype)) return notCovered("inputs of different element types");
    const iotaInputs: (Tensor | undefined)[] = [];
    let base = 0, j = 0;
    for (let i = 0; i < ctx.inputCount; i++) {
      if (i < nData) {
        const d = await ctx.device(i);
        if (!d) {
          iotaInputs.push(undefined);
          continue;
        }
        const count = data[j++]!.dims.reduce((p, q) => p * q, 1);
        const iota = new Int32Array(count);
        for (let k = 0; k < count; k++) iota[k] = base + k;
        base += count;
        iotaInputs.push({ dtype: DataType.INT32, dims: [...d.dims], data: iota });
      } else {
        iotaInputs.push(await ctx.host(i));
      }
    }
    const maps = getOp("", opType)(iotaInputs, ctx.attrs, { opset: ctx.opset, numOutputs: ctx.numOutputs });
    return await encodeGatherMap(
      ctx.scope,
      data,
      maps.map((m) => ({ map: m.data as Int32Array, dims: m.dims })),
      data[0]!.dtype,
    );
  };
}
