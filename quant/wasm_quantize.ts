/**
 * WebAssembly SIMD kernel of ONNX QuantizeLinear for quant/quantize.ts (`quantizeLinear`), assembled here from
 * its opcodes (no build step, no binary file; encoding helpers in `_wasm_asm.ts`).
 *
 * `quant(xp, n, sp, zp, stride, qlo, qhi, op)`: for i < n, `q_i = clamp(nearest(x_i / s_i) + z_i, qlo, qhi)`,
 * NaN storing `clamp(z_i, qlo, qhi)`, written as int32 at byte `op`; x, s and z float32 at bytes xp, sp, zp,
 * the parameters advancing with i (`stride` 1) or fixed (`stride` 0). The same numbers as the JavaScript
 * definition `clamp(roundHalfEven(fround(x / s)) + z, qlo, qhi)`:
 *
 * - `f32x4.div` is the correctly rounded float32 quotient, which is what the double quotient rounded to float32
 *   is (double has more than 2 x 24 + 2 bits: that double rounding is innocuous for a quotient);
 * - `f32x4.nearest` rounds half to even, as `roundHalfEven`;
 * - the add is exact while `|nearest(v)| <= 2^17` and `|z| <= 2^16`; beyond, the sum may round, but it is then
 *   past any bound within `[-2^16, 2^16]` either way, so the clamp gives the same integer. Callers keep the
 *   zero points and the bounds within `[-2^16, 2^16]` (every 1- to 16-bit integer type).
 * @module
 */

import {
  BLOCK,
  br,
  brIf,
  emitter,
  END,
  f32Load,
  get,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_LT_U,
  I32_SUB,
  i32c,
  IF,
  LOOP,
  moduleBytes,
  SELECT,
  set,
  simdOp,
  tee,
  V128,
  v128Load,
  v128Store,
  vec,
} from "./_wasm_asm.ts";

const F32X4_SPLAT = simdOp(0x13), F32X4_EQ = simdOp(0x41), V128_BITSELECT = simdOp(0x52);
const F32X4_NEAREST = simdOp(0x6a), F32X4_ADD = simdOp(0xe4), F32X4_DIV = simdOp(0xe7);
const F32X4_MIN = simdOp(0xe8), F32X4_MAX = simdOp(0xe9), I32X4_TRUNC_SAT_F32X4_S = simdOp(0xf8);
const F32_DIV = 0x95, F32_NEAREST = 0x90, F32_ADD = 0x92, F32_MIN = 0x96, F32_MAX = 0x97, F32_EQ = 0x5b;
const F32_CONVERT_I32_S = 0xb2, I32_TRUNC_SAT_F32_S = [0xfc, 0x00], I32_STORE = [0x36, 2, 0];
const F32 = 0x7d;

// params: xp 0, n 1, sp 2, zp 3, stride 4, qlo 5, qhi 6, op 7
// locals: i32 left 8; f32 lo 9, hi 10, v 11, z 12; v128 LO 13, HI 14, S 15, Z 16, V 17
const LEFT = 8, LO = 9, HI = 10, SV = 11, SZ = 12, VLO = 13, VHI = 14, VS = 15, VZ = 16, VV = 17;

