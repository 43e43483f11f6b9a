import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { computeQParams } from "../../quant/qparams.ts";
import { fakeQuantize } from "../../quant/quantize.ts";
import { migrationScales, searchMigrationScale } from "./os_plus_search.ts";
import { searchMigrationScaleMoments } from "./os_plus_search_moments.ts";
import { mulberry32 } from "../../quant/_rng.ts";

const N = 24, C = 6, O = 5;
const r = mulberry32(3);
const x = Float32Array.from({ length: N * C }, (_, i) => (i % C === 1 ? 40 : 1) * (2 * r() - 1));
const w = Float32Array.from({ length: C * O }, () => 2 * r() - 1);
const cmin = new Float32Array(C).fill(Infinity), cmax = new Float32Array(C).fill(-Infinity);
for (let i = 0; i < x.length; i++) {
  cmin[i % C] = Math.min(cmin[i % C]!, x[i]!);
  cmax[i % C] = Math.max(cmax[i % C]!, x[i]!);
}

/** The loss at scales s, written independently with the quant/ primitives (fakeQuantize, computeQParams). */
function oracleLoss(s: Float32Array, aBits: number, wBits: number): number {
  const xs = x.map((v, i) => v / s[i % C]!);
  let lo = 0, hi = 0;
  for (let j = 0; j < C; j++) [lo, hi] = [Math.min(lo, cmin[j]! / s[j]!), Math.max(hi, cmax[j]! / s[j]!)];
  const p = computeQParams(lo, hi, { bits: aBits, signed: false });
  const xq = fakeQuantize(xs, [N, C], Float32Array.of(p.scale), Int32Array.of(p.zeroPoint), {
    qmin: p.qmin,
    qmax: p.qmax,
  });
  const ws = w.map((v, i) => v * s[Math.floor(i / O)]!);
  const qmax = 2 ** (wBits - 1) - 1;
  const wsc = new Float32Array(O);
  for (let i = 0; i < ws.length; i++) wsc[i % O] = Math.max(wsc[i % O]!, Math.abs(ws[i]!) / qmax);
  const wq = fakeQuantize(ws, [C, O], wsc.map((v) => Math.fround(v)), null, { axis: 1, qmin: -qmax, qmax });
  let sse = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < O; k++) {
      let a = 0, b = 0;
      for (let j = 0; j < C; j++) {
        a += xq[n * C + j]! * wq[j * O + k]!;
        b += x[n * C + j]! * w[j * O + k]!;
      }
      sse += (a - b) ** 2;
    }
  }
  return sse / (N * O);
}

Deno.test("os-plus search: s_j = max(1, max(cmax_j, -cmin_j) / t)", () => {
  assertEquals(
    migrationScales(Float32Array.of(-1, -8, -0.5), Float32Array.of(4, 2, 0.5), 2),
    Float32Array.of(2, 4, 1),
  );
});

Deno.test("os-plus search: grid from T0 to the lower bound; loss matches an independent computation", () => {
  const res = searchMigrationScale({ x, channels: C, cmin, cmax, weights: [{ data: w, cols: O }] }, {
    activationBits: 4,
    weightBits: 6,
    steps: 30,
  });
  assertEquals(res.evaluated, 31);
  assertAlmostEquals(res.t0, Math.max(...cmax, ...cmin.map((v) => -v)), 1e-5);
  assert(res.t >= 1 && res.t <= res.t0);
  assert(res.scale[1]! > 1, "the outlier channel is scaled");
  assert(res.loss < res.lossShiftOnly * 0.75, `${res.loss} vs ${res.lossShiftOnly}`);
  assertAlmostEquals(res.loss, oracleLoss(res.scale, 4, 6), 1e-6 * res.loss + 1e-9);
  assertAlmostEquals(
    res.lossShiftOnly,
    oracleLoss(new Float32Array(C).fill(1), 4, 6),
    1e-6 * res.lossShiftOnly,
  );
  // The default grid has max(100, T0 / 0.5) steps.
  const dflt = searchMigrationScale({ x, channels: C, cmin, cmax, weights: [{ data: w, cols: O }] });
  assertEquals(dflt.evaluated, 101);
});

