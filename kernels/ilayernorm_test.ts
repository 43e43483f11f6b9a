import { assertEquals } from "@std/assert";
import { iLayerNorm, iLayerNormParams, minVarShift } from "../quant/ilayernorm.ts";
import { loadCases, noGpuNotice, randomInts, Rng, typed } from "./_test_util.ts";
import { iLayerNormGpu } from "./ilayernorm.ts";

const noGpu = await noGpuNotice("ilayernorm_test.ts");
const cases = await loadCases("ILayerNorm");

Deno.test({
  name: "iLayerNormGpu reproduces every case of tests/ops/ILayerNorm.json exactly",
  ignore: noGpu !== null,
  async fn() {
    for (const c of cases) {
      const at = c.attributes as Record<string, number>;
      const dims = c.inputs.X!.dims;
      const y = await iLayerNormGpu(typed(c.inputs.X!) as Int8Array | Int16Array, {
        rowLength: dims[dims.length - 1]!,
        gamma: typed(c.inputs.gamma!) as Int16Array,
        beta: typed(c.inputs.beta!) as Int32Array,
        multiplier: at.multiplier!,
        shift: at.shift!,
        varShift: at.var_shift ?? 0,
        outputBits: (at.output_bits ?? 8) === 16 ? 16 : 8,
      });
      assertEquals(Array.from(y), c.outputs.Y!.data, c.name);
    }
  },
});

Deno.test({
  name: "iLayerNormGpu equals iLayerNorm on random rows (int8/int16, odd lengths, constant and extreme rows)",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(17);
    for (const bits of [8, 16] as const) {
      for (const len of [1, 7, 64, 65, 384, 1000]) {
        const x = randomInts(rng, len * 4, bits) as Int8Array | Int16Array;
        x.fill(-(2 ** (bits - 1)), 0, len); // constant row at the minimum
        for (let j = 0; j < len; j++) x[len + j] = j % 2 ? 2 ** (bits - 1) - 1 : -(2 ** (bits - 1)); // extremes
        const gamma = Array.from({ length: len }, () => rng.float() * 4 - 2);
        const beta = Array.from({ length: len }, () => rng.float() - 0.5);
        for (const outputBits of [8, 16] as const) {
          const params = iLayerNormParams(gamma, beta, { outputScale: 1 / 64, inputBits: bits, outputBits });
          assertEquals(
            await iLayerNormGpu(x, params),
            iLayerNorm(x, params),
            `int${bits} len ${len} out ${outputBits}`,
          );
          const coarse = { ...params, varShift: Math.min(16, minVarShift(len, bits) + 3) };
          assertEquals(
            await iLayerNormGpu(x, coarse),
            iLayerNorm(x, coarse),
            `int${bits} len ${len} var_shift +3`,
          );
        }
      }
    }
  },
});
