import { assertEquals } from "@std/assert";
import { dyadic, requantize } from "../quant/dyadic.ts";
import { loadCases, noGpuNotice, randomInts, Rng, typed } from "./_test_util.ts";
import { requantizeGpu } from "./requantize.ts";

const noGpu = await noGpuNotice("requantize_test.ts");
const cases = await loadCases("Requantize");

Deno.test({
  name: "requantizeGpu reproduces every case of tests/ops/Requantize.json exactly",
  ignore: noGpu !== null,
  async fn() {
    assertEquals(cases.length >= 6, true);
    for (const c of cases) {
      const x = typed(c.inputs.X!) as Int8Array | Int16Array | Int32Array;
      const dims = c.inputs.X!.dims;
      const axis = Number(c.attributes.axis ?? 1);
      const a = axis < 0 ? axis + dims.length : axis;
      const inner = dims.slice(a + 1).reduce((p, d) => p * d, 1);
      const ob = Number(c.attributes.output_bits ?? 8) as 8 | 16 | 32;
      const y = await requantizeGpu(x, {
        multiplier: c.inputs.multiplier!.data as number[],
        shift: c.inputs.shift!.data as number[],
      }, { outputBits: ob, zeroPoint: Number(c.attributes.zero_point ?? 0), innerSize: inner });
      assertEquals(Array.from(y), c.outputs.Y!.data, c.name);
    }
  },
});

Deno.test({
  name: "requantizeGpu equals requantize on random int32 inputs, every shift 1..62, negative multipliers",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(7);
    const x = randomInts(rng, 4096, 32) as Int32Array;
    for (const shift of [1, 2, 15, 16, 17, 30, 31, 32, 33, 40, 47, 48, 61, 62]) {
      for (
        const multiplier of [
          2 ** 31 - 1,
          -(2 ** 31 - 1),
          1,
          -1,
          1073741824,
          rng.int(-(2 ** 31) + 1, 2 ** 31 - 1),
        ]
      ) {
        for (const outputBits of [8, 16, 32] as const) {
          const opts = { outputBits, zeroPoint: rng.int(-20, 20) };
          const p = { multiplier, shift };
          assertEquals(
            await requantizeGpu(x, p, opts),
            requantize(x, p, opts),
            `${multiplier} >> ${shift} ${outputBits}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name:
    "requantizeGpu per channel (innerSize > 1, per-channel shift with scalar multiplier) equals requantize",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(11);
    const x = randomInts(rng, 3 * 5 * 7, 16) as Int16Array;
    const mult = [0.3, 0.02, 1.7, 0.0001, 5].map((r) => dyadic(r));
    const p = { multiplier: mult.map((d) => d.multiplier), shift: mult.map((d) => d.shift) };
    assertEquals(await requantizeGpu(x, p, { innerSize: 7 }), requantize(x, p, { innerSize: 7 }));
    const q = { multiplier: 1234567, shift: [20, 21, 22, 23, 24] };
    assertEquals(
      await requantizeGpu(x, q, { innerSize: 7, outputBits: 16 }),
      requantize(x, q, { innerSize: 7, outputBits: 16 }),
    );
  },
});
