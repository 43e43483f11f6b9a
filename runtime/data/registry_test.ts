import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Buffer } from "node:buffer";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import {
  DATA_KINDS,
  type ImageSource,
  openDataSource,
  tensorSource,
  type TextSource,
  textSource,
} from "./mod.ts";
import type { OcrLinesSource, SegmentationSource, TextPagesSource } from "./mod.ts";
import { encodeNpy } from "../npy.ts";

const testdata = (name: string) => new URL(`../../testdata/${name}`, import.meta.url).pathname;

async function collect(it: AsyncIterable<Record<string, Tensor>>): Promise<Record<string, Tensor>[]> {
  const out = [];
  for await (const b of it) out.push(b);
  return out;
}

Deno.test("openDataSource: .npz is taken as is, stacked on axis 0", async () => {
  const src = await openDataSource(testdata("speech-mel-eval.npz"));
  assertEquals([src.kind, src.count, src.inputNames], ["tensors", 217, ["input_1"]]);
  const batches = await collect(src.batches(100));
  assertEquals(batches.map((b) => b.input_1!.dims), [[100, 76, 32, 1], [100, 76, 32, 1], [17, 76, 32, 1]]);
  const few = await openDataSource(testdata("speech-mel-calib.npz"), { maxSamples: 5 });
  assertEquals(few.count, 5);
  assertEquals((await collect(few.batches(8)))[0]!.input_1!.dims, [5, 76, 32, 1]);
});

Deno.test("openDataSource: .npy needs the model's input name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/x.npy`;
    Deno.writeFileSync(
      path,
      encodeNpy(makeTensor(DataType.FLOAT, [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]))),
    );
    await assertRejects(() => openDataSource(path), TypeError, "input name");
    const src = await openDataSource(path, { inputName: "input_1" });
    const [b] = await collect(src.batches(4));
    assertEquals(Array.from(b!.input_1!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDataSource: a text file becomes 128-byte int64 windows", async () => {
  const src = (await openDataSource(testdata("lm-eval.txt"))) as TextSource;
  assertEquals([src.kind, src.count, src.context, src.inputNames], ["text", 512, 128, ["input_ids"]]);
  const bytes = Deno.readFileSync(testdata("lm-eval.txt"));
  assertEquals(src.window(3), bytes.subarray(384, 512));
  const few = (await openDataSource(testdata("lm-calib.txt"), { maxSamples: 3, context: 64 })) as TextSource;
  const [b] = await collect(few.batches(16));
  assertEquals([few.count, b!.input_ids!.dtype, b!.input_ids!.dims], [3, DataType.INT64, [3, 64]]);
  const calib = Deno.readFileSync(testdata("lm-calib.txt"));
  assertEquals((b!.input_ids!.data as BigInt64Array)[64 * 2 + 5], BigInt(calib[64 * 2 + 5]!));
  assertThrows(() => few.window(3), RangeError, "out of range 0..2");
});

Deno.test("textSource drops a final partial window and checks its options", async () => {
  const src = textSource(new Uint8Array(10), { context: 4, inputName: "tokens" });
  assertEquals([src.count, src.inputNames], [2, ["tokens"]]);
  assertThrows(() => textSource(new Uint8Array(10), { context: 1 }), RangeError, ">= 2");
  await assertRejects(() => collect(src.batches(0)), RangeError, "positive integer");
});

Deno.test("tensorSource rejects tensors that disagree on the sample count", () => {
  const a = makeTensor(DataType.FLOAT, [2, 1]);
  const b = makeTensor(DataType.INT64, [3]);
  assertThrows(
    () => tensorSource(new Map([["a", a], ["b", b]])),
    RangeError,
    `input "b": expected 2 samples on axis 0 (as "a" [2, 1]), given 3 samples [3]`,
  );
  assertThrows(() => tensorSource(new Map([["s", makeTensor(DataType.FLOAT, [])]])), RangeError, "scalar");
});

