/**
 * Float16 conversion with float32 inputs and outputs: the base of transformers.js's `q4f16` file
 * (`onnx/model_q4f16.onnx`) and of `fp16`. Every float32 initializer is stored as float16 and the graph computes
 * in float16, except the op types listed in `keepFloat32`, which run in float32 between Cast nodes. Graph
 * inputs and outputs keep float32, so a caller feeds and reads the same tensors as for the float model.
 *
 * How types are assigned (one decision per value, so that no value is rounded to float16 twice):
 * - a graph input stays float32; a value produced by a kept-float32 op is float32; every other float value,
 *   initializers included, becomes float16 (an initializer read only by kept-float32 ops stays float32);
 * - where a consumer wants the other type, one Cast per (value, type) is inserted before the first consumer
 *   (a Cast of an initializer is folded by onnxruntime at session creation);
 * - graph outputs get a final Cast to float32 under their original names;
 * - `Cast(to=FLOAT)` becomes `Cast(to=FLOAT16)` and a float `ConstantOfShape` value becomes float16 where the
 *   output is float16.
 *
 * Inputs whose type the ONNX spec fixes to float32 whatever the data type (Resize `scales`) are left alone.
 * @module
 */
import { intAttr, tensorAttr } from "../../onnx/attributes.ts";
import { toHalf } from "../../onnx/evaluate/ops/cast.ts";
import { inferShapes } from "../../onnx/infer.ts";
import type { Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor, type Tensor } from "../../onnx/tensor.ts";
import type { Pass, PassResult } from "../pass.ts";

/** Options of {@link float16Pass}. */
export interface Float16Options {
  /**
   * Op types that keep computing in float32 (between Casts), e.g. Softmax or LayerNormalization where float16
   * range or precision is not enough for a model. @default [] (none: onnxruntime's CPU and wasm builds insert
   * their own Casts around float16 nodes they have no float16 kernel for; its WebGPU build runs them natively)
   */
  keepFloat32?: readonly string[];
}

/** What {@link float16Pass} did. */
export interface Float16Stats {
  /** Float initializers stored as float16. */
  initializers: number;
  /** Nodes left computing in float32, by op type. */
  keptFloat32: Record<string, number>;
  /** Cast nodes inserted. */
  casts: number;
  /** Bytes of float initializers before and after. */
  floatBytesBefore: number;
  /** See {@link Float16Stats.floatBytesBefore}. */
  floatBytesAfter: number;
}

/** Inputs the ONNX spec types as float32 whatever the op's data type. */
const ALWAYS_FLOAT32: Record<string, number[]> = { Resize: [2], Upsample: [1] };

function halfTensor(t: Tensor): Tensor {
  const src = t.data as Float32Array;
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toHalf(src[i]!);
  return makeTensor(DataType.FLOAT16, t.dims, out);
}

const isFloat = (v: Value | null): boolean => v?.type?.elemType === DataType.FLOAT;

/**
 * The float16 pass.
 *
 * @param options which ops stay float32
 * @param stats filled with what the pass did
 * @returns the pass
 * @throws {RangeError} for a model with subgraphs (If / Loop / Scan bodies are not converted)
 */
