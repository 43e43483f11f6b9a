import { assertEquals } from "@std/assert";
import { shiftExpParams } from "../quant/shiftmax.ts";
import { shiftSigmoid } from "../quant/shiftsigmoid.ts";
import { loadCases, noGpuNotice, randomInts, Rng, typed } from "./_test_util.ts";
import { shiftSigmoidGpu } from "./shift_sigmoid.ts";

const noGpu = await noGpuNotice("shift_sigmoid_test.ts");
const cases = await loadCases("ShiftSigmoid");

Deno.test({
  name: "shiftSigmoidGpu reproduces every case of tests/ops/ShiftSigmoid.json exactly",
  ignore: noGpu !== null,
  async fn() {
    for (const c of cases) {
      const at = c.attributes as Record<string, number>;
      const y = await shiftSigmoidGpu(typed(c.inputs.X!) as Int32Array, {
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
  name: "shiftSigmoidGpu equals shiftSigmoid on random int8/int16/int32 inputs and pre-shifts",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(9);
    for (const bits of [8, 16, 32] as const) {
      const x = randomInts(rng, 3000, bits);
      for (const scale of [1 / 16, 0.001, 3]) {
        for (const outputBits of [8, 16] as const) {
          for (const expShift of [0, "auto", -5] as const) {
            const k = outputBits - 1;
            let prm;
            try {
              prm = shiftExpParams(scale, { expShift, maxE0: Math.floor((2 ** 31 - 1) / 2 ** k) });
            } catch {
              continue; // no valid n for this combination: nothing to compare
            }
            const params = { p: prm.p, n: prm.n, expShift: prm.expShift, outputBits };
            assertEquals(
              await shiftSigmoidGpu(x, params),
              shiftSigmoid(x, params),
              `int${bits} ${JSON.stringify(params)}`,
            );
          }
        }
      }
    }
  },
});
