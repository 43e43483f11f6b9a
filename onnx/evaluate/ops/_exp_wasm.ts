/**
 * Exp-based float32 kernels in WebAssembly: Softmax over contiguous rows and Sigmoid.
 *
 * Softmax: per row the maximum (`v > max`, so NaN never
 * wins), `e = exp(x - max)` in double (0 where x - max < -110, as the scalar kernel; a trailing run of such
 * elements, the masked end of a causal attention row, is not sent through exp), the in-order double sum
 * of the e, and `e / sum` rounded to float32. Only exp differs from `softmax.ts`'s scalar loop: it is
 * computed here two lanes at a time (Cody-Waite reduction by ln 2, the degree-13 Taylor polynomial of e^r
 * on |r| <= ln(2)/2, whose truncation error is below 5e-18, and an exact power of two), within about 1 ulp
 * of double like V8's Math.exp, so a float32 output differs from the scalar path's only where the two
 * doubles fall on either side of a float32 rounding boundary (a relative distance of ~1e-16).
 * @module
 */
import {
  BLOCK,
  br,
  brIf,
  emitter,
  END,
  f64c,
  get,
  I32,
  I32_ADD,
  I32_AND,
  I32_EQZ,
  I32_LT_U,
  I32_SHL,
  I32_SHR_U,
  I32_SUB,
  i32c,
  LOOP,
  moduleOf,
  SELECT,
  set,
  simdOp,
  tee,
  uleb,
  V128,
  v128Load,
  v128Store,
  vec,
} from "../../../quant/_wasm_asm.ts";

const mem = (align: number, off = 0) => [align, ...uleb(off)];
const LOAD64_ZERO = (off: number) => simdOp(0x5d, ...mem(3, off));
const STORE64_LANE0_AT = (off: number) => simdOp(0x5b, ...mem(3, off), 0);
const STORE64_LANE0 = STORE64_LANE0_AT(0);
const F64X2_ABS = simdOp(0xec), F64X2_NEG = simdOp(0xed), F64X2_GE = simdOp(0x4c);
const V128_BITSELECT = simdOp(0x52);
const PROMOTE = simdOp(0x5f), DEMOTE = simdOp(0x5e);
const F64X2_SPLAT = simdOp(0x14), F64X2_NEAREST = simdOp(0x94);
const F64X2_ADD = simdOp(0xf0), F64X2_SUB = simdOp(0xf1), F64X2_MUL = simdOp(0xf2), F64X2_DIV = simdOp(0xf3);
const F64X2_LT = simdOp(0x49), V128_ANDNOT = simdOp(0x4f), I64X2_SHL = simdOp(0xcb), F32X4_MUL = simdOp(0xe6);
const F32_LOAD = [0x2a, 2, 0], F32_GT = 0x5e, F64_LOAD = [0x2b, 3, 0], F64_ADD = 0xa0;
const F32X4_SPLAT = simdOp(0x13), F32X4_PMAX = simdOp(0xeb), F32X4_EXTRACT = (l: number) => simdOp(0x1f, l);
const F64_SUB = 0xa1, F64_LT = 0x63, V128_ZERO = simdOp(0x0c, ...new Array<number>(16).fill(0));
const F64_PROMOTE_F32 = 0xbb;

const LOG2E = Math.LOG2E, LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;
const INV_FACT = Array.from({ length: 14 }, (_, k) => {
  let f = 1;
  for (let i = 2; i <= k; i++) f *= i;
  return 1 / f;
});

/**
 * e = exp(d) for two f64x2 values d at once (two independent chains), where d <= 0 (or NaN): n =
 * nearest(d log2 e), r = d - n ln2_hi - n ln2_lo, Horner on the Taylor polynomial, times 2^n built in the
 * exponent bits (n in [-159, 0] for d >= -110: a normal power of two); 0 where d < -110. Locals from
 * `base0` and `base1`: d, n, r, e (the result in e = base + 3).
 */
