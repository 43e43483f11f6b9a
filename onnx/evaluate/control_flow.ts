/**
 * Control flow (If, Loop, Scan; ONNX operators spec) written once for every engine that runs graphs: each op
 * is a generator that yields "run this body graph with these inputs" requests and receives the body's
 * outputs, so the synchronous CPU evaluator (onnx/evaluate/evaluate.ts) and the asynchronous WebGPU executor
 * (kernels/executor.ts) drive the same semantics. Outer-scope values are the driver's business: a body reads
 * them by reference, as the spec says.
 * @module
 */
import type { Graph, Node } from "../ir.ts";
import { DataType, dtypeName, makeTensor, sizeOf, type Tensor, type TypedArray } from "../tensor.ts";

/** One body invocation: the graph and a tensor for each of its formal inputs, in order. */
export interface BodyCall {
  graph: Graph;
  inputs: Tensor[];
}

/** A control-flow op: yields body calls, receives each body's outputs (in order), returns the node outputs. */
export type ControlFlow = Generator<BodyCall, Tensor[], Tensor[]>;

/** Whether a node is a control-flow op of the default domain this module runs. */
export function isControlFlow(node: Node): boolean {
  return (node.domain === "" || node.domain === "ai.onnx") &&
    (node.opType === "If" || node.opType === "Loop" || node.opType === "Scan");
}

/**
 * The steps of one control-flow node.
 *
 * @param node an If, Loop or Scan node
 * @param inputs its inputs (undefined for omitted optional ones)
 * @param opset the default-domain opset (Scan before 9 is not supported)
 * @returns the generator
 * @throws {RangeError} for an op this module does not run
 */
export function controlFlow(node: Node, inputs: (Tensor | undefined)[], opset: number): ControlFlow {
  if (node.opType === "If") return runIf(node, inputs);
  if (node.opType === "Loop") return runLoop(node, inputs);
  if (node.opType === "Scan") {
    if (opset < 9) throw new RangeError("Scan before opset 9 (with a batch axis) is not supported");
    return runScan(node, inputs);
  }
  throw new RangeError(`${node.opType} is not a control-flow op`);
}

/**
 * Drive a control-flow generator with a synchronous body runner.
 *
 * @param flow the generator from {@link controlFlow}
 * @param run runs a body graph on positional inputs and returns its outputs
 * @returns the node outputs
 */
export function driveSync(flow: ControlFlow, run: (call: BodyCall) => Tensor[]): Tensor[] {
  let r = flow.next();
  while (!r.done) r = flow.next(run(r.value));
  return r.value;
}

/**
 * Drive a control-flow generator with an asynchronous body runner.
 *
 * @param flow the generator from {@link controlFlow}
 * @param run runs a body graph on positional inputs and returns its outputs
 * @returns the node outputs
 */
export async function driveAsync(
  flow: ControlFlow,
  run: (call: BodyCall) => Promise<Tensor[]>,
): Promise<Tensor[]> {
  let r = flow.next();
  while (!r.done) r = flow.next(await run(r.value));
  return r.value;
}

function truthy(t: Tensor | undefined, what: string): boolean {
  if (!t || t.data.length !== 1) throw new TypeError(`${what} must be a single boolean, got ${t?.dims}`);
  return Number(t.data[0]) !== 0;
}

function* runIf(node: Node, inputs: (Tensor | undefined)[]): ControlFlow {
  const name = truthy(inputs[0], "If cond") ? "then_branch" : "else_branch";
  const branch = node.attrs.get(name)?.value as Graph | undefined;
  if (!branch) throw new TypeError(`If: missing ${name}`);
  return yield { graph: branch, inputs: [] };
}

function* runLoop(node: Node, inputs: (Tensor | undefined)[]): ControlFlow {
  const body = node.attrs.get("body")?.value as Graph | undefined;
  if (!body) throw new TypeError("Loop: missing body");
  const m = inputs[0];
  const maxTrips = m ? BigInt(m.data[0] as bigint) : undefined;
  let cond = inputs[1] ? truthy(inputs[1], "Loop cond") : true;
  let carried = inputs.slice(2).map((t, i) => {
    if (!t) throw new TypeError(`Loop: loop-carried input ${i} is missing`);
    return t;
  });
  const nScan = body.outputs.length - 1 - carried.length;
  if (nScan < 0) throw new TypeError("Loop: body has fewer outputs than 1 + loop-carried values");
  const scans: Tensor[][] = Array.from({ length: nScan }, () => []);
  for (let i = 0n; (maxTrips === undefined || i < maxTrips) && cond; i++) {
    const iter = makeTensor(DataType.INT64, [], BigInt64Array.of(i));
    const c = makeTensor(DataType.BOOL, [], Uint8Array.of(1));
    const outs = yield { graph: body, inputs: [iter, c, ...carried] };
    cond = truthy(outs[0], "Loop body cond");
    carried = outs.slice(1, 1 + carried.length);
    outs.slice(1 + carried.length).forEach((t, k) => scans[k]!.push(t));
  }
  return [
    ...carried,
    ...scans.map((ts, k) => stack(ts, 0, body.outputs[1 + carried.length + k]?.type?.elemType)),
  ];
}

