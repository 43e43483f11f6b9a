import { assertEquals } from "@std/assert";
import { dyadic } from "../quant/dyadic.ts";
import { intAdd } from "../quant/int_add.ts";
import { loadCases, noGpuNotice, randomInts, Rng, typed } from "./_test_util.ts";
import { intAddGpu } from "./int_add.ts";

const noGpu = await noGpuNotice("int_add_test.ts");
const cases = await loadCases("IntAdd");

Deno.test({
  name: "intAddGpu reproduces every case of tests/ops/IntAdd.json exactly",
  ignore: noGpu !== null,
  async fn() {
    for (const c of cases) {
      const at = c.attributes as Record<string, number>;
      const y = await intAddGpu(
        [typed(c.inputs.A!) as Int16Array, typed(c.inputs.B!) as Int16Array],
        {
          a: { multiplier: at.a_multiplier!, shift: at.a_shift! },
          b: { multiplier: at.b_multiplier!, shift: at.b_shift! },
          outputBits: (at.output_bits ?? 16) === 8 ? 8 : 16,
        },
      );
      assertEquals(Array.from(y), c.outputs.Y!.data, c.name);
    }
  },
});

Deno.test({
  name: "intAddGpu equals intAdd on random int8/int16/int32 branches (guard, saturation, ties)",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(3);
    for (const [ba, bb] of [[8, 16], [16, 16], [32, 8], [32, 32]] as const) {
      const a = randomInts(rng, 2000, ba), b = randomInts(rng, 2000, bb);
      for (const [ra, rb] of [[1, 1], [0.5, 0.25], [3.7, 0.001], [1e-6, 200], [-0.7, 0.9]]) {
        for (const outputBits of [8, 16] as const) {
          const p = { a: dyadic(ra!), b: dyadic(rb!), outputBits };
          assertEquals(
            await intAddGpu([a, b], p),
            intAdd([a, b], p),
            `${ba}/${bb} ${ra}/${rb} ${outputBits}`,
          );
        }
      }
    }
  },
});
