/**
 * Dedupe: initializers of one graph holding identical tensors (same element type, dims and bytes) are
 * merged into the first of them. Graph inputs (overridable initializers) and outputs of any graph keep their
 * identity and are never merged away.
 * @module
 */
import type { Graph, Model, Value } from "../../onnx/ir.ts";
import { DataType } from "../../onnx/tensor.ts";
import { tensorBytes } from "../../onnx/tensor_proto.ts";
import type { Pass, PassContext, PassResult } from "../pass.ts";

/** Words a hash reads at most: beyond, an evenly spaced sample (every merge compares all bytes anyway). */
const HASH_WORDS = 1024;

/**
 * A 32-bit hash of the bytes (FNV-1a over 32-bit words where the bytes are 4-aligned, at most
 * {@link HASH_WORDS} of them evenly spaced, then the tail bytes): it only buckets candidates, every merge
 * compares all the bytes, so its quality changes speed, never a result. Equal bytes hash equal.
 */
function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5 ^ b.length;
  let i = 0;
  if ((b.byteOffset & 3) === 0) {
    const w = new Int32Array(b.buffer, b.byteOffset, b.length >>> 2);
    const n = w.length;
    if (n <= HASH_WORDS) {
      for (let k = 0; k < n; k++) h = Math.imul(h ^ w[k]!, 0x01000193) ^ (h >>> 15);
    } else {
      for (let k = 0; k < HASH_WORDS; k++) {
        h = Math.imul(h ^ w[Math.floor(k * n / HASH_WORDS)]!, 0x01000193) ^ (h >>> 15);
      }
      h = Math.imul(h ^ w[n - 1]!, 0x01000193) ^ (h >>> 15);
    }
    i = n * 4;
  }
  for (; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function dedupeGraph(g: Graph, pinned: ReadonlySet<Value>): number {
  // Only hashes are kept; a candidate twin is re-read to compare bytes. Tensors are read with peekConst, so
  // lazily loaded external weights pass through one at a time (models larger than memory).
  const seen = new Map<string, Value[]>();
  let merged = 0;
  for (const v of [...g.initializers]) {
    if (v.isGraphInput || pinned.has(v)) continue;
    const t = v.peekConst();
    if (!t || t.dtype === DataType.STRING) continue;
    const bytes = tensorBytes(t);
    const key = `${t.dtype}|${t.dims.join(",")}|${hashBytes(bytes)}`;
    const bucket = seen.get(key) ?? [];
    const twin = bucket.find((e) => sameBytes(tensorBytes(e.peekConst()!), bytes));
    if (twin) {
      v.replaceAllUsesWith(twin);
      g.removeInitializer(v);
      merged++;
    } else {
      bucket.push(v);
      seen.set(key, bucket);
    }
  }
  for (const n of g.nodes) for (const sg of n.subgraphs()) merged += dedupeGraph(sg, pinned);
  return merged;
}

/**
 * Merge identical initializers in every graph of a model (each graph separately).
 *
 * @param model the model (changed in place)
 * @returns the number of initializers merged away
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { dedupeInitializers } from "./dedupe.ts";
 * const m = new Model();
 * const a = m.graph.addInitializer("a", makeTensor(DataType.FLOAT, [2], Float32Array.of(1, 2)));
 * const b = m.graph.addInitializer("b", makeTensor(DataType.FLOAT, [2], Float32Array.of(1, 2)));
 * const n = m.graph.addNode("Add", [a, b], ["y"]);
 * m.graph.outputs.push(n.outputs[0]!);
 * assertEquals(dedupeInitializers(m), 1);
 * assertEquals(n.inputs.map((v) => v?.name), ["a", "a"]);
 * ```
 */
export function dedupeInitializers(model: Model): number {
  // Outputs of any graph (a subgraph may output an outer initializer directly) keep their identity.
  const pinned = new Set<Value>();
  for (const g of model.allGraphs()) for (const v of g.outputs) pinned.add(v);
  return dedupeGraph(model.graph, pinned);
}

/** The dedupe pass (see {@link dedupeInitializers}). */
export const dedupe = {
  name: "dedupe",
  run(model: Model, _ctx?: PassContext): PassResult {
    const n = dedupeInitializers(model);
    return { modified: n > 0, notes: n > 0 ? [`merged ${n} duplicate initializers`] : [] };
  },
} satisfies Pass;
