/**
 * What is in a model, without running it: producer, opsets, op histogram (subgraphs and function bodies
 * included), parameters by element type, where the weights live, and whether the model is already quantized
 * or in fp16 (so the CLI can refuse or warn before a method touches it). Reads tensor sizes from the encoded
 * TensorProtos, so inspecting never reads external data.
 * @module
 */
import { AttrType } from "./attributes.ts";
import type { Graph, Model, Node, TensorType, Value } from "./ir.ts";
import { isOp, MS_DOMAIN, Op, QUANTIZED_OPS, SHIFTKIT_DOMAIN } from "./ops.ts";
import { DataType, dtypeInfo, dtypeName, type Tensor } from "./tensor.ts";
import { externalInfo, isExternal, protoDims } from "./tensor_proto.ts";

/** Counts for a group of constant tensors. */
export interface TensorTally {
  /** Number of tensors. */
  tensors: number;
  /** Number of elements (parameters). */
  elements: number;
  /** Bytes of element data (4-bit types packed two per byte). */
  bytes: number;
}

/** A graph input or output. */
export interface IOInfo {
  name: string;
  /** Element type name ("FLOAT", "INT64", ...), or "non-tensor" for sequences/maps/optionals. */
  type: string;
  /** Dimensions (numbers, symbolic names, null for unknown); null when the rank is unknown. */
  shape: (number | string | null)[] | null;
}

/** Everything {@link inspectModel} finds. Plain data: `JSON.stringify` gives the `--json` output. */
export interface InspectReport {
  /** producer_name and producer_version ("" when absent). */
  producer: string;
  irVersion: number;
  /** Opset imports, "ai.onnx" for the default domain. */
  opsets: Record<string, number>;
  /** Size of the encoded model, when given. */
  fileBytes: number | null;
  /** Nodes in all graphs (main graph, subgraphs, function bodies). */
  nodes: number;
  /** Subgraphs (If/Loop/Scan bodies, at any depth) and model-local functions. */
  subgraphs: number;
  functions: number;
  /** Op histogram keyed "domain.op" ("ai.onnx.Conv", "com.microsoft.QLinearConv"), most frequent first. */
  ops: Record<string, number>;
  /** All constant tensors (initializers and Constant node values). */
  parameters: TensorTally & { byType: Record<string, TensorTally> };
  /** Where the constants live; `external` overlaps the others (it counts initializers stored externally). */
  weights: {
    initializers: TensorTally;
    constantNodes: TensorTally;
    subgraphs: TensorTally;
    functions: TensorTally;
    external: TensorTally & { files: string[] };
  };
  /** Signs that the model is already quantized. */
  quantization: {
    quantized: boolean;
    /** QuantizeLinear / DequantizeLinear nodes (ai.onnx or com.microsoft). */
    qdqNodes: number;
    /** Integer ops (QLinear*, *Integer, DynamicQuantizeLinear) and shiftkit-domain ops. */
    integerOps: number;
    /** Constant tensors of 8- or 4-bit integer type with at least 16 elements. */
    lowBitWeights: number;
    reasons: string[];
  };
  /** Half-precision weights or inputs/outputs. */
  fp16: { fp16: boolean; weightTensors: number; weightBytes: number; io: boolean };
  inputs: IOInfo[];
  outputs: IOInfo[];
}

/** Options for {@link inspectModel}. */
export interface InspectOptions {
  /** Size of the model on disk (its file plus its external data files), reported as `fileBytes`. @default null (unknown) */
  bytes?: number;
}

interface TensorFacts {
  dtype: number;
  elements: number;
  bytes: number;
  external: string | null;
}

function tally(): TensorTally {
  return { tensors: 0, elements: 0, bytes: 0 };
}

function add(t: TensorTally, f: TensorFacts): void {
  t.tensors++;
  t.elements += f.elements;
  t.bytes += f.bytes;
}

function byteSize(dtype: number, elements: number): number {
  if (dtype === DataType.STRING) return 0;
  try {
    return Math.ceil(elements * dtypeInfo(dtype).bits / 8);
  } catch {
    return 0;
  }
}

function initializerFacts(v: Value): TensorFacts {
  const p = v.encodedConst;
  if (p) {
    const dtype = (p.data_type as number | undefined) ?? 0;
    const elements = protoDims(p).reduce((a, b) => a * b, 1);
    let external: string | null = null;
    if (isExternal(p)) {
      try {
        external = externalInfo(p).location;
      } catch {
        external = "?";
      }
    }
    return { dtype, elements, bytes: byteSize(dtype, elements), external };
  }
  return tensorFacts(v.const!);
}

function tensorFacts(t: Tensor): TensorFacts {
  const bytes = t.dtype === DataType.STRING
    ? (t.data as string[]).reduce((a, s) => a + s.length, 0)
    : byteSize(t.dtype, t.data.length);
  return { dtype: t.dtype, elements: t.data.length, bytes, external: null };
}

