import { assertEquals, assertThrows } from "@std/assert";
import onnxProto from "npm:onnx-proto@8.0.1";
import * as ort from "npm:onnxruntime-node@1.30.0";
import {
  convGeometry,
  convInteger,
  type ConvIntegerOptions,
  type Int8Data,
  matMulInteger,
} from "./int_gemm.ts";
import { randomBytes } from "./_rng.ts";

// deno-lint-ignore no-explicit-any
const onnx = (onnxProto as any).onnx ?? onnxProto;

/** The definition, written as plainly as possible, with exact BigInt sums wrapped to int32 at the end. */
function slowMatMul(a: Int8Data, b: Int8Data, m: number, k: number, n: number, za: number[], zb: number[]) {
  const y = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0n;
      for (let t = 0; t < k; t++) s += BigInt((a[i * k + t]! - za[i]!) * (b[t * n + j]! - zb[j]!));
      y[i * n + j] = Number(BigInt.asIntN(32, s));
    }
  }
  return y;
}

Deno.test("matMulInteger equals the definition on int8/uint8, scalar and per-row/column zero points", () => {
  let seed = 1;
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [16, 33, 9], [1, 70, 130], [65, 2, 1]] as const) {
    for (const ua of [false, true]) {
      for (const ub of [false, true]) {
        const a = randomBytes(m * k, seed++, { unsigned: ua }),
          b = randomBytes(k * n, seed++, { unsigned: ub });
        const za = Array.from({ length: m }, (_, i) => (ua ? 100 : -20) + i % 7);
        const zb = Array.from({ length: n }, (_, j) => (ub ? 200 : 3) - j % 5);
        const want = slowMatMul(a, b, m, k, n, za, zb);
        assertEquals(
          matMulInteger({ data: a, dims: [m, k] }, { data: b, dims: [k, n] }, {
            aZeroPoint: za,
            bZeroPoint: zb,
          }),
          want,
        );
        const scalar = slowMatMul(a, b, m, k, n, za.map(() => za[0]!), zb.map(() => zb[0]!));
        assertEquals(
          matMulInteger({ data: a, dims: [m, k] }, { data: b, dims: [k, n] }, {
            aZeroPoint: za[0]!,
            bZeroPoint: [zb[0]!],
          }),
          scalar,
        );
      }
    }
  }
});

Deno.test("matMulInteger wraps modulo 2^32 like an int32 accumulator", () => {
  const k = 40000; // 40000 * 255 * 255 > 2^31
  const a = new Uint8Array(k).fill(255), b = new Uint8Array(k).fill(0);
  const y = matMulInteger({ data: a, dims: [1, k] }, { data: b, dims: [k, 1] }, { bZeroPoint: 255 });
  assertEquals(y[0], Number(BigInt.asIntN(32, BigInt(-k * 255 * 255))));
  assertEquals(y[0], 1693967296);
});

Deno.test("matMulInteger rejects bad shapes and zero points", () => {
  const a = { data: new Int8Array(6), dims: [2, 3] };
  assertThrows(() => matMulInteger(a, { data: new Int8Array(8), dims: [4, 2] }), RangeError, "inner dims");
  assertThrows(
    () => matMulInteger(a, { data: new Int8Array(6), dims: [3, 2] }, { aZeroPoint: 128 }),
    RangeError,
  );
  assertThrows(
    () => matMulInteger(a, { data: new Uint8Array(6), dims: [3, 2] }, { bZeroPoint: -1 }),
    RangeError,
  );
  assertThrows(
    () => matMulInteger(a, { data: new Int8Array(6), dims: [3, 2] }, { bZeroPoint: [1, 2, 3] }),
    RangeError,
    "expected a scalar or 2 values",
  );
  assertThrows(
    () => matMulInteger({ data: new Int8Array(5), dims: [2, 3] }, a),
    RangeError,
    "need 6 elements",
  );
});

/** ConvInteger by its definition: shift, zero-pad a copy of X, then a six-deep loop. */
function slowConv(x: Int8Data, xd: number[], w: Int8Data, wd: number[], o: ConvIntegerOptions): Int32Array {
  const g = convGeometry(xd, wd, o);
  const zx = o.xZeroPoint ?? 0;
  const zwOpt = o.wZeroPoint ?? 0;
  const zw = (oc: number) => typeof zwOpt === "number" ? zwOpt : zwOpt.length === 1 ? zwOpt[0]! : zwOpt[oc]!;
  const cg = g.c / g.group, mg = g.m / g.group;
  const y = new Int32Array(g.n * g.m * g.oh * g.ow);
  for (let b = 0; b < g.n; b++) {
    for (let oc = 0; oc < g.m; oc++) {
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          let s = 0;
          for (let ic = 0; ic < cg; ic++) {
            const c = Math.floor(oc / mg) * cg + ic;
            for (let i = 0; i < g.kh; i++) {
              for (let j = 0; j < g.kw; j++) {
                const iy = oy * g.strideH - g.padT + i * g.dilH, ix = ox * g.strideW - g.padL + j * g.dilW;
                const xv = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w
                  ? x[((b * g.c + c) * g.h + iy) * g.w + ix]! - zx
                  : 0;
                s += xv * (w[((oc * cg + ic) * g.kh + i) * g.kw + j]! - zw(oc));
              }
            }
          }
          y[((b * g.m + oc) * g.oh + oy) * g.ow + ox] = s;
        }
      }
    }
  }
  return y;
}

