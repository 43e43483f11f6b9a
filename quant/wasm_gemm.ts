/**
 * WebAssembly SIMD float64 micro-kernel of the Gram accumulator (quant/gram.ts), assembled here from its
 * opcodes (no build step, no binary file; encoding helpers in `_wasm_asm.ts`). It computes 4x4 tiles with
 * f64x2 lanes: every product of two float32 values is exact in double, and each output is summed over
 * k = 0..K-1 in order in double, exactly as the scalar JavaScript kernel does, so both give bit-identical
 * results. (The CPU evaluator's GEMM accumulates in float32 on its own kernel, `wasm_gemm_f32.ts`.)
 *
 * `panel(ap, bp, cp, K, nq, rs)`: for one packed A panel (4 rows, `K` steps of 4 f64 at byte `ap`) and `nq`
 * consecutive packed B panels (4 columns each, `K` steps of 4 f64, from byte `bp`), write the 4 x 4nq block
 * of sums as f64 rows of `rs` bytes from byte `cp`.
 *
 * `exactPanel`: the same for operands whose products are exact in double (float32 values: 24-bit significands,
 * so a product needs at most 48 bits), with one `f64x2.relaxed_madd` per step instead of a multiply and an
 * add where the engine has relaxed SIMD (about 1.25x faster here). Fused or not (relaxed SIMD lets the engine
 * choose), `a b + c` then rounds once, as the exact product plus c, which is what the multiply (exact) and the
 * add give: bit-identical to `panel` on such operands. Where relaxed SIMD is missing it is `panel` itself.
 * `exactPanelAdd` is `exactPanel` whose sums start at C's values instead of 0 (`y = b + x W` with the bias
 * added first, as a loop starting at `b` adds it).
 * @module
 */

import {
  BLOCK,
  brIf,
  emitter,
  END,
  F64X2_ADD,
  F64X2_MUL,
  get,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_LT_U,
  I32_SHL,
  I32_SUB,
  i32c,
  load64Splat,
  LOOP,
  moduleOf,
  set,
  simdOp,
  tee,
  V128,
  V128_ZERO,
  v128Load,
  v128Store,
  vec,
} from "./_wasm_asm.ts";

// params: ap 0, bp 1, cp 2, K 3, nq 4, rs 5; locals: q 6, k 7, a 8, b 9, base 10 (i32),
// acc 11..18 (v128: row r, columns 0-1 at 11 + 2r, columns 2-3 at 12 + 2r), b01 19, b23 20, av 21 (v128)
const ACC = 11, B01 = 19, B23 = 20, AV = 21;
/** `f64x2.relaxed_madd` (relaxed SIMD): a b + c, fused or not. */
const F64X2_RELAXED_MADD = simdOp(0x107);

/**
 * The panel kernel's body: fused multiply-adds or multiplies and adds; each 4 x 4 tile's sums starting at 0 or
 * (`fromC`) at the values C holds there (an output that starts from a bias, added first as in `b + sum`).
 */
function body(fma = false, fromC = false): number[] {
  const { code: c, emit } = emitter();
  emit(get(1), set(9), i32c(0), set(6));
  emit(BLOCK, get(4), I32_EQZ, brIf(0), LOOP);
  if (fromC) {
    emit(get(2), get(6), i32c(5), I32_SHL, I32_ADD, set(10));
    for (let r = 0; r < 4; r++) {
      emit(get(10), v128Load(0), set(ACC + 2 * r), get(10), v128Load(16), set(ACC + 2 * r + 1));
      if (r < 3) emit(get(10), get(5), I32_ADD, set(10));
    }
  } else {
    emit(V128_ZERO);
    for (let i = 0; i < 7; i++) emit(tee(ACC + i));
    emit(set(ACC + 7));
  }
  emit(get(0), set(8), get(3), set(7));
  emit(BLOCK, get(7), I32_EQZ, brIf(0), LOOP);
  emit(get(9), v128Load(0), set(B01), get(9), v128Load(16), set(B23));
  for (let r = 0; r < 4; r++) {
    emit(get(8), load64Splat(r * 8), set(AV));
    if (fma) {
      emit(get(AV), get(B01), get(ACC + 2 * r), F64X2_RELAXED_MADD, set(ACC + 2 * r));
      emit(get(AV), get(B23), get(ACC + 2 * r + 1), F64X2_RELAXED_MADD, set(ACC + 2 * r + 1));
    } else {
      emit(get(ACC + 2 * r), get(AV), get(B01), F64X2_MUL, F64X2_ADD, set(ACC + 2 * r));
      emit(get(ACC + 2 * r + 1), get(AV), get(B23), F64X2_MUL, F64X2_ADD, set(ACC + 2 * r + 1));
    }
  }
  emit(get(8), i32c(32), I32_ADD, set(8), get(9), i32c(32), I32_ADD, set(9));
  emit(get(7), i32c(1), I32_SUB, tee(7), brIf(0), END, END);
  emit(get(2), get(6), i32c(5), I32_SHL, I32_ADD, set(10));
  for (let r = 0; r < 4; r++) {
    emit(get(10), get(ACC + 2 * r), v128Store(0), get(10), get(ACC + 2 * r + 1), v128Store(16));
    if (r < 3) emit(get(10), get(5), I32_ADD, set(10));
  }
  emit(get(6), i32c(1), I32_ADD, tee(6), get(4), I32_LT_U, brIf(0), END, END, END);
  return [...vec([[5, I32], [11, V128]]), ...c];
}

/** The instantiated kernel and its memory, or undefined where WebAssembly SIMD is unavailable. */
export interface WasmGemm {
  memory: WebAssembly.Memory;
  panel: (ap: number, bp: number, cp: number, K: number, nq: number, rs: number) => void;
  /** `panel` for operands with exact products (float32 values), fused where the engine can (module doc). */
  exactPanel: (ap: number, bp: number, cp: number, K: number, nq: number, rs: number) => void;
  /** `exactPanel` whose sums start at the tile's values in C instead of 0 (`C + A B`, each output's start first). */
  exactPanelAdd: (ap: number, bp: number, cp: number, K: number, nq: number, rs: number) => void;
  /** Whether `exactPanel` is the relaxed-SIMD kernel (false: it is `panel`). */
  fused: boolean;
}

function instantiate(): WasmGemm | undefined {
  const make = (fused: boolean): WasmGemm => {
    const funcs = [
      { name: "panel", params: 6, body: body() },
      { name: "exactPanelAdd", params: 6, body: body(fused, true) },
    ];
    if (fused) funcs.push({ name: "exactPanel", params: 6, body: body(true) });
    const e = new WebAssembly.Instance(new WebAssembly.Module(moduleOf(funcs)), {})
      .exports as unknown as WasmGemm;
    return {
      memory: e.memory,
      panel: e.panel,
      exactPanel: fused ? e.exactPanel : e.panel,
      exactPanelAdd: e.exactPanelAdd,
      fused,
    };
  };
  try {
    return make(true);
  } catch {
    try {
      return make(false); // SIMD without relaxed SIMD
    } catch {
      return undefined; // no SIMD support: the JavaScript kernel runs instead
    }
  }
}

/** The shared kernel instance (single-threaded: one GEMM runs at a time). */
export const wasmGemm: WasmGemm | undefined = instantiate();

/** A Float64Array view of the kernel memory with at least `bytes` bytes, growing the memory if needed. */
export function wasmHeap(w: WasmGemm, bytes: number): Float64Array {
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float64Array(w.memory.buffer);
}
