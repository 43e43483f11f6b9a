import { assertEquals, assertThrows } from "@std/assert";
import { dequantizeLinear, fakeQuantize, quantizeLinear } from "./quantize.ts";

const f32 = (a: number[]) => new Float32Array(a);

Deno.test("quantizeLinear: ties round half to even, after the float32 division", () => {
  const x = f32([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997]);
  const q = quantizeLinear(x, [9], f32([1]), null, { out: new Int8Array(9) });
  assertEquals(q, new Int8Array([-4, -2, -2, 0, 0, 2, 2, 4, 0]));
  // The float32 quotient decides ties: 0.45f / 0.1f is 4.5000001 in float64 but exactly 4.5 in float32,
  // so ONNX gives 4 (even), not 5; 0.35f / 0.1f is 3.4999999 in float64, 3.5 in float32 -> 4.
  const s = f32([0.1]);
  const near = f32([0.45000001788139343, 0.3499999940395355]); // fround(4.5 * 0.1f), fround(3.5 * 0.1f)
  assertEquals(near[0]! / s[0]! > 4.5 && near[1]! / s[0]! < 3.5, true);
  assertEquals(quantizeLinear(near, [2], s, null), new Int8Array([4, 4]));
  // the zero point is added after rounding: round(2.5) + 1 = 3, not round(3.5) = 4
  assertEquals(
    quantizeLinear(f32([2.5]), [1], f32([1]), new Int32Array([1]), { out: new Uint8Array(1) }),
    new Uint8Array([3]),
  );
});

Deno.test("quantizeLinear: saturation at the N-bit range and the storage default", () => {
  const x = f32([-1000, -9, -8.5, 7.5, 8, 1000, Infinity, -Infinity, NaN]);
  assertEquals(
    quantizeLinear(x, [9], f32([1]), null, { qmin: -8, qmax: 7 }),
    new Int8Array([-8, -8, -8, 7, 7, 7, 7, -8, 0]),
  );
  const u = quantizeLinear(x, [9], f32([1]), new Int32Array([3]), { qmin: 0, qmax: 15 });
  assertEquals(u, new Int8Array([0, 0, 0, 11, 11, 15, 15, 0, 3])); // 7.5 -> 8 (even); NaN -> zero point
  assertEquals(quantizeLinear(x, [9], f32([1]), null, { qmin: 0, qmax: 255 }) instanceof Uint8Array, true);
  assertEquals(quantizeLinear(x, [9], f32([1]), null, { qmin: -32768, qmax: 32767 })[0], -1000);
  assertThrows(
    () => quantizeLinear(x, [9], f32([1]), null, { out: new Int8Array(9), qmax: 255 }),
    RangeError,
  );
  assertThrows(() => quantizeLinear(x, [9], f32([0]), null), RangeError);
  assertThrows(() => quantizeLinear(x, [3, 4], f32([1]), null), RangeError);
});

// x[a][b][c] = 100a + 10b + c on a [2, 3, 4] tensor
const dims = [2, 3, 4];
const x3 = new Float32Array(24).map((_, i) =>
  100 * Math.floor(i / 12) + 10 * Math.floor((i % 12) / 4) + (i % 4)
);

Deno.test("quantizeLinear: per-axis broadcasting along axis 0, 1 and -1 of a 3-d tensor", () => {
  const out = { out: new Int32Array(24), qmin: -1e6, qmax: 1e6 };
  const q0 = quantizeLinear(x3, dims, f32([1, 0.5]), new Int32Array([5, -5]), { ...out, axis: 0 });
  const q1 = quantizeLinear(x3, dims, f32([1, 2, 4]), new Int32Array([0, 1, 2]), {
    ...out,
    out: new Int32Array(24),
  });
  const q2 = quantizeLinear(x3, dims, f32([1, 1, 1, 0.5]), null, {
    ...out,
    out: new Int32Array(24),
    axis: -1,
  });
  for (let i = 0; i < 24; i++) {
    const [a, b, c] = [Math.floor(i / 12), Math.floor((i % 12) / 4), i % 4];
    const v = x3[i]!;
    assertEquals(q0[i], a === 0 ? v + 5 : 2 * v - 5, `axis 0 at ${i}`);
    const s1 = [1, 2, 4][b]!;
    const r1 = v / s1;
    // ties to even at x.5 (s = 2: odd v; s = 4: v = 4k + 2)
    const round1 = Math.abs(r1 % 1) === 0.5 ? 2 * Math.round(r1 / 2) : Math.round(r1);
    assertEquals(q1[i], round1 + b, `axis 1 at ${i}`);
    assertEquals(q2[i], c === 3 ? 2 * v : v, `axis -1 at ${i}`);
  }
  const y1 = dequantizeLinear(q1, dims, f32([1, 2, 4]), new Int32Array([0, 1, 2]));
  assertEquals(y1[5], 12); // v = 11, s = 2, z = 1: 5.5 -> 6 (even), q = 7, (7 - 1) * 2 = 12
});

