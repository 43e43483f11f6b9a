/**
 * Text recognition metrics for PP-OCR: the CTC dictionary, greedy CTC decoding, edit distance, and the
 * exact-line / character-accuracy meter (definitions in MODELS.md).
 * @module
 */
import type { Tensor } from "../onnx/tensor.ts";

/**
 * The PP-OCR CTC dictionary: `["blank", ...lines of the keys file, " "]` (PaddleOCR `CTCLabelDecode` with
 * `use_space_char`). For `ppocr_keys_v1.txt` that is 6625 entries, the width of the rec model's output.
 *
 * @param keysText the keys file (one character per line; `\r\n` accepted, a final newline ignored)
 * @returns the dictionary, index = class id
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ppocrDictionary } from "./ctc.ts";
 * assertEquals(ppocrDictionary("a\nb\n"), ["blank", "a", "b", " "]);
 * ```
 */
export function ppocrDictionary(keysText: string): string[] {
  const lines = keysText.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return ["blank", ...lines, " "];
}

/**
 * Greedy CTC decoding: argmax per time step, merge repeats, drop the blank (index 0).
 *
 * @param scores probabilities or logits [B, T, C] (float32), C = dictionary length
 * @param dictionary class id -> string (see {@link ppocrDictionary})
 * @returns one decoded string per batch item
 * @throws {RangeError} when the shape is not [B, T, C] with C = dictionary length
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { ctcGreedyDecode } from "./ctc.ts";
 * // steps argmax: a a blank a b -> "aab"
 * const p = [[0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]].flat();
 * const t = makeTensor(DataType.FLOAT, [1, 5, 3], new Float32Array(p));
 * assertEquals(ctcGreedyDecode(t, ["blank", "a", "b"]), ["aab"]);
 * ```
 */
export function ctcGreedyDecode(scores: Tensor, dictionary: readonly string[]): string[] {
  const [B, T, C] = scores.dims;
  if (scores.dims.length !== 3 || C !== dictionary.length) {
    throw new RangeError(
      `CTC scores must be [batch, steps, ${dictionary.length}], got [${scores.dims.join(", ")}]`,
    );
  }
  const data = scores.data as ArrayLike<number>;
  const out: string[] = [];
  for (let b = 0; b < B!; b++) {
    let text = "";
    let prev = -1;
    for (let t = 0; t < T!; t++) {
      const base = (b * T! + t) * C;
      let best = 0;
      for (let c = 1; c < C; c++) if (data[base + c]! > data[base + best]!) best = c;
      if (best !== 0 && best !== prev) text += dictionary[best];
      prev = best;
    }
    out.push(text);
  }
  return out;
}

/**
 * Levenshtein distance over Unicode code points (insert, delete, substitute: cost 1 each).
 *
 * @param a first string
 * @param b second string
 * @returns the edit distance
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { editDistance } from "./ctc.ts";
 * assertEquals(editDistance("kitten", "sitting"), 3);
 * ```
 */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]!;
}

/**
 * Accumulates OCR line results. Both strings are trimmed first (MODELS.md: "compare after trimming
 * whitespace"). Character accuracy is aggregated over the whole set, 1 - (sum of edit distances) / (sum of
 * reference lengths in code points), so long lines weigh more than short ones; it can go below 0 when the
 * predictions are much longer than the references.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OcrMeter } from "./ctc.ts";
 * const m = new OcrMeter();
 * m.add("hello ", "hello");
 * m.add("wor1d", "world");
 * assertEquals([m.lines, m.exact, m.charAccuracy], [2, 1, 0.9]);
 * ```
 */
export class OcrMeter {
  /** Lines seen. */
  lines = 0;
  /** Lines whose trimmed prediction equals the trimmed reference. */
  exact = 0;
  /** Sum of edit distances. */
  edits = 0;
  /** Sum of reference lengths (code points). */
  referenceChars = 0;

  /**
   * Add one line.
   *
   * @param predicted the decoded string
   * @param reference the true string
   */
  add(predicted: string, reference: string): void {
    const p = predicted.trim();
    const r = reference.trim();
    this.lines++;
    if (p === r) this.exact++;
    this.edits += editDistance(p, r);
    this.referenceChars += [...r].length;
  }

  /** Fraction of lines matched exactly (NaN before any line). */
  get exactRate(): number {
    return this.exact / this.lines;
  }

  /** 1 - sum edit distance / sum reference length (1 when there are no reference characters). */
  get charAccuracy(): number {
    return this.referenceChars === 0
      ? (this.edits === 0 ? 1 : -Infinity)
      : 1 - this.edits / this.referenceChars;
  }
}
