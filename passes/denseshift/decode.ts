/**
 * Decode-at-load for DenseShift files (issue 17, item 1; the ShiftAdd counterpart is
 * passes/shiftadd/decode.ts): every `shiftkit.ShiftMatMul` becomes a float `MatMul` (+ `Add` for its bias)
 * and every `shiftkit.ShiftConv` a float `Conv` with the same Conv attributes (kernel_shape, strides, pads,
 * dilations, group, auto_pad) and bias, on the weight `W_hat = alpha * ±2^p` that shiftkit's own decoder
 * computes from the packed codes (quant/dense_shift.ts `decodeShiftWeight`: exact, the same float32 values
 * as the op's function body, passes/denseshift/_dense_shift_body.ts).
 *
 * onnxruntime folds a DenseShift file's decode functions at session creation, so the packed file runs at
 * float speed once loaded; decoding here instead moves that work out of session creation (a runtime that
 * cannot fold, or a load-time budget) and gives a plain float model. One layer's codes and float weight are
 * in memory at a time (each decoded weight goes to `ctx.spill` when the context has one).
 * @module
 */
import type { Model, Node, Value } from "../../onnx/ir.ts";
import { isOp, Op } from "../../onnx/ops.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { decodeShiftWeight } from "../../quant/dense_shift.ts";
import { type DecodePass, type DecodeStats, dropUnusedShiftkit, replaceDecoded } from "../_decode.ts";
import type { PassContext, PassResult } from "../pass.ts";

/** Why a packed node cannot be decoded, or "" when it can. */
function whyNot(node: Node): string {
  const [x, codes, alpha] = node.inputs;
  if (!x) return "it has no input X";
  if (!codes?.isConst || !alpha?.isConst) return "its codes or alphas are not constants";
  const c = codes.constInfo()!;
  if (c.dtype !== DataType.UINT8) return "its codes are not uint8";
  if (alpha.constInfo()!.dtype !== DataType.FLOAT) return "its alphas are not float32";
  return "";
}

/**
 * The pass: every ShiftMatMul / ShiftConv of the main graph with constant codes and alphas becomes
 * `MatMul(X, W_hat)` (`+ bias`) / `Conv(X, W_hat, B)`; the codes and alphas, and the ops' model-local
 * functions and the `shiftkit` opset import, go when nothing else uses them. Nodes whose packed inputs are not
 * constants, or that sit inside a subgraph (If, Loop), are left and listed.
 *
 * @returns the pass; after a run, `stats` holds counts and sizes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { intAttr, intsAttr } from "../../onnx/attributes.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { runPipeline } from "../pass.ts";
 * import { decodeDenseShiftPass } from "./decode.ts";
 * const m = new Model();
 * m.opsets.set("", 13).set("shiftkit", 1);
 * const g = m.graph, x = g.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 2] };
 * g.inputs.push(x);
 * // W [2, 1] = alpha 0.5 * [+4, -1]: 3-bit codes 2 and 4 | 0 = 4, packed 2 | 4 << 3 = 0x22.
 * const codes = g.addInitializer("w_codes", makeTensor(DataType.UINT8, [1], new Uint8Array([0x22])));
 * const alpha = g.addInitializer("w_alpha", makeTensor(DataType.FLOAT, [1], new Float32Array([0.5])));
 * const y = g.addNode("ShiftMatMul", [x, codes, alpha], ["y"], { domain: "shiftkit", attrs: [
 *   intAttr("bits", 3), intsAttr("weight_shape", [2, 1])] }).outputs[0]!;
 * y.type = { elemType: DataType.FLOAT, shape: [1, 1] };
 * g.outputs.push(y);
 * await runPipeline(m, [decodeDenseShiftPass()], {}, { verifyEach: true });
 * assertEquals(g.nodes.map((n) => n.opType), ["MatMul"]);
 * assertEquals(Array.from(g.nodes[0]!.inputs[1]!.const!.data as Float32Array), [2, -0.5]);
 * ```
 */
