import { assertEquals, assertNotEquals } from "@std/assert";
import { mulberry32 } from "../../quant/_rng.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { accumulate, RowMean, type Target } from "./dense_shift_calib.ts";

/** The definition: one row at a time, each feature's sums in row order. */
function naive(batches: Float32Array[], ns: number[], k: number): [Float64Array, Float64Array] {
  const sum = new Float64Array(k), sq = new Float64Array(k);
  batches.forEach((rows, b) => {
    for (let r = 0; r < ns[b]!; r++) {
      for (let i = 0; i < k; i++) {
        const v = rows[r * k + i]!;
        sum[i] = sum[i]! + v;
        sq[i] = sq[i]! + v * v;
      }
    }
  });
  return [sum, sq];
}

Deno.test("RowMean: sums bit-identical to adding one row at a time, for any row count", () => {
  const u = mulberry32(7);
  const k = 13;
  // magnitudes from 1e-4 to 1e7 so that any other order of the additions changes the float64 sums
  const ns = [0, 1, 2, 3, 4, 5, 7, 8, 9, 17];
  const batches = ns.map((n) =>
    Float32Array.from({ length: n * k }, () => (u() - 0.5) * 10 ** (u() * 11 - 4))
  );
  const [sum, sq] = naive(batches, ns, k);
  const withSq = new RowMean(k, true), plain = new RowMean(k);
  batches.forEach((rows, b) => {
    withSq.add(rows, ns[b]!);
    plain.add(rows, ns[b]!);
  });
  assertEquals(withSq.sum, sum);
  assertEquals(withSq.sumSq, sq);
  assertEquals(plain.sum, sum);
  assertEquals(withSq.count, ns.reduce((a, b) => a + b, 0));
  // the test data does tell orders apart: summing the rows in reverse gives other bits
  const rev = new Float64Array(k);
  for (let b = batches.length - 1; b >= 0; b--) {
    for (let r = ns[b]! - 1; r >= 0; r--) {
      for (let i = 0; i < k; i++) rev[i] = rev[i]! + batches[b]![r * k + i]!;
    }
  }
  assertNotEquals(rev, sum);
});

/** im2col by the definition: row p = the input patch of output position p (zeros in the padding). */
function patchesRef(
  x: Float32Array,
  [C, H, W]: [number, number, number],
  g: { kernel: number[]; strides: number[]; dilations: number[]; pads: number[] },
  groups: number,
  gi: number,
  [oh, ow]: [number, number],
): Float32Array {
  const Cg = C / groups, [kh, kw] = g.kernel as [number, number], out: number[] = [];
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let ci = 0; ci < Cg; ci++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * g.strides[0]! - g.pads[0]! + ky * g.dilations[0]!;
            const ix = ox * g.strides[1]! - g.pads[1]! + kx * g.dilations[1]!;
            const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
            out.push(inside ? x[((gi * Cg + ci) * H + iy) * W + ix]! : 0);
          }
        }
      }
    }
  }
  return Float32Array.from(out);
}

Deno.test("accumulate: Conv rows are the im2col patches (strides, pads, dilations, groups, 1x1)", () => {
  const u = mulberry32(3);
  const cases = [
    { C: 4, H: 7, W: 6, k: [3, 3], s: [2, 1], d: [1, 1], p: [1, 1, 1, 1], groups: 1 },
    { C: 6, H: 5, W: 5, k: [1, 1], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0], groups: 1 },
    { C: 6, H: 5, W: 8, k: [1, 1], s: [2, 2], d: [1, 1], p: [1, 0, 1, 0], groups: 2 },
    { C: 5, H: 9, W: 8, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1], groups: 5 },
    { C: 4, H: 9, W: 9, k: [5, 3], s: [2, 2], d: [2, 1], p: [4, 1, 3, 2], groups: 2 },
  ];
  for (const c of cases) {
    const x = Float32Array.from({ length: c.C * c.H * c.W }, () => u() * 2 - 1);
    const conv = { kernel: c.k, strides: c.s, dilations: c.d, pads: c.p, autoPad: "NOTSET" };
    const Cg = c.C / c.groups, K = Cg * c.k[0]! * c.k[1]!;
    const oh = Math.floor((c.H + c.p[0]! + c.p[2]! - ((c.k[0]! - 1) * c.d[0]! + 1)) / c.s[0]!) + 1;
    const ow = Math.floor((c.W + c.p[1]! + c.p[3]! - ((c.k[1]! - 1) * c.d[1]! + 1)) / c.s[1]!) + 1;
    const t = { kind: "conv", conv, groups: c.groups, fanIn: K } as unknown as Target;
    const got: Float32Array[] = [];
    accumulate(t, makeTensor(DataType.FLOAT, [1, c.C, c.H, c.W], x), oh * ow, 0, (gi, rows, n) => {
      assertEquals(n, oh * ow);
      got[gi] = rows.slice(0, n * K);
    });
    for (let gi = 0; gi < c.groups; gi++) {
      assertEquals(got[gi], patchesRef(x, [c.C, c.H, c.W], conv, c.groups, gi, [oh, ow]), JSON.stringify(c));
    }
  }
});
