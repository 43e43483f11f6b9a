import { assert, assertEquals } from "@std/assert";
import {
  decodeShiftWeight,
  shiftMatMul,
  shiftMatMulInteger,
  type ShiftWeight,
} from "../quant/dense_shift.ts";
import { packBits } from "../quant/bitpack.ts";
import { loadCases, noGpuNotice, Rng, typed } from "./_test_util.ts";
import { shiftMatMulGpu, shiftMatMulIntegerGpu, shiftMatMulTolerance } from "./shift_gemm.ts";

const noGpu = await noGpuNotice("shift_gemm_test.ts");
const cases = await loadCases("ShiftMatMul");

function weightOf(c: (typeof cases)[number]): ShiftWeight {
  const [k, n] = c.attributes.weight_shape as number[];
  return {
    packed: typed(c.inputs.codes!) as Uint8Array,
    alpha: typed(c.inputs.alpha!) as Float32Array,
    bits: Number(c.attributes.bits),
    shape: [k!, n!],
    axis: 1,
  };
}

Deno.test({
  name: "shiftMatMulGpu / shiftMatMulIntegerGpu reproduce every case of tests/ops/ShiftMatMul.json exactly",
  ignore: noGpu !== null,
  async fn() {
    for (const c of cases) {
      const w = weightOf(c);
      const x = { data: typed(c.inputs.X!) as Float32Array, shape: c.inputs.X!.dims };
      const bias = c.inputs.bias ? typed(c.inputs.bias) as Float32Array : undefined;
      const y = await shiftMatMulGpu(x, w, bias ? { bias } : {});
      assertEquals(y.shape, c.outputs.Y!.dims, c.name);
      assertEquals(y.data, typed(c.outputs.Y!) as Float32Array, c.name);
      const integer = c.integer as { x_scale: number; x_q: number[]; acc: number[]; y: number[] };
      const xq = { data: Int8Array.from(integer.x_q), shape: c.inputs.X!.dims };
      const r = await shiftMatMulIntegerGpu(xq, w, { xScale: integer.x_scale });
      assertEquals(Array.from(r.acc), integer.acc, `${c.name} acc`);
      assertEquals(Array.from(r.y), integer.y, `${c.name} y`);
    }
  },
});

Deno.test({
  name:
    "shift GEMM on random weights: integer path exact vs shiftMatMulInteger, float path within f32 summation error",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(41);
    for (
      const [m, k, n, bits] of [[1, 1, 1, 3], [3, 17, 70, 3], [5, 64, 33, 4], [2, 100, 65, 5], [4, 9, 3, 6]]
    ) {
      const codes = Uint8Array.from({ length: k! * n! }, () => rng.int(0, 2 ** bits! - 1));
      const w: ShiftWeight = {
        packed: packBits(codes, bits!),
        alpha: Float32Array.from({ length: n! }, () => rng.float() * 0.1),
        bits: bits!,
        shape: [k!, n!],
        axis: 1,
      };
      const xq = {
        data: Int8Array.from({ length: m! * k! }, (_, i) => i < 3 ? [-128, 127, 0][i]! : rng.int(-128, 127)),
        shape: [m!, k!],
      };
      if (bits! <= 5 || k! * 2 ** 38 < 2 ** 31) {
        const want = shiftMatMulInteger(xq, w, { xScale: 0.03 });
        const got = await shiftMatMulIntegerGpu(xq, w, { xScale: 0.03 });
        assertEquals(got.acc, want.acc, `${m}x${k}x${n} ${bits} bits acc`);
        assertEquals(got.y, want.y, `${m}x${k}x${n} ${bits} bits y`);
      }
      const x = {
        data: Float32Array.from({ length: m! * k! }, () => (rng.float() - 0.5) * 4),
        shape: [m!, k!],
      };
      const bias = Float32Array.from({ length: n! }, () => rng.float());
      const want = shiftMatMul(x, w, { bias }).data;
      const got = (await shiftMatMulGpu(x, w, { bias })).data;
      const tol = shiftMatMulTolerance(x.data, decodeShiftWeight(w), k!);
      for (let i = 0; i < want.length; i++) {
        const t = tol[i]! + 2 ** -23 * Math.abs(want[i]!);
        assert(Math.abs(got[i]! - want[i]!) <= t, `${m}x${k}x${n} [${i}] ${got[i]} vs ${want[i]} (tol ${t})`);
      }
    }
  },
});