export function float16Pass(options: Float16Options = {}, stats?: Float16Stats): Pass {
  const keep = new Set(options.keepFloat32 ?? []);
  return {
    name: "float16",
    run(model: Model): PassResult {
      const s = stats ?? newFloat16Stats();
      const g = model.graph;
      if (g.nodes.some((n) => n.subgraphs().length > 0)) {
        throw new RangeError("float16 conversion handles graphs without subgraphs (If/Loop/Scan) only");
      }
      inferShapes(model);
      const blocked = (n: Node) => keep.has(n.opType) && n.domain === "";
      // 1. The type each float value lives in.
      const half = new Set<Value>();
      const inits = new Set(g.initializers);
      for (const v of g.initializers) {
        if (isFloat(v) || v.const?.dtype === DataType.FLOAT) {
          if (v.uses.some((u) => !blocked(u.node) && !ALWAYS_FLOAT32[u.node.opType]?.includes(u.index))) {
            half.add(v);
          }
        }
      }
      for (const n of g.nodes) {
        if (blocked(n)) continue;
        for (const o of n.outputs) {
          if (isFloat(o)) half.add(o);
          else if (o.uses.length > 0 && o.type === undefined) {
            throw new TypeError(
              `float16: the type of "${o.name}" (output of ${n.opType} "${n.name}") is unknown`,
            );
          }
        }
      }
      // 2. Casts where a consumer wants the other type.
      const casts = new Map<string, Value>();
      const castOf = (v: Value, to: DataType, before: Node): Value => {
        const key = `${v.name}\u0000${to}`;
        let c = casts.get(key);
        if (!c) {
          const suffix = to === DataType.FLOAT16 ? "fp16" : "fp32";
          const node = g.addNode(Op.Cast.type, [v], [`${v.name}_${suffix}`], {
            name: g.uniqueNodeName(`${v.name}_cast_${suffix}`),
            attrs: [intAttr("to", to)],
            before,
          });
          c = node.outputs[0]!;
          c.type = { elemType: to, ...(v.type?.shape ? { shape: [...v.type.shape] } : {}) };
          casts.set(key, c);
          s.casts++;
        }
        return c;
      };
      for (const n of [...g.nodes]) {
        if (blocked(n)) s.keptFloat32[n.opType] = (s.keptFloat32[n.opType] ?? 0) + 1;
        n.inputs.forEach((v, i) => {
          if (!v || !(isFloat(v) || (inits.has(v) && v.const?.dtype === DataType.FLOAT))) return;
          const want32 = blocked(n) || ALWAYS_FLOAT32[n.opType]?.includes(i) === true;
          const is16 = half.has(v);
          if (want32 && is16) n.setInput(i, castOf(v, DataType.FLOAT, n));
          if (!want32 && !is16) n.setInput(i, castOf(v, DataType.FLOAT16, n));
        });
      }
      // 3. Graph outputs back to float32 under their names.
      g.outputs.forEach((v, i) => {
        if (!half.has(v)) return;
        const name = v.name;
        g.rename(v, g.value(`${name}_fp16`).name);
        const c = g.addNode(Op.Cast.type, [v], [name], {
          name: g.uniqueNodeName(`${name}_cast_fp32`),
          attrs: [intAttr("to", DataType.FLOAT)],
        });
        c.outputs[0]!.type = {
          elemType: DataType.FLOAT,
          ...(v.type?.shape ? { shape: [...v.type.shape] } : {}),
        };
        g.outputs[i] = c.outputs[0]!;
        s.casts++;
      });
      // 4. Retype values, convert initializers, patch attributes that name the float type.
      for (const v of half) {
        if (inits.has(v)) {
          const t = v.const!;
          s.floatBytesBefore += t.data.length * 4;
          v.const = halfTensor(t);
          s.floatBytesAfter += t.data.length * 2;
          s.initializers++;
        }
        v.type = { elemType: DataType.FLOAT16, ...(v.type?.shape ? { shape: v.type.shape } : {}) };
      }
      for (const v of g.initializers) {
        if (!half.has(v) && v.const?.dtype === DataType.FLOAT) {
          s.floatBytesBefore += v.const.data.length * 4;
          s.floatBytesAfter += v.const.data.length * 4;
        }
      }
      for (const n of g.nodes) {
        const out = n.outputs[0];
        if (!out || !half.has(out)) continue;
        if (isOp(n, Op.Cast) && n.a.int("to") === DataType.FLOAT) {
          n.attrs.set("to", intAttr("to", DataType.FLOAT16));
        } else if (isOp(n, Op.ConstantOfShape)) {
          const t = n.attrs.get("value")?.value as Tensor | undefined;
          n.attrs.set(
            "value",
            tensorAttr("value", halfTensor(t ?? makeTensor(DataType.FLOAT, [1], new Float32Array(1)))),
          );
        }
      }
      g.sort();
      const kept = Object.entries(s.keptFloat32).map(([k, c]) => `${k} ${c}`).join(", ");
      return {
        modified: half.size > 0,
        notes: [
          `${s.initializers} initializers stored as float16 (${s.floatBytesBefore} -> ${s.floatBytesAfter} bytes), ${s.casts} Casts`,
          ...(kept ? [`kept in float32 (no float16 kernel on onnxruntime's CPU/wasm): ${kept}`] : []),
        ],
      };
    },
  };
}

/** Empty statistics to pass to {@link float16Pass}. */
export function newFloat16Stats(): Float16Stats {
  return { initializers: 0, keptFloat32: {}, casts: 0, floatBytesBefore: 0, floatBytesAfter: 0 };
}