Deno.test("os-plus search: several consumers are one loss over all their outputs", () => {
  const half = (k: number) =>
    Float32Array.from({ length: C * 2 }, (_, i) => w[Math.floor(i / 2) * O + k + (i % 2)]!);
  const a = searchMigrationScale({
    x,
    channels: C,
    cmin,
    cmax,
    weights: [{ data: half(0), cols: 2 }, { data: half(2), cols: 2 }],
  }, { steps: 10 });
  const four = Float32Array.from({ length: C * 4 }, (_, i) => w[Math.floor(i / 4) * O + (i % 4)]!);
  const b = searchMigrationScale({ x, channels: C, cmin, cmax, weights: [{ data: four, cols: 4 }] }, {
    steps: 10,
  });
  assertAlmostEquals(a.loss, b.loss, 1e-9);
  assertEquals(a.t, b.t);
});

Deno.test("os-plus search: rejects mismatched shapes", () => {
  assertThrows(
    () => searchMigrationScale({ x, channels: C, cmin, cmax, weights: [{ data: w, cols: O + 1 }] }),
    RangeError,
  );
  assertThrows(
    () => searchMigrationScale({ x: x.subarray(1), channels: C, cmin, cmax, weights: [] }),
    RangeError,
  );
});

Deno.test("os-plus search: the moment loss tracks the exact loss on the samples and picks a nearby t", () => {
  const rr = mulberry32(17);
  const n = 512, c = 48, o = 40;
  // Correlated channels with three asymmetric outliers, as at a norm output.
  const big = [3, 17, 30];
  const xs = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const common = 2 * rr() - 1;
    for (let j = 0; j < c; j++) {
      const v = 0.6 * common + (2 * rr() - 1);
      xs[i * c + j] = big.includes(j) ? 30 * v + 5 : v;
    }
  }
  const ws = Float32Array.from({ length: c * o }, () => (2 * rr() - 1) / Math.sqrt(c));
  const lo = new Float32Array(c).fill(Infinity), hi = new Float32Array(c).fill(-Infinity);
  const m2 = new Float64Array(c);
  for (let i = 0; i < xs.length; i++) {
    const j = i % c;
    lo[j] = Math.min(lo[j]!, xs[i]!), hi[j] = Math.max(hi[j]!, xs[i]!), m2[j] = m2[j]! + xs[i]! ** 2 / n;
  }
  const input = { x: xs, channels: c, cmin: lo, cmax: hi, weights: [{ data: ws, cols: o }] };
  const opts = { weightBits: 6, activationBits: 6, steps: 30 };
  const exact = searchMigrationScale(input, opts);
  const est = searchMigrationScaleMoments({ ...input, m2 }, { ...opts, maxColumns: o });
  assertEquals(exact.points.length, est.points.length);
  for (let i = 0; i < est.points.length; i++) {
    const ratio = est.points[i]!.loss / exact.points[i]!.loss;
    assert(
      ratio > 0.6 && ratio < 1.6,
      `t = ${est.points[i]!.t}: moments ${est.points[i]!.loss} vs exact ${exact.points[i]!.loss}`,
    );
  }
  // The estimate's choice costs at most 15% more exact loss than the exact optimum.
  const exactAt = exact.points.find((p) => p.t === est.t)!.loss;
  assert(
    exactAt <= 1.15 * exact.loss,
    `moments pick t = ${est.t} (exact loss ${exactAt}), exact pick ${exact.t} (${exact.loss})`,
  );
  // Coarse-to-fine evaluates fewer points and lands on the same t here.
  const coarse = searchMigrationScaleMoments({ ...input, m2 }, { ...opts, maxColumns: o, coarse: 6 });
  assert(coarse.evaluated < est.evaluated, `${coarse.evaluated} vs ${est.evaluated}`);
  assertEquals(coarse.t, est.t);
});
