/**
 * The CPU reference evaluator's op registry: one table from (domain, op type) to a kernel. Op families live
 * in `ops/*.ts` and each exports a table of kernels for the default ONNX domain; this module registers them
 * all, and {@link registerOp} lets other modules add kernels (custom domains, shiftkit ops).
 * @module
 */
import type { Attrs } from "../attributes.ts";
import type { Tensor } from "../tensor.ts";
import { elementwiseOps } from "./ops/elementwise.ts";
import { unaryOps } from "./ops/unary.ts";
import { castOps } from "./ops/cast.ts";
import { matmulOps } from "./ops/matmul.ts";
import { convOps } from "./ops/conv.ts";
import { normOps } from "./ops/norm.ts";
import { poolOps } from "./ops/pool.ts";
import { reduceOps } from "./ops/reduce.ts";
import { softmaxOps } from "./ops/softmax.ts";
import { shapeOps } from "./ops/shape.ts";
import { sliceOps } from "./ops/slice.ts";
import { gatherOps } from "./ops/gather.ts";
import { resizeOps } from "./ops/resize.ts";
import { quantOps } from "./ops/quant.ts";
import type { PackCache } from "./ops/_gemm.ts";
import { rnnOps } from "./ops/rnn.ts";

/** What a kernel knows about the node it runs besides inputs and attributes. */
export interface OpContext {
  /** Opset version of the node's domain in the model (e.g. 9..21 for the default domain). */
  readonly opset: number;
  /** How many outputs the node declares (Split needs it when no split sizes are given). @default 1 */
  readonly numOutputs?: number;
  /** Which inputs are constants (initializers), by position. @default none */
  readonly constInputs?: readonly boolean[];
  /** Cache of packed constant GEMM operands across evaluations (`EvaluateOptions.cache`). @default none */
  readonly packCache?: PackCache;
}

/**
 * A kernel: inputs in node order (`undefined` for an omitted optional input), the node's attributes, and the
 * context; returns the outputs in node order (trailing optional outputs may be left out).
 */
export type OpKernel = (inputs: (Tensor | undefined)[], attrs: Attrs, ctx: OpContext) => Tensor[];

const registry = new Map<string, OpKernel>();

function normDomain(domain: string): string {
  return domain === "ai.onnx" ? "" : domain;
}

function key(domain: string, opType: string): string {
  return `${normDomain(domain)}\u0000${opType}`;
}

/**
 * Register (or replace) the kernel for an op.
 *
 * @param domain op domain; `""` and `"ai.onnx"` both mean the default ONNX domain
 * @param opType op type, e.g. `"Conv"`
 * @param kernel the kernel
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { getOp, registerOp } from "./registry.ts";
 * registerOp("com.example", "Twice", (ins) => [ins[0]!]);
 * assertEquals(typeof getOp("com.example", "Twice"), "function");
 * ```
 */
export function registerOp(domain: string, opType: string, kernel: OpKernel): void {
  registry.set(key(domain, opType), kernel);
}

/**
 * Look up the kernel of an op.
 *
 * @param domain op domain (`""` or `"ai.onnx"` for the default domain)
 * @param opType op type
 * @returns the kernel
 * @throws {RangeError} when no kernel is registered, naming the domain and op type
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { getOp } from "./registry.ts";
 * assertThrows(() => getOp("", "NoSuchOp"), RangeError, "NoSuchOp");
 * ```
 */
export function getOp(domain: string, opType: string): OpKernel {
  const k = registry.get(key(domain, opType));
  if (!k) {
    const d = normDomain(domain) === "" ? "ai.onnx (default)" : domain;
    throw new RangeError(`The CPU evaluator has no kernel for op "${opType}" in domain "${d}"`);
  }
  return k;
}

/**
 * All registered ops, sorted.
 *
 * @returns `{domain, opType}` pairs; the default domain is `""`
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { supportedOps } from "./registry.ts";
 * assert(supportedOps().some((o) => o.domain === "" && o.opType === "Conv"));
 * ```
 */
export function supportedOps(): { domain: string; opType: string }[] {
  return [...registry.keys()].sort().map((k) => {
    const [domain, opType] = k.split("\u0000") as [string, string];
    return { domain, opType };
  });
}

for (
  const table of [
    elementwiseOps,
    unaryOps,
    castOps,
    matmulOps,
    convOps,
    normOps,
    poolOps,
    reduceOps,
    softmaxOps,
    shapeOps,
    sliceOps,
    gatherOps,
    resizeOps,
    quantOps,
    rnnOps,
  ]
) {
  for (const [opType, kernel] of Object.entries(table)) registerOp("", opType, kernel);
}
