/**
 * WebGPU data movement by an index map: `Y[i] = X[map[i]]` on 32-bit device words. The executor
 * (kernels/executor_ops.ts) derives the map of a data-movement node (Reshape, Transpose, Slice, Gather,
 * Expand, Concat, Split, nearest Resize, ...) by running the CPU evaluator's kernel of that node on an index
 * tensor (`iota`), which depends only on shapes and attributes; the data itself then moves on the GPU. Several
 * inputs (Concat) are first copied one after another into one buffer, so a map indexes their concatenation.
 * @module
 */

import type { DataType } from "../onnx/tensor.ts";
import {
  allocate,
  type DeviceTensor,
  elementCount,
  type Encoded,
  grid1d,
  kernelSource,
} from "./device_tensor.ts";
import { type BufferScope, getGpu, getPipeline } from "./gpu.ts";
import { defineStruct } from "./wgsl.ts";

const PARAMS = defineStruct("Params", { count: "u32" });

/** Variant key of the gather kernel. */
export const GATHER_MAP_VARIANT_KEY = "gather_map";

/**
 * Encode `Y[i] = X[map[i]]` where X is the concatenation of `inputs` (all of one element type).
 *
 * @param scope owner of the new buffers
 * @param inputs the sources, concatenated in order (flat)
 * @param maps one index map per output (indices into the concatenation), with the output's shape
 * @param dtype element type of the outputs
 * @returns the recorded op, one output per map
 * @throws {RangeError} when a map indexes past the concatenation
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { download, upload } from "./device_tensor.ts";
 * import { BufferScope, getGpu } from "./gpu.ts";
 * import { encodeGatherMap } from "./gather_map.ts";
 * const { device } = await getGpu();
 * using scope = new BufferScope(device);
 * const a = upload(scope, { dtype: DataType.INT8, dims: [2], data: new Int8Array([1, -2]) });
 * const b = upload(scope, { dtype: DataType.INT8, dims: [1], data: new Int8Array([7]) });
 * const enc = await encodeGatherMap(scope, [a, b], [{ map: new Int32Array([2, 0, 1]), dims: [3] }], DataType.INT8);
 * device.queue.submit([enc.run()]);
 * assertEquals([...(await download(scope, enc.outputs[0]!)).data], [7, 1, -2]);
 * ```
 */
export async function encodeGatherMap(
  scope: BufferScope,
  inputs: readonly DeviceTensor[],
  maps: readonly { map: Int32Array; dims: readonly number[] }[],
  dtype: DataType,
): Promise<Encoded> {
  const { device } = await getGpu();
  const sizes = inputs.map((t) => elementCount(t.dims));
  const total = sizes.reduce((a, b) => a + b, 0);
  let source = inputs[0]!.buffer;
  let concat: GPUBuffer | null = null;
  if (inputs.length > 1) {
    concat = scope.storage(total * 4, "concatenated inputs");
    source = concat;
  }
  const pipeline = await getPipeline(GATHER_MAP_VARIANT_KEY, async () => ({
    label: "gather_map",
    code: await kernelSource("gather_map.wgsl", [], PARAMS.wgsl),
    entryPoint: "gather_map",
  }));
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const dispatches: { bindGroup: GPUBindGroup; grid: [number, number] }[] = [];
  const outputs: DeviceTensor[] = [];
  for (const { map, dims } of maps) {
    const count = elementCount(dims);
    if (map.length !== count) {
      throw new RangeError(`Cannot gather: map has ${map.length} entries for ${count}`);
    }
    for (let i = 0; i < count; i++) {
      if (map[i]! < 0 || map[i]! >= total) {
        throw new RangeError(`Cannot gather: map[${i}] = ${map[i]} is outside the ${total} source elements`);
      }
    }
    const y = allocate(scope, dtype, dims);
    outputs.push(y);
    const buffers = [source, scope.storage(map, "map"), y.buffer, scope.uniform(PARAMS.pack({ count }))];
    dispatches.push({
      bindGroup: device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      }),
      grid: grid1d(count, 64, max),
    });
  }
  // One command buffer: the copies that build the concatenation, then one dispatch per output.
  const run = () => {
    const enc = device.createCommandEncoder();
    if (concat) {
      let off = 0;
      inputs.forEach((t, j) => {
        if (sizes[j]! > 0) enc.copyBufferToBuffer(t.buffer, 0, concat!, off * 4, sizes[j]! * 4);
        off += sizes[j]!;
      });
    }
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    for (const d of dispatches) {
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.grid[0], d.grid[1]);
    }
    pass.end();
    return enc.finish();
  };
  return { run, outputs };
}
