/**
 * The validating executor: runs a (quantized) model op by op, on WebGPU where kernels/executor_ops.ts has a
 * kernel for the node's op and on the CPU evaluator (onnx/evaluate) elsewhere. Tensors produced on the GPU
 * stay in device buffers while the next consumers are GPU ops too, and are read back only where a CPU op,
 * a graph output or the comparison needs them.
 *
 * With `compare` (the default) every GPU node is also run by the CPU evaluator on the very same inputs, and
 * its record says how far the two disagree: integer outputs must be identical (`exact`), float outputs must
 * stay within the bound their op's spec allows (kernels/float_tolerance.ts).
 *
 * Every node gets a role: `shape` (it reads only shapes, int64 or bool tensors: shape arithmetic, on the CPU
 * by design), `float` (a float op no kernel exists for, e.g. the float rest of a QDQ model: CPU by design) or
 * `kernel` (an op with a GPU kernel, or any op that reads an 8/16/32-bit integer or float32 tensor and does not
 * produce a float one: integer arithmetic, comparisons, ArgMax...). A `kernel` node that
 * ran on the CPU is a fallback and says why (`fallback`). A GPU kernel that throws is an error, never a
 * silent fallback; only a form the kernel declares uncovered ({@linkcode NotCoveredError}) falls back.
 * @module
 */

import type { Graph, Model, Value } from "../onnx/ir.ts";
import { controlFlow, driveAsync, isControlFlow } from "../onnx/evaluate/control_flow.ts";
import { dtypeName, isFloatType, isIntegerType, type Tensor } from "../onnx/tensor.ts";
import { getOp } from "../onnx/evaluate/registry.ts";
// The shiftkit ops' CPU kernels register themselves in the evaluator when imported.
import "../onnx/evaluate/ops/integer.ts";
import "../onnx/evaluate/ops/dense_shift.ts";
import { type DeviceTensor, download, isWordType, upload } from "./device_tensor.ts";
import { type GpuOpContext, gpuOpFor, NotCoveredError } from "./executor_ops.ts";
import { floatTolerance } from "./float_tolerance.ts";
import { BufferScope, getGpu } from "./gpu.ts";

/** What happened at one node. */
export interface NodeRecord {
  /** Node name (or `opType#index` when unnamed). */
  node: string;
  /** Op type, with the domain for non-default domains (`shiftkit.Shiftmax`). */
  op: string;
  /** Where it ran. */
  device: "gpu" | "cpu";
  /**
   * `kernel` nodes must run on the GPU; `shape` and `float` nodes run on the CPU by design; `control` is an
   * If/Loop/Scan whose body nodes are recorded (and placed) one by one before it.
   */
  role: "kernel" | "shape" | "float" | "control";
  /** Why a `kernel` node ran on the CPU (absent when it ran on the GPU or is not a kernel node). */
  fallback?: string;
  /** For a compared node with float outputs: the tolerance rule of its spec. */
  tolerance?: string;
  /** For a compared node: every output within tolerance (integers: identical). */
  withinTolerance: boolean;
  /** Whether its (first) output is an integer tensor. */
  integer: boolean;
  /** Largest |gpu - cpu| over the node's outputs (0 for CPU nodes; NaN when not compared). */
  maxAbsDiff: number;
  /** Bitwise equality of every output with the CPU evaluator's (true for CPU nodes). */
  exact: boolean;
  /** Whether a CPU comparison was made. */
  compared: boolean;
  /** Why the comparison could not be made. */
  note?: string;
}

/** Options of {@linkcode executeModel}. */
export interface ExecuteOptions {
  /**
   * Re-run every GPU node on the CPU evaluator with the same inputs and record the difference.
   * @default true
   */
  compare?: boolean;
  /**
   * Called with every node output as it is produced (read back from the GPU when needed).
   * @default undefined
   */
  onValue?: (value: Value, tensor: Tensor) => void;
}

/** Outputs, per-node records and the adapter of one run. */
export interface ExecuteResult {
  /** Graph outputs by name. */
  outputs: Record<string, Tensor>;
  /** One record per node, in execution order. */
  records: NodeRecord[];
  /** The WebGPU adapter used. */
  adapter: string;
}

/** A value's current homes. */
interface Slot {
  host?: Tensor;
  device?: DeviceTensor;
}

/** Bitwise equality, largest absolute difference and the bound check of two tensors' data. */
function compareTensors(
  a: Tensor,
  b: Tensor,
  bound: Float64Array | number,
): { exact: boolean; maxAbsDiff: number; within: boolean } {
  if (a.dims.join() !== b.dims.join() || a.data.length !== b.data.length) {
    return { exact: false, maxAbsDiff: Infinity, within: false };
  }
  let exact = a.dtype === b.dtype, max = 0, within = exact;
  if (!exact) return { exact, maxAbsDiff: Infinity, within };
  for (let i = 0; i < a.data.length; i++) {
    const x = Number(a.data[i]), y = Number(b.data[i]);
    if (Object.is(x, y) || (x !== x && y !== y)) continue;
    exact = false;
    const d = Math.abs(x - y);
    max = d > max || d !== d ? d : max;
    const t = typeof bound === "number" ? bound : bound[i] ?? 0;
    if (!(d <= t)) within = false;
  }
  return { exact, maxAbsDiff: max, within };
}

