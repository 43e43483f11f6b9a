import { assert, assertEquals } from "@std/assert";
import { encodeModel } from "../../onnx/codec.ts";
import { loadModel } from "../../onnx/io.ts";
import { verify } from "../../onnx/verify.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { decodeImage, preprocessImage, preset } from "../../runtime/images.ts";
import { OrtRuntime } from "../../runtime/ort.ts";
import { floatTwin } from "./float_twin.ts";

const here = new URL(".", import.meta.url);

Deno.test("floatTwin: the model zoo's int8 MobileNetV2 becomes a float CNN that agrees with it", async () => {
  const path = new URL("models/mobilenetv2-12-int8.onnx", here).pathname;
  const model = await loadModel(path);
  const replaced = floatTwin(model);
  // structure: every integer op replaced, one Clip (the int8 output range) per QLinear op
  const ops = new Map<string, number>();
  for (const n of model.graph.nodes) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
  assertEquals(replaced, 52 + 11 + 1 + 1 + 3);
  assertEquals([...ops.keys()].filter((o) => o.startsWith("QLinear") || o.endsWith("Linear")), []);
  assertEquals(ops.get("Conv"), 52);
  assertEquals(ops.get("Clip"), 52 + 11 + 1 + 1);
  assertEquals(model.graph.outputs.map((v) => v.name), ["output"]);
  assert(model.graph.initializers.every((v) => v.const!.dtype !== DataType.INT8), "int8 weights left");
  assertEquals(verify(model).length, 0);

  // numbers: the twin (float activations) against the int8 model (uint8 activations) on two photos
  const twin = await OrtRuntime.create(encodeModel(model));
  const int8 = await OrtRuntime.create(await Deno.readFile(path));
  try {
    for (const [photo, label] of [["obj-chelsea.jpg", 285], ["obj-coffee.jpg", 967]] as const) {
      const s = preprocessImage(
        decodeImage(await Deno.readFile(new URL(`photos/${photo}`, here))),
        preset("imagenet"),
      );
      const feeds = { input: makeTensor(DataType.FLOAT, [1, ...s.dims], s.data) };
      const a = (await twin.run(feeds)).output!.data as Float32Array;
      const b = (await int8.run(feeds)).output!.data as Float32Array;
      const arg = (x: Float32Array) => x.reduce((bi, v, i) => (v > x[bi]! ? i : bi), 0);
      // ImageNet 285 Egyptian cat, 967 espresso
      assertEquals([arg(a), arg(b)], [label, label], photo);
      let d = 0, na = 0, nb = 0;
      a.forEach((v, i) => (d += v * b[i]!, na += v * v, nb += b[i]! ** 2));
      assert(d / Math.sqrt(na * nb) > 0.95, `${photo}: cosine ${d / Math.sqrt(na * nb)}`);
    }
  } finally {
    await twin.release();
    await int8.release();
  }
});
