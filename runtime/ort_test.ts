import { assertEquals, assertLess, assertRejects, assertThrows } from "@std/assert";
import onnxProto from "npm:onnx-proto@8.0.1";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { fromOrtTensor, OrtRuntime, ortRuntimeFactory, toOrtTensor } from "./ort.ts";
import type { FloatRuntime } from "./runtime.ts";

// deno-lint-ignore no-explicit-any
const onnx = (onnxProto as any).onnx ?? onnxProto;

const TYPES = [
  DataType.FLOAT,
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.BOOL,
  DataType.FLOAT16,
  DataType.DOUBLE,
];

/** A model with one Identity per element type: x<i> -> y<i>, shape ["n", 2]. */
function identityModel(): Uint8Array {
  const vi = (name: string, t: DataType) => ({
    name,
    type: { tensorType: { elemType: t, shape: { dim: [{ dimParam: "n" }, { dimValue: 2 }] } } },
  });
  const graph = {
    name: "identities",
    node: TYPES.map((_, i) => ({ opType: "Identity", input: [`x${i}`], output: [`y${i}`] })),
    input: TYPES.map((t, i) => vi(`x${i}`, t)),
    output: TYPES.map((t, i) => vi(`y${i}`, t)),
  };
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 17 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

function sample(dtype: DataType): Tensor {
  const values: Record<number, Tensor["data"]> = {
    [DataType.FLOAT]: new Float32Array([1.5, -2, 0.25, 3]),
    [DataType.INT8]: new Int8Array([-128, 127, 0, -1]),
    [DataType.UINT8]: new Uint8Array([0, 255, 7, 8]),
    [DataType.INT16]: new Int16Array([-32768, 32767, 1, 2]),
    [DataType.INT32]: new Int32Array([-2147483648, 2147483647, 3, 4]),
    [DataType.INT64]: new BigInt64Array([-(2n ** 63n), 2n ** 62n, 5n, 6n]),
    [DataType.BOOL]: new Uint8Array([1, 0, 0, 1]),
    [DataType.FLOAT16]: new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001]), // 1, -2, +inf, smallest subnormal
    [DataType.DOUBLE]: new Float64Array([Math.PI, -1e300, 0, 1]),
  };
  return makeTensor(dtype, [2, 2], values[dtype]);
}

Deno.test("OrtRuntime passes every supported element type through unchanged", async () => {
  const rt = await OrtRuntime.create(identityModel(), { intraOpNumThreads: 1 });
  try {
    assertEquals(rt.inputNames, TYPES.map((_, i) => `x${i}`));
    assertEquals(rt.outputNames, TYPES.map((_, i) => `y${i}`));
    assertEquals(rt.inputMetadata.map((m) => m.dtype), TYPES);
    assertEquals(rt.inputMetadata[0]!.dims, ["n", 2]);
    const feeds: Record<string, Tensor> = {};
    TYPES.forEach((t, i) => feeds[`x${i}`] = sample(t));
    const out = await rt.run(feeds);
    TYPES.forEach((t, i) => {
      const y = out[`y${i}`]!;
      assertEquals(y.dtype, t);
      assertEquals(y.dims, [2, 2]);
      assertEquals(
        Array.from(y.data as ArrayLike<unknown>),
        Array.from(sample(t).data as ArrayLike<unknown>),
      );
    });
    const some = await rt.run(feeds, { outputs: ["y5"] });
    assertEquals(Object.keys(some), ["y5"]);
    await assertRejects(() => rt.run({ x0: sample(DataType.FLOAT) }), TypeError, "missing [x1, x2");
    await assertRejects(() => rt.run({ ...feeds, z: sample(DataType.FLOAT) }), TypeError, "unknown [z]");
  } finally {
    await rt.release();
  }
  await assertRejects(() => rt.run({}), TypeError, "released");
  await rt.release(); // idempotent
});

Deno.test("toOrtTensor / fromOrtTensor keep float16 raw bits and reject unsupported types", () => {
  const h = sample(DataType.FLOAT16);
  const back = fromOrtTensor(toOrtTensor(h));
  assertEquals(back.dtype, DataType.FLOAT16);
  assertEquals(back.data instanceof Uint16Array, true);
  assertEquals(Array.from(back.data as Uint16Array), [0x3c00, 0xc000, 0x7c00, 0x0001]);
  assertThrows(() => toOrtTensor(makeTensor(DataType.BFLOAT16, [1])), TypeError, "BFLOAT16");
});

Deno.test("OrtRuntime reports real model metadata and writes the optimized model", async () => {
  const path = await Deno.makeTempFile({ suffix: ".onnx" });
  try {
    const bytes = Deno.readFileSync(new URL("../testdata/segmenter-tiny.onnx", import.meta.url));
    const make = ortRuntimeFactory({ intraOpNumThreads: 2, optimizedModelFilePath: path });
    const rt: FloatRuntime = await make(bytes);
    assertEquals(rt.inputNames, ["pixel_values"]);
    assertEquals(rt.outputNames, ["logits"]);
    assertEquals((rt as OrtRuntime).inputMetadata[0], {
      name: "pixel_values",
      dtype: DataType.FLOAT,
      dims: ["batch", 3, 64, 64],
    });
    const out = await rt.run({ pixel_values: makeTensor(DataType.FLOAT, [2, 3, 64, 64]) });
    assertEquals(out.logits!.dims, [2, 4, 64, 64]);
    assertEquals(out.logits!.dtype, DataType.FLOAT);
    await rt.release();
    assertEquals(Deno.statSync(path).size > 100_000, true);
  } finally {
    await Deno.remove(path);
  }
  await assertRejects(
    () => OrtRuntime.create(new Uint8Array([1, 2, 3])),
    SyntaxError,
    "onnxruntime cannot load",
  );
});

Deno.test("OrtRuntime without spinning computes bit for bit what the default session computes; without pre-packing, within rounding", async () => {
  const bytes = Deno.readFileSync(new URL("../testdata/segmenter-tiny.onnx", import.meta.url));
  let seed = 5;
  const x = new Float32Array(2 * 3 * 64 * 64).map(() =>
    (seed = (seed * 69069 + 1) % 4294967296) / 4294967296
  );
  const feeds = { pixel_values: makeTensor(DataType.FLOAT, [2, 3, 64, 64], x) };
  const logits = async (options: Parameters<typeof OrtRuntime.create>[1]) => {
    const rt = await OrtRuntime.create(bytes, options);
    try {
      return (await rt.run(feeds)).logits!.data as Float32Array;
    } finally {
      await rt.release();
    }
  };
  // same threads, hence the same partitioning of the work: bit for bit the same results
  assertEquals(
    await logits({ intraOpNumThreads: 2, allowSpinning: false }),
    await logits({ intraOpNumThreads: 2 }),
  );
  // without pre-packed weights MLAS takes other GEMM paths: the same model, rounded differently (so only the
  // load checks, which never run the session, go without it)
  const plain = await logits({ intraOpNumThreads: 1, graphOptimizationLevel: "disabled", prepacking: false });
  const packed = await logits({ intraOpNumThreads: 1, graphOptimizationLevel: "disabled" });
  let worst = 0;
  for (let i = 0; i < plain.length; i++) worst = Math.max(worst, Math.abs(plain[i]! - packed[i]!));
  assertLess(worst, 1e-4);
});