/** Element types a GPU kernel may hold (8/16/32-bit integers, float32). */
function isWord(dtype: number | undefined): boolean {
  return dtype !== undefined && isWordType(dtype);
}

/** Ops that read only their input's shape. */
const SHAPE_OPS = new Set(["Shape", "Size"]);

function opLabel(domain: string, opType: string): string {
  return domain === "" || domain === "ai.onnx" ? opType : `${domain}.${opType}`;
}

/**
 * Run a model's main graph on WebGPU + CPU and record per-node agreement with the CPU evaluator.
 *
 * @param model the model (nodes in topological order)
 * @param feeds a tensor for every graph input without an initializer
 * @param options comparison and observer
 * @returns outputs, records and adapter
 * @throws {GpuUnavailableError} without a usable WebGPU adapter
 * @throws {TypeError} on a missing feed or a node reading an unproduced value
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { floatAttr } from "../onnx/attributes.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { executeModel } from "./executor.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const g = m.graph;
 * const x = g.value("x");
 * g.inputs.push(x);
 * const s = g.addInitializer("s", makeTensor(DataType.FLOAT, [], new Float32Array([0.5])));
 * const z = g.addInitializer("z", makeTensor(DataType.INT8, [], new Int8Array([0])));
 * const [q] = g.addNode("QuantizeLinear", [x, s, z], ["q"]).outputs;
 * g.outputs.push(g.addNode("DequantizeLinear", [q!, s, z], ["y"]).outputs[0]!);
 * const r = await executeModel(m, { x: makeTensor(DataType.FLOAT, [3], new Float32Array([0.3, 1.25, -9])) });
 * assertEquals(r.outputs.y!.data, new Float32Array([0.5, 1, -9]));
 * assertEquals(r.records.map((n) => [n.device, n.exact]), [["gpu", true], ["gpu", true]]);
 * ```
 */
