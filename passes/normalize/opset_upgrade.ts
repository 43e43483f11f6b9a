/**
 * Opset upgrade: lift a model's default-domain (ai.onnx) opset to a target version, converting every node
 * whose op signature changed between the two, one (op, version) step at a time. The steps are data (the
 * {@link UPGRADE_STEPS} table): a step is either compatible (the newer definition means the same for every
 * attribute value the older one accepts) or has a converter. A node needing a step the table does not have
 * makes the whole upgrade refuse, before anything is changed, with an {@link OpsetUpgradeError} listing
 * every missing (op, version) — never a silently raised opset. Steps follow the ONNX operator changelog
 * (docs/Changelog.md of onnx/onnx).
 * @module
 */
import { AttrType, intAttr, stringAttr } from "../../onnx/attributes.ts";
import { inferShapes } from "../../onnx/infer.ts";
import { type Graph, type Model, Node, type Value } from "../../onnx/ir.ts";
import { Op, type OpSchema, schemaOf } from "../../onnx/ops.ts";
import { constValue } from "../../onnx/patterns.ts";
import { DataType, makeTensor, type Tensor, toNumbers } from "../../onnx/tensor.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/** The highest default-domain opset the upgrader targets. */
export const MAX_TARGET_OPSET = 21;

/**
 * Version history of ops the real models use that onnx/ops.ts does not list yet (a stopgap until the op
 * table has them), plus Upsample's removal at opset 10 (it is rewritten to Resize there).
 */
/** Thrown when a node cannot be converted; lists every offending (op, version) step. */
export class OpsetUpgradeError extends RangeError {
  /** `"Op@version: reason"` for each missing or failing step, deduplicated. */
  readonly unsupported: string[];
  /**
   * @param from source opset
   * @param to target opset
   * @param unsupported the offending steps
   */
  constructor(from: number, to: number, unsupported: string[]) {
    super(
      `Cannot upgrade the model from opset ${from} to ${to}: no conversion for ${unsupported.join("; ")}`,
    );
    this.name = "OpsetUpgradeError";
    this.unsupported = unsupported;
  }
}

/** What a converter may use. */
interface StepContext {
  graph: Graph;
  /** A new int64 initializer. */
  int64(name: string, values: readonly (number | bigint)[], dims?: number[]): Value;
  /** A new initializer holding a tensor. */
  tensor(name: string, t: Tensor): Value;
}

/** A converter changes the node in place; it returns a reason when it cannot convert this node. */
type Converter = (node: Node, cx: StepContext) => string | void;

/** One (op, version) step: `null` = compatible. `becomes` names the op the converter turns the node into. */
interface Step {
  readonly convert: Converter | null;
  readonly becomes?: string;
  /** A check run before anything changes (dry run); returns a reason when the converter would refuse. */
  readonly check?: (node: Node) => string | void;
}

const drop = (...names: string[]): Converter => (n) => {
  for (const a of names) n.attrs.delete(a);
};

/** An INTS attribute, exact (INT64_MAX stays INT64_MAX: it never passes through a JS number). */
function intsOf(n: Node, name: string): (number | bigint)[] | undefined {
  return n.attrs.has(name) ? n.a.intsExact(name) : undefined;
}

/** Move an INTS attribute to input slot `i` as an int64 initializer (pads missing slots with null). */
const attrToInput = (attr: string, i: number): Converter => (n, cx) => {
  const v = intsOf(n, attr);
  n.attrs.delete(attr);
  if (v === undefined) return;
  while (n.inputs.length < i) n.addInput(null);
  n.setInput(i, cx.int64(`${n.name || n.opType}_${attr}`, v));
};

function elemTypeOf(v: Value | null): number {
  return v?.type?.elemType ?? DataType.FLOAT;
}

function scalarOf(dtype: number, x: number): Tensor {
  if (dtype === DataType.DOUBLE) return makeTensor(dtype, [], Float64Array.of(x));
  if (dtype === DataType.FLOAT) return makeTensor(dtype, [], Float32Array.of(x));
  throw new TypeError(`no scalar of element type ${dtype}`);
}

