/**
 * Decode-at-load for ShiftAdd files (issue 17, item 1: "where [constant folding] cannot work, a documented
 * `--decode-at-load` style option"): every `shiftkit.ShiftAddMatMul` becomes a float `MatMul` (+ `Add` for
 * its bias) on the weight `Ŵ` that shiftkit's own decoder computes from the packed planes and alphas
 * (quant/shiftadd_pack.ts `unpackShiftAdd`, the spec's dequantization: float64 sums rounded once).
 *
 * Why: onnxruntime decodes a ShiftAdd file once at session creation by folding the op's function body, and
 * that fold holds about 80 bytes per weight while it runs (every layer's decode intermediates at once), so a
 * 24-layer 1536-wide file (680 M weights) cannot be folded in memory; with graph optimizations disabled it
 * loads but decodes every layer on every call. Decoding here instead goes layer by layer, one layer's packed
 * tensors and float weight in memory at a time (each decoded weight goes to `ctx.spill` when the context
 * has one, then to external data when saved: api/decode.ts), and onnxruntime loads a plain float model with
 * its optimizations on. The compact file stays the distributed artefact; the float model is a cache.
 * @module
 */
import { isOp, Op } from "../../onnx/ops.ts";
import type { Model, Value } from "../../onnx/ir.ts";
import { DataType, makeTensor } from "../../onnx/tensor.ts";
import { shiftAddPackedFrom } from "../../onnx/evaluate/ops/shift_add.ts";
import { unpackShiftAdd } from "../../quant/shiftadd_pack.ts";
import { type DecodePass, type DecodeStats, dropUnusedShiftkit, replaceDecoded } from "../_decode.ts";
import type { PassContext, PassResult } from "../pass.ts";

/** What {@linkcode decodeShiftAddPass} did (passes/_decode.ts `DecodeStats`). */
export type DecodeShiftAddStats = DecodeStats;

/**
 * The pass: every ShiftAddMatMul of the main graph with constant packed inputs becomes `MatMul(X, Ŵ)`
 * (`+ bias`), the packed initializers and the op's model-local function are dropped when nothing else uses
 * them. Nodes whose packed inputs are not constants, or inside a subgraph, are left and listed.
 *
 * @returns the pass; after a run, `stats` holds counts and sizes
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Model } from "../../onnx/ir.ts";
 * import { intAttr } from "../../onnx/attributes.ts";
 * import { DataType, makeTensor } from "../../onnx/tensor.ts";
 * import { runPipeline } from "../pass.ts";
 * import { decodeShiftAddPass } from "./decode.ts";
 * const m = new Model();
 * m.opsets.set("", 18).set("shiftkit", 1);
 * const g = m.graph, x = g.value("x");
 * x.type = { elemType: DataType.FLOAT, shape: [1, 2] };
 * g.inputs.push(x);
 * // K = 2, N = 1, one plane, alpha 2^-1, codes (+1, -1): Ŵ = [0.5, -0.5]
 * const ins = [
 *   g.addInitializer("p", makeTensor(DataType.UINT8, [1, 1, 1], new Uint8Array([0b01]))),
 *   g.addInitializer("e", makeTensor(DataType.INT8, [1, 1, 1], new Int8Array([-1]))),
 *   g.addInitializer("t", makeTensor(DataType.UINT8, [1, 1, 1, 0], new Uint8Array(0))),
 * ];
 * const y = g.addNode("ShiftAddMatMul", [x, ...ins], ["y"], { domain: "shiftkit", attrs: [
 *   intAttr("bits", 1), intAttr("group_size", 8), intAttr("terms", 1), intAttr("k", 2)] }).outputs[0]!;
 * y.type = { elemType: DataType.FLOAT, shape: [1, 1] };
 * g.outputs.push(y);
 * await runPipeline(m, [decodeShiftAddPass()], {}, { verifyEach: true });
 * assertEquals(g.nodes.map((n) => n.opType), ["MatMul"]);
 * assertEquals(Array.from(g.nodes[0]!.inputs[1]!.const!.data as Float32Array), [0.5, -0.5]);
 * ```
 */
export function decodeShiftAddPass(): DecodePass {
  const ops = [Op.ShiftAddMatMul.type] as const;
  const pass: DecodePass = {
    name: "decode-shiftadd",
    ops,
    run(model: Model, ctx: PassContext): Promise<PassResult> {
      const g = model.graph;
      const nodes = g.nodes.filter((n) => isOp(n, Op.ShiftAddMatMul));
      const stats: DecodeStats = { layers: 0, byOp: {}, floatBytes: 0, packedBytes: 0 };
      const skipped: string[] = [];
      for (const node of nodes) {
        ctx.reporter.progress(pass.name, stats.layers, nodes.length);
        const [x, planes, exp, terms, bias] = node.inputs;
        if (!x || !planes?.isConst || !exp?.isConst || !terms?.isConst) {
          skipped.push(`${node.name}: its packed weight is not a constant`);
          continue;
        }
        const k = node.a.int("k");
        const packed = shiftAddPackedFrom(
          [makeTensor(DataType.FLOAT, [k]), planes.peekConst(), exp.peekConst(), terms.peekConst()],
          node.a,
        );
        const w = g.addInitializer(
          `${planes.name.replace(/_planes$/, "")}_decoded`,
          makeTensor(DataType.FLOAT, [k, packed.n], unpackShiftAdd(packed)),
        );
        const out = node.outputs[0]!;
        const mm = g.addNode(Op.MatMul.type, [x, w], [`${out.name}_decoded`], {
          name: g.uniqueNodeName(`${node.name}_decoded`),
          before: node,
        });
        let y = mm.outputs[0]!;
        y.type = { elemType: DataType.FLOAT };
        if (bias) {
          const add = g.addNode(Op.Add.type, [y, bias], [`${out.name}_biased`], { before: node });
          y = add.outputs[0]!;
        }
        replaceDecoded(g, node, y, stats, 4 * k * packed.n);
        for (const v of [planes, exp, terms]) {
          stats.packedBytes += v.constInfo()!.dims.reduce((a, b) => a * b, 1);
          if (v.uses.length === 0 && !v.isGraphOutput && v.graph === g) g.removeInitializer(v);
        }
        ctx.spill?.([w] as Value[]); // one layer's float weight in memory at a time
      }
      ctx.reporter.progress(pass.name, nodes.length, nodes.length);
      for (const sg of g.subgraphs()) {
        for (const n of sg.nodes) {
          if (isOp(n, Op.ShiftAddMatMul)) skipped.push(`${n.name}: inside a subgraph`);
        }
      }
      dropUnusedShiftkit(model, ops);
      pass.stats = stats;
      const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
      return Promise.resolve({
        modified: stats.layers > 0,
        notes: [
          stats.layers > 0
            ? `decoded ${stats.layers} ShiftAddMatMul layers to float MatMuls: ${
              mb(stats.packedBytes)
            } packed -> ${mb(stats.floatBytes)} float`
            : "no ShiftAddMatMul to decode",
          ...skipped.map((s) => `left packed: ${s}`),
        ],
        sites: { converted: stats.layers, skipped, what: "ShiftAddMatMul nodes" },
      });
    },
  };
  return pass;
}
