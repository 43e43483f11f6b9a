import { assertEquals } from "@std/assert";
import { lambdaShiftGelu, shiftGelu, shiftGeluParams } from "../quant/shiftgelu.ts";
import { loadCases, noGpuNotice, randomInts, Rng, typed } from "./_test_util.ts";
import { shiftGeluGpu } from "./shift_gelu.ts";

const noGpu = await noGpuNotice("shift_gelu_test.ts");

for (const op of ["ShiftGelu", "LambdaShiftGelu"]) {
  const cases = await loadCases(op);
  Deno.test({
    name: `shiftGeluGpu reproduces every case of tests/ops/${op}.json exactly`,
    ignore: noGpu !== null,
    async fn() {
      for (const c of cases) {
        const at = c.attributes as Record<string, number>;
        const params = op === "ShiftGelu"
          ? { p: at.p!, n: at.n! }
          : { p: at.p!, n: at.n!, lambda: at.lambda! };
        const y = await shiftGeluGpu(typed(c.inputs.X!) as Int8Array | Int16Array, params);
        assertEquals(Array.from(y), c.outputs.Y!.data, `${op} ${c.name}`);
      }
    },
  });
}

Deno.test({
  name: "shiftGeluGpu equals shiftGelu / lambdaShiftGelu on random int8/int16 inputs",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(13);
    for (const bits of [8, 16] as const) {
      const x = randomInts(rng, 4000, bits) as Int8Array | Int16Array;
      for (const scale of [1 / 32, 0.25, 1 / 3000, 2]) {
        for (const lambda of [0, "auto", -3, 4] as const) {
          let prm;
          try {
            prm = shiftGeluParams(scale, { lambda });
          } catch {
            continue;
          }
          const plain = { p: prm.p, n: prm.n };
          if (prm.lambda === 0) {
            assertEquals(await shiftGeluGpu(x, plain), shiftGelu(x, plain), `plain ${scale}`);
          }
          assertEquals(await shiftGeluGpu(x, prm), lambdaShiftGelu(x, prm), `lambda ${JSON.stringify(prm)}`);
        }
      }
    }
  },
});