/** Value of a Constant node (any of its value* attributes) as tensor facts. */
function constantFacts(n: Node): TensorFacts | undefined {
  for (const a of n.attrs.values()) {
    switch (a.type) {
      case AttrType.TENSOR:
        return a.value ? tensorFacts(a.value as Tensor) : undefined;
      case AttrType.FLOAT:
        return { dtype: DataType.FLOAT, elements: 1, bytes: 4, external: null };
      case AttrType.INT:
        return { dtype: DataType.INT64, elements: 1, bytes: 8, external: null };
      case AttrType.FLOATS:
      case AttrType.INTS: {
        const len = (a.value as unknown[]).length;
        const dtype = a.type === AttrType.FLOATS ? DataType.FLOAT : DataType.INT64;
        return { dtype, elements: len, bytes: byteSize(dtype, len), external: null };
      }
    }
  }
  return undefined;
}

function ioInfo(v: Value): IOInfo {
  const t: TensorType | undefined = v.type;
  return {
    name: v.name,
    type: t ? dtypeName(t.elemType) : "non-tensor",
    shape: t?.shape ? [...t.shape] : null,
  };
}

const LOW_BIT = [DataType.INT8, DataType.UINT8, DataType.INT4, DataType.UINT4];
const HALF = [DataType.FLOAT16, DataType.BFLOAT16];

/**
 * Inspect a model.
 *
 * @param model the model
 * @param options the encoded size, for the report
 * @returns the report (plain data)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "./ir.ts";
 * import { inspectModel } from "./inspect.ts";
 * import { DataType, makeTensor } from "./tensor.ts";
 * const m = new Model();
 * m.opsets.set("", 17);
 * const x = m.graph.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: ["batch", 4] };
 * m.graph.inputs.push(x);
 * const w = m.graph.addInitializer("w", makeTensor(DataType.FLOAT, [4, 2]));
 * m.graph.outputs.push(m.graph.addNode("MatMul", [x, w], ["y"]).outputs[0]!);
 * const r = inspectModel(m);
 * assertEquals(r.ops, { "ai.onnx.MatMul": 1 });
 * assertEquals(r.parameters.elements, 8);
 * assertEquals(r.weights.initializers.bytes, 32);
 * assertEquals(r.inputs, [{ name: "x", type: "FLOAT", shape: ["batch", 4] }]);
 * ```
 */
export function inspectModel(model: Model, options: InspectOptions = {}): InspectReport {
  const ops = new Map<string, number>();
  const params = tally();
  const byType: Record<string, TensorTally> = {};
  const weights = {
    initializers: tally(),
    constantNodes: tally(),
    subgraphs: tally(),
    functions: tally(),
    external: { ...tally(), files: [] as string[] },
  };
  const q = { qdqNodes: 0, integerOps: 0, lowBitWeights: 0 };
  const half = { weightTensors: 0, weightBytes: 0 };
  let nodes = 0;

  const record = (f: TensorFacts, where: TensorTally) => {
    add(params, f);
    add(byType[dtypeName(f.dtype)] ??= tally(), f);
    add(where, f);
    if (f.external !== null) {
      add(weights.external, f);
      if (!weights.external.files.includes(f.external)) weights.external.files.push(f.external);
    }
    if (LOW_BIT.includes(f.dtype) && f.elements >= 16) q.lowBitWeights++;
    if (HALF.includes(f.dtype)) {
      half.weightTensors++;
      half.weightBytes += f.bytes;
    }
  };

  const functionGraphs = new Set<Graph>();
  for (const f of model.functions) {
    functionGraphs.add(f.body);
    for (const g of f.body.subgraphs()) functionGraphs.add(g);
  }
  for (const g of model.allGraphs()) {
    const place = functionGraphs.has(g) ? weights.functions : g === model.graph ? null : weights.subgraphs;
    for (const v of g.initializers) record(initializerFacts(v), place ?? weights.initializers);
    for (const n of g.nodes) {
      nodes++;
      const key = `${n.domain === "" ? "ai.onnx" : n.domain}.${n.opType}`;
      ops.set(key, (ops.get(key) ?? 0) + 1);
      if (isOp(n, Op.Constant)) {
        const f = constantFacts(n);
        if (f) record(f, place ?? weights.constantNodes);
      }
      const msQ = n.domain === MS_DOMAIN && QUANTIZED_OPS.some((s) => s.type === n.opType);
      const isQdq = [Op.QuantizeLinear, Op.DequantizeLinear].some((s) =>
        isOp(n, s) || (n.domain === MS_DOMAIN && n.opType === s.type)
      );
      if (isQdq) q.qdqNodes++;
      else if (QUANTIZED_OPS.some((s) => isOp(n, s)) || msQ || n.domain === SHIFTKIT_DOMAIN) q.integerOps++;
    }
  }

  const reasons: string[] = [];
  if (q.qdqNodes) reasons.push(`${q.qdqNodes} QuantizeLinear/DequantizeLinear nodes`);
  if (q.integerOps) reasons.push(`${q.integerOps} integer or shiftkit ops`);
  if (q.lowBitWeights) reasons.push(`${q.lowBitWeights} 8-/4-bit integer weight tensors`);

  const io = [...model.graph.inputs, ...model.graph.outputs].some((v) =>
    v.type !== undefined && HALF.includes(v.type.elemType)
  );
  const f32 = byType.FLOAT?.bytes ?? 0;
  const opsets: Record<string, number> = {};
  for (const [d, v] of model.opsets) opsets[d === "" ? "ai.onnx" : d] = v;
  const subgraphCount = [...model.allGraphs()].length - 1 - model.functions.length;

  return {
    producer: [model.producerName ?? "", model.producerVersion ?? ""].filter((s) => s).join(" "),
    irVersion: Number(model.irVersion),
    opsets,
    fileBytes: options.bytes ?? null,
    nodes,
    subgraphs: subgraphCount,
    functions: model.functions.length,
    ops: Object.fromEntries([...ops].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
    parameters: { ...params, byType },
    weights,
    quantization: { quantized: reasons.length > 0, ...q, reasons },
    fp16: { fp16: half.weightBytes > f32 || (io && half.weightBytes > 0), ...half, io },
    inputs: model.graph.inputs.filter((v) => !v.isConst).map(ioInfo),
    outputs: model.graph.outputs.map(ioInfo),
  };
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function fmtCount(n: number): string {
  if (n < 1e3) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} K`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} M`;
  return `${(n / 1e9).toFixed(2)} G`;
}

function fmtShape(s: IOInfo["shape"]): string {
  return s === null ? "(rank unknown)" : `[${s.map((d) => d ?? "?").join(", ")}]`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function fmtTally(t: TensorTally): string {
  return t.tensors === 0
    ? "-"
    : `${fmtBytes(t.bytes)} (${plural(t.tensors, "tensor")}, ${fmtCount(t.elements)} elements)`;
}

/** Lay out rows of cells as left-aligned columns. */
function columns(rows: string[][], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => widths[i] = Math.max(widths[i] ?? 0, c.length));
  return rows.map((r) => indent + r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i]!)).join("  "));
}