const noBroadcastAttr: Step["check"] = (n) => {
  if (n.attrs.has("broadcast") && n.a.int("broadcast", 0) !== 0) {
    return `${n.opType} "${n.name}" uses the pre-opset-7 broadcast/axis attributes`;
  }
};

/** Softmax/LogSoftmax < 13 flatten to 2D at `axis`; >= 13 normalise one axis. Same when axis is last. */
const softmax13: Converter = (n, cx) => {
  const x = n.input(0)!;
  const rank = x.type?.shape?.length;
  let axis = n.a.int("axis", 1);
  if (axis < 0 && rank !== undefined) axis += rank;
  if (axis === -1 || (rank !== undefined && axis === rank - 1)) {
    n.attrs.set("axis", intAttr("axis", -1));
    return;
  }
  // Keep the coerce-to-2D semantics: Flatten(axis) -> Softmax(-1) -> Reshape(Shape(x)).
  const g = cx.graph;
  const base = n.name || n.opType;
  const shape = g.addNode(Op.Shape.type, [x], [`${base}_shape`], { before: n });
  const flat = g.addNode(Op.Flatten.type, [x], [`${base}_2d`], { before: n, attrs: [intAttr("axis", axis)] });
  n.setInput(0, flat.outputs[0]!);
  n.attrs.set("axis", intAttr("axis", -1));
  const out = n.outputs[0]!;
  const mid = g.value(`${out.name}_2d`);
  n.outputs[0] = mid;
  mid.producer = n;
  mid.producerIndex = 0;
  const reshape = new Node(Op.Reshape.type, "", g.uniqueNodeName(`${base}_reshape`));
  reshape.addInput(mid);
  reshape.addInput(shape.outputs[0]!);
  g.attachOutput(reshape, out);
  g.insert(reshape, undefined, n);
};

/** Resize-10 -> 11: roi input added, and Resize-10's asymmetric coordinates made explicit. */
const resize11Check = (n: Node): string | void => {
  if (n.a.string("mode", "nearest") !== "nearest") return;
  const s = constValue(n.input(1));
  if (!s) return `Resize "${n.name}" (nearest) has non-constant scales`;
  const v = toNumbers(s);
  if (v.some((x) => x < 1) && v.some((x) => x > 1)) return `Resize "${n.name}" mixes up- and downsampling`;
};
const resize11: Converter = (n, cx) => {
  const why = resize11Check(n);
  if (why) return why;
  const scales = n.input(1);
  n.setInput(1, cx.tensor(`${n.name || "Resize"}_roi`, makeTensor(DataType.FLOAT, [0])));
  n.setInput(2, scales);
  n.attrs.set("coordinate_transformation_mode", stringAttr("coordinate_transformation_mode", "asymmetric"));
  if (n.a.string("mode", "nearest") === "nearest") {
    // onnxruntime's opset-10 nearest: floor when upsampling, ceil when downsampling (per axis).
    const down = toNumbers(constValue(scales)!).some((x) => x < 1);
    n.attrs.set("nearest_mode", stringAttr("nearest_mode", down ? "ceil" : "floor"));
  }
};

const STEP_LIST: [string, number[], Step][] = [];
const compat = (ops: string[], versions: number[]) =>
  STEP_LIST.push(...ops.map((o) => [o, versions, { convert: null }] as [string, number[], Step]));
const step = (ops: string[], versions: number[], s: Step) =>
  STEP_LIST.push(...ops.map((o) => [o, versions, s] as [string, number[], Step]));

