import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import {
  argmaxClasses,
  BitsPerByteMeter,
  CompareMeter,
  lmCrossEntropyBits,
  MapIoUMeter,
  SegmentationMeter,
} from "./metrics.ts";

/** Deterministic pseudo-random numbers in [-s, s). */
function lcg(seed: number, n: number, s: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32 * 2 - 1) * s;
  }
  return out;
}

Deno.test("lmCrossEntropyBits matches a direct softmax on random logits and skips the last position", () => {
  const B = 2, L = 5, V = 256;
  const logits = lcg(1, B * L * V, 6);
  const ids = new BigInt64Array(B * L).map((_, i) => BigInt((i * 37) % 256));
  let nats = 0;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < L - 1; p++) {
      const row = Array.from(logits.subarray((b * L + p) * V, (b * L + p + 1) * V));
      const z = row.reduce((a, v) => a + Math.exp(v), 0);
      nats -= Math.log(Math.exp(row[Number(ids[b * L + p + 1])]!) / z);
    }
  }
  const r = lmCrossEntropyBits(
    makeTensor(DataType.FLOAT, [B, L, V], logits),
    makeTensor(DataType.INT64, [B, L], ids),
  );
  assertEquals(r.predictions, 8);
  assertAlmostEquals(r.bits, nats / Math.LN2, 1e-9);

  const meter = new BitsPerByteMeter();
  const t = makeTensor(DataType.FLOAT, [B, L, V], logits);
  meter.add(t, makeTensor(DataType.INT64, [B, L], ids));
  meter.add(t, makeTensor(DataType.INT64, [B, L], ids));
  assertEquals(meter.predictions, 16);
  assertAlmostEquals(meter.value, nats / Math.LN2 / 8, 1e-12);

  // a confident, correct model costs ~0 bits
  const sure = new Float32Array(2 * V);
  sure[65] = 100; // position 0 predicts byte 65
  const sureBits = lmCrossEntropyBits(
    makeTensor(DataType.FLOAT, [1, 2, V], sure),
    makeTensor(DataType.UINT8, [1, 2], new Uint8Array([0, 65])),
  );
  assertAlmostEquals(sureBits.bits, 0, 1e-30);
  assertThrows(
    () => lmCrossEntropyBits(t, makeTensor(DataType.INT64, [B, L - 1])),
    RangeError,
    "do not match input ids",
  );
});

Deno.test("SegmentationMeter accumulates a confusion matrix over images, ignores void truth", () => {
  const m = new SegmentationMeter(3);
  m.add([0, 1, 2, 2], [0, 1, 1, 2]);
  m.add([0, 0, 255, 1], [0, 0, 255, 1].map((v) => (v === 255 ? 9 : v))); // truth 9: ignored
  // class 0: TP 3, FP 0, FN 0 -> 1; class 1: TP 2, FN 1 -> 2/3; class 2: TP 1, FP 1 -> 1/2
  assertEquals(Array.from(m.confusion), [3, 0, 0, 0, 2, 1, 0, 0, 1]);
  assertEquals(m.iouPerClass(), [1, 2 / 3, 1 / 2]);
  assertAlmostEquals(m.meanIoU(), (1 + 2 / 3 + 1 / 2) / 3, 1e-15);
  assertThrows(() => m.add([0], [0, 1]), RangeError, "1 pixels, truth 2");
  assertThrows(() => m.add([7], [0]), RangeError, "Predicted class 7");
  assertEquals(Number.isNaN(new SegmentationMeter(2).meanIoU()), true);
});

Deno.test("argmaxClasses takes the class axis of NCHW scores", () => {
  // 2 images, 3 classes, 1x2 pixels
  const s = new Float32Array([
    ...[1, 0, /* c1 */ 2, 0, /* c2 */ 0, 5], // image 0 -> [1, 2]
    ...[0, 0, /* c1 */ 0, 0, /* c2 */ 0, 0], // image 1: ties -> class 0
  ]);
  const ids = argmaxClasses(makeTensor(DataType.FLOAT, [2, 3, 1, 2], s));
  assertEquals(ids.map((x) => Array.from(x)), [[1, 2], [0, 0]]);
  assertThrows(() => argmaxClasses(makeTensor(DataType.FLOAT, [2, 3])), RangeError, "[B, C, H, W]");
});