function emitExp2(emit: (...xs: (number | number[])[]) => void, base0: number, base1: number): void {
  const splat = (v: number) => [...f64c(v), ...F64X2_SPLAT];
  const both = [base0, base1];
  for (const d of both) {
    const n = d + 1, r = d + 2, e = d + 3;
    emit(get(d), splat(LOG2E), F64X2_MUL, F64X2_NEAREST, set(n));
    emit(get(d), get(n), splat(LN2_HI), F64X2_MUL, F64X2_SUB, get(n), splat(LN2_LO), F64X2_MUL, F64X2_SUB);
    emit(set(r), splat(INV_FACT[13]!), set(e));
  }
  for (let k = 12; k >= 0; k--) {
    for (const d of both) emit(get(d + 3), get(d + 2), F64X2_MUL, splat(INV_FACT[k]!), F64X2_ADD, set(d + 3));
  }
  for (const d of both) {
    // 2^n: n + 1023 + 2^52 holds the biased exponent n + 1023 (an integer in [864, 1023] here) in its low
    // bits, which the shift by 52 moves into the exponent field (lanes with d < -110 are zeroed after)
    const n = d + 1, e = d + 3;
    emit(get(e), get(n), splat(2 ** 52 + 1023), F64X2_ADD, i32c(52), I64X2_SHL);
    emit(F64X2_MUL, get(d), splat(-110), F64X2_LT, V128_ANDNOT, set(e));
  }
}

// params: src 0, dst 1, quads 2; v128 locals: x 3 + 5u, then d, n, r, e at 4 + 5u (u = 0, 1)
// with `silu`, v128 locals 13 + u: the input floats, and the result is fl(x * fl(sigmoid(x)))
function sigmoidBody(silu = false): number[] {
  const { code: c, emit } = emitter();
  const splat = (v: number) => [...f64c(v), ...F64X2_SPLAT];
  emit(BLOCK, get(2), I32_EQZ, brIf(0), LOOP);
  // d = -|x|; t = exp(d); out = (x >= 0 ? 1 : t) / (1 + t)
  for (const u of [0, 1]) {
    emit(get(0), LOAD64_ZERO(8 * u));
    if (silu) emit(tee(13 + u));
    emit(PROMOTE, tee(3 + 5 * u), F64X2_ABS, F64X2_NEG, set(4 + 5 * u));
  }
  emitExp2(emit, 4, 9);
  for (const u of [0, 1]) {
    const x = 3 + 5 * u, t = 7 + 5 * u;
    emit(get(1), splat(1), get(t), get(x), splat(0), F64X2_GE, V128_BITSELECT);
    emit(splat(1), get(t), F64X2_ADD, F64X2_DIV, DEMOTE);
    if (silu) emit(get(13 + u), F32X4_MUL);
    emit(STORE64_LANE0_AT(8 * u));
  }
  emit(get(0), i32c(16), I32_ADD, set(0), get(1), i32c(16), I32_ADD, set(1));
  emit(get(2), i32c(1), I32_SUB, tee(2), brIf(0), END, END, END);
  return [...vec([[silu ? 12 : 10, V128]]), ...c];
}

