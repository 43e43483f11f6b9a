/**
 * Erf over float32 arrays in WebAssembly SIMD, two elements per step in f64x2 lanes: the operations of
 * {@link erf} (`_erf.ts`) in the same order on the same table, so every result is identical to the scalar
 * function's (rounded once to float32). The table's coefficients are gathered per lane (two 16-byte loads
 * and two shuffles per pair of coefficients); the Horner chain then runs on both lanes at once. About 4x
 * faster than the scalar loop here, which spends its time on the per-element table arithmetic and the sign
 * branch.
 * @module
 */
import {
  BLOCK,
  brIf,
  emitter,
  END,
  f64c,
  get,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_LT_U,
  I32_MUL,
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
  vec,
} from "../../../quant/_wasm_asm.ts";
import { ERF_STEPS, ERF_STRIDE, ERF_TABLE } from "./_erf.ts";

const TABLE_BYTES = ERF_TABLE.byteLength;
/** Byte of GELU's three float32 constants (after the table). */
const CONSTS = Math.ceil(TABLE_BYTES / 16) * 16;
/** First byte of the data area (after the table and the constants, 16-byte aligned). */
const DATA = CONSTS + 16;

const mem = (align: number, off = 0) => [align, ...uleb(off)];
const LOAD64_ZERO = (off: number) => simdOp(0x5d, ...mem(3, off));
const STORE64_LANE0 = (off: number) => simdOp(0x5b, ...mem(3, off), 0);
const PROMOTE = simdOp(0x5f), DEMOTE = simdOp(0x5e);
const F64X2_SPLAT = simdOp(0x14), F64X2_ABS = simdOp(0xec), F64X2_MIN = simdOp(0xf4);
const F64X2_ADD = simdOp(0xf0), F64X2_SUB = simdOp(0xf1), F64X2_MUL = simdOp(0xf2);
const F64X2_FLOOR = simdOp(0x75), F64X2_LT = simdOp(0x49);
const GRID_ROWS = ERF_TABLE.length / ERF_STRIDE;
const I32X4_EXTRACT = (lane: number) => simdOp(0x1b, lane);
const V128_AND = simdOp(0x4e), V128_OR = simdOp(0x50);
const LOAD32_SPLAT = (off: number) => simdOp(0x09, ...mem(2, off));
const F32X4_ADD = simdOp(0xe4), F32X4_MUL = simdOp(0xe6), F32X4_DIV = simdOp(0xe7);
const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);
const SHUF_LO = simdOp(0x0d, ...range(0, 8), ...range(16, 8)); // (v0[0], v1[0])
const SHUF_HI = simdOp(0x0d, ...range(8, 8), ...range(24, 8)); // (v0[1], v1[1])
const SHUF_F32_HI = simdOp(0x0d, ...range(8, 8), ...range(8, 8)); // f32 lanes 2, 3 to lanes 0, 1

