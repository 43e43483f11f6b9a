/**
 * A few WebAssembly encoding helpers (LEB128 integers, sections, the opcodes the GEMM micro-kernels use), so
 * the kernels of {@link ./wasm_gemm.ts} and {@link ./wasm_gemm_f32.ts} are assembled in TypeScript with no
 * build step and no binary file. Opcodes: WebAssembly core 2.0 and fixed-width SIMD.
 * @module
 */

/** Unsigned LEB128. */
export const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};

/** Signed LEB128. */
export const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && (b & 0x40))) return out.push(b), out;
    out.push(b | 0x80);
  }
};

/** A length-prefixed vector of already encoded items. */
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

export const get = (i: number): number[] => [0x20, ...uleb(i)];
export const set = (i: number): number[] => [0x21, ...uleb(i)];
export const tee = (i: number): number[] => [0x22, ...uleb(i)];
export const i32c = (v: number): number[] => [0x41, ...sleb(v)];
export const I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_SHL = 0x74, I32_SHR_U = 0x76, I32_EQZ = 0x45;
export const F32_ADD = 0x92, F32_MUL = 0x94;
export const I32_LT_U = 0x49, I32_GT_U = 0x4b, I32_GE_U = 0x4f, I32_EQ = 0x46, I32_AND = 0x71;
export const SELECT = 0x1b, IF = [0x04, 0x40], ELSE = 0x05;
export const br = (d: number): number[] => [0x0c, d];
/** f32.load / f32.store (4-byte alignment hint) at a constant offset. */
export const f32Load = (off: number): number[] => [0x2a, 2, ...uleb(off)];
export const f32Store = (off: number): number[] => [0x38, 2, ...uleb(off)];
export const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], END = 0x0b;
export const brIf = (d: number): number[] => [0x0d, d];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
/** v128.load with 16-byte alignment hint at a constant offset. */
export const v128Load = (off: number): number[] => simd(0x00, 4, ...uleb(off));
/** v128.load32_splat (4-byte alignment hint). */
export const load32Splat = (off: number): number[] => simd(0x09, 2, ...uleb(off));
/** v128.load64_splat (8-byte alignment hint). */
export const load64Splat = (off: number): number[] => simd(0x0a, 3, ...uleb(off));
/** v128.store with 16-byte alignment hint at a constant offset. */
export const v128Store = (off: number): number[] => simd(0x0b, 4, ...uleb(off));
export const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
export const F32X4_ADD = simd(0xe4), F32X4_MUL = simd(0xe6);
export const F64X2_ADD = simd(0xf0), F64X2_MUL = simd(0xf2);
export const I32 = 0x7f, V128 = 0x7b;

/** Collects instructions: numbers are bytes, arrays are byte sequences. */
export function emitter(): { code: number[]; emit: (...xs: (number | number[])[]) => void } {
  const code: number[] = [];
  return { code, emit: (...xs) => xs.forEach((x) => typeof x === "number" ? code.push(x) : code.push(...x)) };
}

/** A function of a module: exported name, number of i32 parameters (no result), body with its locals. */
export interface WasmFunc {
  name: string;
  params: number;
  body: number[];
}

/**
 * A module of the given functions, importing nothing and exporting them and its one memory (`memory`,
 * 1 page to start).
 */
export function moduleOf(funcs: WasmFunc[]): Uint8Array<ArrayBuffer> {
  const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(funcs.map((f) => [0x60, ...vec(new Array(f.params).fill([I32])), 0]))),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([[...str("memory"), 0x02, 0], ...funcs.map((f, i) => [...str(f.name), 0x00, ...uleb(i)])]),
    ),
    ...section(10, vec(funcs.map((f) => [...uleb(f.body.length), ...f.body]))),
  ]);
}

/** {@link moduleOf} for one function. */
export function moduleBytes(name: string, params: number, body: number[]): Uint8Array<ArrayBuffer> {
  return moduleOf([{ name, params, body }]);
}

/** SIMD instruction `op` (prefix 0xfd) with its immediates. */
export const simdOp = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
/** f64.const. */
export const f64c = (v: number): number[] => [0x44, ...new Uint8Array(new Float64Array([v]).buffer)];
