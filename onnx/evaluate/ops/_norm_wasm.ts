/**
 * LayerNormalization over contiguous rows in WebAssembly, with the arithmetic of `norm.ts` and the same bits:
 * two rows at a time in the two lanes of f64x2, each row's sum and sum of squared deviations accumulated in
 * order over its D elements in double, `inv = 1 / sqrt(sq / D + eps)`, then `((x - mean) * inv) * scale + bias`
 * in double two columns at a time, rounded to float32.
 * @module
 */
import {
  BLOCK,
  brIf,
  emitter,
  END,
  get,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_SUB,
  i32c,
  LOOP,
  moduleOf,
  set,
  simdOp,
  tee,
  uleb,
  V128,
  v128Store,
  vec,
} from "../../../quant/_wasm_asm.ts";

const mem = (align: number, off = 0) => [align, ...uleb(off)];
const LOAD64_ZERO = simdOp(0x5d, ...mem(3));
const STORE64_LANE0 = simdOp(0x5b, ...mem(3), 0);
const PROMOTE = simdOp(0x5f), DEMOTE = simdOp(0x5e);
const F64X2_SPLAT = simdOp(0x14), F64X2_REPLACE1 = simdOp(0x22, 1);
const F64X2_EXTRACT = (lane: number) => simdOp(0x21, lane);
const F64X2_ADD = simdOp(0xf0), F64X2_SUB = simdOp(0xf1), F64X2_MUL = simdOp(0xf2), F64X2_DIV = simdOp(0xf3);
const F64X2_SQRT = simdOp(0xef);
const F32_LOAD = [0x2a, 2, 0], F64_PROMOTE_F32 = 0xbb, F64_CONVERT_I32_U = 0xb8;

/** Byte of eps (f64). */
const EPS = 0;
/** First byte of the data area. */
const DATA = 16;

// params: src 0, dst 1, pairs 2, D 3, scale 4, bias 5 (0: none), stats 6; i32 locals: i 7, p0 8, p1 9, q 10,
// o 11; v128 locals: v 12, s 13, mean 14, inv 15, dv 16, m 17, iv 18, y 19
function body(): number[] {
  const { code: c, emit } = emitter();
  const lanes = (p0: number, p1: number) => [
    get(p0),
    F32_LOAD,
    F64_PROMOTE_F32,
    F64X2_SPLAT,
    get(p1),
    F32_LOAD,
    F64_PROMOTE_F32,
    F64X2_REPLACE1,
  ];
  const Df = [get(3), F64_CONVERT_I32_U, F64X2_SPLAT];
  emit(BLOCK, get(2), I32_EQZ, brIf(0), LOOP); // for each pair of rows
  // s = in-order sums of both rows
  emit(simdOp(0x0c, ...new Array<number>(16).fill(0)), set(13));
  emit(get(0), set(8), get(0), get(3), i32c(2), 0x74, /* shl */ I32_ADD, set(9), get(3), set(7));
  emit(BLOCK, get(7), I32_EQZ, brIf(0), LOOP);
  emit(get(13), ...lanes(8, 9), F64X2_ADD, set(13));
  emit(get(8), i32c(4), I32_ADD, set(8), get(9), i32c(4), I32_ADD, set(9));
  emit(get(7), i32c(1), I32_SUB, tee(7), brIf(0), END, END);
  emit(get(13), ...Df, F64X2_DIV, set(14)); // mean
  // sq = in-order sums of (x - mean)^2
  emit(simdOp(0x0c, ...new Array<number>(16).fill(0)), set(13));
  emit(get(0), set(8), get(0), get(3), i32c(2), 0x74, I32_ADD, set(9), get(3), set(7));
  emit(BLOCK, get(7), I32_EQZ, brIf(0), LOOP);
  emit(...lanes(8, 9), get(14), F64X2_SUB, tee(16), get(16), F64X2_MUL, get(13), F64X2_ADD, set(13));
  emit(get(8), i32c(4), I32_ADD, set(8), get(9), i32c(4), I32_ADD, set(9));
  emit(get(7), i32c(1), I32_SUB, tee(7), brIf(0), END, END);
  // inv = 1 / sqrt(sq / D + eps)
  emit(i32c(0), F64_LOAD_AT(EPS), F64X2_SPLAT, set(16));
  emit(
    [0x44, ...f64bytes(1)],
    F64X2_SPLAT,
    get(13),
    ...Df,
    F64X2_DIV,
    get(16),
    F64X2_ADD,
    F64X2_SQRT,
    F64X2_DIV,
  );
  emit(set(15), get(6), get(14), v128Store(0), get(6), get(15), v128Store(16));
  emit(get(6), i32c(32), I32_ADD, set(6));
  // normalise each row of the pair: ((x - mean) * inv) * scale (+ bias), two columns at a time
  for (const lane of [0, 1]) {
    emit(
      get(14),
      F64X2_EXTRACT(lane),
      F64X2_SPLAT,
      set(17),
      get(15),
      F64X2_EXTRACT(lane),
      F64X2_SPLAT,
      set(18),
    );
    emit(get(4), set(10), get(5), set(11), get(3), i32c(1), I32_ADD, i32c(1), 0x76, /* shr_u */ set(7));
    emit(BLOCK, get(7), I32_EQZ, brIf(0), LOOP);
    emit(get(0), LOAD64_ZERO, PROMOTE, get(17), F64X2_SUB, get(18), F64X2_MUL);
    emit(get(10), LOAD64_ZERO, PROMOTE, F64X2_MUL, set(19));
    emit(get(5), BLOCK_IF, get(19), get(11), LOAD64_ZERO, PROMOTE, F64X2_ADD, set(19), END); // bias, if any
    emit(get(1), get(19), DEMOTE, STORE64_LANE0);
    emit(get(0), i32c(8), I32_ADD, set(0), get(1), i32c(8), I32_ADD, set(1));
    emit(get(10), i32c(8), I32_ADD, set(10), get(11), i32c(8), I32_ADD, set(11));
    emit(get(7), i32c(1), I32_SUB, tee(7), brIf(0), END, END);
    // src and dst advanced by 2 * ceil(D / 2) floats: back to the next row's start when D is odd
    emit(get(3), i32c(1), 0x71, /* and */ BLOCK_IF);
    emit(get(0), i32c(4), I32_SUB, set(0), get(1), i32c(4), I32_SUB, set(1), END);
  }
  emit(get(2), i32c(1), I32_SUB, tee(2), brIf(0), END, END, END);
  return [...vec([[5, I32], [8, V128]]), ...c];
}

