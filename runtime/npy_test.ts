import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { decodeNpy, decodeNpz, encodeNpy, encodeNpz } from "./npy.ts";

const TESTDATA = new URL("../testdata/", import.meta.url);

/** Build a .npy file by hand: header dict text, version, and raw data bytes. */
function npy(dict: string, data: number[], version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const pad = (64 - ((prefix + dict.length + 1) % 64)) % 64;
  const header = new TextEncoder().encode(dict + " ".repeat(pad) + "\n");
  const out = new Uint8Array(prefix + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(header, prefix);
  out.set(data, prefix + header.length);
  return out;
}

Deno.test("decodeNpy reads the speech-mel eval set (217 x 76 x 32 x 1 float32)", () => {
  const arrays = decodeNpz(Deno.readFileSync(new URL("speech-mel-eval.npz", TESTDATA)));
  assertEquals([...arrays.keys()], ["input_1"]);
  const x = arrays.get("input_1")!;
  assertEquals(x.dtype, DataType.FLOAT);
  assertEquals(x.dims, [217, 76, 32, 1]);
  const data = x.data as Float32Array;
  let min = Infinity, max = -Infinity, sum = 0;
  for (const v of data) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  // Reference values from numpy: a.min(), a.max(), a.mean(), a[100, 40, :3, 0].
  assertAlmostEquals(min, 4.031163, 1e-5);
  assertAlmostEquals(max, 12.267443, 1e-5);
  assertAlmostEquals(sum / data.length, 7.16266, 1e-4);
  const at = (n: number, t: number, m: number) => data[((n * 76 + t) * 32 + m) * 1]!;
  assertAlmostEquals(at(100, 40, 0), 9.842349, 1e-5);
  assertAlmostEquals(at(100, 40, 1), 10.209438, 1e-5);
  assertAlmostEquals(at(100, 40, 2), 10.178701, 1e-5);
});

Deno.test("encodeNpy/decodeNpy round trip every supported dtype", () => {
  const cases: Tensor[] = [
    makeTensor(DataType.FLOAT, [2, 3], new Float32Array([0.5, -1, 2, 3.25, -0, 1e-30])),
    makeTensor(DataType.DOUBLE, [2], new Float64Array([Math.PI, -1e300])),
    makeTensor(DataType.FLOAT16, [2], new Uint16Array([0x3c00, 0xc000])),
    makeTensor(DataType.INT8, [3], new Int8Array([-128, 0, 127])),
    makeTensor(DataType.UINT8, [3], new Uint8Array([0, 1, 255])),
    makeTensor(DataType.INT16, [2], new Int16Array([-32768, 32767])),
    makeTensor(DataType.UINT16, [2], new Uint16Array([0, 65535])),
    makeTensor(DataType.INT32, [1, 2], new Int32Array([-2147483648, 7])),
    makeTensor(DataType.UINT32, [2], new Uint32Array([4294967295, 1])),
    makeTensor(DataType.INT64, [2], new BigInt64Array([-(2n ** 63n), 2n ** 40n])),
    makeTensor(DataType.UINT64, [1], new BigUint64Array([2n ** 64n - 1n])),
    makeTensor(DataType.BOOL, [2, 1], new Uint8Array([1, 0])),
    makeTensor(DataType.FLOAT, [], new Float32Array([42])),
    makeTensor(DataType.FLOAT, [0, 4], new Float32Array(0)),
  ];
  for (const t of cases) {
    const bytes = encodeNpy(t);
    assertEquals((bytes[8]! | (bytes[9]! << 8)) + 10 <= bytes.length, true);
    assertEquals((10 + (bytes[8]! | (bytes[9]! << 8))) % 64, 0);
    const back = decodeNpy(bytes);
    assertEquals(back.dtype, t.dtype);
    assertEquals(back.dims, t.dims);
    assertEquals(back.data, t.data);
  }
});

Deno.test("decodeNpy handles big-endian data and v2/v3 headers", () => {
  const be = decodeNpy(
    npy("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", [0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]),
  );
  assertEquals(Array.from(be.data as Int32Array), [258, -2]);
  const bef = decodeNpy(
    npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", [
      0x40,
      0x09,
      0x21,
      0xfb,
      0x54,
      0x44,
      0x2d,
      0x18,
    ]),
  );
  assertAlmostEquals((bef.data as Float64Array)[0]!, Math.PI, 1e-15);
  const v2 = decodeNpy(npy("{'descr': '<u2', 'fortran_order': False, 'shape': (1, 1), }", [0x34, 0x12], 2));
  assertEquals(v2.dims, [1, 1]);
  assertEquals((v2.data as Uint16Array)[0], 0x1234);
  const v3 = decodeNpy(npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [1, 0, 1], 3));
  assertEquals(v3.dtype, DataType.BOOL);
  assertEquals(Array.from(v3.data as Uint8Array), [1, 0, 1]);
});

Deno.test("decodeNpy rejects bad files with a SyntaxError naming the problem", () => {
  assertThrows(() => decodeNpy(new Uint8Array(20)), SyntaxError, "magic");
  assertThrows(
    () => decodeNpy(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Array(16).fill(0))),
    SyntaxError,
    "Fortran order",
  );
  assertThrows(
    () => decodeNpy(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Array(8).fill(0))),
    SyntaxError,
    "dtype '<c8'",
  );
  assertThrows(
    () => decodeNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", [0, 0, 0, 0])),
    SyntaxError,
    "data has 4 bytes, expected 12",
  );
  assertThrows(() => decodeNpy(npy("{'descr': '<f4', 'shape': (3,), }", [])), SyntaxError, "fortran_order");
  const v9 = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", [0, 0, 0, 0]);
  v9[6] = 9;
  assertThrows(() => decodeNpy(v9), SyntaxError, "version 9.0");
  assertThrows(() => decodeNpz(new Uint8Array([1, 2, 3, 4])), SyntaxError, "not a zip");
});

Deno.test("encodeNpz/decodeNpz round trip, stored and deflated", () => {
  const arrays = new Map<string, Tensor>([
    ["input_ids", makeTensor(DataType.INT64, [2, 3], new BigInt64Array([1n, 2n, 3n, 4n, 5n, 6n]))],
    ["mask", makeTensor(DataType.FLOAT, [2, 3], new Float32Array([1, 1, 1, 1, 0, 0]))],
  ]);
  for (const compress of [false, true]) {
    const back = decodeNpz(encodeNpz(arrays, { compress }));
    assertEquals([...back.keys()], ["input_ids", "mask"]);
    for (const [k, t] of arrays) {
      assertEquals(back.get(k)!.dims, t.dims);
      assertEquals(back.get(k)!.data, t.data);
    }
  }
  assertThrows(() => encodeNpy(makeTensor(DataType.STRING, [1])), TypeError, "STRING");
});
