/**
 * Hostile model files (issue #12), each built here: external data that escapes the model's folder or is
 * not a regular file, a huge sparse external file of which a tensor needs 64 bytes, zip bombs, bad dims,
 * cycles and undefined values, a save over the model's own name, a SIGTERM while saving, reproducible zips.
 */
import {
  assert,
  assertEquals,
  assertLess,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { deflateSync, zipSync } from "fflate";
import { encodeModel } from "./codec.ts";
import type { Model } from "./ir.ts";
import { crc32, handZip, tinyModel } from "../tests/_hostile.ts";
import { type FileSystem, loadModel, ModelIOError, modelToFiles, saveModel } from "./io.ts";
import { DataType, makeTensor } from "./tensor.ts";
import { decodeMessage, encodeMessage, type Message } from "./wire.ts";
import { denoFs } from "./_fs.ts";
import { ModelProtoDesc } from "./proto_schema.ts";

/** The tiny model's bytes with W external in `location` at `offset`. */
function externalAt(location: string, offset: number): Uint8Array {
  return encodeModel(tinyModel(), { externalize: () => ({ location, offset }) });
}

async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "shiftkit_hostile_" });
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

Deno.test("hostile: external data symlinked outside the model's folder is refused", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/model`);
    await Deno.writeFile(`${dir}/secret.bin`, new Uint8Array(64).fill(42));
    await Deno.writeFile(`${dir}/model/m.onnx`, externalAt("w.bin", 0));
    await Deno.symlink(`${dir}/secret.bin`, `${dir}/model/w.bin`);
    const e = await assertRejects(() => loadModel(`${dir}/model/m.onnx`), ModelIOError);
    assertMatch(e.message, /tensor "W": external data file "w\.bin" escapes the model's directory/);
    // A symbolic link that stays inside the folder is fine.
    await Deno.remove(`${dir}/model/w.bin`);
    await Deno.writeFile(`${dir}/model/real.bin`, new Uint8Array(64).fill(0));
    await Deno.symlink("real.bin", `${dir}/model/w.bin`);
    const ok = await loadModel(`${dir}/model/m.onnx`);
    assertEquals((ok.graph.initializers[0]!.const!.data as Float32Array).length, 16);
    // Pointed outside again: refused again, so no save can copy the outside bytes.
    await Deno.remove(`${dir}/model/w.bin`);
    await Deno.symlink(`${dir}/secret.bin`, `${dir}/model/w.bin`);
    await assertRejects(() => loadModel(`${dir}/model/m.onnx`), ModelIOError, "escapes");
  });
});

Deno.test("hostile: external data that is a device, a FIFO or a directory is refused at once", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/m.onnx`, externalAt("w.bin", 0));
    for (const dev of ["/dev/zero", "/dev/urandom"]) {
      await Deno.symlink(dev, `${dir}/w.bin`);
      const t0 = performance.now();
      const e = await assertRejects(() => loadModel(`${dir}/m.onnx`), ModelIOError);
      assertMatch(e.message, /external data file "w\.bin" (escapes|is not a regular file)/);
      assertLess(performance.now() - t0, 2000);
      await Deno.remove(`${dir}/w.bin`);
    }
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/w.bin`] }).output();
    assert(mk.success, "mkfifo");
    const t0 = performance.now();
    const fifo = await assertRejects(() => loadModel(`${dir}/m.onnx`), ModelIOError);
    assertStringIncludes(fifo.message, `tensor "W": external data file "w.bin" is not a regular file`);
    assertLess(performance.now() - t0, 2000);
    await Deno.remove(`${dir}/w.bin`);
    await Deno.mkdir(`${dir}/w.bin`);
    await assertRejects(() => loadModel(`${dir}/m.onnx`), ModelIOError, "is not a regular file");
  });
});

Deno.test("hostile: a 3 GiB sparse external file of which a tensor needs 64 bytes reads 64 bytes", async () => {
  await withTempDir(async (dir) => {
    const size = 3 * 2 ** 30;
    const offset = size - 64; // past 2^31: offsets are 64-bit
    await Deno.writeFile(`${dir}/m.onnx`, externalAt("w.bin", offset));
    const f = await Deno.open(`${dir}/w.bin`, { write: true, create: true });
    await f.truncate(size); // sparse: no disk blocks
    await f.seek(offset, Deno.SeekMode.Start);
    await f.write(new Uint8Array(Float32Array.from({ length: 16 }, (_, i) => i * 2).buffer));
    f.close();
    const reads: number[] = [];
    const counting: FileSystem = {
      ...denoFs,
      readRange(path, off, len) {
        reads.push(len);
        return denoFs.readRange(path, off, len);
      },
    };
    const rss0 = Deno.memoryUsage().rss;
    const m = await loadModel(`${dir}/m.onnx`, { fs: counting });
    assertEquals(Array.from(m.graph.initializers[0]!.const!.data as Float32Array).slice(0, 3), [0, 2, 4]);
    assertEquals(reads, [64]);
    assertLess(Deno.memoryUsage().rss - rss0, 64 * 2 ** 20);
    // One byte too far is refused with the file, offset and sizes.
    await Deno.writeFile(`${dir}/m.onnx`, externalAt("w.bin", offset + 1));
    const e = await assertRejects(() => loadModel(`${dir}/m.onnx`), ModelIOError);
    assertStringIncludes(
      e.message,
      `external data file "w.bin" is too short: expected 64 bytes at offset ${offset + 1}, ` +
        `the file has ${size} bytes (63 available there)`,
    );
  });
});

// ---------------------------------------------------------------------------------------- zip files

Deno.test("hostile: a 3 MB zip of 3 GiB unreferenced entries inflates only the model", async () => {
  const model = encodeModel(tinyModel());
  const chunk = new Uint8Array(64 * 2 ** 20);
  const zeros = deflateSync(chunk, { level: 9 });
  const crc = crc32(chunk);
  const entries: Parameters<typeof handZip>[0] = Array.from({ length: 48 }, (_, i) => ({
    name: `junk/${i}.bin`,
    data: zeros,
    size: chunk.length,
    crc,
    method: 8 as const,
  }));
  entries.push({ name: "m.onnx", data: model, size: model.length, crc: crc32(model), method: 0 });
  const bomb = handZip(entries);
  assertLess(bomb.length, 4e6);
  const rss0 = Deno.memoryUsage().rss;
  const t0 = performance.now();
  const m = await loadModel(bomb, { name: "bomb.zip" });
  assertLess(performance.now() - t0, 2000);
  assertLess(Deno.memoryUsage().rss - rss0, 256 * 2 ** 20);
  assertEquals(m.graph.nodes.map((n) => n.opType), ["MatMul"]);

  // The model itself (or an external file it names) beyond the cap: refused before inflating.
  const big = handZip([{ name: "m.onnx", data: zeros, size: 3 * 2 ** 30, crc: 0, method: 8 }]);
  const e = await assertRejects(() => loadModel(big, { name: "big.zip" }), ModelIOError);
  assertStringIncludes(
    e.message,
    `zip entry "m.onnx" (3221225472 bytes inflated) brings the bundle to 3221225472 inflated bytes, ` +
      `over the limit of 2147483648 (maxInflatedBytes`,
  );
  const files = modelToFiles(tinyModel(), "m.onnx", { externalData: { threshold: 0 } });
  const withData = zipSync({ "m.onnx": files["m.onnx"]!, "m.onnx.data": files["m.onnx.data"]! });
  await assertRejects(
    () => loadModel(withData, { maxInflatedBytes: files["m.onnx"]!.length + 10 }),
    ModelIOError,
    `zip entry "m.onnx.data" (64 bytes inflated)`,
  );
  assertEquals((await loadModel(withData)).graph.initializers.length, 1);
});

Deno.test("hostile: -o x.zip twice gives identical bytes", async () => {
  await withTempDir(async (dir) => {
    const m = tinyModel();
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await saveModel(m, `${dir}/a/x.zip`, { externalData: { threshold: 0 } });
    await new Promise((r) => setTimeout(r, 2100)); // DOS times have 2 s resolution
    await saveModel(m, `${dir}/b/x.zip`, { externalData: { threshold: 0 } });
    assertEquals(await Deno.readFile(`${dir}/a/x.zip`), await Deno.readFile(`${dir}/b/x.zip`));
  });
});

// ------------------------------------------------------------------------------------ model structure

/** The tiny model's ModelProto as a message, to damage by hand. */
function tinyMessage(): Message {
  return decodeMessage(encodeModel(tinyModel()), ModelProtoDesc);
}

Deno.test("hostile: dims [-1, 4] or [2^40] on an initializer are refused at decode with the tensor name", async () => {
  for (
    const [dims, re] of [
      [[-1n, 4n], /tensor "W": dims \[-1, 4\]: dimension 0 is -1; dimensions are integers >= 0/],
      [[2n ** 40n], /tensor "W": raw_data has 64 bytes, dims declare 4398046511104/],
      [[2n ** 60n], /tensor "W": dims \[1152921504606846976\]: dimension 0 is 1152921504606846976; dimens/],
      [
        [2n ** 30n, 2n ** 30n],
        /tensor "W": dims \[1073741824, 1073741824\] give \d+ elements, more than 2\^53/,
      ],
    ] as [bigint[], RegExp][]
  ) {
    const msg = tinyMessage();
    const init = ((msg.graph as Message).initializer as Message[])[0]!;
    init.dims = dims;
    const bytes = encodeMessage(msg, ModelProtoDesc);
    const e = await assertRejects(() => loadModel(bytes, { name: "dims.onnx" }), ModelIOError);
    assertMatch(e.message, re);
  }
});

Deno.test("hostile: a cycle or an undefined input is refused at load with the node names", async () => {
  // a = Relu(b), b = Relu(a): a cycle.
  const msg = tinyMessage();
  const g = msg.graph as Message;
  g.node = [
    { op_type: "Relu", name: "first", input: ["b"], output: ["a"] },
    { op_type: "Relu", name: "second", input: ["a"], output: ["b"] },
    { op_type: "MatMul", name: "mm", input: ["x", "W"], output: ["y"] },
  ];
  const e = await assertRejects(
    () => loadModel(encodeMessage(msg, ModelProtoDesc), { name: "cycle.onnx" }),
    ModelIOError,
  );
  assertStringIncludes(e.message, `graph "main" has a cycle through nodes "first", "second"`);

  g.node = [{ op_type: "MatMul", name: "mm", input: ["x", "nowhere"], output: ["y"] }];
  const u = await assertRejects(
    () => loadModel(encodeMessage(msg, ModelProtoDesc), { name: "undef.onnx" }),
    ModelIOError,
  );
  assertStringIncludes(u.message, `node "mm" (MatMul): input 1 "nowhere" is not defined`);

  // Stored out of order but acyclic (onnxruntime accepts it): sorted at load.
  g.node = [
    { op_type: "Relu", name: "after", input: ["t"], output: ["y"] },
    { op_type: "MatMul", name: "mm", input: ["x", "W"], output: ["t"] },
  ];
  const sorted = await loadModel(encodeMessage(msg, ModelProtoDesc));
  assertEquals(sorted.graph.nodes.map((n) => n.name), ["mm", "after"]);
});

Deno.test("hostile: saveModel refuses an external location equal to the model's file name", async () => {
  await withTempDir(async (dir) => {
    const e = await assertRejects(
      () => saveModel(tinyModel(), `${dir}/m.onnx`, { externalData: { location: "m.onnx", threshold: 0 } }),
      ModelIOError,
    );
    assertStringIncludes(e.message, `externalData.location "m.onnx" is the model's own file name`);
    assertEquals(await listDir(dir), []);
  });
});

