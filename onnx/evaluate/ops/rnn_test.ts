import { assert } from "@std/assert";
import { intAttr, stringAttr } from "../../attributes.ts";
import { Model } from "../../ir.ts";
import { DataType, makeTensor, sizeOf, type Tensor } from "../../tensor.ts";
import { mulberry32 } from "../../../quant/_rng.ts";
import { runOrt } from "../../../tests/_ort_compare.ts";
import { evaluateModel } from "../evaluate.ts";

const rand = (dims: number[], seed: number) => {
  const r = mulberry32(seed);
  return makeTensor(DataType.FLOAT, dims, Float32Array.from({ length: sizeOf(dims) }, () => r() - 0.5));
};

/** One LSTM node: S=4 steps, N=3, I=5, H=6, all optional inputs given. */
function lstmModel(direction: string, layout: number, peepholes: boolean): Model {
  const m = new Model();
  m.opsets.set("", 14);
  const g = m.graph;
  const D = direction === "bidirectional" ? 2 : 1, H = 6;
  const x = g.value("x");
  x.type = { elemType: DataType.FLOAT, shape: layout ? [3, 4, 5] : [4, 3, 5] };
  g.inputs.push(x);
  const lens = g.addInitializer("lens", makeTensor(DataType.INT32, [3], Int32Array.of(4, 2, 3)));
  const ins = [
    x,
    g.addInitializer("W", rand([D, 4 * H, 5], 1)),
    g.addInitializer("R", rand([D, 4 * H, H], 2)),
    g.addInitializer("B", rand([D, 8 * H], 3)),
    lens,
    g.addInitializer("h0", rand(layout ? [3, D, H] : [D, 3, H], 4)),
    g.addInitializer("c0", rand(layout ? [3, D, H] : [D, 3, H], 5)),
    peepholes ? g.addInitializer("P", rand([D, 3 * H], 6)) : null,
  ];
  const n = g.addNode("LSTM", ins, ["y", "yh", "yc"], {
    attrs: [stringAttr("direction", direction), intAttr("hidden_size", H), intAttr("layout", layout)],
  });
  for (const o of n.outputs) {
    o.type = { elemType: DataType.FLOAT };
    g.outputs.push(o);
  }
  return m;
}

for (
  const [direction, layout, peep] of [["forward", 0, false], ["reverse", 0, true], [
    "bidirectional",
    0,
    true,
  ]] as const
) {
  Deno.test(`LSTM ${direction}, layout ${layout}, peepholes ${peep}, sequence_lens: like onnxruntime`, async () => {
    const m = lstmModel(direction, layout, peep);
    const feeds = { x: rand(layout ? [3, 4, 5] : [4, 3, 5], 9) };
    const want = await runOrt(m, feeds);
    const got = evaluateModel(m, feeds);
    for (const k of ["y", "yh", "yc"]) {
      const a = got[k]! as Tensor, b = want[k]!;
      assert(a.dims.join() === b.dims.join(), `${k}: ${a.dims} vs ${b.dims}`);
      for (let i = 0; i < a.data.length; i++) {
        assert(
          Math.abs(Number(a.data[i]) - Number(b.data[i])) < 1e-5,
          `${k}[${i}]: ${a.data[i]} vs ${b.data[i]}`,
        );
      }
    }
  });
}

Deno.test("LSTM layout 1 (onnxruntime refuses it) equals layout 0 with batch and sequence axes swapped", () => {
  const x0 = rand([4, 3, 5], 9);
  const x1 = makeTensor(DataType.FLOAT, [3, 4, 5]);
  for (let t = 0; t < 4; t++) {
    for (let n = 0; n < 3; n++) {
      for (let k = 0; k < 5; k++) {
        (x1.data as Float32Array)[(n * 4 + t) * 5 + k] = (x0.data as Float32Array)[(t * 3 + n) * 5 + k]!;
      }
    }
  }
  const m0 = lstmModel("bidirectional", 0, true), m1 = lstmModel("bidirectional", 1, true);
  // same initial states: m1's h0/c0 are [N, D, H]; give it m0's transposed
  for (const name of ["h0", "c0"]) {
    const a = m0.graph.local(name)!.const!.data as Float32Array,
      b = m1.graph.local(name)!.const!.data as Float32Array;
    for (let d = 0; d < 2; d++) {
      for (let n = 0; n < 3; n++) {
        for (let j = 0; j < 6; j++) b[(n * 2 + d) * 6 + j] = a[(d * 3 + n) * 6 + j]!;
      }
    }
  }
  const y0 = evaluateModel(m0, { x: x0 }), y1 = evaluateModel(m1, { x: x1 });
  const Y0 = y0.y!.data as Float32Array, Y1 = y1.y!.data as Float32Array; // [S, D, N, H] vs [N, S, D, H]
  for (let t = 0; t < 4; t++) {
    for (let d = 0; d < 2; d++) {
      for (let n = 0; n < 3; n++) {
        for (let j = 0; j < 6; j++) {
          assert(
            Y0[((t * 2 + d) * 3 + n) * 6 + j] === Y1[((n * 4 + t) * 2 + d) * 6 + j],
            `y[${t},${d},${n},${j}]`,
          );
        }
      }
    }
  }
  const H0 = y0.yh!.data as Float32Array, H1 = y1.yh!.data as Float32Array; // [D, N, H] vs [N, D, H]
  for (let d = 0; d < 2; d++) {
    for (let n = 0; n < 3; n++) {
      for (let j = 0; j < 6; j++) assert(H0[(d * 3 + n) * 6 + j] === H1[(n * 2 + d) * 6 + j]);
    }
  }
});
