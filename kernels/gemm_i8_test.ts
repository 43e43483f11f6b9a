import { assert, assertEquals, assertRejects } from "@std/assert";
import { type Int8Data, matMulInteger, type MatMulIntegerOptions } from "../quant/int_gemm.ts";
import { gemmI8, type GemmI8Variant, packI8, prepareGemmI8 } from "./gemm_i8.ts";
import { gpuUnavailableReason } from "./gpu.ts";

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU kernel tests in gemm_i8_test.ts: ${noGpu} !!!\n`);

function bytes(n: number, unsigned: boolean, seed: number): Int8Data {
  let s = seed >>> 0 || 1;
  const out = unsigned ? new Uint8Array(n) : new Int8Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = unsigned ? (s >>> 0) & 0xff : ((s >>> 0) & 0xff) - 128;
  }
  return out;
}

const VARIANTS: GemmI8Variant[] = ["naive", "tiled"];

async function check(
  a: { data: Int8Data; dims: number[] },
  b: { data: Int8Data; dims: number[] },
  opts: MatMulIntegerOptions,
  label: string,
) {
  const want = matMulInteger(a, b, opts);
  for (const variant of VARIANTS) {
    assertEquals(await gemmI8(a, b, { ...opts, variant }), want, `${label} ${variant}`);
  }
}

Deno.test({
  name: "gemmI8 equals matMulInteger on many shapes (K not a multiple of 4 or 16, M or N = 1, tile edges)",
  ignore: noGpu !== null,
  async fn() {
    const shapes = [
      [1, 1, 1],
      [1, 3, 1],
      [1, 17, 65],
      [65, 17, 1],
      [4, 16, 4],
      [5, 15, 7],
      [33, 31, 29],
      [64, 64, 64],
      [65, 33, 63],
      [70, 130, 66],
      [128, 20, 3],
      [97, 45, 261], // several tiled workgroups in both directions (32x128 tiles), partial at both edges
    ];
    let seed = 1;
    for (const [m, k, n] of shapes as [number, number, number][]) {
      const a = { data: bytes(m * k, false, seed++), dims: [m, k] };
      const b = { data: bytes(k * n, false, seed++), dims: [k, n] };
      await check(a, b, { aZeroPoint: 3, bZeroPoint: -7 }, `[${m},${k},${n}]`);
    }
  },
});

Deno.test({
  name: "gemmI8 handles int8/uint8 in every combination with scalar and per-row/per-column zero points",
  ignore: noGpu !== null,
  async fn() {
    const [m, k, n] = [37, 45, 70];
    let seed = 100;
    for (const ua of [false, true]) {
      for (const ub of [false, true]) {
        const a = { data: bytes(m * k, ua, seed++), dims: [m, k] };
        const b = { data: bytes(k * n, ub, seed++), dims: [k, n] };
        const za = Array.from({ length: m }, (_, i) => (ua ? 128 : 0) + (i % 9) - 4);
        const zb = Array.from({ length: n }, (_, j) => (ub ? 128 : 0) + (j % 11) - 5);
        const tag = `${ua ? "u8" : "i8"}x${ub ? "u8" : "i8"}`;
        await check(a, b, { aZeroPoint: za[1]!, bZeroPoint: zb[2]! }, `${tag} tensor`);
        await check(a, b, { aZeroPoint: za, bZeroPoint: zb }, `${tag} row/column`);
        await check(a, b, { aZeroPoint: za[0]!, bZeroPoint: zb }, `${tag} tensor/column`);
        await check(a, b, {}, `${tag} no zero points`);
      }
    }
  },
});

Deno.test({
  name: "gemmI8 is exact at the edge values -128/127 and 0/255 and wraps like int32",
  ignore: noGpu !== null,
  async fn() {
    for (const [v, zp] of [[-128, 127], [127, -128], [-128, -128]]) {
      const k = 35;
      const a = { data: new Int8Array(3 * k).fill(v!), dims: [3, k] };
      const b = { data: new Int8Array(k * 2).fill(v!), dims: [k, 2] };
      await check(a, b, { aZeroPoint: zp!, bZeroPoint: zp! }, `fill ${v} zp ${zp}`);
    }
    // 40000 * 255 * 255 overflows int32: both sides must wrap to the same value.
    const k = 40000;
    const a = { data: new Uint8Array(k).fill(255), dims: [1, k] };
    const b = { data: new Uint8Array(2 * k).fill(0), dims: [k, 2] };
    await check(a, b, { bZeroPoint: 255 }, "wrap");
    assertEquals((await gemmI8(a, b, { bZeroPoint: 255 }))[0], 1693967296);
  },
});

Deno.test({
  name: "prepareGemmI8 runs repeatedly with the same result and rejects bad input",
  ignore: noGpu !== null,
  async fn() {
    const a = { data: bytes(20 * 30, false, 5), dims: [20, 30] };
    const b = { data: bytes(30 * 10, true, 6), dims: [30, 10] };
    const want = matMulInteger(a, b, { bZeroPoint: 200 });
    using job = await prepareGemmI8(a, b, { bZeroPoint: 200 });
    await job.run(3);
    assertEquals(await job.read(), want);
    assert(job.uploadMs >= 0 && job.packMs >= 0);
    await assertRejects(() => prepareGemmI8(a, a), RangeError, "Cannot multiply");
    await assertRejects(() => gemmI8(a, b, { bZeroPoint: 256 }), RangeError, "outside the element range");
  },
});

Deno.test("packI8 pads K to 16 bytes, transposes columns and shifts uint8 by -128", () => {
  const p = packI8({ data: new Uint8Array([0, 255, 128, 1, 2, 3]), dims: [3, 2] }, { layout: "columns" });
  assertEquals([p.rows, p.k, p.kw, p.unsigned], [2, 3, 4, true]);
  // column 0 = [0, 128, 2] -> [-128, 0, -126]; column 1 = [255, 1, 3] -> [127, -127, -125]
  assertEquals([...new Int8Array(p.words.buffer, 0, 3)], [-128, 0, -126]);
  assertEquals([...new Int8Array(p.words.buffer, 16, 3)], [127, -127, -125]);
  assertEquals([...new Int8Array(p.words.buffer, 3, 13)], new Array(13).fill(0));
  assertEquals([...p.sums], [-254, -125]);
});