Deno.test("hostile: saving over the model's own external data keeps its weights", async () => {
  await withTempDir(async (dir) => {
    await saveModel(tinyModel(), `${dir}/m.onnx`, { externalData: { threshold: 0 } });
    const m = await loadModel(`${dir}/m.onnx`);
    // A new tensor first in the file moves W: the loaded model must not read W's old offset afterwards.
    const a = m.graph.addInitializer("A", makeTensor(DataType.FLOAT, [16], new Float32Array(16).fill(7)));
    m.graph.initializers.unshift(m.graph.initializers.pop()!);
    assertEquals(m.graph.initializers.map((v) => v.name), ["A", "W"]);
    await saveModel(m, `${dir}/m.onnx`, { externalData: { threshold: 0 } });
    const w = (v: Model) => Array.from(v.graph.initializers[1]!.const!.data as Float32Array).slice(0, 4);
    assertEquals(w(m), [0, 1, 2, 3]);
    assertEquals(w(await loadModel(`${dir}/m.onnx`)), [0, 1, 2, 3]);
    assertEquals(a.const!.data[0], 7);
  });
});

Deno.test("hostile: SIGTERM while saving removes the temporary files", async () => {
  await withTempDir(async (dir) => {
    const script = `
      import { saveModel } from "${new URL("./io.ts", import.meta.url)}";
      import { denoFs } from "${new URL("./_fs.ts", import.meta.url)}";
      import { tinyModel } from "${new URL("../tests/_hostile.ts", import.meta.url)}";
      const slow = { ...denoFs, rename: () => new Promise((r) => setTimeout(r, 60000)) };
      const p = saveModel(tinyModel(), "${dir}/m.onnx", { externalData: { threshold: 0 }, fs: slow });
      console.log("writing");
      await p;`;
    await Deno.writeTextFile(`${dir}/save.ts`, script);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-check",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        `${dir}/save.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assertStringIncludes(new TextDecoder().decode(first.value), "writing");
    const tmps = (await listDir(dir)).filter((n) => n.endsWith(".tmp"));
    assertEquals(tmps.length, 2, "model and data written, waiting for the rename");
    child.kill("SIGTERM");
    const status = await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    await child.stderr.cancel();
    assertEquals(status.code, 143);
    assertEquals(await listDir(dir), ["save.ts"]);
  });
});