function body(): number[] {
  const { code: c, emit } = emitter();
  emit(get(5), F32_CONVERT_I32_S, tee(LO), F32X4_SPLAT, set(VLO));
  emit(get(6), F32_CONVERT_I32_S, tee(HI), F32X4_SPLAT, set(VHI));
  // fixed parameters: splat once
  emit(get(2), f32Load(0), F32X4_SPLAT, set(VS), get(3), f32Load(0), F32X4_SPLAT, set(VZ));
  emit(get(1), set(LEFT));
  // four at a time
  emit(BLOCK, LOOP, get(LEFT), i32c(4), I32_LT_U, brIf(1));
  emit(get(4), IF, get(2), v128Load(0), set(VS), get(3), v128Load(0), set(VZ), END);
  emit(get(0), v128Load(0), get(VS), F32X4_DIV, set(VV));
  emit(get(7));
  // clamp(nearest(v) + z) where v == v, else clamp(z)
  emit(get(VV), F32X4_NEAREST, get(VZ), F32X4_ADD, get(VLO), F32X4_MAX, get(VHI), F32X4_MIN);
  emit(get(VZ), get(VLO), F32X4_MAX, get(VHI), F32X4_MIN);
  emit(get(VV), get(VV), F32X4_EQ, V128_BITSELECT, I32X4_TRUNC_SAT_F32X4_S, v128Store(0));
  emit(get(0), i32c(16), I32_ADD, set(0), get(7), i32c(16), I32_ADD, set(7));
  emit(get(4), IF, get(2), i32c(16), I32_ADD, set(2), get(3), i32c(16), I32_ADD, set(3), END);
  emit(get(LEFT), i32c(4), I32_SUB, set(LEFT), br(0), END, END);
  // the rest one at a time
  emit(BLOCK, LOOP, get(LEFT), I32_EQZ, brIf(1));
  emit(get(0), f32Load(0), get(2), f32Load(0), F32_DIV, set(SV), get(3), f32Load(0), set(SZ));
  emit(get(7));
  emit(get(SV), F32_NEAREST, get(SZ), F32_ADD, get(LO), F32_MAX, get(HI), F32_MIN);
  emit(get(SZ), get(LO), F32_MAX, get(HI), F32_MIN);
  emit(get(SV), get(SV), F32_EQ, SELECT, I32_TRUNC_SAT_F32_S, I32_STORE);
  emit(get(0), i32c(4), I32_ADD, set(0), get(7), i32c(4), I32_ADD, set(7));
  emit(get(4), IF, get(2), i32c(4), I32_ADD, set(2), get(3), i32c(4), I32_ADD, set(3), END);
  emit(get(LEFT), i32c(1), I32_SUB, set(LEFT), br(0), END, END, END);
  return [...vec([[1, I32], [4, F32], [5, V128]]), ...c];
}

/** The instantiated kernel and its memory, or undefined where WebAssembly SIMD is unavailable. */
export interface WasmQuantize {
  memory: WebAssembly.Memory;
  quant: (
    xp: number,
    n: number,
    sp: number,
    zp: number,
    stride: number,
    qlo: number,
    qhi: number,
    op: number,
  ) => void;
}

function instantiate(): WasmQuantize | undefined {
  try {
    const m = new WebAssembly.Module(moduleBytes("quant", 8, body()));
    return new WebAssembly.Instance(m, {}).exports as unknown as WasmQuantize;
  } catch {
    return undefined; // no SIMD: quantize.ts keeps its JavaScript loop
  }
}

/** The shared kernel instance (single-threaded). */
export const wasmQuantize: WasmQuantize | undefined = instantiate();

/** Elements per kernel call: the kernel's memory holds at most this many x values and results at once. */
export const QUANT_CHUNK = 1 << 16;

/** Parameters the kernel may take (module doc): zero points and bounds within `[-2^16, 2^16]`. */
export const QUANT_LIMIT = 1 << 16;

/**
 * Byte views of the kernel memory for `params` parameters and one chunk: scales (f32), zero points (f32), x
 * chunk (f32), results (i32), growing the memory if needed.
 *
 * @param w the kernel
 * @param params number of scale / zero-point values
 * @returns the offsets (bytes) and float / int views of the memory
 */
export function quantizeHeap(
  w: WasmQuantize,
  params: number,
): { s: number; z: number; x: number; o: number; f32: Float32Array; i32: Int32Array } {
  const pBytes = ((params * 4 + 15) >> 4) << 4;
  const s = 0, z = pBytes, x = 2 * pBytes, o = x + QUANT_CHUNK * 4;
  const need = o + QUANT_CHUNK * 4, have = w.memory.buffer.byteLength;
  if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
  return { s, z, x, o, f32: new Float32Array(w.memory.buffer), i32: new Int32Array(w.memory.buffer) };
}
