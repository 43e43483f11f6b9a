/**
 * The grid sweep of the low-rank DenseShift alpha search (quant/pow2_lowrank.ts) for one channel and one
 * exponent cap: a WebAssembly SIMD kernel assembled here from its opcodes (helpers in `_wasm_asm.ts`), and
 * {@linkcode pow2SweepScalar}, the same arithmetic in JavaScript (the fallback without WebAssembly SIMD and
 * the definition the kernel is tested against, bit for bit).
 *
 * The metric is `H = diag(d) + V diag(lambda) V^T` (V: K x R, R even, zero-padded). For the levels
 * `L = s * 2^e` (in units of alpha) the output error of a candidate alpha is
 * `w^T H w - 2 alpha c1 + alpha^2 (c2 + sum_j lambda_j z_j^2)` with `c1 = L . Hw`, `c2 = sum_x d_x L_x^2` and
 * `z = V^T L`. The sweep starts at the first candidate (each exponent from the decision thresholds
 * `1.5 alpha 2^p`, p = 0..q-1, computed by doubling as quant/pow2.ts `pow2Thresholds`), then walks the
 * ascending candidates: a magnitude at or below a risen threshold p drops from exponent p + 1 to p (alpha
 * grows by at most 2x per candidate, so a weight crosses one threshold per step), so its level moves by
 * `delta = -s 2^p` from `2 s 2^p`, and c1, c2 and z move by that one change: O(1) + R per change, z kept in
 * SIMD registers and updated two lanes at a time with f64x2 mul then add (the scalar loop's exact operations).
 *
 * Arithmetic contract (both implementations): float64, no fused multiply-add; `m = 2^p` by doubling; at the
 * start, over the sorted positions in order, `L = s * m`, `c1 = c1 + L * hw_x`, `c2 = c2 + (d_x * L) * L`,
 * `z_j = z_j + L * V_xj`; per change `delta = -(s * m)`, `c1 = c1 + delta * hw_x`,
 * `c2 = c2 + (d_x * delta) * (s * (3 * m))` (`s 3 m` is `2 L + delta`, exactly), `z_j = z_j + delta * V_xj`;
 * per candidate `lr = sum_j (lambda_j * z_j) * z_j` (j ascending, from +0) and
 * `err = (wHw - (2 * alpha) * c1) + (alpha * alpha) * (c2 + lr)`.
 * @module
 */

import {
  BLOCK,
  br,
  brIf,
  emitter,
  END,
  f64c,
  F64X2_ADD,
  F64X2_MUL,
  get,
  I32,
  I32_ADD,
  I32_EQZ,
  I32_GE_U,
  I32_MUL,
  I32_SHL,
  i32c,
  LOOP,
  moduleBytes,
  set,
  simdOp,
  uleb,
  V128,
  v128Load,
  vec,
} from "./_wasm_asm.ts";

/** Typed views of one sweep's operands (on the kernel's memory, or plain arrays for the scalar path). */
export interface SweepArrays {
  /** V, K x R row-major (R even). */
  v: Float64Array;
  /** lambda, R. */
  lam: Float64Array;
  /** The diagonal d, K. */
  d: Float64Array;
  /** H w, K (by feature). */
  hw: Float64Array;
  /** Sign of each weight, ±1 (+1 for zero), K (by feature). */
  sgn: Float64Array;
  /** Magnitudes |w|, ascending, K. */
  mag: Float64Array;
  /** Feature of each sorted position, K. */
  idx: Int32Array;
  /** Scratch: per threshold, the number of magnitudes at or below it (>= q entries). */
  ptr: Int32Array;
  /** Candidate alphas, G, ascending, each at most twice the previous one. */
  alpha: Float64Array;
  /** Output: the error of each candidate, G. */
  err: Float64Array;
}

/** Sizes of one layer's sweeps. */
export interface SweepShape {
  /** Fan-in K. */
  k: number;
  /** Padded rank R (even). */
  r: number;
  /** Most candidates per sweep. */
  g: number;
  /** Largest exponent cap. */
  q: number;
}

/** The operands in the kernel's memory, in the parameter order of `sweep`. */
const FIELDS = ["v", "lam", "d", "hw", "sgn", "mag", "idx", "ptr", "alpha", "err"] as const;
const INT_FIELDS: ReadonlySet<string> = new Set(["idx", "ptr"]);

/** Element counts of each operand for a shape. */
function lengths(s: SweepShape): Record<(typeof FIELDS)[number], number> {
  return {
    v: s.k * s.r,
    lam: s.r,
    d: s.k,
    hw: s.k,
    sgn: s.k,
    mag: s.k,
    idx: s.k,
    ptr: Math.max(s.q, 1),
    alpha: s.g,
    err: s.g,
  };
}

