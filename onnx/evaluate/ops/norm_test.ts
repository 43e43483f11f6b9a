import { assert, assertEquals } from "@std/assert";
import { Attrs, floatAttr, intAttr } from "../../attributes.ts";
import { DataType, makeTensor } from "../../tensor.ts";
import { mulberry32 } from "../../../quant/_rng.ts";
import { normOps } from "./norm.ts";

/** LayerNormalization as documented: in-order double sums per row, ((x - mean) * inv) * s + b, rounded once. */
function reference(
  X: Float32Array,
  R: number,
  D: number,
  S: Float32Array,
  B: Float32Array | undefined,
  eps: number,
) {
  const O = new Float32Array(R * D), Mn = new Float32Array(R), Iv = new Float32Array(R);
  for (let r = 0; r < R; r++) {
    let sum = 0, sq = 0;
    for (let i = 0; i < D; i++) sum += X[r * D + i]!;
    const mean = sum / D;
    for (let i = 0; i < D; i++) sq += (X[r * D + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / D + eps);
    for (let i = 0; i < D; i++) {
      const y = (X[r * D + i]! - mean) * inv * S[i]!;
      O[r * D + i] = B ? y + B[i]! : y;
    }
    Mn[r] = mean, Iv[r] = inv;
  }
  return [O, Mn, Iv];
}

Deno.test("LayerNormalization (WebAssembly rows, odd row counts and widths, with and without bias) = reference", () => {
  const r = mulberry32(41);
  for (const [R, D] of [[1, 1], [1, 3], [7, 96], [26, 5], [3, 33], [70000, 2], [2, 40001]]) {
    for (const withBias of [true, false]) {
      const X = Float32Array.from({ length: R! * D! }, () => r() * 6 - 2);
      const S = Float32Array.from({ length: D! }, () => r() + 0.5),
        B = Float32Array.from({ length: D! }, () => r());
      const eps = Math.fround(1e-5);
      const attrs = new Attrs(
        new Map([["axis", intAttr("axis", -1)], ["epsilon", floatAttr("epsilon", 1e-5)]]),
        "ln",
      );
      const ins = [makeTensor(DataType.FLOAT, [R!, D!], X), makeTensor(DataType.FLOAT, [D!], S)];
      if (withBias) ins.push(makeTensor(DataType.FLOAT, [D!], B));
      const got = normOps.LayerNormalization!(ins, attrs, { opset: 17, numOutputs: 3 });
      const want = reference(X, R!, D!, S, withBias ? B : undefined, eps);
      for (let k = 0; k < 3; k++) {
        assertEquals(got[k]!.data, want[k], `R=${R} D=${D} bias=${withBias} output ${k}`);
      }
      assert(got[0]!.data.length === R! * D!);
    }
  }
});