Deno.test("hostile: a Constant whose tensor is external data is read by range and inlined on encode", async () => {
  await withTempDir(async (dir) => {
    const msg = tinyMessage();
    const g = msg.graph as Message;
    g.node = [
      {
        op_type: "Constant",
        name: "c",
        output: ["W2"],
        attribute: [{
          name: "value",
          type: 4,
          t: {
            name: "W2",
            dims: [4n, 4n],
            data_type: DataType.FLOAT,
            data_location: 1,
            external_data: [{ key: "location", value: "c.bin" }, { key: "offset", value: "64" }],
          },
        }],
      },
      { op_type: "MatMul", name: "mm", input: ["x", "W2"], output: ["y"] },
    ];
    g.initializer = [];
    await Deno.writeFile(`${dir}/m.onnx`, encodeMessage(msg, ModelProtoDesc));
    await Deno.writeFile(`${dir}/c.bin`, new Uint8Array(128).fill(1, 64));
    const m = await loadModel(`${dir}/m.onnx`);
    const standalone = await loadModel(encodeModel(m)); // no reader: the tensor travelled inline
    const t = standalone.graph.nodes[0]!.attrs.get("value")!.value as { data: Float32Array };
    assertEquals(new Uint8Array(t.data.buffer, t.data.byteOffset, 4), new Uint8Array(4).fill(1));
    await Deno.remove(`${dir}/c.bin`);
    await Deno.symlink("/dev/zero", `${dir}/c.bin`); // the same model, its data now a device
    await assertRejects(() => loadModel(`${dir}/m.onnx`), ModelIOError, `external data file "c.bin"`);
  });
});