/**
 * Plain arrays of a shape (the scalar path).
 *
 * @param s the sizes
 * @returns zeroed operands
 */
export function sweepArrays(s: SweepShape): SweepArrays {
  const n = lengths(s);
  const a = Object.fromEntries(
    FIELDS.map((f) => [f, INT_FIELDS.has(f) ? new Int32Array(n[f]) : new Float64Array(n[f])]),
  );
  return a as unknown as SweepArrays;
}

/**
 * One sweep in JavaScript: the errors of candidates 0..G-1 of one channel and cap q into `a.err` (see the
 * module doc for the arithmetic, which the WebAssembly kernel repeats bit for bit).
 *
 * @param a operands (`hw`, `sgn`, `mag`, `idx`, `alpha` filled for this channel and cap)
 * @param k fan-in K
 * @param r padded rank R
 * @param q exponent cap
 * @param g number of candidates
 * @param wHw `w^T H w`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pow2SweepScalar, sweepArrays } from "./wasm_pow2_sweep.ts";
 * // one weight 3 on H = [1], cap 1: alpha 1 (threshold 1.5) -> level 2, error 1; alpha 2 -> level 1, error 1
 * const a = sweepArrays({ k: 1, r: 0, g: 2, q: 1 });
 * a.d[0] = 1, a.hw[0] = 3, a.sgn[0] = 1, a.mag[0] = 3, a.alpha.set([1, 2]);
 * pow2SweepScalar(a, 1, 0, 1, 2, 9);
 * assertEquals([...a.err], [1, 1]);
 * ```
 */
export function pow2SweepScalar(
  a: SweepArrays,
  k: number,
  r: number,
  q: number,
  g: number,
  wHw: number,
): void {
  const { v, lam, d, hw, sgn, mag, idx, ptr, alpha, err } = a;
  const z = new Float64Array(r);
  let c1 = 0, c2 = 0;
  const cost = (al: number) => {
    let lr = 0;
    for (let j = 0; j < r; j++) lr = lr + lam[j]! * z[j]! * z[j]!;
    return wHw - 2 * al * c1 + al * al * (c2 + lr);
  };
  const begin = (x: number, l: number) => {
    c1 = c1 + l * hw[x]!;
    c2 = c2 + d[x]! * l * l;
    for (let j = 0, o = x * r; j < r; j++) z[j] = z[j]! + l * v[o + j]!;
  };
  let i = 0, m = 1;
  for (let p = 0, t = alpha[0]! * 1.5; p < q; p++, t *= 2, m *= 2) {
    for (; i < k && mag[i]! <= t; i++) begin(idx[i]!, sgn[idx[i]!]! * m);
    ptr[p] = i;
  }
  for (; i < k; i++) begin(idx[i]!, sgn[idx[i]!]! * m);
  err[0] = cost(alpha[0]!);
  for (let c = 1; c < g; c++) {
    m = 1;
    for (let p = 0, t = alpha[c]! * 1.5; p < q; p++, t *= 2, m *= 2) {
      let i = ptr[p]!;
      for (; i < k && mag[i]! <= t; i++) {
        const x = idx[i]!, s = sgn[x]!, delta = -(s * m);
        c1 = c1 + delta * hw[x]!;
        c2 = c2 + d[x]! * delta * (s * (3 * m));
        for (let j = 0, o = x * r; j < r; j++) z[j] = z[j]! + delta * v[o + j]!;
      }
      ptr[p] = i;
    }
    err[c] = cost(alpha[c]!);
  }
}

// f64 / i32 memory and arithmetic opcodes this kernel needs beyond _wasm_asm.ts
const f64Load = (off = 0) => [0x2b, 3, ...uleb(off)];
const f64Store = (off = 0) => [0x39, 3, ...uleb(off)];
const i32Load = (off = 0) => [0x28, 2, ...uleb(off)];
const i32Store = (off = 0) => [0x36, 2, ...uleb(off)];
const F64_ADD = 0xa0, F64_SUB = 0xa1, F64_MUL = 0xa2, F64_NEG = 0x9a, F64_LE = 0x65, F64 = 0x7c;
const F64X2_SPLAT = simdOp(0x14);
const f64x2Lane = (lane: number) => simdOp(0x21, lane);

