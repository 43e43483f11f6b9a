/**
 * Runs every data-driven case in cases/*.json (one-node models whose expected outputs onnxruntime-node
 * computed, see cases/_gen.ts) through the CPU evaluator's kernels. Integer, bool and float16 outputs must
 * match exactly; float32 outputs within a relative tolerance of 1e-5, plus an absolute 1e-6 of the output's
 * largest magnitude for elements that cancel. Both sides accumulate dot products in float32, in different
 * orders: worst case 2 gamma(K) sum|a b| apart (gamma(K) = K 2^-24 / (1 - K 2^-24); K <= 192 in these cases),
 * in practice a few 2^-24 sqrt(K) relative, well inside the tolerance (which float32 accumulation left
 * unchanged).
 */
import { assert, assertEquals } from "@std/assert";
import { DataType, isFloatType } from "../tensor.ts";
import { getOp } from "./registry.ts";
import { attrsOf, dtypeOf, fromJson, type OpCase, toJson } from "./cases/_case.ts";

const RTOL = 1e-5, ATOL = 1e-6;
const dir = new URL("./cases/", import.meta.url);
const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json")).sort();

function check(c: OpCase): void {
  const inputs = c.inputs.map((t) => (t ? fromJson(t) : undefined));
  const outs = getOp(c.domain ?? "", c.op)(inputs, attrsOf(c), {
    opset: c.opset,
    numOutputs: c.outputs.length,
  });
  assert(outs.length >= c.outputs.length, `${c.name}: ${outs.length} outputs, expected ${c.outputs.length}`);
  c.outputs.forEach((e, k) => {
    const got = outs[k]!;
    const dtype = dtypeOf(e.dtype);
    assertEquals(got.dtype, dtype, `${c.name}: output ${k} element type`);
    assertEquals([...got.dims], e.dims, `${c.name}: output ${k} dims`);
    const data = toJson(got).data;
    assertEquals(data.length, e.data.length, `${c.name}: output ${k} length`);
    const atol = ATOL * Math.max(1, ...e.data.map((v) => Math.abs(Number(v))).filter(Number.isFinite));
    for (let i = 0; i < e.data.length; i++) {
      const want = Number(e.data[i]), have = Number(data[i]);
      if (!isFloatType(dtype) || dtype === DataType.FLOAT16) {
        if (have !== want) {
          throw new Error(`${c.name}: output ${k}[${i}] = ${have}, expected ${want} (exact)`);
        }
      } else if (Number.isNaN(want)) {
        assert(Number.isNaN(have), `${c.name}: output ${k}[${i}] = ${have}, expected NaN`);
      } else if (!(Math.abs(have - want) <= RTOL * Math.abs(want) + atol) && have !== want) {
        throw new Error(
          `${c.name}: output ${k}[${i}] = ${have}, expected ${want} (rtol ${RTOL}, atol ${atol})`,
        );
      }
    }
  });
}

for (const file of files) {
  const cases: OpCase[] = JSON.parse(Deno.readTextFileSync(new URL(file, dir)));
  Deno.test(`op cases: ${file} (${cases.length} cases against onnxruntime)`, async (t) => {
    assert(cases.length > 0, `${file} has no cases`);
    for (const c of cases) await t.step(c.name, () => check(c));
  });
}