Deno.test("hostile: a model path that is a FIFO, a device or a directory is refused at once", async () => {
  await withTempDir(async (dir) => {
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/fifo.onnx`] }).output();
    assert(mk.success, "mkfifo");
    await Deno.symlink("/dev/zero", `${dir}/zero.onnx`);
    await Deno.mkdir(`${dir}/dir.onnx`);
    for (const name of ["fifo.onnx", "zero.onnx", "dir.onnx"]) {
      const t0 = performance.now();
      const e = await assertRejects(() => loadModel(`${dir}/${name}`), ModelIOError);
      assertEquals(
        e.message,
        `Cannot load model "${dir}/${name}": not a regular file (a device, FIFO, socket or directory)`,
      );
      assertLess(performance.now() - t0, 1000);
    }
  });
});

Deno.test("hostile: every file is fsync'ed under its temporary name before any rename", async () => {
  await withTempDir(async (dir) => {
    const log: string[] = [];
    const name = (p: string) => p.slice(dir.length + 1).replace(/\.[0-9a-f]{8}\.tmp$/, ".tmp");
    const logging: FileSystem = {
      ...denoFs,
      create(path) {
        const w = denoFs.create(path);
        log.push(`create ${name(path)}`);
        return {
          write: (c) => w.write(c),
          close() {
            w.close();
            log.push(`fsync+close ${name(path)}`);
          },
          abort: () => w.abort(),
        };
      },
      async rename(from, to) {
        await denoFs.rename(from, to);
        log.push(`rename ${name(from)} -> ${name(to)}`);
      },
    };
    await saveModel(tinyModel(), `${dir}/m.onnx`, { externalData: { threshold: 0 }, fs: logging });
    assertEquals(log, [
      "create .m.onnx.data.tmp",
      "fsync+close .m.onnx.data.tmp",
      "create .m.onnx.tmp",
      "fsync+close .m.onnx.tmp",
      "rename .m.onnx.data.tmp -> m.onnx.data",
      "rename .m.onnx.tmp -> m.onnx",
    ]);
  });
});
