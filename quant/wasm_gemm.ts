/**
 * WebAssembly SIMD micro-kernel of the evaluator's float32 GEMM (onnx/evaluate/ops/_gemm.ts) and of the Gram
 * accumulator (quant/gram.ts), assembled here from its opcodes (no build
 * step, no binary file). It computes 4x4 tiles with f64x2 lanes: every product of two float32 values is exact
 * in double, and each output is summed over k = 0..K-1 in order in double, exactly as the scalar JavaScript
 * kernel does, so both give bit-identical results (rounded once to float32 by the caller).
 *
 * `panel(ap, bp, cp, K, nq, rs)`: for one packed A panel (4 rows, `K` steps of 4 f64 at byte `ap`) and `nq`
 * consecutive packed B panels (4 columns each, `K` steps of 4 f64, from byte `bp`), write the 4 x 4nq block
 * of sums as f64 rows of `rs` bytes from byte `cp`.
 * @module
 */

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && (b & 0x40))) return out.push(b), out;
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// opcodes (WebAssembly core 2.0 + fixed-width SIMD)
const get = (i: number) => [0x20, ...uleb(i)], set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)], i32c = (v: number) => [0x41, ...sleb(v)];
const I32_ADD = 0x6a, I32_SUB = 0x6b, I32_SHL = 0x74, I32_EQZ = 0x45, I32_LT_U = 0x49;
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], END = 0x0b, brIf = (d: number) => [0x0d, d];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const v128Load = (off: number) => simd(0x00, 4, ...uleb(off));
const load64Splat = (off: number) => simd(0x0a, 3, ...uleb(off));
const v128Store = (off: number) => simd(0x0b, 4, ...uleb(off));
const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
const F64X2_ADD = simd(0xf0), F64X2_MUL = simd(0xf2);

// params: ap 0, bp 1, cp 2, K 3, nq 4, rs 5; locals: q 6, k 7, a 8, b 9, base 10 (i32),
// acc 11..18 (v128: row r, columns 0-1 at 11 + 2r, columns 2-3 at 12 + 2r), b01 19, b23 20, av 21 (v128)
const ACC = 11, B01 = 19, B23 = 20, AV = 21;
function body(): number[] {
  const c: number[] = [];
  const emit = (...xs: (number | number[])[]) =>
    xs.forEach((x) => typeof x === "number" ? c.push(x) : c.push(...x));
  emit(get(1), set(9), i32c(0), set(6));
  emit(BLOCK, get(4), I32_EQZ, brIf(0), LOOP);
  emit(V128_ZERO);
  for (let i = 0; i < 7; i++) emit(tee(ACC + i));
  emit(set(ACC + 7));
  emit(get(0), set(8), get(3), set(7));
  emit(BLOCK, get(7), I32_EQZ, brIf(0), LOOP);
  emit(get(9), v128Load(0), set(B01), get(9), v128Load(16), set(B23));
  for (let r = 0; r < 4; r++) {
    emit(get(8), load64Splat(r * 8), set(AV));
    emit(get(ACC + 2 * r), get(AV), get(B01), F64X2_MUL, F64X2_ADD, set(ACC + 2 * r));
    emit(get(ACC + 2 * r + 1), get(AV), get(B23), F64X2_MUL, F64X2_ADD, set(ACC + 2 * r + 1));
  }
  emit(get(8), i32c(32), I32_ADD, set(8), get(9), i32c(32), I32_ADD, set(9));
  emit(get(7), i32c(1), I32_SUB, tee(7), brIf(0), END, END);
  emit(get(2), get(6), i32c(5), I32_SHL, I32_ADD, set(10));
  for (let r = 0; r < 4; r++) {
    emit(get(10), get(ACC + 2 * r), v128Store(0), get(10), get(ACC + 2 * r + 1), v128Store(16));
    if (r < 3) emit(get(10), get(5), I32_ADD, set(10));
  }
  emit(get(6), i32c(1), I32_ADD, tee(6), get(4), I32_LT_U, brIf(0), END, END, END);
  return [...vec([[5, 0x7f], [11, 0x7b]]), ...c];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f;
  const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const code = body();
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...name("memory"), 0x02, 0], [...name("panel"), 0x00, 0]])),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}

/** The instantiated kernel and its memory, or undefined where WebAssembly SIMD is unavailable. */
export interface WasmGemm {
  memory: WebAssembly.Memory;
  panel: (ap: number, bp: number, cp: number, K: number, nq: number, rs: number) => void;
}

function instantiate(): WasmGemm | undefined {
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), {});
    return inst.exports as unknown as WasmGemm;
  } catch {
    return undefined; // no SIMD support: the JavaScript kernel runs instead
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
