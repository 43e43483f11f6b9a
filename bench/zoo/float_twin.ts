/**
 * The float twin of an onnxruntime QOperator model (QuantizeLinear -> QLinearConv / QLinearMatMul /
 * com.microsoft QLinearAdd, QLinearGlobalAveragePool -> DequantizeLinear): every integer op becomes its float op
 * on the dequantized weights (`(w - zp) * scale`, per channel; int32 bias `b * x_scale * w_scale`), followed by
 * a Clip to the range its uint8/int8 output could hold (`(qmin - zp) * s .. (qmax - zp) * s`), which is where
 * such models keep their fused ReLU/ReLU6. The twin computes what the integer model computes, without the
 * rounding of activations: a float CNN whose weights are the released ones.
 *
 * Why in the zoo: the ONNX model zoo's MobileNetV2 is 14 MB as float, over what the zoo fetches from GitHub
 * (files under 4 MiB); its int8 release (3.5 MB) is under it, and its twin is a float ImageNet MobileNetV2.
 * @module
 */
import type { Graph, Node, Value } from "../../onnx/ir.ts";
import type { Model } from "../../onnx/ir.ts";
import { DataType, makeTensor, type Tensor, toNumbers } from "../../onnx/tensor.ts";

const num = (v: Value | null): number[] => {
  const t = v?.const;
  if (!t) throw new TypeError(`float twin: input "${v?.name}" is not a constant`);
  return toNumbers(t);
};

/** Range of the element type of a zero point (uint8 0..255, int8 -128..127). */
function qRange(zp: Value | null): [number, number] {
  return zp?.const?.dtype === DataType.INT8 ? [-128, 127] : [0, 255];
}

/** Dequantize a constant along `axis` (per-tensor when scale has one element). */
function dequant(q: Tensor, scale: number[], zp: number[], axis: number): Float32Array {
  const d = toNumbers(q), out = new Float32Array(d.length);
  const inner = q.dims.slice(axis + 1).reduce((a, b) => a * b, 1), ch = q.dims[axis] ?? 1;
  for (let i = 0; i < d.length; i++) {
    const c = scale.length === 1 ? 0 : Math.floor(i / inner) % ch;
    out[i] = (d[i]! - (zp[c] ?? zp[0]!)) * scale[c]!;
  }
  return out;
}

/** Replace `node` by `ops` (built by `make`), the last op writing the node's output through a Clip. */
function replace(
  g: Graph,
  node: Node,
  outScale: Value | null,
  outZp: Value | null,
  make: (out: string) => Node,
) {
  const out = node.outputs[0]!;
  const pre = `${out.name}_twin_pre`;
  const op = make(pre);
  const [lo, hi] = qRange(outZp);
  const s = num(outScale)[0]!, z = num(outZp)[0]!;
  const min = g.addInitializer(
    `${out.name}_twin_min`,
    makeTensor(DataType.FLOAT, [], Float32Array.of((lo - z) * s)),
  );
  const max = g.addInitializer(
    `${out.name}_twin_max`,
    makeTensor(DataType.FLOAT, [], Float32Array.of((hi - z) * s)),
  );
  const clip = g.addNode("Clip", [op.outputs[0]!, min, max], [`${out.name}_twin`], { before: node });
  out.replaceAllUsesWith(clip.outputs[0]!);
  g.removeNode(node);
}

/**
 * Turn a QOperator model into its float twin, in place.
 * @param model a model made by onnxruntime's static quantizer in QOperator format
 * @returns how many integer nodes were replaced
 * @throws {TypeError} on an integer op it does not know (the twin would be wrong)
 */
export function floatTwin(model: Model): number {
  const g = model.graph;
  let n = 0;
  for (const node of [...g.nodes]) {
    const i = (k: number) => node.inputs[k] ?? null;
    const before = { before: node };
    switch (node.opType) {
      case "QuantizeLinear":
      case "DequantizeLinear": {
        const out = node.outputs[0]!, src = node.inputs[0]!, name = out.name, isOutput = out.isGraphOutput;
        out.replaceAllUsesWith(src);
        g.removeNode(node);
        // the graph keeps its output names
        if (isOutput) {
          g.rename(src, name);
          src.type = out.type;
        }
        n++;
        break;
      }
      case "QLinearConv": {
        const w = i(3)!.const!, ws = num(i(4)), wz = num(i(5)), xs = num(i(1))[0]!;
        replace(g, node, i(6), i(7), (pre) => {
          const W = g.addInitializer(`${pre}_w`, makeTensor(DataType.FLOAT, w.dims, dequant(w, ws, wz, 0)));
          const ins = [i(0), W];
          if (i(8)) {
            const b = num(i(8));
            ins.push(g.addInitializer(
              `${pre}_b`,
              makeTensor(
                DataType.FLOAT,
                [b.length],
                Float32Array.from(b, (v, c) => v * xs * ws[ws.length === 1 ? 0 : c]!),
              ),
            ));
          }
          return g.addNode("Conv", ins, [pre], { ...before, attrs: node.attrs.values() });
        });
        n++;
        break;
      }
      case "QLinearMatMul": {
        const w = i(3)!.const!, ws = num(i(4)), wz = num(i(5));
        if (w.dims.length !== 2) {
          throw new TypeError(`float twin: QLinearMatMul "${node.name}" weight is not 2-D`);
        }
        replace(g, node, i(6), i(7), (pre) => {
          const W = g.addInitializer(`${pre}_w`, makeTensor(DataType.FLOAT, w.dims, dequant(w, ws, wz, 1)));
          return g.addNode("MatMul", [i(0), W], [pre], before);
        });
        n++;
        break;
      }
      case "QLinearAdd": {
        const side = (k: number): Value => {
          const v = i(k)!;
          if (!v.isConst) return v;
          const t = v.const!;
          return g.addInitializer(
            `${v.name}_twin`,
            makeTensor(DataType.FLOAT, t.dims, dequant(t, num(i(k + 1)), num(i(k + 2)), 0)),
          );
        };
        replace(g, node, i(6), i(7), (pre) => g.addNode("Add", [side(0), side(3)], [pre], before));
        n++;
        break;
      }
      case "QLinearGlobalAveragePool": {
        if (node.a.int("channels_last", 0) !== 0) {
          throw new TypeError(`float twin: "${node.name}" is channels_last`);
        }
        replace(g, node, i(3), i(4), (pre) => g.addNode("GlobalAveragePool", [i(0)], [pre], before));
        n++;
        break;
      }
      default:
        if (node.opType.startsWith("QLinear") || node.opType.endsWith("Integer")) {
          throw new TypeError(
            `float twin: no float form for ${node.domain || "ai.onnx"}.${node.opType} "${node.name}"`,
          );
        }
    }
  }
  for (const v of [...g.initializers]) if (v.uses.length === 0 && !v.isGraphOutput) g.removeInitializer(v);
  return n;
}