/**
 * Render an {@link InspectReport} as a human-readable text table.
 *
 * @param report the report
 * @returns multi-line text (no trailing newline)
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { Model } from "./ir.ts";
 * import { formatInspect, inspectModel } from "./inspect.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const text = formatInspect(inspectModel(m));
 * assertStringIncludes(text, "ai.onnx 13");
 * ```
 */
export function formatInspect(report: InspectReport): string {
  const r = report;
  const out: string[] = [];
  const head: string[][] = [
    ["producer", r.producer || "(none)"],
    ["IR version", String(r.irVersion)],
    ["opsets", Object.entries(r.opsets).map(([d, v]) => `${d} ${v}`).join(", ") || "(none)"],
  ];
  if (r.fileBytes !== null) {
    head.push([
      "file size",
      fmtBytes(r.fileBytes) + (r.weights.external.tensors ? " (with external data)" : ""),
    ]);
  }
  head.push(["nodes", `${r.nodes} (${r.subgraphs} subgraphs, ${r.functions} functions)`]);
  head.push([
    "parameters",
    `${fmtCount(r.parameters.elements)} in ${plural(r.parameters.tensors, "tensor")}, ${
      fmtBytes(r.parameters.bytes)
    }`,
  ]);
  const q = r.quantization;
  head.push(["quantized", q.quantized ? `yes: ${q.reasons.join("; ")}` : "no"]);
  head.push([
    "fp16",
    r.fp16.fp16
      ? `yes: ${r.fp16.weightTensors} half-precision weight tensors (${fmtBytes(r.fp16.weightBytes)})` +
        (r.fp16.io ? ", half-precision inputs/outputs" : "")
      : "no",
  ]);
  out.push("Model", ...columns(head));

  out.push("", "Inputs");
  out.push(...columns(r.inputs.map((v) => [v.name, v.type, fmtShape(v.shape)])));
  out.push("", "Outputs");
  out.push(...columns(r.outputs.map((v) => [v.name, v.type, fmtShape(v.shape)])));

  out.push("", "Parameters by element type");
  out.push(...columns(
    Object.entries(r.parameters.byType).sort((a, b) => b[1].bytes - a[1].bytes).map((
      [t, v],
    ) => [t, fmtBytes(v.bytes), plural(v.tensors, "tensor"), `${fmtCount(v.elements)} elements`]),
  ));

  const w = r.weights;
  out.push("", "Where the weights live");
  out.push(...columns([
    ["initializers", fmtTally(w.initializers)],
    ["Constant nodes", fmtTally(w.constantNodes)],
    ["subgraphs", fmtTally(w.subgraphs)],
    ["functions", fmtTally(w.functions)],
    ["external data", w.external.tensors ? `${fmtTally(w.external)} in ${w.external.files.join(", ")}` : "-"],
  ]));

  out.push("", `Ops (${Object.keys(r.ops).length} kinds)`);
  out.push(...columns(Object.entries(r.ops).map(([k, n]) => [k, String(n).padStart(5)])));
  return out.join("\n");
}
