/**
 * The float32 GEMM micro-kernel alone (quant/wasm_gemm_f32.ts) on packed operands that sit in cache, and a
 * register-only loop of the same f32x4 mul + add pairs (no loads): the kernel's ceiling on this core. Used by
 * `bench/evaluator_gemm.ts --kernel`.
 * @module
 */
import { wasmGemmF32 } from "../quant/wasm_gemm_f32.ts";
import {
  BLOCK,
  brIf,
  emitter,
  END,
  F32X4_ADD,
  F32X4_MUL,
  get,
  I32_SUB,
  i32c,
  LOOP,
  moduleOf,
  set,
  tee,
  V128,
  V128_ZERO,
  v128Store,
  vec,
} from "../quant/_wasm_asm.ts";

/** GFLOP/s of the kernel on one K x (np 5-row A panels) x (nq 8-column B panels) block, fastest of `runs`. */
export function kernelGflops(K: number, np: number, nq: number, runs: number): number {
  const w = wasmGemmF32;
  if (!w) throw new Error("WebAssembly SIMD is unavailable");
  // operands at the top of the kernel memory, above anything the evaluator keeps there
  const base = w.memory.buffer.byteLength, bytes = (np * K * 5 + nq * K * 8 + np * 5 * nq * 8 + 64) * 4;
  w.memory.grow(Math.ceil(bytes / 65536));
  const H = new Float32Array(w.memory.buffer, base, bytes / 4);
  for (let i = 0; i < H.length; i++) H[i] = Math.random();
  const ap = base, bp = ap + np * K * 5 * 4, cp = bp + nq * K * 8 * 4;
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) w.gemm(ap, bp, cp, K, np, nq, nq * 8 * 4);
    best = Math.min(best, (performance.now() - t0) / 10);
  }
  return 2 * np * 5 * nq * 8 * K / best / 1e6;
}

/** GFLOP/s of `n` iterations of 10 independent f32x4 `acc = acc + x * y` (mul, then add), fastest of `runs`. */
export function registerGflops(n: number, runs: number): number {
  const NA = 10, { code: c, emit } = emitter();
  // params: n 0; v128 locals: acc 1..10, y0 11, y1 12, x 13
  emit(V128_ZERO);
  for (let i = 0; i < NA + 2; i++) emit(tee(1 + i));
  emit(set(NA + 3), BLOCK, LOOP);
  for (let r = 0; r < NA; r++) {
    emit(get(1 + r), get(NA + 3), get(NA + 1 + (r & 1)), F32X4_MUL, F32X4_ADD, set(1 + r));
  }
  emit(get(0), i32c(1), I32_SUB, tee(0), brIf(0), END, END);
  for (let r = 0; r < NA; r++) emit(i32c(16 * r), get(1 + r), v128Store(0)); // keep the sums live
  emit(END);
  const body = [...vec([[NA + 3, V128]]), ...c];
  const m = new WebAssembly.Instance(new WebAssembly.Module(moduleOf([{ name: "f", params: 1, body }])), {})
    .exports as unknown as { f: (n: number) => void };
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    m.f(n);
    best = Math.min(best, performance.now() - t0);
  }
  return n * NA * 8 / best / 1e6;
}