// params: K 0, q 1, G 2, wHw slot 3, then the FIELDS offsets 4..13 (bytes);
// i32 locals: i 14, p 15, x 16, c 17, vrow 18; f64 locals: c1 19, c2 20, l 21, s 22, t 23, lr 24, al 25,
// wHw 26, m 27; v128: dv 28, z 29..
const P = Object.fromEntries(FIELDS.map((f, i) => [f, 4 + i])) as Record<(typeof FIELDS)[number], number>;
const [I, PP, X, C, VROW] = [14, 15, 16, 17, 18];
const [C1, C2, L, SG, T, LR, AL, WHW, M] = [19, 20, 21, 22, 23, 24, 25, 26, 27];
const DV = 28, Z = 29;

function body(r: number): number[] {
  const { code: c, emit } = emitter();
  const K = 0, Q = 1, G = 2;
  /** address `base + index * size` on the stack */
  const at = (
    base: number,
    index: number,
    shift: number,
  ) => [get(base), get(index), i32c(shift), I32_SHL, I32_ADD];
  /** z += dv * V[x] (unrolled over the R / 2 lane pairs, z in locals) */
  const axpy = () => {
    emit(get(P.v), get(X), i32c(r * 8), I32_MUL, I32_ADD, set(VROW));
    for (let j = 0; j < r / 2; j++) {
      emit(get(Z + j), get(DV), get(VROW), v128Load(16 * j), F64X2_MUL, F64X2_ADD, set(Z + j));
    }
  };
  /** err[c] = cost(alpha[c]) */
  const cost = () => {
    emit(f64c(0), set(LR));
    for (let j = 0; j < r; j++) {
      const zj = [get(Z + (j >> 1)), ...f64x2Lane(j & 1)];
      emit(get(LR), get(P.lam), f64Load(8 * j), ...zj, F64_MUL, ...zj, F64_MUL, F64_ADD, set(LR));
    }
    emit(...at(P.alpha, C, 3), f64Load(), set(AL));
    emit(...at(P.err, C, 3));
    emit(get(WHW), f64c(2), get(AL), F64_MUL, get(C1), F64_MUL, F64_SUB);
    emit(get(AL), get(AL), F64_MUL, get(C2), get(LR), F64_ADD, F64_MUL, F64_ADD, f64Store());
  };
  /** the start's update for the weight at sorted position i, level L = s * m */
  const begin = () => {
    emit(...at(P.idx, I, 2), i32Load(), set(X));
    emit(...at(P.sgn, X, 3), f64Load(), get(M), F64_MUL, set(L));
    emit(get(C1), get(L), ...at(P.hw, X, 3), f64Load(), F64_MUL, F64_ADD, set(C1));
    emit(get(C2), ...at(P.d, X, 3), f64Load(), get(L), F64_MUL, get(L), F64_MUL, F64_ADD, set(C2));
    emit(get(L), F64X2_SPLAT, set(DV));
    axpy();
    emit(get(I), i32c(1), I32_ADD, set(I));
  };
  /** while (i < K && mag[i] <= t) body; (branch out of the enclosing block/loop pair) */
  const whileBelow = (inner: () => void) => {
    emit(BLOCK, LOOP, get(I), get(K), I32_GE_U, brIf(1));
    emit(...at(P.mag, I, 3), f64Load(), get(T), F64_LE, I32_EQZ, brIf(1));
    inner();
    emit(br(0), END, END);
  };
  /** ptr[p] = i; the next threshold and level (t, m doubled); p += 1; close the threshold loop */
  const nextThreshold = () => {
    emit(...at(P.ptr, PP, 2), get(I), i32Store());
    emit(get(T), f64c(2), F64_MUL, set(T), get(M), f64c(2), F64_MUL, set(M));
    emit(get(PP), i32c(1), I32_ADD, set(PP), br(0), END, END);
  };
  emit(get(3), f64Load(), set(WHW));
  // start: every magnitude gets its exponent from candidate 0's thresholds
  emit(get(P.alpha), f64Load(), f64c(1.5), F64_MUL, set(T), f64c(1), set(M));
  emit(BLOCK, LOOP, get(PP), get(Q), I32_GE_U, brIf(1));
  whileBelow(begin);
  nextThreshold();
  emit(BLOCK, LOOP, get(I), get(K), I32_GE_U, brIf(1));
  begin();
  emit(br(0), END, END);
  cost(); // c = 0
  // the ascending candidates
  emit(i32c(1), set(C));
  emit(BLOCK, LOOP, get(C), get(G), I32_GE_U, brIf(1));
  emit(...at(P.alpha, C, 3), f64Load(), f64c(1.5), F64_MUL, set(T), f64c(1), set(M), i32c(0), set(PP));
  emit(BLOCK, LOOP, get(PP), get(Q), I32_GE_U, brIf(1));
  emit(...at(P.ptr, PP, 2), i32Load(), set(I));
  whileBelow(() => {
    emit(...at(P.idx, I, 2), i32Load(), set(X));
    emit(...at(P.sgn, X, 3), f64Load(), set(SG), get(SG), get(M), F64_MUL, F64_NEG, set(L)); // L = delta
    emit(get(C1), get(L), ...at(P.hw, X, 3), f64Load(), F64_MUL, F64_ADD, set(C1));
    emit(get(C2), ...at(P.d, X, 3), f64Load(), get(L), F64_MUL);
    emit(get(SG), f64c(3), get(M), F64_MUL, F64_MUL, F64_MUL, F64_ADD, set(C2));
    emit(get(L), F64X2_SPLAT, set(DV));
    axpy();
    emit(get(I), i32c(1), I32_ADD, set(I));
  });
  nextThreshold();
  cost();
  emit(get(C), i32c(1), I32_ADD, set(C), br(0), END, END);
  emit(END);
  return [...vec([[5, I32], [9, F64], [1 + r / 2, V128]]), ...c];
}

