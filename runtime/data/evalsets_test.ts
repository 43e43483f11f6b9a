import { assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { gunzipSync } from "npm:fflate@0.8.2";
import type { Tensor } from "../../onnx/tensor.ts";
import { evalSetKind, ocrLinesSource, segmentationSource, textPagesSource } from "./evalsets.ts";

const TESTDATA = new URL("../../testdata/", import.meta.url);
const json = (name: string) => JSON.parse(Deno.readTextFileSync(new URL(name, TESTDATA)));
const gz = (name: string) => gunzipSync(Deno.readFileSync(new URL(name, TESTDATA)));

async function collect(it: AsyncIterable<Record<string, Tensor>>): Promise<Record<string, Tensor>[]> {
  const out = [];
  for await (const b of it) out.push(b);
  return out;
}

Deno.test("ocrLinesSource reads ocr-lines-sans: 66 lines, HWC at each offset, ppocr-rec by default", async () => {
  const j = json("ocr-lines-sans.json");
  const rgb = gz("ocr-lines-sans.rgb.gz");
  const src = ocrLinesSource(j, rgb);
  assertEquals([src.kind, src.count, src.inputNames, src.labels], ["ocr-lines", 66, ["x"], null]);
  assertEquals([src.texts[0], src.images[0]!.width, src.images[0]!.height], ["pages", 105, 48]);
  const last = j.lines[65];
  assertEquals(rgb.length, last.offset + last.width * 48 * 3); // lines tile the byte stream
  const batches = await collect(src.batches(32));
  assertEquals(batches.map((b) => b.x!.dims[0]), [32, 32, 2]);
  const x = batches[0]!.x!.data as Float32Array;
  const plane = 48 * 320;
  // line 0, pixel (row 20, col 30), each channel; then the white padding right of the line
  for (const c of [0, 1, 2]) {
    const v = rgb[(20 * 105 + 30) * 3 + c]!;
    assertAlmostEquals(x[c * plane + 20 * 320 + 30]!, (v - 127.5) / 127.5, 1e-6);
    assertEquals(x[c * plane + 20 * 320 + 105], 1);
  }
  let dark = 0;
  for (let i = 0; i < 48 * 105; i++) if (rgb[i * 3]! < 128) dark++;
  assertEquals(dark > 100 && dark < 48 * 105 / 2, true); // black text on white
});

Deno.test("ocrLinesSource with augment180 feeds PP-OCR cls pairs (upright, rotated)", async () => {
  const src = ocrLinesSource(json("ocr-calib-sans.json"), gz("ocr-calib-sans.rgb.gz"), {
    preset: "ppocr-cls",
    augment180: true,
    maxSamples: 3,
  });
  assertEquals([src.count, src.labels], [6, [0, 1, 0, 1, 0, 1]]);
  assertEquals(src.texts.slice(0, 2), ["suit nop Buffers", "suit nop Buffers"]);
  const up = src.images[0]!, down = src.images[1]!;
  assertEquals(down.data[0], up.data[up.data.length - 3]);
  const [b] = await collect(src.batches(8));
  assertEquals(b!.x!.dims, [6, 3, 48, 192]);
});

Deno.test("segmentationSource reads the eval set with masks and the calib set without", async () => {
  const ev = segmentationSource(
    json("segmenter-tiny-eval.json"),
    gz("segmenter-tiny-eval.rgb.gz"),
    gz("segmenter-tiny-eval.mask.gz"),
  );
  assertEquals([ev.kind, ev.count, ev.width, ev.height, ev.inputNames], ["segmentation", 256, 64, 64, [
    "pixel_values",
  ]]);
  assertEquals(ev.classes, ["background", "disc", "rectangle", "triangle"]);
  assertEquals(ev.masks!.length, 256);
  const counts = [0, 0, 0, 0];
  for (const m of ev.masks!) for (const v of m) counts[v]!++;
  assertEquals(counts, [853156, 65716, 85083, 44621]); // numpy bincount of the mask file
  const cal = segmentationSource(json("segmenter-tiny-calib.json"), gz("segmenter-tiny-calib.rgb.gz"), null, {
    maxSamples: 10,
  });
  assertEquals([cal.count, cal.masks], [10, null]);
  const batches = await collect(cal.batches(4));
  assertEquals(batches.map((b) => b.pixel_values!.dims[0]), [4, 4, 2]);
  const v = (batches[0]!.pixel_values!.data as Float32Array)[0]!;
  assertAlmostEquals(v, (gz("segmenter-tiny-calib.rgb.gz")[0]! / 255 - 0.5) / 0.25, 1e-6);
});

Deno.test("textPagesSource reads text-pages as 640x320 ppocr-det inputs", async () => {
  const src = textPagesSource(json("text-pages.json"), gz("text-pages.rgb.gz"));
  assertEquals([src.kind, src.count, src.pages[0]!.lines.length], ["text-pages", 12, 5]);
  assertEquals(src.pages[0]!.lines[2]!.text, "BT-848 70964");
  const batches = await collect(src.batches(5));
  assertEquals(batches.map((b) => b.x!.dims), [[5, 3, 320, 640], [5, 3, 320, 640], [2, 3, 320, 640]]);
  // page 0's top-left pixel is background (228, 255, 235): ImageNet-normalised per plane
  const x = batches[0]!.x!.data as Float32Array;
  const plane = 320 * 640;
  assertAlmostEquals(x[0]!, (228 / 255 - 0.485) / 0.229, 1e-5);
  assertAlmostEquals(x[plane]!, (255 / 255 - 0.456) / 0.224, 1e-5);
  assertAlmostEquals(x[2 * plane]!, (235 / 255 - 0.406) / 0.225, 1e-5);
});

Deno.test("eval-set constructors reject inconsistent files", () => {
  assertThrows(() => ocrLinesSource({}, new Uint8Array()), SyntaxError, `no "lines"`);
  assertThrows(
    () => ocrLinesSource({ lines: [{ text: "a", width: 10, height: 48, offset: 8 }] }, new Uint8Array(1440)),
    SyntaxError,
    "bytes 8..1448 lie outside the 1440-byte .rgb",
  );
  assertThrows(
    () => segmentationSource({ count: 2 }, new Uint8Array(2 * 3 * 12), null),
    SyntaxError,
    "square",
  );
  assertThrows(
    () => segmentationSource({ count: 1 }, new Uint8Array(48), new Uint8Array(15)),
    SyntaxError,
    "mask has 15 bytes, expected 16",
  );
  assertThrows(() => textPagesSource({ lines: [] }, new Uint8Array()), SyntaxError, `no "pages"`);
  assertThrows(
    () => segmentationSource({ count: 1 }, new Uint8Array(3), null, { maxSamples: -1 }),
    RangeError,
  );
});

Deno.test("eval-set kind: the native gunzip gives fflate's bytes; a corrupt .rgb.gz names the file", async () => {
  const prefix = new URL("segmenter-tiny-calib", TESTDATA).pathname;
  const src = await evalSetKind.open(prefix, {});
  const ref = segmentationSource(json("segmenter-tiny-calib.json"), gz("segmenter-tiny-calib.rgb.gz"), null);
  const [a, b] = [await collect(src.batches(32)), await collect(ref.batches(32))];
  assertEquals(a.length, b.length);
  for (let i = 0; i < a.length; i++) assertEquals(a[i], b[i]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(new URL("segmenter-tiny-calib.json", TESTDATA), `${dir}/x.json`);
    const bytes = await Deno.readFile(new URL("segmenter-tiny-calib.rgb.gz", TESTDATA));
    await Deno.writeFile(`${dir}/x.rgb.gz`, bytes.slice(0, bytes.length >> 1));
    await assertRejects(
      () => evalSetKind.open(`${dir}/x`, {}),
      SyntaxError,
      `Cannot gunzip "${dir}/x.rgb.gz"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
