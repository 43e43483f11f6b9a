import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { Buffer } from "node:buffer";
import jpeg from "npm:jpeg-js@0.4.4";
import {
  batchImages,
  decodeImage,
  preprocessImage,
  preset,
  presetInputName,
  PRESETS,
  resizeBilinear,
  type RgbImage,
  rotate180,
} from "./images.ts";

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

Deno.test("preprocessImage sizes each preset as its model expects", () => {
  const cases: [string, RgbImage, number[]][] = [
    ["ppocr-rec", solid(480, 48, [0, 0, 0]), [3, 48, 320]], // wider than 320: squeezed
    ["ppocr-rec", solid(96, 96, [0, 0, 0]), [3, 48, 320]], // height 48, width 48, padded
    ["ppocr-cls", solid(100, 48, [0, 0, 0]), [3, 48, 192]],
    ["ppocr-det", solid(100, 50, [0, 0, 0]), [3, 64, 96]], // rounded to multiples of 32
    ["ppocr-det", solid(2000, 1000, [0, 0, 0]), [3, 480, 960]], // longer side limited to 960
    ["ppocr-det", solid(10, 10, [0, 0, 0]), [3, 32, 32]],
    ["segmenter", solid(32, 32, [0, 0, 0]), [3, 64, 64]],
    ["imagenet", solid(300, 200, [0, 0, 0]), [3, 224, 224]],
    ["pm1", solid(7, 5, [0, 0, 0]), [3, 5, 7]],
    ["raw255", solid(7, 5, [0, 0, 0]), [3, 5, 7]],
  ];
  for (const [name, img, dims] of cases) assertEquals(preprocessImage(img, preset(name)).dims, dims, name);
  assertEquals(preprocessImage(solid(7, 5, [0, 0, 0]), PRESETS.pm1, { size: [2, 3] }).dims, [3, 2, 3]);
  assertEquals(preprocessImage(solid(7, 5, [0, 0, 0]), PRESETS.pm1, { layout: "NHWC" }).dims, [5, 7, 3]);
});

Deno.test("preprocessImage normalises per channel and pads PP-OCR lines with white", () => {
  const px = solid(4, 4, [0, 64, 255]);
  const at = (name: string) => {
    const s = preprocessImage(px, preset(name), { layout: "NHWC" });
    return Array.from(s.data.subarray(0, 3));
  };
  assertEquals(at("raw255"), [0, 64, 255]);
  assertEquals(at("pm1"), [-1, Math.fround(64 / 127.5 - 1), 1]);
  const seg = at("segmenter");
  assertEquals([seg[0], seg[2]], [-2, 2]);
  assertAlmostEquals(seg[1]!, (64 / 255 - 0.5) / 0.25, 1e-6);
  const inet = preprocessImage(px, PRESETS["ppocr-det"], { size: [32, 32] }).data;
  assertAlmostEquals(inet[0]!, (0 - 0.485) / 0.229, 1e-6); // R plane
  assertAlmostEquals(inet[32 * 32]!, (64 / 255 - 0.456) / 0.224, 1e-6); // G plane
  assertAlmostEquals(inet[2 * 32 * 32]!, (1 - 0.406) / 0.225, 1e-6); // B plane
  // A black 48x10 line: text region -1, right padding white = +1, in all three planes (NCHW).
  const line = preprocessImage(solid(10, 48, [0, 0, 0]), PRESETS["ppocr-rec"]).data;
  for (const c of [0, 1, 2]) {
    assertEquals(line[c * 48 * 320 + 9], -1);
    assertEquals(line[c * 48 * 320 + 10], 1);
    assertEquals(line[c * 48 * 320 + 47 * 320 + 319], 1);
  }
});

Deno.test("resizeBilinear uses half-pixel centres", () => {
  const img: RgbImage = {
    width: 4,
    height: 1,
    data: new Uint8Array([0, 0, 0, 10, 10, 10, 20, 20, 20, 40, 40, 40]),
  };
  assertEquals(Array.from(resizeBilinear(img, 2, 1).data), [5, 5, 5, 30, 30, 30]); // means of pairs
  assertEquals(resizeBilinear(img, 4, 1), img);
  const up = resizeBilinear({ width: 1, height: 1, data: new Uint8Array([7, 8, 9]) }, 3, 2);
  assertEquals(Array.from(up.data), [7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9]);
  assertThrows(() => resizeBilinear(img, 0, 1), RangeError, "0x1");
});

Deno.test("rotate180 twice is the identity", () => {
  const img: RgbImage = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i) };
  const r = rotate180(img);
  assertEquals(Array.from(r.data.subarray(0, 3)), [15, 16, 17]); // bottom-right pixel first
  assertEquals(rotate180(r), img);
});

Deno.test("decodeImage reads JPEG and rejects other bytes", () => {
  const rgba = new Uint8Array(8 * 8 * 4).fill(128);
  const file = jpeg.encode({ width: 8, height: 8, data: Buffer.from(rgba) }, 95).data;
  const img = decodeImage(new Uint8Array(file));
  assertEquals([img.width, img.height, img.data.length], [8, 8, 192]);
  for (const v of img.data) assertEquals(Math.abs(v - 128) <= 2, true);
  assertThrows(() => decodeImage(new Uint8Array([1, 2, 3, 4])), SyntaxError, "neither PNG nor JPEG");
  assertThrows(
    () => decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0])),
    SyntaxError,
    "Cannot decode",
  );
});

Deno.test("batchImages ends a batch where the sample size changes", () => {
  const imgs = [
    solid(4, 4, [1, 1, 1]),
    solid(4, 4, [2, 2, 2]),
    solid(5, 4, [3, 3, 3]),
    solid(4, 4, [4, 4, 4]),
  ];
  const batches = [...batchImages(imgs, { size: 3, inputName: "input", preset: PRESETS.raw255 })];
  assertEquals(batches.map((b) => b.input!.dims), [[2, 3, 4, 4], [1, 3, 4, 5], [1, 3, 4, 4]]);
  assertEquals((batches[0]!.input!.data as Float32Array)[48], 2); // second image starts at 3*4*4
  assertThrows(() => [...batchImages(imgs, { size: 0, inputName: "x", preset: PRESETS.raw255 })], RangeError);
  assertThrows(() => preset("vgg"), TypeError, "known: ppocr-rec");
  assertEquals([presetInputName("segmenter"), presetInputName("imagenet")], ["pixel_values", "input"]);
});
