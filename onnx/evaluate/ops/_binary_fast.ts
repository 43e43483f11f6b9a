/**
 * Float32 fast path of the broadcasting binary ops Add, Sub, Mul, Div, Max and Min.
 *
 * The output is viewed as rows: adjacent axes on which both operands behave alike (both read along, or one
 * broadcast) are merged, the last merged axis is the row, and each operand is either read along the row
 * (stride 1) or constant over it (stride 0). Same shape, a scalar, `[1,C,1,1]` against `[N,C,H,W]` and `[C]`
 * against `[..., C]` are all one or a few long rows. Each op has its own loops with the arithmetic written
 * out, so V8 inlines it instead of calling an op function per element from a shared (megamorphic) call
 * site. The arithmetic is the generic path's: computed in double, rounded once to float32 on store.
 * @module
 */

/** Op codes of the fast path. */
export const FAST_ADD = 0, FAST_SUB = 1, FAST_MUL = 2, FAST_DIV = 3, FAST_MAX = 4, FAST_MIN = 5;

/**
 * Row loop of one op: O[o + i] = op(A[a + i * sa], B[b + i * sb]) for i < n; sa and sb are 0 or 1 and at
 * least one of them is 1.
 */
type RowFn = (
  A: Float32Array,
  a: number,
  sa: number,
  B: Float32Array,
  b: number,
  sb: number,
  O: Float32Array,
  o: number,
  n: number,
) => void;

const add: RowFn = (A, a, sa, B, b, sb, O, o, n) => {
  if (sa && sb) { for (let i = 0; i < n; i++) O[o + i] = A[a + i]! + B[b + i]!; }
  else if (sa) {
    const y = B[b]!;
    for (let i = 0; i < n; i++) O[o + i] = A[a + i]! + y;
  } else {
    const x = A[a]!;
    for (let i = 0; i < n; i++) O[o + i] = x + B[b + i]!;
  }
};

const sub: RowFn = (A, a, sa, B, b, sb, O, o, n) => {
  if (sa && sb) { for (let i = 0; i < n; i++) O[o + i] = A[a + i]! - B[b + i]!; }
  else if (sa) {
    const y = B[b]!;
    for (let i = 0; i < n; i++) O[o + i] = A[a + i]! - y;
  } else {
    const x = A[a]!;
    for (let i = 0; i < n; i++) O[o + i] = x - B[b + i]!;
  }
};

const mul: RowFn = (A, a, sa, B, b, sb, O, o, n) => {
  if (sa && sb) { for (let i = 0; i < n; i++) O[o + i] = A[a + i]! * B[b + i]!; }
  else if (sa) {
    const y = B[b]!;
    for (let i = 0; i < n; i++) O[o + i] = A[a + i]! * y;
  } else {
    const x = A[a]!;
    for (let i = 0; i < n; i++) O[o + i] = x * B[b + i]!;
  }
};

const div: RowFn = (A, a, sa, B, b, sb, O, o, n) => {
  if (sa && sb) { for (let i = 0; i < n; i++) O[o + i] = A[a + i]! / B[b + i]!; }
  else if (sa) {
    // x / y, not x * (1 / y): the reciprocal would round twice
    const y = B[b]!;
    for (let i = 0; i < n; i++) O[o + i] = A[a + i]! / y;
  } else {
    const x = A[a]!;
    for (let i = 0; i < n; i++) O[o + i] = x / B[b + i]!;
  }
};

// Max / Min keep x when it is NaN (x !== x) and take y when y is NaN, as the generic path does.
const max: RowFn = (A, a, sa, B, b, sb, O, o, n) => {
  if (sa && sb) {
    for (let i = 0; i < n; i++) {
      const x = A[a + i]!, y = B[b + i]!;
      O[o + i] = x >= y || x !== x ? x : y;
    }
  } else if (sa) {
    const y = B[b]!;
    for (let i = 0; i < n; i++) {
      const x = A[a + i]!;
      O[o + i] = x >= y || x !== x ? x : y;
    }
  } else {
    const x = A[a]!;
    for (let i = 0; i < n; i++) {
      const y = B[b + i]!;
      O[o + i] = x >= y || x !== x ? x : y;
    }
  }
};

const min: RowFn = (A, a, sa, B, b, sb, O, o, n) => {
  if (sa && sb) {
    for (let i = 0; i < n; i++) {
      const x = A[a + i]!, y = B[b + i]!;
      O[o + i] = x <= y || x !== x ? x : y;
    }
  } else if (sa) {
    const y = B[b]!;
    for (let i = 0; i < n; i++) {
      const x = A[a + i]!;
      O[o + i] = x <= y || x !== x ? x : y;
    }
  } else {
    const x = A[a]!;
    for (let i = 0; i < n; i++) {
      const y = B[b + i]!;
      O[o + i] = x <= y || x !== x ? x : y;
    }
  }
};

const ROWS: RowFn[] = [add, sub, mul, div, max, min];

/**
 * O = op(A, B) with broadcasting, A of shape `aDims`, B of `bDims`, O of the broadcast shape `dims`
 * (already checked by the caller).
 */
export function fastBinary(
  code: number,
  A: Float32Array,
  aDims: readonly number[],
  B: Float32Array,
  bDims: readonly number[],
  dims: readonly number[],
  O: Float32Array,
): void {
  const n = O.length;
  if (n === 0) return;
  const row = ROWS[code]!;
  const rank = dims.length;
  // merged axes, outermost first: size, and whether A / B are read along (true) or broadcast (false)
  const size: number[] = [], fa: boolean[] = [], fb: boolean[] = [];
  for (let i = 0; i < rank; i++) {
    const d = dims[i]!;
    if (d === 1) continue;
    const ad = aDims[i - rank + aDims.length] ?? 1, bd = bDims[i - rank + bDims.length] ?? 1;
    const ra = ad !== 1, rb = bd !== 1;
    const k = size.length - 1;
    if (k >= 0 && fa[k] === ra && fb[k] === rb) size[k]! *= d;
    else size.push(d), fa.push(ra), fb.push(rb);
  }
  if (size.length === 0) { // every axis is 1: one element
    row(A, 0, 1, B, 0, 1, O, 0, 1);
    return;
  }
  const m = size.length, L = size[m - 1]!;
  const sa = fa[m - 1] ? 1 : 0, sb = fb[m - 1] ? 1 : 0;
  if (m === 1) {
    row(A, 0, sa, B, 0, sb, O, 0, L);
    return;
  }
  // element strides of A and B along each merged outer axis (0 where broadcast)
  const stA = new Array<number>(m).fill(0), stB = new Array<number>(m).fill(0);
  let accA = 1, accB = 1;
  for (let k = m - 1; k >= 0; k--) {
    if (fa[k]) stA[k] = accA, accA *= size[k]!;
    if (fb[k]) stB[k] = accB, accB *= size[k]!;
  }
  const idx = new Array<number>(m).fill(0);
  let a = 0, b = 0;
  for (let o = 0; o < n; o += L) {
    row(A, a, sa, B, b, sb, O, o, L);
    // odometer over the outer merged axes
    for (let k = m - 2; k >= 0; k--) {
      a += stA[k]!, b += stB[k]!;
      if (++idx[k]! < size[k]!) break;
      a -= stA[k]! * size[k]!, b -= stB[k]! * size[k]!;
      idx[k] = 0;
    }
  }
}