export function decodeDenseShiftPass(): DecodePass {
  const ops = [Op.ShiftMatMul.type, Op.ShiftConv.type] as const;
  const pass: DecodePass = {
    name: "decode-denseshift",
    ops,
    run(model: Model, ctx: PassContext): Promise<PassResult> {
      const g = model.graph;
      const nodes = g.nodes.filter((n) => isOp(n, Op.ShiftMatMul) || isOp(n, Op.ShiftConv));
      const stats: DecodeStats = { layers: 0, byOp: {}, floatBytes: 0, packedBytes: 0 };
      const skipped: string[] = [];
      for (const node of nodes) {
        ctx.reporter.progress(pass.name, stats.layers, nodes.length);
        const why = whyNot(node);
        if (why) {
          skipped.push(`${node.name}: ${why}`);
          continue;
        }
        const [x, codes, alpha, bias] = node.inputs as [Value, Value, Value, Value | null | undefined];
        const conv = isOp(node, Op.ShiftConv);
        const shape = node.a.ints("weight_shape");
        const data = decodeShiftWeight({
          packed: codes.peekConst()!.data as Uint8Array,
          alpha: alpha.peekConst()!.data as Float32Array,
          bits: node.a.int("bits"),
          shape,
          axis: conv ? 0 : 1,
        });
        const w = g.addInitializer(
          `${codes.name.replace(/_codes$/, "")}_decoded`,
          makeTensor(DataType.FLOAT, shape, data),
        );
        const out = node.outputs[0]!;
        let y: Value;
        if (conv) {
          const attrs = [...node.attrs.values()].filter((a) =>
            a.name !== "bits" && a.name !== "weight_shape"
          );
          y = g.addNode(Op.Conv.type, bias ? [x, w, bias] : [x, w], [`${out.name}_decoded`], {
            name: g.uniqueNodeName(`${node.name}_decoded`),
            attrs,
            before: node,
          }).outputs[0]!;
        } else {
          y = g.addNode(Op.MatMul.type, [x, w], [`${out.name}_decoded`], {
            name: g.uniqueNodeName(`${node.name}_decoded`),
            before: node,
          }).outputs[0]!;
          if (bias) {
            y.type = { elemType: DataType.FLOAT };
            y = g.addNode(Op.Add.type, [y, bias], [`${out.name}_biased`], { before: node }).outputs[0]!;
          }
        }
        replaceDecoded(g, node, y, stats, 4 * data.length);
        for (const v of [codes, alpha]) {
          stats.packedBytes += v.constInfo()!.dims.reduce((a, b) => a * b, 1) * (v === alpha ? 4 : 1);
          if (v.uses.length === 0 && !v.isGraphOutput && v.graph === g) g.removeInitializer(v);
        }
        ctx.spill?.([w]); // one layer's float weight in memory at a time
      }
      ctx.reporter.progress(pass.name, nodes.length, nodes.length);
      for (const sg of g.subgraphs()) {
        for (const n of sg.nodes) {
          if (isOp(n, Op.ShiftMatMul) || isOp(n, Op.ShiftConv)) {
            skipped.push(`${n.name}: inside a subgraph`);
          }
        }
      }
      dropUnusedShiftkit(model, ops);
      pass.stats = stats;
      const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
      const counts = Object.entries(stats.byOp).map(([op, n]) => `${n} ${op}`).join(", ");
      return Promise.resolve({
        modified: stats.layers > 0,
        notes: [
          stats.layers > 0
            ? `decoded ${counts} to float MatMul / Conv: ${mb(stats.packedBytes)} packed -> ${
              mb(stats.floatBytes)
            } float`
            : "no ShiftMatMul / ShiftConv to decode",
          ...skipped.map((s) => `left packed: ${s}`),
        ],
        sites: { converted: stats.layers, skipped, what: "ShiftMatMul / ShiftConv nodes" },
      });
    },
  };
  return pass;
}