Deno.test("MapIoUMeter thresholds at 0.3 and sums intersections and unions over batches", () => {
  const m = new MapIoUMeter();
  assertEquals(m.value, 1);
  const t = (v: number[]) => makeTensor(DataType.FLOAT, [1, 1, 1, v.length], new Float32Array(v));
  m.add(t([0.31, 0.3, 0.9, 0]), t([0.5, 0.5, 0.29, 0])); // I 1, U 3 (0.3 itself, in float32 too, is not text)
  m.add(t([1, 1]), t([1, 1])); // I 2, U 2
  assertEquals([m.intersection, m.union], [3, 5]);
  assertEquals(m.value, 3 / 5);
  const strict = new MapIoUMeter({ threshold: 0.95 });
  strict.add(t([0.9, 1]), t([1, 1]));
  assertEquals(strict.value, 1 / 2);
  assertThrows(() => m.add(t([1]), t([1, 1])), RangeError, "Map shapes differ");
});

Deno.test("CompareMeter reports pooled SQNR, per-sample cosine, top-1 agreement and max error per output", () => {
  const m = new CompareMeter();
  const ref = makeTensor(DataType.FLOAT, [2, 2], new Float32Array([1, 2, 3, 4]));
  const same = makeTensor(DataType.FLOAT, [2, 2], new Float32Array([1, 2, 3, 4]));
  const ids = makeTensor(DataType.INT64, [2], new BigInt64Array([5n, 6n]));
  m.add({ y: ref, ids }, { y: same, ids });
  let r = m.report();
  assertEquals(r.y!.sqnrDb, Infinity);
  assertEquals([r.y!.cosine, r.y!.top1Agreement, r.y!.maxAbsError, r.ids!.samples], [1, 1, 0, 2]);
  assert(!r.ids!.classLike && Number.isNaN(r.ids!.top1Agreement));
  // second batch: sample 0 has noise power 0.01+0.01 on signal 1+4 -> 10 log10(250) dB
  const noisy = makeTensor(DataType.FLOAT, [2, 2], new Float32Array([1.1, 1.9, 4, 3]));
  const m2 = new CompareMeter();
  m2.add({ y: ref }, { y: noisy });
  r = m2.report();
  assertEquals(r.y!.samples, 2);
  assertAlmostEquals(r.y!.minSqnrDb, 10 * Math.log10(25 / 2), 1e-5); // sample 1: 25 / (1 + 1)
  // Pooled: total signal 30 over total error 2.02 (not the mean of the per-sample dB values).
  assertAlmostEquals(r.y!.sqnrDb, 10 * Math.log10(30 / 2.02), 1e-5);
  assertEquals(r.y!.classLike, true);
  assertEquals(r.y!.top1Agreement, 0.5); // row [4, 3] picks index 0, reference [3, 4] index 1
  assertAlmostEquals(r.y!.maxAbsError, 1, 1e-6);
  assertAlmostEquals(r.y!.minCosine, 24 / 25, 1e-7); // [3,4].[4,3] / 25
  assertThrows(() => m2.add({ y: ref }, {}), TypeError, `no output "y"`);
  assertThrows(() => m2.add({ y: ref }, { y: ids }), RangeError, "shapes differ");
});

Deno.test("CompareMeter decodes float16 outputs", () => {
  const m = new CompareMeter();
  const a = makeTensor(DataType.FLOAT16, [1, 2], new Uint16Array([0x3c00, 0x4000])); // 1, 2
  const b = makeTensor(DataType.FLOAT16, [1, 2], new Uint16Array([0x3c00, 0x3c00])); // 1, 1
  m.add({ h: a }, { h: b });
  assertEquals(m.report().h!.maxAbsError, 1);
});
