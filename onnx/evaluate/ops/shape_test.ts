import { assertEquals } from "@std/assert";
import { DataType, makeTensor } from "../../tensor.ts";
import { mulberry32 } from "../../../quant/_rng.ts";
import { transpose } from "./shape.ts";
import { Attrs } from "../../attributes.ts";
import { getOp } from "../registry.ts";
import "../shiftkit.ts";

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

Deno.test("Slice (steps of either sign) and Expand: float32 strided copy equals the offset-table path", () => {
  const r = mulberry32(12);
  const slice = getOp("", "Slice"), expand = getOp("", "Expand");
  const i64 = (v: number[]) => makeTensor(DataType.INT64, [v.length], BigInt64Array.from(v.map(BigInt)));
  for (let t = 0; t < 200; t++) {
    const rank = 1 + Math.floor(r() * 4);
    const dims = Array.from({ length: rank }, () => 1 + Math.floor(r() * 6));
    const n = dims.reduce((a, b) => a * b, 1);
    const f = makeTensor(DataType.FLOAT, dims, Float32Array.from({ length: n }, (_, i) => i));
    const g = makeTensor(DataType.INT32, dims, Int32Array.from({ length: n }, (_, i) => i));
    const starts = dims.map((d) => Math.floor(r() * (d + 2)) - 1),
      ends = dims.map((d) => Math.floor(r() * (d + 3)) - 2);
    const steps = dims.map(() => (r() < 0.5 ? 1 : -1) * (1 + Math.floor(r() * 2)));
    const ins = [i64(starts), i64(ends), i64(dims.map((_, i) => i)), i64(steps)];
    const ctx = { opset: 13, numOutputs: 1 }, attrs = new Attrs(new Map(), "s");
    const a = slice([f, ...ins], attrs, ctx)[0]!, b = slice([g, ...ins], attrs, ctx)[0]!;
    assertEquals([...a.dims], [...b.dims]);
    assertEquals(
      Array.from(a.data as Float32Array),
      Array.from(b.data as Int32Array),
      `slice ${dims} ${starts} ${ends} ${steps}`,
    );
    // Expand: size-1 axes broadcast, one leading axis added
    const small = dims.map((d) => (r() < 0.5 ? 1 : d));
    const m = small.reduce((x, y) => x * y, 1);
    const fs = makeTensor(DataType.FLOAT, small, Float32Array.from({ length: m }, (_, i) => i));
    const gs = makeTensor(DataType.INT32, small, Int32Array.from({ length: m }, (_, i) => i));
    const shape = i64([2, ...dims]);
    const c = expand([fs, shape], attrs, ctx)[0]!, e = expand([gs, shape], attrs, ctx)[0]!;
    assertEquals(
      Array.from(c.data as Float32Array),
      Array.from(e.data as Int32Array),
      `expand ${small} -> ${dims}`,
    );
  }
});