const UNARY = [
  "Sqrt",
  "Reciprocal",
  "Exp",
  "Log",
  "Tanh",
  "Sigmoid",
  "Neg",
  "Abs",
  "Floor",
  "Ceil",
  "Relu",
  "LeakyRelu",
  "HardSigmoid",
  "Clip",
  "Max",
  "Min",
  "Elu",
  "Selu",
  "PRelu",
  "Sum",
  "Mean",
  "InstanceNormalization",
];
step(UNARY, [6], { convert: drop("consumed_inputs") });
compat(["Sqrt", "Reciprocal", "Exp", "Log", "Tanh", "Sigmoid", "Neg", "Abs", "Floor", "Ceil"], [13]);
compat(["Relu"], [13, 14]);
compat(["LeakyRelu"], [16]);
compat(["Max", "Min"], [8, 12, 13]);
compat(["Clip"], [12, 13]);
step(["Clip"], [11], {
  convert: (n, cx) => {
    const t = elemTypeOf(n.input(0));
    const lo = n.attrs.has("min") ? n.a.float("min") : undefined;
    const hi = n.attrs.has("max") ? n.a.float("max") : undefined;
    drop("min", "max")(n, cx);
    if (lo !== undefined) n.setInput(1, cx.tensor(`${n.name || "Clip"}_min`, scalarOf(t, lo)));
    if (hi !== undefined) {
      if (lo === undefined) n.setInput(1, null);
      n.setInput(2, cx.tensor(`${n.name || "Clip"}_max`, scalarOf(t, hi)));
    }
  },
  check: (n) => {
    const t = elemTypeOf(n.input(0));
    if (t !== DataType.FLOAT && t !== DataType.DOUBLE) return `Clip "${n.name}" on element type ${t}`;
  },
});
for (const o of ["Add", "Sub", "Mul", "Div", "Pow"]) {
  step([o], [6], { convert: drop("consumed_inputs") });
  step([o], [7], { convert: drop("broadcast", "axis"), check: noBroadcastAttr });
}
compat(["Add", "Sub", "Mul", "Div"], [13, 14]);
compat(["Pow"], [12, 13, 15]);
compat(["MatMul"], [9, 13]);
step(["Gemm"], [6], { convert: drop("consumed_inputs") });
step(["Gemm"], [7], { convert: drop("broadcast") });
compat(["Gemm"], [9, 11, 13]);
compat(["Conv", "ConvTranspose"], [11]);
compat(["MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "DynamicQuantizeLinear"], [
  10,
  11,
  21,
]);
compat(["QuantizeLinear", "DequantizeLinear"], [13, 19, 21]);
step(["BatchNormalization"], [6], { convert: drop("consumed_inputs") });
step(["BatchNormalization"], [7], { convert: drop("is_test") });
step(["BatchNormalization"], [9], {
  convert: drop("spatial"),
  check: (n) => {
    if (n.a.int("spatial", 1) !== 1) return `BatchNormalization "${n.name}" has spatial=0`;
  },
});
step(["BatchNormalization"], [14], {
  // BN-14 in inference mode has exactly one output: drop unused optional running-statistics outputs.
  convert: (n) => {
    n.outputs.splice(1);
  },
  check: (n) => {
    if (n.outputs.slice(1).some((o) => o.uses.length > 0 || o.isGraphOutput)) {
      return `BatchNormalization "${n.name}" has its running statistics read`;
    }
  },
});
compat(["BatchNormalization"], [15]);
compat(["InstanceNormalization", "Erf", "HardSwish", "Round", "BitShift", "Not", "And", "Where", "Mod"], [
  9,
  10,
  11,
  13,
  14,
  16,
]);
compat(["Equal", "Less", "Greater"], [7, 9, 11, 13, 19]);
step(["Cast"], [6], {
  convert: null,
  check: (n) => {
    if (n.attrs.get("to")?.type === AttrType.STRING) return `Cast "${n.name}" has a string "to" (Cast-1)`;
  },
});
compat(["Cast"], [9, 13, 19, 21]);
compat(["Identity"], [13, 14, 16, 19, 21]);
compat(["ReduceMean", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceProd", "ReduceSum", "ArgMax"], [
  11,
  12,
  13,
  20,
]);
step(["ReduceMean", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceProd"], [18], {
  convert: attrToInput("axes", 1),
});
step(["ReduceSum"], [13], { convert: attrToInput("axes", 1) });
compat(["Softmax", "LogSoftmax"], [11]);
step(["Softmax", "LogSoftmax"], [13], { convert: softmax13 });
compat(["MaxPool"], [8, 10, 11, 12]);
compat(["AveragePool"], [7, 10, 11, 19]);
compat([
  "Transpose",
  "Flatten",
  "Gather",
  "GatherElements",
  "Expand",
  "Tile",
  "Shape",
  "Size",
  "ConstantOfShape",
  "Constant",
  "Concat",
], [9, 11, 12, 13, 15, 19, 20, 21]);
step(["Concat"], [4], {
  convert: (n) => {
    if (!n.attrs.has("axis")) n.attrs.set("axis", intAttr("axis", 1));
  },
});
step(["Reshape"], [5], { convert: attrToInput("shape", 1) });
compat(["Reshape"], [13, 14, 19, 21]);
compat(["Squeeze", "Unsqueeze"], [11, 21]);
step(["Squeeze", "Unsqueeze"], [13], { convert: attrToInput("axes", 1) });
step(["Slice"], [10], {
  convert: (n, cx) => {
    const base = n.name || "Slice";
    const [starts, ends, axes] = ["starts", "ends", "axes"].map((a) => intsOf(n, a));
    drop("starts", "ends", "axes")(n, cx);
    n.setInput(1, cx.int64(`${base}_starts`, starts ?? []));
    n.setInput(2, cx.int64(`${base}_ends`, ends ?? []));
    if (axes) n.setInput(3, cx.int64(`${base}_axes`, axes));
  },
});
compat(["Slice"], [11, 13]);
step(["Split"], [2], {
  convert: (n) => {
    if (!n.input(1)) return;
    const s = constValue(n.input(1));
    if (!s) return `Split "${n.name}" has a non-constant split input`;
    n.attrs.set("split", { name: "split", type: AttrType.INTS, value: toNumbers(s) });
    n.truncateInputs(1);
  },
});
compat(["Split"], [11]);
step(["Split"], [13], { convert: attrToInput("split", 1) });
step(["Split"], [18], {
  convert: (n) => {
    if (!n.input(1)) n.attrs.set("num_outputs", intAttr("num_outputs", n.outputs.length));
  },
});
step(["Pad"], [2], {
  convert: (n) => {
    const p = intsOf(n, "paddings");
    n.attrs.delete("paddings");
    if (p) n.attrs.set("pads", { name: "pads", type: AttrType.INTS, value: p });
  },
});
step(["Pad"], [11], {
  convert: (n, cx) => {
    const value = n.attrs.has("value") ? n.a.float("value") : 0;
    attrToInput("pads", 1)(n, cx);
    n.attrs.delete("value");
    if (value !== 0) {
      n.setInput(2, cx.tensor(`${n.name || "Pad"}_value`, scalarOf(elemTypeOf(n.input(0)), value)));
    }
  },
  check: (n) => {
    if (!n.attrs.has("pads")) return `Pad "${n.name}" has no pads attribute`;
    const t = elemTypeOf(n.input(0));
    if (n.attrs.has("value") && n.a.float("value") !== 0 && t !== DataType.FLOAT && t !== DataType.DOUBLE) {
      return `Pad "${n.name}" pads element type ${t} with a non-zero value`;
    }
  },
});
compat(["Pad"], [13, 18, 19, 21]);
step(["Resize"], [11], { convert: resize11, check: resize11Check });
compat(["Resize"], [13, 18, 19]);
step(["Upsample"], [9], { convert: (n, cx) => attrToFloatInput(n, cx) });
step(["Upsample"], [10], {
  becomes: "Resize",
  convert: (n) => {
    n.opType = Op.Resize.type;
  },
});
step(["TopK"], [10], {
  convert: (n, cx) => {
    const k = n.a.int("k");
    n.attrs.delete("k");
    n.setInput(1, cx.int64(`${n.name || "TopK"}_k`, [k], [1]));
  },
});
compat(["TopK"], [11]);
step(["Dropout"], [6], { convert: drop("consumed_inputs") });
step(["Dropout"], [7], { convert: drop("is_test") });
compat(["Dropout"], [10, 13]);
step(["Dropout"], [12], {
  convert: (n, cx) => {
    const r = n.attrs.has("ratio") ? n.a.float("ratio") : undefined;
    n.attrs.delete("ratio");
    if (r !== undefined) {
      n.setInput(1, cx.tensor(`${n.name || "Dropout"}_ratio`, scalarOf(DataType.FLOAT, r)));
    }
  },
});
step(["LSTM"], [7], { convert: drop("output_sequence") });
compat(["LSTM"], [14]);
compat(["If", "Loop"], [11, 13, 16, 19, 21]);
compat(["Scan"], [11, 16, 19, 21]);
compat(["Range", "Gelu", "BitwiseAnd", "LayerNormalization", "Trilu"], [11, 14, 17, 18, 20]);