/** `if` with no result (entered when the i32 on the stack is not 0). */
const BLOCK_IF = [0x04, 0x40];
const F64_LOAD_AT = (off: number) => [0x2b, 3, ...uleb(off)];
const f64bytes = (v: number) => [...new Uint8Array(new Float64Array([v]).buffer)];

interface NormModule {
  memory: WebAssembly.Memory;
  ln: (
    src: number,
    dst: number,
    pairs: number,
    D: number,
    scale: number,
    bias: number,
    stats: number,
  ) => void;
}

function instantiate(): NormModule | undefined {
  try {
    return new WebAssembly.Instance(
      new WebAssembly.Module(moduleOf([{ name: "ln", params: 7, body: body() }])),
      {},
    ).exports as unknown as NormModule;
  } catch {
    return undefined;
  }
}

const wasm = instantiate();
/** Floats of input per call (and of output). */
const CHUNK = 65536;

/**
 * LayerNormalization of `R` contiguous rows of D floats with unbroadcast scale and bias (`norm.ts`'s
 * arithmetic, the same bits): O, and each row's mean and inverse deviation in Mn and Iv (rounded to float32).
 *
 * @returns false where WebAssembly SIMD is unavailable (nothing written)
 */
export function layerNormRowsF32(
  X: Float32Array,
  O: Float32Array,
  R: number,
  D: number,
  eps: number,
  S: Float32Array,
  B: Float32Array | undefined,
  Mn: Float32Array,
  Iv: Float32Array,
): boolean {
  if (!wasm) return false;
  if (R === 0 || D === 0) return false;
  const per = Math.max(2, Math.floor(CHUNK / D) & ~1), chunk = per * D;
  // floats: eps (2) + pad | scale (D + 2) | bias (D + 2) | input (chunk + D + 2) | output (chunk + 2) | stats
  const sF = DATA / 4, bF = sF + D + 4, inF = bF + D + 4, outF = inF + chunk + D + 4;
  const stF = Math.ceil((outF + chunk + 4) / 4) * 4; // 16-byte aligned doubles
  const bytes = (stF + per * 4 + 8) * 4, have = wasm.memory.buffer.byteLength;
  if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536));
  const H = new Float32Array(wasm.memory.buffer), H64 = new Float64Array(wasm.memory.buffer);
  H64[EPS / 8] = eps;
  H.set(S.subarray(0, D), sF);
  H[sF + D] = 0;
  if (B) {
    H.set(B.subarray(0, D), bF);
    H[bF + D] = 0;
  }
  for (let r0 = 0; r0 < R; r0 += per) {
    const nr = Math.min(per, R - r0), n = nr * D, pairs = (nr + 1) >> 1;
    H.set(X.subarray(r0 * D, r0 * D + n), inF);
    H.fill(0, inF + n, inF + pairs * 2 * D + 2); // an odd last row's partner, and one float past the end
    wasm.ln(inF * 4, outF * 4, pairs, D, sF * 4, B ? bF * 4 : 0, stF * 4);
    O.set(H.subarray(outF, outF + n), r0 * D);
    const st = stF / 2; // doubles: per pair (mean0, mean1, inv0, inv1)
    for (let k = 0; k < nr; k++) {
      const p = k >> 1, lane = k & 1;
      Mn[r0 + k] = H64[st + p * 4 + lane]!;
      Iv[r0 + k] = H64[st + p * 4 + 2 + lane]!;
    }
  }
  return true;
}
