import { assertEquals } from "@std/assert";
import { type CaseAttributes, type CaseTensors, runIntegerCase } from "./_integer_cases.ts";

const OPS = [
  "Requantize",
  "Shiftmax",
  "ShiftGelu",
  "LambdaShiftGelu",
  "ShiftSigmoid",
  "ILayerNorm",
  "IntAdd",
];

interface CaseFile {
  op: string;
  domain: string;
  version: number;
  cases: { name: string; attributes: CaseAttributes; inputs: CaseTensors; outputs: CaseTensors }[];
}

for (const op of OPS) {
  Deno.test(`tests/ops/${op}.json: the quant/ reference reproduces every case exactly`, async () => {
    const file = JSON.parse(
      await Deno.readTextFile(new URL(`../tests/ops/${op}.json`, import.meta.url)),
    ) as CaseFile;
    assertEquals([file.op, file.domain, file.version], [op, "shiftkit", 1]);
    assertEquals(file.cases.length >= 2, true);
    for (const c of file.cases) {
      for (const [name, tns] of Object.entries({ ...c.inputs, ...c.outputs })) {
        assertEquals(tns.data.length, tns.dims.reduce((a, d) => a * d, 1), `${c.name}: ${name} size`);
      }
      assertEquals(runIntegerCase(op, c.attributes, c.inputs), c.outputs, `${op} case ${c.name}`);
    }
  });
}