function* runScan(node: Node, inputs: (Tensor | undefined)[]): ControlFlow {
  const body = node.attrs.get("body")?.value as Graph | undefined;
  if (!body) throw new TypeError("Scan: missing body");
  const nIn = node.a.int("num_scan_inputs");
  const nState = inputs.length - nIn;
  const nOut = body.outputs.length - nState;
  const inAxes = node.a.ints("scan_input_axes", new Array(nIn).fill(0));
  const inDirs = node.a.ints("scan_input_directions", new Array(nIn).fill(0));
  const outAxes = node.a.ints("scan_output_axes", new Array(nOut).fill(0));
  const outDirs = node.a.ints("scan_output_directions", new Array(nOut).fill(0));
  let state = inputs.slice(0, nState).map((t) => t!);
  const xs = inputs.slice(nState).map((t, k) => {
    if (!t) throw new TypeError(`Scan: scan input ${k} is missing`);
    return t;
  });
  const axisOf = (a: number, rank: number) => (a < 0 ? a + rank : a);
  const len = xs.length ? xs[0]!.dims[axisOf(inAxes[0]!, xs[0]!.dims.length)]! : 0;
  const outs: Tensor[][] = Array.from({ length: nOut }, () => []);
  for (let t = 0; t < len; t++) {
    const slices = xs.map((x, k) => {
      const a = axisOf(inAxes[k]!, x.dims.length);
      return take(x, a, inDirs[k] === 1 ? len - 1 - t : t);
    });
    const r = yield { graph: body, inputs: [...state, ...slices] };
    state = r.slice(0, nState);
    r.slice(nState).forEach((y, k) => outs[k]!.push(y));
  }
  return [
    ...state,
    ...outs.map((ys, k) => {
      const ordered = outDirs[k] === 1 ? [...ys].reverse() : ys;
      const rank = (ordered[0]?.dims.length ?? 0) + 1;
      return stack(ordered, axisOf(outAxes[k]!, rank), body.outputs[nState + k]?.type?.elemType);
    }),
  ];
}

/** Slice index `i` of axis `a`, dropping the axis. */
export function take(x: Tensor, a: number, i: number): Tensor {
  const dims = x.dims.filter((_, k) => k !== a);
  const outer = sizeOf(x.dims.slice(0, a)), n = x.dims[a]!, inner = sizeOf(x.dims.slice(a + 1));
  const out = makeTensor(x.dtype, dims);
  const S = x.data as TypedArray, O = out.data as TypedArray;
  for (let o = 0; o < outer; o++) {
    const src = (o * n + i) * inner;
    if (Array.isArray(x.data)) {
      for (let j = 0; j < inner; j++) (out.data as string[])[o * inner + j] = x.data[src + j]!;
    } else (O as Float32Array).set((S as Float32Array).subarray(src, src + inner), o * inner);
  }
  return out;
}

/**
 * Stack equally shaped tensors along a new axis `a`; no tensors gives an empty tensor of `dtype` (its
 * per-iteration shape is unknown then, so the result is 1-D of length 0).
 */
export function stack(ts: readonly Tensor[], a: number, dtype: number = DataType.FLOAT): Tensor {
  if (ts.length === 0) return makeTensor(dtype, [0]);
  const d0 = ts[0]!.dims;
  for (const t of ts) {
    if (t.dims.join() !== d0.join()) {
      throw new RangeError(`Cannot stack ${dtypeName(t.dtype)} tensors of shapes [${d0}] and [${t.dims}]`);
    }
  }
  const dims = [...d0.slice(0, a), ts.length, ...d0.slice(a)];
  const outer = sizeOf(d0.slice(0, a)), inner = sizeOf(d0.slice(a));
  const out = makeTensor(ts[0]!.dtype, dims);
  ts.forEach((t, k) => {
    for (let o = 0; o < outer; o++) {
      const dst = (o * ts.length + k) * inner;
      if (Array.isArray(t.data)) {
        for (let j = 0; j < inner; j++) (out.data as string[])[dst + j] = t.data[o * inner + j]!;
      } else {
        (out.data as Float32Array).set((t.data as Float32Array).subarray(o * inner, (o + 1) * inner), dst);
      }
    }
  });
  return out;
}