Deno.test("quantizeLinear/dequantizeLinear: blocked scales (opset 21) along axis 1", () => {
  // dims [2, 3, 4], blockSize 2 along axis 1 -> scale shape [2, 2, 4]
  const scale = new Float32Array(16).map((_, i) => 2 ** (i % 3));
  const q = quantizeLinear(x3, dims, scale, null, {
    blockSize: 2,
    out: new Int32Array(24),
    qmin: -1e6,
    qmax: 1e6,
  });
  for (let i = 0; i < 24; i++) {
    const [a, b, c] = [Math.floor(i / 12), Math.floor((i % 12) / 4), i % 4];
    const s = scale[(a * 2 + Math.floor(b / 2)) * 4 + c]!;
    const r = x3[i]! / s;
    assertEquals(q[i], Math.abs(r % 1) === 0.5 ? 2 * Math.round(r / 2) : Math.round(r), `at ${i}`);
  }
  const y = dequantizeLinear(q, dims, scale, null, { blockSize: 2 });
  assertEquals(y[23], q[23]! * scale[15]!);
  assertThrows(
    () => quantizeLinear(x3, dims, new Float32Array(12).fill(1), null, { blockSize: 2 }),
    RangeError,
  );
});

Deno.test("dequantizeLinear: (q - z) * s per tensor and per axis, float32 product", () => {
  const q = new Int8Array([-128, -1, 0, 127]);
  assertEquals(dequantizeLinear(q, [4], f32([0.1]), new Int32Array([-1])), f32([-12.7, 0, 0.1, 12.8]));
  assertEquals(
    dequantizeLinear(q, [2, 2], f32([1, 0.5]), new Int32Array([0, 1]), { axis: 1 }),
    f32([-128, -1, 0, 63]),
  );
  assertThrows(() => dequantizeLinear(q, [4], f32([1, 1]), null), RangeError);
  assertThrows(() => dequantizeLinear(q, [4], f32([1]), new Int32Array(2)), RangeError);
});

Deno.test("fakeQuantize: per-tensor and per-channel round trip", () => {
  const x = f32([0.26, -0.74, 3, 0.1, 0.11, -5]);
  assertEquals(fakeQuantize(x, [6], f32([0.5]), null), f32([0.5, -0.5, 3, 0, 0, -5]));
  // per channel on axis 0 of [2, 3], 4-bit
  assertEquals(
    fakeQuantize(x, [2, 3], f32([0.5, 0.1]), new Int32Array([0, 2]), { axis: 0, qmin: -8, qmax: 7 }),
    f32([0.5, -0.5, 3, 0.1, 0.1, -1]), // -5 saturates at q = -8: (-8 - 2) * 0.1
  );
  const y = fakeQuantize(x, [6], f32([0.01]), null);
  for (let i = 0; i < 6; i++) {
    assertEquals(Math.abs(y[i]! - Math.max(-1.28, Math.min(1.27, x[i]!))) <= 0.005, true);
  }
});

Deno.test("quantizeLinear: equals the element-wise definition on random data, every broadcast kind", async () => {
  const { clamp, roundHalfEven } = await import("./round.ts");
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const d = [3, 5, 6];
  const n = 90;
  // ties (k + 0.5) * s, NaN, infinities and values far outside the range among random ones
  const x = new Float32Array(n).map((_, i) =>
    i % 7 === 0 ? (Math.floor(rnd() * 20) - 10 + 0.5) * 0.25 : (rnd() - 0.5) * 80
  );
  x[3] = NaN, x[10] = Infinity, x[17] = -Infinity, x[24] = 3e38;
  const cases: { axis: number; blockSize: number; params: number; param: (i: number) => number }[] = [
    { axis: 0, blockSize: 0, params: 1, param: () => 0 },
    { axis: 0, blockSize: 0, params: 3, param: (i) => Math.floor(i / 30) },
    { axis: 1, blockSize: 0, params: 5, param: (i) => Math.floor(i / 6) % 5 },
    { axis: 2, blockSize: 0, params: 6, param: (i) => i % 6 },
    { axis: 2, blockSize: 4, params: 30, param: (i) => Math.floor(i / 6) * 2 + Math.floor((i % 6) / 4) },
  ];
  for (const c of cases) {
    const scale = new Float32Array(c.params).map(() => 0.05 + rnd());
    for (const zp of [null, new Int32Array(c.params).map(() => Math.floor(rnd() * 7) - 3)]) {
      const q = quantizeLinear(x, d, scale, zp, {
        axis: c.axis,
        blockSize: c.blockSize,
        qmin: -100,
        qmax: 90,
        out: new Int8Array(n),
      });
      for (let i = 0; i < n; i++) {
        const p = c.param(i), z = zp ? zp[p]! : 0;
        const v = Math.fround(x[i]! / scale[p]!);
        const want = v !== v ? clamp(z, -100, 90) : clamp(roundHalfEven(v) + z, -100, 90);
        assertEquals(q[i], want, `axis ${c.axis} block ${c.blockSize} zp ${!!zp} at ${i}`);
      }
    }
  }
});
