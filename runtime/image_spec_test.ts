import {
  assertAlmostEquals,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import type { Buffer } from "node:buffer";
import { PNG } from "pngjs";
import { DataType } from "../onnx/tensor.ts";
import { DataMismatchError, openDataSource } from "./data/mod.ts";
import { parseImageSpec, resolvePreprocess } from "./image_spec.ts";
import { preprocessImage } from "./images.ts";

Deno.test("image spec: range, mean, std and BGR order give (pixel * (hi - lo) / 255 + lo - mean) / std per model channel", () => {
  const p = resolvePreprocess(
    "image:size=2x1,range=0..1,mean=0.1/0.2/0.3,std=0.5/0.25/2,order=bgr,layout=nhwc",
  );
  const rgb = [10, 100, 250];
  const img = { width: 1, height: 1, data: new Uint8Array(rgb) };
  const s = preprocessImage(img, p);
  assertEquals(s.dims, [1, 2, 3]); // stretched to 2 wide, 1 high, NHWC
  const bgr = [rgb[2]!, rgb[1]!, rgb[0]!];
  const mean = [0.1, 0.2, 0.3], std = [0.5, 0.25, 2];
  for (let c = 0; c < 3; c++) {
    assertAlmostEquals(s.data[c]!, (bgr[c]! / 255 - mean[c]!) / std[c]!, 1e-5);
    assertAlmostEquals(s.data[3 + c]!, s.data[c]!, 0); // both pixels are the same colour
  }
  const raw = preprocessImage(img, resolvePreprocess("image:range=0..255"));
  assertEquals([raw.dims, Array.from(raw.data)], [[3, 1, 1], rgb]);
  const pm1 = preprocessImage(img, resolvePreprocess("image:range=-1..1"));
  assertAlmostEquals(pm1.data[2]!, 250 / 255 * 2 - 1, 1e-6);
});

Deno.test("image spec: bad items are refused with the known keys", () => {
  assertThrows(
    () => parseImageSpec("image:colour=red"),
    TypeError,
    "keys: size, layout, mean, std, range, order, resize",
  );
  assertThrows(() => parseImageSpec("image:size=0x4"), TypeError, "sides must be >= 1");
  assertThrows(() => parseImageSpec("image:std=0"), TypeError, "std must not be 0");
  assertThrows(() => parseImageSpec("image:mean=1/2"), TypeError, "three numbers");
  assertThrows(() => resolvePreprocess("image:size=4x2,resize=center-crop"), TypeError, "square size");
  assertThrows(() => resolvePreprocess("imagenet2"), TypeError, "Unknown preprocessing preset");
});

Deno.test("image folder + `image` spec: size, layout and the fixed batch come from the model's input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, w, h] of [["a.png", 40, 30], ["b.png", 7, 9], ["c.png", 16, 16]] as const) {
      const png = new PNG({ width: w, height: h });
      png.data.fill(200);
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array(PNG.sync.write(png) as Buffer));
    }
    const inputs = [{ name: "images", dtype: DataType.FLOAT, dims: [1, 16, 12, 3] }];
    const src = await openDataSource(dir, { preset: "image", inputs });
    const dims = [];
    for await (const b of src.batches(8)) dims.push(b.images!.dims);
    assertEquals(dims, [[1, 16, 12, 3], [1, 16, 12, 3], [1, 16, 12, 3]]);
    const nchw = await openDataSource(dir, {
      preset: "image:size=8x4",
      inputs: [{ name: "x", dtype: DataType.FLOAT, dims: ["n", 3, "h", "w"] }],
    });
    for await (const b of nchw.batches(8)) assertEquals(b.x!.dims, [3, 3, 4, 8]);
    // A uint8 NHWC input (a tf2onnx export) gets the resized pixels themselves, as bytes.
    const u8 = await openDataSource(dir, {
      preset: "image",
      inputs: [{ name: "images", dtype: DataType.UINT8, dims: [1, 4, 4, 3] }],
    });
    for await (const b of u8.batches(8)) {
      assertEquals([b.images!.dtype, b.images!.dims], [DataType.UINT8, [1, 4, 4, 3]]);
      assertEquals(Array.from(b.images!.data as Uint8Array), Array(48).fill(212)); // 200 at alpha 200 over white
    }
    await assertRejects(
      () =>
        openDataSource(dir, {
          preset: "image:std=58",
          inputs: [{ name: "images", dtype: DataType.UINT8, dims: [1, 4, 4, 3] }],
        }),
      TypeError,
      "uint8 (raw pixels)",
    );
    // A preset whose size is not the model's is refused when opened, before any inference.
    const e = await assertRejects(
      () => openDataSource(dir, { preset: "imagenet", inputs }),
      DataMismatchError,
    );
    assertStringIncludes(
      e.message,
      `input "images": expected [1, 16, 12, 3], given images data [1, 3, 224, 224]`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("image spec: `image:mean=0.5,std=0.25` on segmenter-tiny's input reproduces the segmenter preset exactly", async () => {
  const set = new URL("../testdata/segmenter-tiny-calib", import.meta.url).pathname;
  const inputs = [{ name: "pixel_values", dtype: DataType.FLOAT, dims: ["batch", 3, 64, 64] }];
  const first = async (preset: string) => {
    const src = await openDataSource(set, { preset: preset as "image", inputs, maxSamples: 2 });
    for await (const b of src.batches(2)) return b.pixel_values!;
    throw new Error("no batch");
  };
  const [a, b] = [await first("segmenter"), await first("image:mean=0.5,std=0.25")];
  assertEquals(b.dims, [2, 3, 64, 64]);
  assertEquals(Array.from(b.data as Float32Array), Array.from(a.data as Float32Array));
});
