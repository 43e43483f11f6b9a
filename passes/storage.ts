/**
 * True storage of converted layers: `bitsPerWeight` = all bits stored for the converted layers (codes,
 * scales, zero points, alphas, exponents: every initializer a pass emitted for a layer's weight) / the number
 * of weights those layers had. Computed from the initializers as they are in the emitted model (element
 * count x the element type's width; packed uint8 tensors count 8 bits per byte), never from a method's own
 * formula, so every method is charged the same way and a storage change is reflected without other edits.
 * @module
 */
import type { Model, Value } from "../onnx/ir.ts";
import { dtypeInfo, sizeOf } from "../onnx/tensor.ts";

/** What one converted layer stores, as a pass declares it in `PassResult.storage`. */
export interface LayerStorage {
  /** The layer (node name). */
  layer: string;
  /** Weights the layer had before conversion (`K · N`). */
  weights: number;
  /** Names of the initializers that hold the layer's converted weight (codes, scales, zero points, ...). */
  initializers: string[];
}

/** The storage account of a model's converted layers. */
export interface StorageAccount {
  /** Converted layers. */
  layers: number;
  /** Their weights before conversion. */
  weights: number;
  /** Bits of the initializers they store (each initializer counted once, even when layers share it). */
  bits: number;
  /** `bits / weights`. */
  bitsPerWeight: number;
  /** Per layer: its bits and bits per weight (a shared initializer is charged to every layer using it). */
  perLayer: { layer: string; weights: number; bits: number; bitsPerWeight: number }[];
}

/**
 * Bits of an initializer as stored: element count x element width.
 *
 * @param model the model holding it (in its main graph or a subgraph: weights inside If/Loop/Scan bodies)
 * @param name the initializer's name
 * @returns the bits
 * @throws {RangeError} when the model has no such initializer
 */
export function initializerBits(model: Model, name: string): number {
  let v = model.graph.initializers.find((i) => i.name === name);
  for (const g of model.allGraphs()) {
    if (v) break;
    v = g.initializers.find((i) => i.name === name);
  }
  const t = v?.constInfo(); // type and dims only: a spilled or lazily loaded tensor stays on disk
  if (!t) {
    throw new RangeError(`Cannot count storage: the model has no initializer "${name}" (declared by a pass)`);
  }
  return sizeOf(t.dims) * dtypeInfo(t.dtype).bits;
}

/**
 * Account the storage of the converted layers, from the initializers as the model holds them now.
 *
 * @param model the converted model
 * @param layers what each converted layer declared
 * @returns totals and per-layer figures; `bitsPerWeight` is NaN without layers
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { DataType, makeTensor } from "../onnx/tensor.ts";
 * import { storageAccount } from "./storage.ts";
 * const m = new Model();
 * m.graph.addInitializer("codes", makeTensor(DataType.UINT8, [4, 1, 16], new Uint8Array(64))); // 512 bits
 * m.graph.addInitializer("scales", makeTensor(DataType.FLOAT, [4], new Float32Array(4))); // 128 bits
 * const a = storageAccount(m, [{ layer: "fc", weights: 128, initializers: ["codes", "scales"] }]);
 * assertEquals(a.bitsPerWeight, 5);
 * ```
 */
export function storageAccount(model: Model, layers: readonly LayerStorage[]): StorageAccount {
  // one index of the initializers by name (first graph first, as initializerBits looks them up): a lookup per
  // declared name, not a scan of every initializer
  const byName = new Map<string, Value>();
  for (const g of model.allGraphs()) {
    for (const v of g.initializers) if (!byName.has(v.name)) byName.set(v.name, v);
  }
  const seen = new Map<string, number>();
  const bitsOf = (n: string) => {
    let b = seen.get(n);
    if (b === undefined) {
      const t = byName.get(n)?.constInfo();
      seen.set(n, b = t ? sizeOf(t.dims) * dtypeInfo(t.dtype).bits : initializerBits(model, n));
    }
    return b;
  };
  const perLayer = layers.map((l) => {
    const bits = l.initializers.reduce((a, n) => a + bitsOf(n), 0);
    return { layer: l.layer, weights: l.weights, bits, bitsPerWeight: bits / l.weights };
  });
  const weights = layers.reduce((a, l) => a + l.weights, 0);
  const bits = [...seen.values()].reduce((a, b) => a + b, 0);
  return {
    layers: layers.length,
    weights,
    bits,
    bitsPerWeight: weights > 0 ? bits / weights : NaN,
    perLayer,
  };
}