function attrToFloatInput(n: Node, cx: StepContext): string | void {
  if (!n.attrs.has("scales")) return `Upsample "${n.name}" has no scales attribute`;
  const s = n.a.floats("scales");
  n.attrs.delete("scales");
  n.setInput(
    1,
    cx.tensor(`${n.name || "Upsample"}_scales`, makeTensor(DataType.FLOAT, [s.length], Float32Array.from(s))),
  );
}

/** Every conversion step, keyed `"Op@version"` (the version whose definition the node is lifted to). */
export const UPGRADE_STEPS: ReadonlyMap<string, Step> = new Map(
  STEP_LIST.flatMap(([op, versions, s]) => versions.map((v) => [`${op}@${v}`, s] as [string, Step])),
);

function sinceOf(opType: string, domain: string): readonly number[] | undefined {
  if (domain !== "" && domain !== "ai.onnx") return undefined;
  const s: OpSchema | undefined = schemaOf(new Node(opType));
  return s?.since;
}

function versionAt(since: readonly number[], opset: number): number {
  let v = 0;
  for (const s of since) if (s <= opset) v = s;
  return v;
}

/** The steps a node needs, simulating op renames (Upsample -> Resize); throws the reason list via `bad`. */
function plan(n: Node, from: number, to: number, bad: string[]): { key: string; step: Step }[] {
  const out: { key: string; step: Step }[] = [];
  let op = n.opType;
  let at = from;
  for (;;) {
    const since = sinceOf(op, n.domain);
    if (!since) {
      if (n.domain === "" || n.domain === "ai.onnx") bad.push(`${op}: not in the op table`);
      return out;
    }
    const cur = versionAt(since, at);
    const next = since.find((v) => v > cur && v <= to);
    if (next === undefined) return out;
    const key = `${op}@${next}`;
    const s = UPGRADE_STEPS.get(key);
    if (!s) {
      bad.push(`${key}: no converter`);
      return out;
    }
    const why = s.check?.(n);
    if (why) {
      bad.push(`${key}: ${why}`);
      return out;
    }
    out.push({ key, step: s });
    at = next;
    if (s.becomes) op = s.becomes;
  }
}