// params: src 0, dst 1, quads 2 (groups of 4 floats); two pairs per step, u = 0 and 1, interleaved so
// their Horner chains overlap. i32 locals: a0 3 + 2u, a1 4 + 2u; v128 locals (base 7 + 7u): x, t, d, p, v0,
// v1, r; with `gelu`, 21 + u: the input floats, 23..25: the splatted constants c1, c2, c3 (read from byte
// CONSTS), and the result is fl(fl(g * fl(fl(erf(fl(g / c1))) + c2)) * c3) for each input float g
function body(gelu: boolean): number[] {
  const { code: c, emit } = emitter();
  const splat = (v: number) => [...f64c(v), ...F64X2_SPLAT];
  const V = (u: number, k: number) => 7 + 7 * u + k; // x 0, t 1, d 2, p 3, v0 4, v1 5, r 6
  const A0 = (u: number) => 3 + 2 * u, A1 = (u: number) => 4 + 2 * u;
  const both = (f: (u: number) => void) => [0, 1].forEach(f);
  const G = (u: number) => 21 + u, C1 = 23, C2 = 24, C3 = 25, Q = 26;
  if (gelu) {
    for (const [k, l] of [[0, C1], [1, C2], [2, C3]]) emit(i32c(0), LOAD32_SPLAT(CONSTS + 4 * k!), set(l!));
  }
  emit(BLOCK, get(2), I32_EQZ, brIf(0), LOOP);
  if (gelu) {
    // the four floats g and g / c1 (one f32x4.div); pair u's in lanes 0 and 1 of G(u) and of its quotient
    emit(get(0), v128Load(0), tee(G(0)), get(C1), F32X4_DIV, set(Q));
    emit(get(G(0)), get(G(0)), SHUF_F32_HI, set(G(1)));
  }
  both((u) => {
    // x = two floats (with gelu: the floats divided by c1) as doubles; t = min(|x|, 6) (NaN stays NaN)
    if (!gelu) emit(get(0), LOAD64_ZERO(8 * u));
    else if (u === 0) emit(get(Q));
    else emit(get(Q), get(Q), SHUF_F32_HI);
    emit(PROMOTE, tee(V(u, 0)), F64X2_ABS, splat(6), F64X2_MIN, set(V(u, 1)));
    // r = floor(t * 256 + 0.5); d = t - r * (1/256); a = table row address of each lane
    emit(get(V(u, 1)), splat(ERF_STEPS), F64X2_MUL, splat(0.5), F64X2_ADD, F64X2_FLOOR, set(V(u, 6)));
    emit(get(V(u, 1)), get(V(u, 6)), splat(1 / ERF_STEPS), F64X2_MUL, F64X2_SUB, set(V(u, 2)));
    // the row indices: r + 2^52 holds the integer r (0..1536) in its low 32 bits (i32 lanes 0 and 2), a NaN
    // lane anything, clamped to a row (its result is NaN through d either way)
    emit(get(V(u, 6)), splat(2 ** 52), F64X2_ADD, set(V(u, 6)));
    for (const [lane, A] of [[0, A0(u)], [2, A1(u)]] as const) {
      emit(get(V(u, 6)), I32X4_EXTRACT(lane), tee(A), i32c(0), get(A), i32c(GRID_ROWS), I32_LT_U, SELECT);
      emit(i32c(ERF_STRIDE * 8), I32_MUL, set(A));
    }
  });
  // Horner from the d^5 coefficient: pairs (c4, c5), (c2, c3), (erf0, c1) per lane
  for (let m = ERF_STRIDE - 2; m >= 0; m -= 2) {
    both((u) => {
      const d = V(u, 2), p = V(u, 3), v0 = V(u, 4), v1 = V(u, 5);
      emit(get(A0(u)), v128Load(m * 8), set(v0), get(A1(u)), v128Load(m * 8), set(v1));
      const hi = [get(v0), get(v1), SHUF_HI], lo = [get(v0), get(v1), SHUF_LO];
      if (m === ERF_STRIDE - 2) emit(...hi, set(p));
      else emit(get(p), get(d), F64X2_MUL, ...hi, F64X2_ADD, set(p));
      if (m > 0) emit(get(p), get(d), F64X2_MUL, ...lo, F64X2_ADD, set(p));
      else emit(...lo, get(p), get(d), F64X2_MUL, F64X2_ADD, set(p)); // erf(x0) + p * d
    });
  }
  both((u) => {
    // the sign of x where x < 0; round to float32; store two floats
    const p = V(u, 3);
    emit(get(1), get(p), get(V(u, 0)), splat(0), F64X2_LT, splat(-0), V128_AND, V128_OR, DEMOTE);
    if (gelu) emit(get(C2), F32X4_ADD, get(G(u)), F32X4_MUL, get(C3), F32X4_MUL);
    emit(STORE64_LANE0(8 * u));
  });
  emit(get(0), i32c(16), I32_ADD, set(0), get(1), i32c(16), I32_ADD, set(1));
  emit(get(2), i32c(1), I32_SUB, tee(2), brIf(0), END, END, END);
  return [...vec([[4, I32], [gelu ? 20 : 14, V128]]), ...c];
}

/** Floats per chunk: input and output of a chunk fit the memory as first grown. */
const CHUNK = 32768;

interface ErfModule {
  memory: WebAssembly.Memory;
  erf: (src: number, dst: number, quads: number) => void;
  gelu: (src: number, dst: number, quads: number) => void;
}

function instantiate(): ErfModule | undefined {
  try {
    const m = new WebAssembly.Instance(
      new WebAssembly.Module(moduleOf([
        { name: "erf", params: 3, body: body(false) },
        { name: "gelu", params: 3, body: body(true) },
      ])),
      {},
    ).exports as unknown as ErfModule;
    m.memory.grow(Math.ceil((DATA + CHUNK * 8) / 65536));
    new Float64Array(m.memory.buffer, 0, ERF_TABLE.length).set(ERF_TABLE);
    return m;
  } catch {
    return undefined;
  }
}

const wasm = instantiate();

/**
 * O[i] = erf(X[i]) rounded to float32, in WebAssembly where available.
 *
 * @returns false where WebAssembly SIMD is unavailable (nothing written)
 */
export function erfF32(X: Float32Array, O: Float32Array): boolean {
  if (!wasm) return false;
  run(wasm.erf, X, O);
  return true;
}

/**
 * The GELU chain of exported models, `Mul(Mul(x, Add(Erf(Div(x, c1)), c2)), c3)`, in one pass: for each x,
 * fl(fl(x * fl(fl(erf(fl(x / c1))) + c2)) * c3), every step rounded to float32 as the five ops round it
 * (float32 division, addition and products are correctly rounded in both), so the bits are theirs.
 *
 * @returns false where WebAssembly SIMD is unavailable (nothing written)
 */
export function geluF32(X: Float32Array, O: Float32Array, c1: number, c2: number, c3: number): boolean {
  if (!wasm) return false;
  new Float32Array(wasm.memory.buffer, CONSTS, 3).set([c1, c2, c3]);
  run(wasm.gelu, X, O);
  return true;
}

function run(f: (src: number, dst: number, quads: number) => void, X: Float32Array, O: Float32Array): void {
  const H = new Float32Array(wasm!.memory.buffer);
  const inF = DATA / 4, outF = inF + CHUNK;
  for (let i0 = 0; i0 < X.length; i0 += CHUNK) {
    const n = Math.min(CHUNK, X.length - i0);
    H.set(X.subarray(i0, i0 + n), inF);
    if (n & 3) H.fill(0, inF + n, inF + ((n + 3) & ~3));
    f(inF * 4, outF * 4, (n + 3) >> 2);
    O.set(H.subarray(outF, outF + n), i0);
  }
}