Deno.test("openDataSource: eval-set prefixes pick their kind from the JSON", async () => {
  const ocr = (await openDataSource(testdata("ocr-lines-sans"))) as OcrLinesSource;
  assertEquals([ocr.kind, ocr.count, ocr.texts[1]], ["ocr-lines", 66, "Tips 99740"]);
  const seg = (await openDataSource(testdata("segmenter-tiny-eval.json"))) as SegmentationSource;
  assertEquals([seg.kind, seg.count, seg.masks!.length], ["segmentation", 256, 256]);
  const cal = (await openDataSource(testdata("segmenter-tiny-calib"))) as SegmentationSource;
  assertEquals([cal.count, cal.masks], [32, null]);
  const pages = (await openDataSource(testdata("text-pages-calib"))) as TextPagesSource;
  assertEquals([pages.kind, pages.count, pages.inputNames], ["text-pages", 8, ["x"]]);
  const cls = await openDataSource(testdata("ocr-calib-sans"), { preset: "ppocr-cls", augment180: true });
  assertEquals(cls.count, 70);
  await assertRejects(() => openDataSource(testdata("no-such-set")), Deno.errors.NotFound, "No data at");
});

Deno.test("openDataSource: a folder of PNG and JPEG images, in name order, with a preset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const png = new PNG({ width: 40, height: 20 });
    png.data.fill(255);
    for (let i = 0; i < 40 * 20; i++) png.data[i * 4] = 10; // R = 10, opaque
    Deno.writeFileSync(`${dir}/b.png`, new Uint8Array(PNG.sync.write(png)));
    const rgba = Buffer.alloc(30 * 30 * 4, 200);
    Deno.writeFileSync(
      `${dir}/a.jpg`,
      new Uint8Array(jpeg.encode({ width: 30, height: 30, data: rgba }, 90).data),
    );
    Deno.writeFileSync(`${dir}/notes.txt`, new TextEncoder().encode("not an image"));
    await assertRejects(() => openDataSource(dir), TypeError, "preset");
    const src = (await openDataSource(dir, { preset: "raw255" })) as ImageSource;
    assertEquals([src.kind, src.count, src.names, src.inputNames], ["images", 2, ["a.jpg", "b.png"], [
      "input",
    ]]);
    const batches = await collect(src.batches(2)); // different sizes: one image per batch
    assertEquals(batches.map((b) => b.input!.dims), [[1, 3, 30, 30], [1, 3, 20, 40]]);
    assertEquals((batches[1]!.input!.data as Float32Array)[0], 10);
    const fixed = await openDataSource(dir, { preset: "ppocr-det", maxSamples: 1 });
    assertEquals([fixed.count, fixed.inputNames], [1, ["x"]]);
    assertEquals((await collect(fixed.batches(4)))[0]!.x!.dims, [1, 3, 32, 32]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry: one file per kind; kinds import only the contract (source.ts, tensors.ts), never each other", async () => {
  const dir = new URL("./", import.meta.url);
  const kinds = DATA_KINDS.map((k) => k.name);
  assertEquals(kinds, ["npz", "npy", "eval-set", "npz-folder", "image-folder", "text"]);
  for await (const e of Deno.readDir(dir)) {
    if (
      !e.name.endsWith(".ts") || e.name.endsWith("_test.ts") || ["registry.ts", "mod.ts"].includes(e.name)
    ) {
      continue;
    }
    const text = await Deno.readTextFile(new URL(e.name, dir));
    const local = [...text.matchAll(/^(?:import|export)[^;]*?from "(\.\/[^"]+)"/gm)].map((m) => m[1]);
    const allowed = e.name === "source.ts"
      ? []
      : e.name === "tensors.ts"
      ? ["./source.ts"]
      : ["./source.ts", "./tensors.ts"];
    for (const imp of local) assert(allowed.includes(imp!), `${e.name} imports ${imp}`);
  }
});

Deno.test("text: a model with a fixed [1, 32] input gets 32-byte windows, one per call", async () => {
  const inputs = [{ name: "input_ids", dtype: DataType.INT64, dims: [1, 32] }];
  const src = (await openDataSource(testdata("lm-calib.txt"), { inputs, maxSamples: 3 })) as TextSource;
  assertEquals(src.context, 32);
  const dims = [];
  for await (const b of src.batches(8)) dims.push(b.input_ids!.dims);
  assertEquals(dims, [[1, 32], [1, 32], [1, 32]]);
});