function stepContext(g: Graph): StepContext {
  return {
    graph: g,
    int64: (name, values, dims) =>
      g.addInitializer(
        name,
        makeTensor(DataType.INT64, dims ?? [values.length], BigInt64Array.from(values.map((x) => BigInt(x)))),
      ),
    tensor: (name, t) => g.addInitializer(name, t),
  };
}

/** The IR version a given opset needs (onnx/helper.py VERSION_TABLE). */
function irVersionFor(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  return opset >= 11 ? 6 : opset >= 10 ? 5 : 4;
}

function graphsOf(g: Graph): Graph[] {
  return [g, ...g.subgraphs()];
}

/** Options of {@link upgradeOpset}. */
export interface UpgradeOptions {
  /** Run shape inference first so Softmax axes can be proven last (else Flatten/Reshape keep semantics). @default true */
  inferShapes?: boolean;
}

/**
 * Lift the default-domain opset of a model (and of its functions' bodies) to `target`.
 *
 * @param model the model (changed in place only when every node can be converted)
 * @param target the opset to reach (<= {@link MAX_TARGET_OPSET})
 * @param options see {@link UpgradeOptions}
 * @returns whether the model changed, and a note per converted (op, version) step with its count
 * @throws {RangeError} for a target below the model's opset or above {@link MAX_TARGET_OPSET}
 * @throws {OpsetUpgradeError} listing every node step without a converter (the model is left untouched)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { intsAttr } from "../../onnx/attributes.ts";
 * import { Model } from "../../onnx/ir.ts";
 * import { upgradeOpset } from "./opset_upgrade.ts";
 * const m = new Model();
 * m.opsets.set("", 11);
 * const x = m.graph.value("x");
 * m.graph.inputs.push(x);
 * const sq = m.graph.addNode("Squeeze", [x], ["y"], { attrs: [intsAttr("axes", [0])] });
 * m.graph.outputs.push(sq.outputs[0]!);
 * assertEquals(upgradeOpset(m, 13).notes, ["Squeeze@13 x1"]);
 * assertEquals(sq.inputs.length, 2);
 * assertEquals(m.opset, 13);
 * ```
 */
