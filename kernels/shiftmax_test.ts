import { assertEquals } from "@std/assert";
import { shiftExpParams, shiftmax } from "../quant/shiftmax.ts";
import { loadCases, noGpuNotice, randomInts, Rng, typed } from "./_test_util.ts";
import { shiftmaxGpu } from "./shiftmax.ts";

const noGpu = await noGpuNotice("shiftmax_test.ts");
const cases = await loadCases("Shiftmax");

Deno.test({
  name: "shiftmaxGpu reproduces every case of tests/ops/Shiftmax.json exactly",
  ignore: noGpu !== null,
  async fn() {
    for (const c of cases) {
      const at = c.attributes as Record<string, number>;
      const dims = c.inputs.X!.dims;
      const y = await shiftmaxGpu(typed(c.inputs.X!) as Int32Array, {
        rowLength: dims[dims.length - 1] ?? 1,
        p: at.p!,
        n: at.n!,
        expShift: at.exp_shift ?? 0,
        outputBits: (at.output_bits ?? 8) === 16 ? 16 : 8,
      });
      assertEquals(Array.from(y), c.outputs.Y!.data, c.name);
    }
  },
});

Deno.test({
  name: "shiftmaxGpu equals shiftmax on random rows (lengths 1..300, constant and masked rows, pre-shifts)",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(5);
    for (const bits of [8, 16, 32] as const) {
      for (const len of [1, 3, 63, 64, 65, 197, 300]) {
        const x = randomInts(rng, len * 5, bits);
        x.fill(bits === 8 ? 7 : 100, 0, len); // a constant row
        x.fill(-(2 ** (bits - 1)), len, len + Math.ceil(len / 2)); // a half-masked row
        for (const scale of [0.5, 0.05, 1 / 64]) {
          for (const expShift of [0, "auto"] as const) {
            const { p, n, expShift: s } = shiftExpParams(scale, {
              expShift,
              maxE0: Math.floor(2 ** 31 / len),
            });
            for (const outputBits of [8, 16] as const) {
              const params = { rowLength: len, p, n, expShift: s, outputBits };
              assertEquals(
                await shiftmaxGpu(x, params),
                shiftmax(x, params),
                `int${bits} len ${len} p ${p} n ${n} s ${s}`,
              );
            }
          }
        }
      }
    }
  },
});