// params: src 0, dst 1, rows 2, D 3, ex 4 (bytes); i32 locals: k 5, p 6, q 7; f32 mx 8; f64 sum 9;
// v128 locals: d 10 + 4u, n 11 + 4u, r 12 + 4u, e 13 + 4u (u = 0, 1), s 18; i32 len 19
function body(): number[] {
  const LEN = 19;
  const { code: c, emit } = emitter();
  emit(BLOCK, get(2), I32_EQZ, brIf(0), LOOP); // for each row
  // mx = max over the row (v > mx): four lanes of f32x4.pmax (`mx < v ? v : mx`, the same rule) over the
  // quads, the lanes combined, then the floats left. A NaN never wins either way, and the value is the same
  // (only the sign of a zero maximum could differ, and x - mx is then the same for every x)
  emit(f32c(-Infinity), F32X4_SPLAT, set(18), get(0), set(6), get(3), i32c(2), I32_SHR_U, set(5));
  emit(BLOCK, get(5), I32_EQZ, brIf(0), LOOP);
  emit(get(18), get(6), v128Load(0), F32X4_PMAX, set(18));
  emit(get(6), i32c(16), I32_ADD, set(6), get(5), i32c(1), I32_SUB, tee(5), brIf(0), END, END);
  emit(get(18), F32X4_EXTRACT(0), set(8));
  for (const l of [1, 2, 3]) {
    emit(get(18), F32X4_EXTRACT(l), get(8), get(18), F32X4_EXTRACT(l), get(8), F32_GT, SELECT, set(8));
  }
  emit(get(3), i32c(3), I32_AND, set(5));
  emit(BLOCK, get(5), I32_EQZ, brIf(0), LOOP);
  emit(get(6), F32_LOAD, get(8), get(6), F32_LOAD, get(8), F32_GT, SELECT, set(8));
  emit(get(6), i32c(4), I32_ADD, set(6), get(5), i32c(1), I32_SUB, tee(5), brIf(0), END, END);
  // len = D less the trailing run with x - mx < -110 (a causal mask's row end): their e is 0 either way
  emit(get(3), set(LEN), BLOCK, LOOP, get(LEN), I32_EQZ, brIf(1));
  emit(get(0), get(LEN), i32c(1), I32_SUB, i32c(2), I32_SHL, I32_ADD, F32_LOAD, F64_PROMOTE_F32);
  emit(get(8), F64_PROMOTE_F32, F64_SUB, f64c(-110), F64_LT, I32_EQZ, brIf(1));
  emit(get(LEN), i32c(1), I32_SUB, set(LEN), br(0), END, END);
  // e = exp(x - mx) for two pairs per step (two independent chains), as doubles at ex, up to len
  emit(get(0), set(6), get(4), set(7), i32c(0), set(5));
  emit(BLOCK, LOOP, get(5), get(LEN), I32_LT_U, i32c(1), 0x73, /* i32.xor */ brIf(1));
  for (const u of [0, 1]) {
    emit(
      get(6),
      LOAD64_ZERO(8 * u),
      PROMOTE,
      get(8),
      F64_PROMOTE_F32,
      F64X2_SPLAT,
      F64X2_SUB,
      set(10 + 4 * u),
    );
  }
  emitExp2(emit, 10, 14);
  for (const u of [0, 1]) emit(get(7), get(13 + 4 * u), v128Store(16 * u));
  emit(get(6), i32c(16), I32_ADD, set(6), get(7), i32c(32), I32_ADD, set(7));
  emit(get(5), i32c(4), I32_ADD, set(5), br(0), END, END);
  // e = 0 for the rest of the row (4 per step, as the exp loop writes)
  emit(BLOCK, LOOP, get(5), get(3), I32_LT_U, i32c(1), 0x73, brIf(1));
  emit(get(7), V128_ZERO, v128Store(0), get(7), V128_ZERO, v128Store(16));
  emit(get(7), i32c(32), I32_ADD, set(7), get(5), i32c(4), I32_ADD, set(5), br(0), END, END);
  // sum in order over the first len values (the rest are 0: adding them changes nothing)
  emit(f64c(0), set(9), get(4), set(7), get(LEN), set(5));
  emit(BLOCK, get(5), I32_EQZ, brIf(0), LOOP);
  emit(get(9), get(7), F64_LOAD, F64_ADD, set(9));
  emit(get(7), i32c(8), I32_ADD, set(7), get(5), i32c(1), I32_SUB, tee(5), brIf(0), END, END);
  // out = e / sum, two at a time (the last pair may write one float past the row: the next row, or the
  // caller's padding, is written after it)
  emit(get(9), F64X2_SPLAT, set(18), get(4), set(7), get(1), set(6), i32c(0), set(5));
  emit(BLOCK, LOOP, get(5), get(3), I32_LT_U, i32c(1), 0x73, brIf(1));
  emit(get(6), get(7), v128Load(0), get(18), F64X2_DIV, DEMOTE, STORE64_LANE0);
  emit(get(6), i32c(8), I32_ADD, set(6), get(7), i32c(16), I32_ADD, set(7));
  emit(get(5), i32c(2), I32_ADD, set(5), br(0), END, END);
  // next row
  emit(get(0), get(3), i32c(4), 0x6c, /* i32.mul */ I32_ADD, set(0));
  emit(get(1), get(3), i32c(4), 0x6c, I32_ADD, set(1));
  emit(get(2), i32c(1), I32_SUB, tee(2), brIf(0), END, END, END);
  return [...vec([[3, I32], [1, 0x7d], [1, 0x7c], [9, V128], [1, I32]]), ...c];
}