export async function executeModel(
  model: Model,
  feeds: Readonly<Record<string, Tensor>>,
  options: ExecuteOptions = {},
): Promise<ExecuteResult> {
  const gpu = await getGpu();
  const compare = options.compare ?? true;
  const graph = model.graph;
  const opsetOf = (domain: string) => {
    const d = domain === "ai.onnx" ? "" : domain;
    return model.opsets.get(d) ?? (d === "" ? 21 : 1);
  };
  using scope = new BufferScope(gpu.device);
  const slots = new Map<Value, Slot>();
  for (const v of graph.inputs) {
    const t = feeds[v.name] ?? v.const;
    if (!t) throw new TypeError(`Cannot execute graph "${graph.name}": no feed for input "${v.name}"`);
    slots.set(v, { host: t });
  }
  const slotOf = (v: Value, node: string): Slot => {
    let s = slots.get(v);
    if (!s && v.const) slots.set(v, s = { host: v.const });
    if (!s) throw new TypeError(`Cannot execute node "${node}": input "${v.name}" has not been computed`);
    return s;
  };
  const hostOf = async (s: Slot): Promise<Tensor> => {
    if (!s.host) s.host = await download(scope, s.device!);
    return s.host;
  };
  const records: NodeRecord[] = [];
  // One slot map for the main graph and every body: Values are unique objects, so a body reads outer-scope
  // values by reference, and each iteration's body values overwrite the previous iteration's.
  const runGraph = async (g: Graph): Promise<void> => {
    for (const [index, node] of g.nodes.entries()) {
      const name = node.name || `${node.opType}#${index}`;
      const ctxOpset = opsetOf(node.domain);
      const inputSlots = node.inputs.map((v) => (v ? slotOf(v, name) : undefined));
      const hostInputs = () => Promise.all(inputSlots.map((s) => (s ? hostOf(s) : undefined)));
      const record: NodeRecord = {
        node: name,
        op: opLabel(node.domain, node.opType),
        device: "cpu",
        role: "kernel",
        integer: false,
        maxAbsDiff: 0,
        exact: true,
        withinTolerance: true,
        compared: false,
      };
      const inputTypes = inputSlots.map((s) => (s ? (s.host ?? s.device)!.dtype : undefined));
      if (SHAPE_OPS.has(node.opType) && node.domain === "" || !inputTypes.some(isWord)) record.role = "shape";
      let outs: Slot[] | null = null;
      let uncovered: string | undefined;
      const flow = isControlFlow(node);
      if (flow) record.role = "control";
      const gpuOp = record.role === "kernel" ? gpuOpFor(node.domain, node.opType) : undefined;
      if (flow) {
        // If/Loop/Scan: the bodies' nodes run here, op by op (GPU where a kernel exists), recorded before it
        const cf = controlFlow(node, await hostInputs(), ctxOpset);
        const res = await driveAsync(cf, async ({ graph: body, inputs }) => {
          body.inputs.forEach((v, i) => slots.set(v, { host: inputs[i]! }));
          await runGraph(body);
          return await Promise.all(body.outputs.map((v) => hostOf(slotOf(v, `${name} body output`))));
        });
        outs = res.map((t) => ({ host: t }));
        record.note = "control flow: its body nodes are listed before it";
      } else if (gpuOp) {
        const ctx: GpuOpContext = {
          scope,
          attrs: node.a,
          opset: ctxOpset,
          inputCount: node.inputs.length,
          numOutputs: node.outputs.length,
          dims: (i) => {
            const s = inputSlots[i];
            return s ? (s.host ?? s.device)!.dims : undefined;
          },
          device(i) {
            const s = inputSlots[i];
            if (!s) return Promise.resolve(undefined);
            if (!s.device) {
              if (!isWordType(s.host!.dtype)) {
                throw new NotCoveredError(
                  `input ${i} is ${dtypeName(s.host!.dtype)}, which the GPU does not hold`,
                );
              }
              s.device = upload(scope, s.host!);
            }
            return Promise.resolve(s.device);
          },
          host: async (i) => (inputSlots[i] ? await hostOf(inputSlots[i]!) : undefined),
        };
        let res;
        try {
          res = await gpuOp(ctx);
        } catch (e) {
          if (!(e instanceof NotCoveredError)) {
            throw new Error(`GPU kernel of ${record.op} node "${name}" failed: ${(e as Error).message}`, {
              cause: e,
            });
          }
          res = { fallback: e.message };
        }
        if ("fallback" in res) {
          // A default-domain op on float inputs that only has an integer kernel (Add, Mul, Cast...) is a float
          // op: CPU by design, like the float rest of a QDQ model. Everything else is a fallback.
          const floatOp = (node.domain === "" || node.domain === "ai.onnx") &&
            inputTypes.every((t) => t === undefined || !isWord(t) || isFloatType(t));
          uncovered = `form not covered by the GPU kernel: ${res.fallback}`;
          if (!floatOp) record.fallback = uncovered;
          else record.role = "float";
        } else {
          if (res.run) gpu.device.queue.submit([res.run()]);
          outs = res.outputs.map((o) => ("buffer" in o ? { device: o } : { host: o }));
          record.device = "gpu";
        }
      }
      if (!outs || compare && record.device === "gpu") {
        const kernel = (() => {
          try {
            return getOp(node.domain, node.opType);
          } catch (e) {
            if (outs) return null; // GPU result stands; nothing to compare with
            throw e;
          }
        })();
        if (kernel) {
          let cpu: Tensor[];
          const inputs = await hostInputs();
          try {
            cpu = kernel(inputs, node.a, { opset: ctxOpset, numOutputs: node.outputs.length });
          } catch (e) {
            throw new (e instanceof RangeError ? RangeError : TypeError)(
              `Cannot evaluate ${node.opType} node "${name}": ${(e as Error).message}`,
              { cause: e },
            );
          }
          if (!outs) {
            outs = cpu.map((t) => ({ host: t }));
          } else {
            record.compared = true;
            let tol: { bound: Float64Array | number; rule: string } | null = null;
            for (let i = 0; i < Math.min(cpu.length, outs.length); i++) {
              const mine = await hostOf(outs[i]!);
              const float = !isIntegerType(cpu[i]!.dtype);
              if (float && !tol) tol = floatTolerance(record.op, inputs, node.a, ctxOpset);
              const c = compareTensors(mine, cpu[i]!, float ? tol!.bound : 0);
              record.exact &&= c.exact;
              record.withinTolerance &&= c.within;
              record.maxAbsDiff = Math.max(record.maxAbsDiff, c.maxAbsDiff);
            }
            if (tol) record.tolerance = tol.rule;
          }
        } else {
          record.note = `the CPU evaluator has no kernel for ${record.op}: not compared`;
          record.maxAbsDiff = NaN;
        }
      }
      if (!outs) throw new TypeError(`Cannot execute node "${name}": no kernel produced its outputs`);
      const produced = outs;
      if (produced.length > 0) {
        const first = produced[0]!;
        const dtype = (first.host ?? first.device)!.dtype;
        record.integer = isIntegerType(dtype);
        if (record.role === "float" && !isFloatType(dtype)) {
          record.role = "kernel"; // float inputs, integer output (e.g. a Cast to int8): an integer op
          record.fallback = uncovered ?? `no GPU kernel for ${record.op}`;
        }
        if (record.role === "kernel" && !gpuOp && record.device === "cpu") {
          if (isFloatType(dtype)) record.role = "float";
          else record.fallback = `no GPU kernel for ${record.op}`;
        }
      }
      node.outputs.forEach((v, i) => {
        const s = produced[i];
        if (!s || v.name === "") return;
        slots.set(v, s);
      });
      if (options.onValue) {
        for (const [i, v] of node.outputs.entries()) {
          if (produced[i] && v.name !== "") options.onValue(v, await hostOf(produced[i]!));
        }
      }
      records.push(record);
    }
  };
  await runGraph(graph);
  const outputs: Record<string, Tensor> = {};
  for (const v of graph.outputs) outputs[v.name] = await hostOf(slotOf(v, "graph output"));
  return { outputs, records, adapter: gpu.description };
}