/** Conv cases shared with kernels/conv_i8_test.ts in spirit: grouped, depthwise, strided, dilated, padded. */
const CONV_CASES: [number[], number[], ConvIntegerOptions][] = [
  [[1, 1, 5, 5], [1, 1, 3, 3], {}],
  [[2, 3, 7, 6], [4, 3, 3, 3], { pads: [1, 1, 1, 1], xZeroPoint: 5, wZeroPoint: 2 }],
  [[1, 4, 9, 9], [6, 2, 3, 2], { group: 2, pads: [2, 0, 1, 1], strides: [2, 1], dilations: [1, 2] }],
  [[1, 6, 8, 8], [6, 1, 3, 3], { group: 6, pads: [1, 1, 1, 1], wZeroPoint: [1, -2, 3, -4, 5, -6] }],
  [[1, 2, 5, 7], [4, 2, 2, 3], { autoPad: "SAME_LOWER", strides: [2, 2], xZeroPoint: -7 }],
  [[1, 3, 6, 6], [2, 3, 3, 3], { autoPad: "VALID" }],
];

Deno.test("convInteger equals the definition: grouped, depthwise, strides, dilations, pads, auto_pad", () => {
  let seed = 99;
  for (const [xd, wd, o] of CONV_CASES) {
    const x = randomBytes(xd.reduce((p, v) => p * v), seed++),
      w = randomBytes(wd.reduce((p, v) => p * v), seed++);
    assertEquals(convInteger({ data: x, dims: xd }, { data: w, dims: wd }, o), slowConv(x, xd, w, wd, o));
  }
});

Deno.test("convGeometry resolves auto_pad as ONNX does", () => {
  const same = convGeometry([1, 1, 5, 5], [1, 1, 4, 4], { autoPad: "SAME_UPPER" });
  assertEquals([same.oh, same.ow, same.padT, same.padL], [5, 5, 1, 1]);
  const lower = convGeometry([1, 1, 5, 5], [1, 1, 4, 4], { autoPad: "SAME_LOWER" });
  assertEquals([lower.padT, lower.padL], [2, 2]);
  assertThrows(() => convGeometry([1, 3, 5, 5], [2, 2, 3, 3], { group: 1 }), RangeError, "channels disagree");
  assertThrows(() => convGeometry([1, 1, 2, 2], [1, 1, 3, 3]), RangeError, "empty");
});

// onnxruntime is the independent oracle: one-node opset-13 models, exact int32 equality.
function oneNode(op: string, inputs: [string, number, number[]][], out: number[], attrs: object[] = []) {
  const vi = (name: string, t: number, dims: number[]) => ({
    name,
    type: { tensorType: { elemType: t, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: op,
      node: [{ opType: op, input: inputs.map((i) => i[0]), output: ["Y"], attribute: attrs }],
      input: inputs.map(([n, t, d]) => vi(n, t, d)),
      output: [vi("Y", 6, out)],
    },
  });
  return onnx.ModelProto.encode(model).finish() as Uint8Array;
}

Deno.test("matMulInteger and convInteger agree with onnxruntime", async () => {
  const [m, k, n] = [5, 37, 6];
  const a = randomBytes(m * k, 7, { unsigned: true }), b = randomBytes(k * n, 8);
  const zb = new Int8Array([1, -2, 3, -4, 5, -6]);
  const s1 = await ort.InferenceSession.create(
    oneNode("MatMulInteger", [["A", 2, [m, k]], ["B", 3, [k, n]], ["za", 2, []], ["zb", 3, [n]]], [m, n]),
  );
  const r1 = await s1.run({
    A: new ort.Tensor("uint8", a, [m, k]),
    B: new ort.Tensor("int8", b, [k, n]),
    za: new ort.Tensor("uint8", new Uint8Array([131]), []),
    zb: new ort.Tensor("int8", zb, [n]),
  });
  const want1 = matMulInteger({ data: a, dims: [m, k] }, { data: b, dims: [k, n] }, {
    aZeroPoint: 131,
    bZeroPoint: zb,
  });
  assertEquals(r1.Y!.data as Int32Array, want1);

  const xd = [1, 4, 7, 7], wd = [4, 2, 3, 3];
  const x = randomBytes(196, 9, { unsigned: true }), w = randomBytes(72, 10, { unsigned: true });
  const s2 = await ort.InferenceSession.create(
    oneNode("ConvInteger", [["X", 2, xd], ["W", 2, wd], ["zx", 2, []]], [1, 4, 4, 7], [
      { name: "group", type: 2, i: 2 },
      { name: "pads", type: 7, ints: [1, 1, 1, 1] },
      { name: "strides", type: 7, ints: [2, 1] },
    ]),
  );
  const r2 = await s2.run({
    X: new ort.Tensor("uint8", x, xd),
    W: new ort.Tensor("uint8", w, wd),
    zx: new ort.Tensor("uint8", new Uint8Array([77]), []),
  });
  const want2 = convInteger({ data: x, dims: xd }, { data: w, dims: wd }, {
    xZeroPoint: 77,
    group: 2,
    pads: [1, 1, 1, 1],
    strides: [2, 1],
  });
  assertEquals(r2.Y!.data as Int32Array, want2);
});