function f32c(v: number): number[] {
  return [0x43, ...new Uint8Array(new Float32Array([v]).buffer)];
}

interface ExpModule {
  memory: WebAssembly.Memory;
  softmax: (src: number, dst: number, rows: number, D: number, ex: number) => void;
  sigmoid: (src: number, dst: number, quads: number) => void;
  silu: (src: number, dst: number, quads: number) => void;
}

/** Floats of input (and of output) per call. */
const CHUNK = 65536;

function instantiate(): ExpModule | undefined {
  try {
    const m = new WebAssembly.Instance(
      new WebAssembly.Module(moduleOf([
        { name: "softmax", params: 5, body: body() },
        { name: "sigmoid", params: 3, body: sigmoidBody() },
        { name: "silu", params: 3, body: sigmoidBody(true) },
      ])),
      {},
    ).exports as unknown as ExpModule;
    return m;
  } catch {
    return undefined;
  }
}

const wasm = instantiate();

/**
 * Softmax of `rows` contiguous rows of D floats, X to O, in WebAssembly where available.
 *
 * @returns false where WebAssembly SIMD is unavailable (nothing written)
 */
export function softmaxRowsF32(X: Float32Array, O: Float32Array, rows: number, D: number): boolean {
  if (!wasm || D === 0 || rows === 0) return wasm !== undefined;
  const per = Math.max(1, Math.floor(CHUNK / D)), chunk = per * D;
  // layout (floats): input chunk + 4 | output chunk + 4 | e row as doubles (2 D + 8 floats): the exp pass
  // reads and writes up to 3 elements past a row
  const inF = 0, outF = chunk + 4, exF = 2 * chunk + 8, bytes = (exF + 2 * D + 8) * 4;
  const have = wasm.memory.buffer.byteLength;
  if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536));
  const H = new Float32Array(wasm.memory.buffer);
  for (let r0 = 0; r0 < rows; r0 += per) {
    const nr = Math.min(per, rows - r0), n = nr * D;
    H.set(X.subarray(r0 * D, r0 * D + n), inF);
    H.fill(0, inF + n, inF + n + 4);
    wasm.softmax(inF * 4, outF * 4, nr, D, exF * 4);
    O.set(H.subarray(outF, outF + n), r0 * D);
  }
  return true;
}

/**
 * O[i] = sigmoid(X[i]) in WebAssembly where available: with t = exp(-|x|) by the same exp as Softmax,
 * `(x >= 0 ? 1 : t) / (1 + t)` in double, rounded to float32: the scalar kernel's formula
 * (`x >= 0 ? 1 / (1 + e^-x) : e^x / (1 + e^x)`), with exp within about 1 ulp of double of Math.exp.
 *
 * @returns false where WebAssembly SIMD is unavailable (nothing written)
 */
export function sigmoidF32(X: Float32Array, O: Float32Array): boolean {
  return wasm !== undefined && mapF32(wasm.sigmoid, X, O);
}

/**
 * O[i] = fl(X[i] * fl(sigmoid(X[i]))), SiLU as `Mul(x, Sigmoid(x))` computes it (the sigmoid of
 * {@link sigmoidF32}, then a float32 product), in WebAssembly where available.
 *
 * @returns false where WebAssembly SIMD is unavailable (nothing written)
 */
export function siluF32(X: Float32Array, O: Float32Array): boolean {
  return wasm !== undefined && mapF32(wasm.silu, X, O);
}

function mapF32(
  f: (src: number, dst: number, quads: number) => void,
  X: Float32Array,
  O: Float32Array,
): boolean {
  if (!wasm) return false;
  const bytes = CHUNK * 8 + 32, have = wasm.memory.buffer.byteLength;
  if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536));
  const H = new Float32Array(wasm.memory.buffer);
  const inF = 0, outF = CHUNK + 4;
  for (let i0 = 0; i0 < X.length; i0 += CHUNK) {
    const n = Math.min(CHUNK, X.length - i0);
    H.set(X.subarray(i0, i0 + n), inF);
    if (n & 3) H.fill(0, inF + n, inF + ((n + 3) & ~3));
    f(inF * 4, outF * 4, (n + 3) >> 2);
    O.set(H.subarray(outF, outF + n), i0);
  }
  return true;
}
