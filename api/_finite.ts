/**
 * Non-finite values, handled one way for every method (docs/security.md):
 * - calibration data holding NaN or ±Infinity is **refused** before it reaches any method (exit 2, naming
 *   the input, the sample and the element): a statistic over such data (a min/max, a Gram matrix, a bias
 *   correction) is meaningless, and skipping values would calibrate on a different set than the user gave;
 * - no method ever writes a non-finite float: after the passes ran, every initializer a pass created or
 *   replaced is checked, and a non-finite value stops the run before anything is written. Initializers the
 *   input model already had are not judged (a causal mask of -Infinity is legitimate).
 * @module
 */
import type { ByteRange, Model, Value } from "../onnx/ir.ts";
import type { Message } from "../onnx/wire.ts";
import { DataType, type Tensor } from "../onnx/tensor.ts";
import type { DataSource } from "../runtime/data/mod.ts";

/** Calibration data or a pass result holds NaN or ±Infinity. */
export class NonFiniteError extends RangeError {
  /** @param detail what holds the value, and where */
  constructor(detail: string) {
    super(detail);
    this.name = "NonFiniteError";
  }
}

function firstNonFinite(t: Tensor): number {
  if (t.dtype !== DataType.FLOAT && t.dtype !== DataType.DOUBLE) return -1;
  const d = t.data as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return i;
  return -1;
}

/**
 * Wrap a data source so that any batch holding a non-finite float is refused.
 *
 * @param data the calibration data
 * @param what how the data is named in messages
 * @returns the same source, checked as it is read
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * import { finiteOnly } from "./_finite.ts";
 * const data = {
 *   kind: "tensors", count: 1, inputNames: ["x"],
 *   async *batches() { yield { x: { dtype: 1, dims: [1, 2], data: new Float32Array([1, NaN]) } }; },
 * };
 * await assertRejects(async () => {
 *   for await (const b of finiteOnly(data, "calib.npz").batches(1)) void b;
 * }, RangeError, `input "x" of sample 0 holds NaN at element 1`);
 * ```
 */
export function finiteOnly(data: DataSource, what: string): DataSource {
  async function* batches(batchSize: number): AsyncIterable<Record<string, Tensor>> {
    let first = 0;
    for await (const batch of data.batches(batchSize)) {
      let n = 1;
      for (const [name, t] of Object.entries(batch)) {
        n = t.dims[0] ?? 1;
        const i = firstNonFinite(t);
        if (i < 0) continue;
        const per = Math.max(1, (t.data as ArrayLike<number>).length / Math.max(1, n));
        const value = (t.data as ArrayLike<number>)[i];
        throw new NonFiniteError(
          `calibration data ${what}: input "${name}" of sample ${first + Math.floor(i / per)} holds ` +
            `${value} at element ${i % per}; non-finite calibration values are refused (clean the data)`,
        );
      }
      first += n;
      yield batch;
    }
  }
  return new Proxy(data, {
    get(target, prop) {
      if (prop === "batches") return batches;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** What the input model held before the passes ran: what "unchanged" means afterwards. */
export interface InitializerSnapshot {
  /** The encoded proto of each initializer. */
  readonly protos: Map<Value, Message | undefined>;
  /**
   * The data of every Constant node's tensor (normalization turns them into initializers as they are) and of
   * initializers built in memory.
   */
  readonly constants: Set<unknown>;
}

/**
 * Record the input model's weights before the passes run.
 *
 * @param model the model
 * @returns the snapshot for {@link checkWrittenFinite}
 */
export function snapshotInitializers(model: Model): InitializerSnapshot {
  const protos = new Map<Value, Message | undefined>();
  const constants = new Set<unknown>();
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      protos.set(v, v.encodedConst);
      if (!v.encodedConst && v.const) constants.add(v.const.data); // built in memory, already decoded
    }
    for (const n of g.nodes) {
      if (n.opType !== "Constant") continue;
      for (const a of n.attrs.values()) {
        const t = a.value as Tensor | undefined;
        if (t && typeof t === "object" && "data" in t) constants.add(t.data);
      }
    }
  }
  return { protos, constants };
}

/** Bytes of a spilled tensor read at a time by the finite check. */
const RANGE_CHUNK = 4 * 2 ** 20;

/** {@link checkWrittenFinite} for a tensor whose data lives in a file range (onnx/spill.ts). */
function checkRangeFinite(v: Value, range: ByteRange): void {
  const info = v.constInfo()!;
  const width = info.dtype === DataType.FLOAT ? 4 : info.dtype === DataType.DOUBLE ? 8 : 0;
  if (width === 0) return;
  for (let at = 0; at < range.length; at += RANGE_CHUNK) {
    const b = range.read(at, Math.min(RANGE_CHUNK, range.length - at));
    const d = width === 4
      ? new Float32Array(b.buffer, b.byteOffset, b.length / 4)
      : new Float64Array(b.buffer, b.byteOffset, b.length / 8);
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) throw nonFiniteWritten(v.name, d[i]!, at / width + i, info.dims);
    }
  }
}

function nonFiniteWritten(name: string, value: number, i: number, dims: readonly number[]): NonFiniteError {
  return new NonFiniteError(
    `a pass wrote ${value} into initializer "${name}" (element ${i}, dims [${
      dims.join(", ")
    }]); nothing was written. A degenerate layer or calibration statistic ` +
      `(e.g. a zero range) caused it: exclude the layer with --exclude or report the model`,
  );
}

/**
 * Refuse a model in which a pass wrote a non-finite float initializer.
 *
 * @param model the model after the passes
 * @param before the {@link snapshotInitializers} taken before them
 * @throws {NonFiniteError} naming the initializer, the element and the value
 */
export function checkWrittenFinite(model: Model, before: InitializerSnapshot): void {
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      const proto = before.protos.get(v);
      if (proto !== undefined && v.encodedConst === proto) continue; // untouched input weight
      const range = v.constRange();
      if (range) { // spilled to disk: read by range, never whole
        checkRangeFinite(v, range);
        continue;
      }
      const t = v.const;
      if (!t || before.constants.has(t.data)) continue;
      const i = firstNonFinite(t);
      if (i >= 0) throw nonFiniteWritten(v.name, (t.data as ArrayLike<number>)[i]!, i, t.dims);
    }
  }
}
