import { assertEquals } from "@std/assert";
import { DataType, makeTensor } from "../../tensor.ts";
import { mulberry32 } from "../../../quant/_rng.ts";
import { transpose } from "./shape.ts";

Deno.test("transpose: float32 strided copy equals the offset-table path of other element types", () => {
  const r = mulberry32(11);
  for (let t = 0; t < 200; t++) {
    const rank = 1 + Math.floor(r() * 5);
    const dims = Array.from({ length: rank }, () => 1 + Math.floor(r() * 5));
    const perm = Array.from({ length: rank }, (_, i) => i);
    for (let i = rank - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const n = dims.reduce((a, b) => a * b, 1);
    const f = makeTensor(DataType.FLOAT, dims, Float32Array.from({ length: n }, (_, i) => i));
    const g = makeTensor(DataType.INT32, dims, Int32Array.from({ length: n }, (_, i) => i));
    const a = transpose(f, perm), b = transpose(g, perm);
    assertEquals([...a.dims], [...b.dims]);
    assertEquals(
      Array.from(a.data as Float32Array),
      Array.from(b.data as Int32Array),
      `${dims} perm ${perm}`,
    );
  }
});
