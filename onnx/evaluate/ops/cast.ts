/**
 * Cast and CastLike between all numeric element types, BOOL, FLOAT16 and BFLOAT16 (kept as raw bit patterns).
 * Float to integer truncates toward zero (C conversion, as onnxruntime); to BOOL is `x != 0`.
 * @module
 */
import type { Attrs } from "../../attributes.ts";
import { DataType, dtypeName, makeTensor, type Tensor, type TypedArray } from "../../tensor.ts";
import type { OpKernel } from "../registry.ts";
import { req } from "./_util.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float -> IEEE half bits, round to nearest even. */
export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** IEEE half bits -> float. */
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float -> bfloat16 bits, round to nearest even. */
function toBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

function fromBf16(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

const INT64_MIN = -(2n ** 63n);

/** Convert a tensor to another element type. */
export function castTensor(x: Tensor, to: DataType, op = "Cast"): Tensor {
  if (x.dtype === to) return x;
  if (x.dtype === DataType.STRING || to === DataType.STRING) {
    throw new TypeError(`${op}: casting ${dtypeName(x.dtype)} to ${dtypeName(to)} is not supported`);
  }
  const out = makeTensor(to, x.dims);
  const X = x.data as TypedArray, O = out.data as TypedArray;
  const n = X.length;
  // read every source element as a number (or bigint for 64-bit ints, kept exact for int64 -> int64)
  const read: (i: number) => number | bigint = x.dtype === DataType.FLOAT16
    ? (i) => fromHalf(X[i] as number)
    : x.dtype === DataType.BFLOAT16
    ? (i) => fromBf16(X[i] as number)
    : (i) => X[i]!;
  const isFloat = (v: number | bigint): v is number => typeof v === "number";
  for (let i = 0; i < n; i++) {
    const v = read(i);
    switch (to) {
      case DataType.BOOL:
        O[i] = v !== 0 && v !== 0n ? 1 : 0; // NaN casts to true, as in C
        break;
      case DataType.FLOAT16:
        O[i] = toHalf(Number(v));
        break;
      case DataType.BFLOAT16:
        O[i] = toBf16(Number(v));
        break;
      case DataType.FLOAT:
      case DataType.DOUBLE:
        O[i] = Number(v);
        break;
      case DataType.INT64:
      case DataType.UINT64: {
        let b: bigint;
        if (isFloat(v)) b = Number.isFinite(v) && Math.abs(v) < 2 ** 63 ? BigInt(Math.trunc(v)) : INT64_MIN;
        else b = v;
        O[i] = to === DataType.INT64 ? BigInt.asIntN(64, b) : BigInt.asUintN(64, b);
        break;
      }
      default:
        // narrower integers: truncate, then the typed array wraps modulo 2^bits
        O[i] = isFloat(v) ? Math.trunc(v) : Number(BigInt.asIntN(32, v));
    }
  }
  return out;
}

/** Cast kernels for the default domain. */
export const castOps: Record<string, OpKernel> = {
  Cast: (inputs, attrs: Attrs) => [castTensor(req(inputs, 0, "Cast"), attrs.int("to"))],
  CastLike: (
    inputs,
  ) => [castTensor(req(inputs, 0, "CastLike"), req(inputs, 1, "CastLike").dtype, "CastLike")],
};
