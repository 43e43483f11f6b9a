/**
 * The `shiftkit.ShiftAddMatMul` kernel of the CPU evaluator (docs/ops/shiftadd.md). It only checks the
 * tensors against the spec's shapes and element types and hands them to the single implementation of the
 * semantics, `shiftAddMatMulRef` in quant/shiftadd_matmul.ts (the LUT order the spec fixes, bit for bit).
 *
 * The table is for the `shiftkit` domain: register it with
 * `registerOp(SHIFTKIT_DOMAIN, opType, kernel)` for each entry (onnx/evaluate/registry.ts).
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { Op } from "../../ops.ts";
import { DataType, dtypeName, makeTensor, type Tensor } from "../../tensor.ts";
import { type ShiftAddPacked, shiftAddTermBytes, validateShiftAdd } from "../../../quant/shiftadd_pack.ts";
import { shiftAddMatMulRef } from "../../../quant/shiftadd_matmul.ts";
import type { OpKernel } from "../registry.ts";
import { f32, req, shapeStr } from "./_util.ts";

const OP = Op.ShiftAddMatMul.type;

function typed<T>(t: Tensor, dtype: DataType, what: string, rank: number): T {
  if (t.dtype !== dtype || t.dims.length !== rank) {
    throw new TypeError(
      `${OP}: ${what} must be ${dtypeName(dtype)} of rank ${rank}, got ${dtypeName(t.dtype)} ${
        shapeStr(t.dims)
      }`,
    );
  }
  return t.data as T;
}

/**
 * The op's packed weight, read from its inputs and attributes and checked against the spec
 * (`validateShiftAdd`: shapes, term encoding, padding bits, latency-mode sharing).
 *
 * @param inputs X, planes, alpha_exp, alpha_terms
 * @param attrs bits, group_size, terms, mode
 * @returns the packed weight with K taken from X's last dimension
 * @throws {TypeError} on a missing input or a wrong element type / rank
 * @throws {RangeError} when the tensors break the spec
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Attrs, intAttr } from "../../attributes.ts";
 * import { DataType, makeTensor } from "../../tensor.ts";
 * import { shiftAddPackedFrom } from "./shift_add.ts";
 * const attrs = new Attrs(new Map([["bits", intAttr("bits", 1)], ["group_size", intAttr("group_size", 8)],
 *   ["terms", intAttr("terms", 1)], ["k", intAttr("k", 2)]]), "ShiftAddMatMul");
 * const p = shiftAddPackedFrom([
 *   makeTensor(DataType.FLOAT, [1, 2], new Float32Array([3, 1])),
 *   makeTensor(DataType.UINT8, [1, 1, 1], new Uint8Array([0b01])),
 *   makeTensor(DataType.INT8, [1, 1, 1], new Int8Array([-1])),
 *   makeTensor(DataType.UINT8, [1, 1, 1, 0], new Uint8Array(0)),
 * ], attrs);
 * assertEquals([p.k, p.n, p.bits, p.mode], [2, 1, 1, "accuracy"]);
 * ```
 */
export function shiftAddPackedFrom(inputs: (Tensor | undefined)[], attrs: Attrs): ShiftAddPacked {
  const x = req(inputs, 0, OP);
  const planesT = req(inputs, 1, OP), expT = req(inputs, 2, OP), termsT = req(inputs, 3, OP);
  if (x.dims.length < 1) throw new TypeError(`${OP}: X must have rank >= 1, got a scalar`);
  const k = x.dims[x.dims.length - 1]!;
  const planes = typed<Uint8Array>(planesT, DataType.UINT8, "planes", 3);
  const alphaExp = typed<Int8Array>(expT, DataType.INT8, "alpha_exp", 3);
  const alphaTerms = typed<Uint8Array>(termsT, DataType.UINT8, "alpha_terms", 4);
  const bits = attrs.int("bits"), groupSize = attrs.int("group_size"), terms = attrs.int("terms");
  if (attrs.int("k") !== k) {
    throw new RangeError(`${OP}: attribute k=${attrs.int("k")} but X ${shapeStr(x.dims)} has K=${k}`);
  }
  const mode = attrs.string("mode", "accuracy");
  if (mode !== "accuracy" && mode !== "latency") {
    throw new RangeError(`${OP}: mode must be "accuracy" or "latency", got "${mode}"`);
  }
  const [q, n, j] = planesT.dims as [number, number, number];
  const g = Math.ceil(k / Math.max(1, groupSize));
  const want = [[q, n, j], [q, n, g], [q, n, g, shiftAddTermBytes(terms)]];
  const got = [planesT.dims, expT.dims, termsT.dims];
  if (q !== bits || j !== Math.ceil(k / 8) || want.some((w, i) => w.join() !== got[i]!.join())) {
    throw new RangeError(
      `${OP}: with X ${
        shapeStr(x.dims)
      }, bits=${bits}, group_size=${groupSize}, terms=${terms} expected planes ` +
        `${shapeStr([bits, n, Math.ceil(k / 8)])}, alpha_exp ${shapeStr(want[1]!)}, alpha_terms ` +
        `${shapeStr(want[2]!)}; got ${got.map(shapeStr).join(", ")}`,
    );
  }
  const packed: ShiftAddPacked = { k, n, bits, groupSize, terms, mode, planes, alphaExp, alphaTerms };
  validateShiftAdd(packed);
  return packed;
}

/** `Y = X @ Ŵ` through the quant/ reference. */
const shiftAddMatMul: OpKernel = (inputs, attrs) => {
  const packed = shiftAddPackedFrom(inputs, attrs);
  const x = req(inputs, 0, OP);
  const y = shiftAddMatMulRef({ data: f32(x, OP, "X"), dims: x.dims }, packed);
  return [makeTensor(DataType.FLOAT, y.dims, y.data)];
};

/**
 * Kernels of the ShiftAdd op group, by op type, for the `shiftkit` domain.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Attrs, intAttr } from "../../attributes.ts";
 * import { DataType, makeTensor } from "../../tensor.ts";
 * import { shiftAddOps } from "./shift_add.ts";
 * // K = 2, N = 1, q = 1, alpha = 2^-1, codes (+1, -1): y = 0.5 * (x0 - x1).
 * const y = shiftAddOps.ShiftAddMatMul!([
 *   makeTensor(DataType.FLOAT, [2], new Float32Array([3, 1])),
 *   makeTensor(DataType.UINT8, [1, 1, 1], new Uint8Array([0b01])),
 *   makeTensor(DataType.INT8, [1, 1, 1], new Int8Array([-1])),
 *   makeTensor(DataType.UINT8, [1, 1, 1, 0], new Uint8Array(0)),
 * ], new Attrs(new Map([["bits", intAttr("bits", 1)], ["group_size", intAttr("group_size", 8)],
 *   ["terms", intAttr("terms", 1)], ["k", intAttr("k", 2)]]), "ShiftAddMatMul"), { opset: 1 })[0]!;
 * assertEquals([Array.from(y.data as Float32Array), y.dims], [[1], [1]]);
 * ```
 */
export const shiftAddOps: Record<string, OpKernel> = { [OP]: shiftAddMatMul };
