/**
 * A model whose external data exceeds 2 GiB round-trips without being held in memory (issue #17, item 3):
 * its 2.5 GiB of weights are generated on the fly by an injected file system, read tensor by tensor by
 * range, streamed into the output's external data file (switched on automatically: the model is past
 * protobuf's 2 GiB limit) and read back.
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import { type FileSystem, loadModel, PROTOBUF_LIMIT, saveModel, storedBytes } from "./io.ts";
import { DataType } from "./tensor.ts";
import { ModelProtoDesc } from "./proto_schema.ts";
import { encodeMessage, type Message } from "./wire.ts";

const TENSORS = 40;
const ELEMENTS = 16 * 2 ** 20; // 64 MiB of float32 each: 2.5 GiB in all
const BYTES = ELEMENTS * 4;

/** Tensor i holds the float32 value i + 1 in every element. */
function pattern(i: number, length: number): Uint8Array {
  const f = new Float32Array(length / 4).fill(i + 1);
  return new Uint8Array(f.buffer);
}

function bigModel(): Uint8Array {
  const type = (shape: number[]) => ({
    tensor_type: { elem_type: DataType.FLOAT, shape: { dim: shape.map((d) => ({ dim_value: d })) } },
  });
  const initializer: Message[] = Array.from({ length: TENSORS }, (_, i) => ({
    name: `w${i}`,
    dims: [ELEMENTS],
    data_type: DataType.FLOAT,
    data_location: 1,
    external_data: [
      { key: "location", value: "big.data" },
      { key: "offset", value: String(i * BYTES) },
      { key: "length", value: String(BYTES) },
    ],
  }));
  return encodeMessage({
    ir_version: 8,
    opset_import: [{ domain: "", version: 17 }],
    graph: {
      name: "big",
      node: [{ op_type: "Sum", name: "sum", input: ["x", ...initializer.map((t) => t.name)], output: ["y"] }],
      initializer,
      input: [{ name: "x", type: type([ELEMENTS]) }],
      output: [{ name: "y", type: type([ELEMENTS]) }],
    },
  }, ModelProtoDesc);
}

Deno.test("io: a model with 2.5 GiB of external data round-trips tensor by tensor", async () => {
  const t0 = performance.now();
  const files = new Map<string, Uint8Array>([["/virt/m.onnx", bigModel()]]);
  /** Files written: where each chunk landed and which source tensor it came from (-1: padding). */
  const written = new Map<string, { at: number; length: number; source: number }[]>();
  let peakRss = 0;
  const sample = () => peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
  const readChunks = (path: string, offset: number, length: number): Uint8Array => {
    const chunk = written.get(path)!.find((c) => c.at === offset && c.length === length);
    if (!chunk) throw new RangeError(`no chunk of ${length} bytes at ${offset} in ${path}`);
    return pattern(chunk.source, length);
  };
  const fs: FileSystem = {
    readFile: (path) => Promise.resolve(files.get(path)!),
    readRange(path, offset, length) {
      sample();
      if (path === "/virt/big.data") {
        assertEquals(offset % BYTES, 0);
        return pattern(offset / BYTES, length);
      }
      return readChunks(path, offset, length);
    },
    stat(path) {
      if (path === "/virt/big.data") return { isFile: true, size: TENSORS * BYTES };
      if (files.has(path)) return { isFile: true, size: files.get(path)!.length };
      const chunks = written.get(path)!;
      return { isFile: true, size: chunks.reduce((a, c) => Math.max(a, c.at + c.length), 0) };
    },
    realPath(path) {
      const p = path.replace(/\/$/, "");
      if (p !== "/virt" && p !== "/virt/out" && !files.has(p) && !written.has(p) && p !== "/virt/big.data") {
        throw Object.assign(new Error(`${p} not found`), { name: "NotFound" });
      }
      return p;
    },
    create(path) {
      const chunks: { at: number; length: number; source: number }[] = [];
      const keep: Uint8Array[] = [];
      let pos = 0;
      written.set(path, chunks);
      return {
        write(chunk) {
          sample();
          // A tensor chunk carries its source's value; padding is zeros.
          const v = new Float32Array(chunk.buffer, chunk.byteOffset, 1)[0];
          const source = chunk.length === BYTES ? v! - 1 : -1;
          if (chunk.length === BYTES) assertEquals(pattern(source, 64), chunk.subarray(0, 64));
          chunks.push({ at: pos, length: chunk.length, source });
          if (/\.m\.onnx\.[0-9a-f]{8}\.tmp$/.test(path)) keep.push(chunk.slice());
          pos += chunk.length;
        },
        close() {
          if (keep.length) files.set(path, keep.length === 1 ? keep[0]! : new Uint8Array());
        },
        abort() {},
      };
    },
    rename(from, to) {
      written.set(to, written.get(from)!);
      written.delete(from);
      if (files.has(from)) {
        files.set(to, files.get(from)!);
        files.delete(from);
      }
      return Promise.resolve();
    },
    remove: () => Promise.resolve(),
  };

  const rss0 = Deno.memoryUsage().rss;
  const model = await loadModel("/virt/m.onnx", { fs });
  assert(storedBytes(model) > PROTOBUF_LIMIT);
  const out = await saveModel(model, "/virt/out/m.onnx", { fs });
  assertEquals(out, ["/virt/out/m.onnx.data", "/virt/out/m.onnx"], "external data chosen automatically");
  const data = written.get("/virt/out/m.onnx.data")!.filter((c) => c.source >= 0);
  assertEquals(data.map((c) => c.source), Array.from({ length: TENSORS }, (_, i) => i));
  assertEquals(data.reduce((a, c) => a + c.length, 0), TENSORS * BYTES);
  assertLess(files.get("/virt/out/m.onnx")!.length, 1e5);

  const again = await loadModel("/virt/out/m.onnx", { fs });
  for (const k of [0, 17, TENSORS - 1]) {
    const d = again.graph.initializers[k]!.const!.data as Float32Array;
    assertEquals([d.length, d[0], d[ELEMENTS - 1]], [ELEMENTS, k + 1, k + 1]);
  }
  // Never more than a few tensors (64 MiB each) alive at once, never the 2.5 GiB.
  assertLess(
    peakRss - rss0,
    1024 * 2 ** 20,
    `peak RSS grew by ${((peakRss - rss0) / 2 ** 20).toFixed(0)} MiB`,
  );
  assertLess(performance.now() - t0, 60_000);
});