export function upgradeOpset(model: Model, target: number, options: UpgradeOptions = {}): PassResult {
  const from = model.opset;
  if (!Number.isInteger(target) || target > MAX_TARGET_OPSET) {
    throw new RangeError(
      `Cannot upgrade to opset ${target}: supported targets are up to ${MAX_TARGET_OPSET}`,
    );
  }
  if (target < from) throw new RangeError(`Cannot upgrade from opset ${from} down to ${target}`);
  const scopes: { graphs: Graph[]; from: number; setOpset: () => void }[] = [{
    graphs: graphsOf(model.graph),
    from,
    setOpset: () => {
      model.opsets.delete("ai.onnx");
      model.opsets.set("", target);
    },
  }];
  for (const f of model.functions) {
    const fv = f.opsets.get("") ?? f.opsets.get("ai.onnx");
    if (fv === undefined) continue;
    if (fv > target) {
      throw new RangeError(`Function ${f.domain}.${f.name} imports opset ${fv} > target ${target}`);
    }
    scopes.push({
      graphs: graphsOf(f.body),
      from: fv,
      setOpset: () => {
        f.opsets.delete("ai.onnx");
        f.opsets.set("", target);
      },
    });
  }
  const bad: string[] = [];
  const work: { node: Node; graph: Graph; steps: { key: string; step: Step }[] }[] = [];
  for (const s of scopes) {
    for (const g of s.graphs) {
      for (const n of g.nodes) {
        const steps = plan(n, s.from, target, bad);
        if (steps.length) work.push({ node: n, graph: g, steps });
      }
    }
  }
  if (bad.length) throw new OpsetUpgradeError(from, target, [...new Set(bad)]);
  if (from === target && work.length === 0 && scopes.every((s) => s.from === target)) {
    return { modified: false, notes: [] };
  }
  if (options.inferShapes ?? true) inferShapes(model);
  const counts = new Map<string, number>();
  for (const w of work) {
    const cx = stepContext(w.graph);
    for (const { key, step } of w.steps) {
      const why = step.convert?.(w.node, cx);
      // check() ran for every step up front; a converter refusing here is a bug in the table.
      if (why) throw new OpsetUpgradeError(from, target, [`${key}: ${why}`]);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  for (const s of scopes) s.setOpset();
  const ir = irVersionFor(target);
  if (Number(model.irVersion) < ir) model.irVersion = ir;
  const notes = [...counts].filter(([k]) => UPGRADE_STEPS.get(k)?.convert).map(([k, c]) => `${k} x${c}`);
  return { modified: true, notes };
}

/**
 * A pass lifting the model to `target` (a no-op when it is already there or newer).
 *
 * @param target the opset to reach
 * @returns the pass
 */
export function opsetUpgradePass(target: number): Pass {
  return {
    name: `opset-upgrade-${target}`,
    run(model: Model, _ctx?: PassContext): PassResult {
      if (model.opset >= target) return { modified: false, notes: [] };
      return upgradeOpset(model, target);
    },
  };
}