/** A kernel instance for one padded rank R, with its own memory. */
interface Instance {
  memory: WebAssembly.Memory;
  sweep: (...args: number[]) => void;
}

const instances = new Map<number, Instance | null>();

function instance(r: number): Instance | undefined {
  if (!instances.has(r)) {
    try {
      const bytes = moduleBytes("sweep", 4 + FIELDS.length, body(r));
      instances.set(
        r,
        new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Instance,
      );
    } catch {
      instances.set(r, null); // no SIMD support: the JavaScript sweep runs instead
    }
  }
  return instances.get(r) ?? undefined;
}

/** A sweeper for one layer: its operands and a `run` that fills `arrays.err` for one channel and cap. */
export interface Sweeper {
  arrays: SweepArrays;
  /** Whether `run` is the WebAssembly kernel. */
  wasm: boolean;
  /** One sweep: q the cap, g the candidates, wHw the channel's `w^T H w`. */
  run(q: number, g: number, wHw: number): void;
}

/**
 * Operands for the sweeps of one layer (on the kernel's memory where WebAssembly SIMD is available, else
 * plain arrays) and the sweep itself. The views stay valid until the next call of this function for the same
 * padded rank (which may grow the memory): one layer at a time.
 *
 * @param shape the layer's K, padded R (even), most candidates and largest cap
 * @param options `scalar`: force the JavaScript sweep (tests)
 * @returns the sweeper
 * @throws {RangeError} for an odd R
 */
export function pow2Sweeper(shape: SweepShape, options: { scalar?: boolean } = {}): Sweeper {
  const { k, r } = shape;
  if (r % 2 !== 0 || r < 0) throw new RangeError(`Cannot sweep: the padded rank must be even, got ${r}`);
  const w = options.scalar ? undefined : instance(r);
  if (!w) {
    const a = sweepArrays(shape);
    return { arrays: a, wasm: false, run: (q, g, wHw) => pow2SweepScalar(a, k, r, q, g, wHw) };
  }
  // The views of one shape are the same until the memory grows: reuse them (a depthwise Conv asks for a
  // sweeper per group, thousands per layer).
  const key = `${k},${r},${shape.g},${shape.q}`;
  const hit = sweepers.get(key);
  if (hit && hit.buffer === w.memory.buffer) return hit.sweeper;
  const n = lengths(shape);
  const offsets: number[] = [];
  let bytes = 16; // the wHw slot
  for (const f of FIELDS) {
    offsets.push(bytes);
    bytes += Math.ceil(n[f] * (INT_FIELDS.has(f) ? 4 : 8) / 16) * 16;
  }
  const have = w.memory.buffer.byteLength;
  if (bytes > have) w.memory.grow(Math.ceil((bytes - have) / 65536));
  const buf = w.memory.buffer;
  const view = (i: number) => {
    const f = FIELDS[i]!;
    return INT_FIELDS.has(f)
      ? new Int32Array(buf, offsets[i]!, n[f])
      : new Float64Array(buf, offsets[i]!, n[f]);
  };
  const a = Object.fromEntries(FIELDS.map((f, i) => [f, view(i)])) as unknown as SweepArrays;
  const slot = new Float64Array(buf, 0, 1);
  const sweeper: Sweeper = {
    arrays: a,
    wasm: true,
    run: (q, g, wHw) => {
      slot[0] = wHw;
      w.sweep(k, q, g, 0, ...offsets);
    },
  };
  if (sweepers.size > 64) sweepers.clear();
  sweepers.set(key, { buffer: buf, sweeper });
  return sweeper;
}

/** WebAssembly sweepers by shape, with the memory buffer their views are on. */
const sweepers = new Map<string, { buffer: ArrayBuffer; sweeper: Sweeper }>();
