import { assertEquals } from "@std/assert";
import { Attrs, intAttr, intsAttr } from "../../attributes.ts";
import { DataType, makeTensor } from "../../tensor.ts";
import { mulberry32 } from "../../../quant/_rng.ts";
import { reduceOps } from "./reduce.ts";

Deno.test("reductions over trailing float32 axes (fast path) equal the generic loop's double sums", () => {
  const r = mulberry32(31);
  for (const op of ["ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSum"]) {
    for (
      const [dims, axes] of [[[2, 5, 7], [2]], [[3, 4, 6], [1, 2]], [[4, 9], [-1]], [[2, 3, 4], [2, 1]]] as [
        number[],
        number[],
      ][]
    ) {
      const n = dims.reduce((a, b) => a * b, 1);
      const v = Array.from({ length: n }, () => (op === "ReduceLogSum" ? r() + 0.1 : r() * 4 - 2));
      const attrs = new Attrs(
        new Map([["axes", intsAttr("axes", axes)], ["keepdims", intAttr("keepdims", 1)]]),
        op,
      );
      const ctx = { opset: 13, numOutputs: 1 };
      const f = reduceOps[op]!([makeTensor(DataType.FLOAT, dims, Float32Array.from(v))], attrs, ctx)[0]!;
      // float64 input takes the generic loop on the same (float32-representable) values
      const d = reduceOps[op]!(
        [makeTensor(DataType.DOUBLE, dims, Float64Array.from(Float32Array.from(v)))],
        attrs,
        ctx,
      )[0]!;
      assertEquals([...f.dims], [...d.dims]);
      assertEquals(f.data, Float32Array.from(d.data as Float64Array), `${op} ${dims} axes ${axes}`);
    }
  }
});
