/**
 * A synthetic OPT-shaped decoder LM written straight to disk with external data (for bench/streaming.ts and
 * the large-model tests): byte vocabulary (256), `layers` pre-LN blocks of width `width` (q, k, v, o
 * projections with biases, `heads` attention heads, a causal-free attention, fc1 4·width + Relu + fc2),
 * a final LayerNorm and a `[width, 256]` LM head. At 24 layers, width 1536 the weights take 2.72 GB
 * (680 M floats), OPT-1.3B's shape without its vocabulary.
 *
 * Weights are uniform random in ±sqrt(3)·0.02 (std 0.02), generated and written 4 MiB at a time by a seeded
 * xorshift generator, never all held in memory: the graph's initializers carry only external-data
 * references (location, offset, length), so the encoded `.onnx` is a few hundred kB.
 * @module
 */
import { intAttr, intsAttr } from "../onnx/attributes.ts";
import { encodeModel } from "../onnx/codec.ts";
import { Model, type Value } from "../onnx/ir.ts";
import { Op } from "../onnx/ops.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";

/** Shape of the synthetic LM. */
export interface SyntheticLmOptions {
  /** Decoder blocks. @default {24} */
  layers?: number;
  /** Hidden width. @default {1536} */
  width?: number;
  /** Attention heads. @default {16} */
  heads?: number;
  /** Seed of the weight generator. @default {1} */
  seed?: number;
}

/** What {@linkcode writeSyntheticLm} wrote. */
export interface SyntheticLm {
  /** Path of the `.onnx` file. */
  model: string;
  /** Path of its external data file. */
  data: string;
  /** Bytes of weights in the data file. */
  dataBytes: number;
  /** Float weights of the MatMul layers (what weight-only methods convert). */
  matmulWeights: number;
}

/**
 * Write `dir/synthetic-lm.onnx` and `dir/synthetic-lm.onnx.data`.
 *
 * @param dir an existing folder
 * @param options layers, width, heads, seed
 * @returns the paths and sizes
 */
export async function writeSyntheticLm(dir: string, options: SyntheticLmOptions = {}): Promise<SyntheticLm> {
  const L = options.layers ?? 24, D = options.width ?? 1536, H = options.heads ?? 16, F = 4 * D, V = 256;
  const location = "synthetic-lm.onnx.data";
  const dataPath = `${dir}/${location}`;
  const file = await Deno.open(dataPath, { write: true, create: true, truncate: true });
  let s = (options.seed ?? 1) >>> 0 || 1;
  const chunk = new Float32Array(1 << 20);
  const amp = Math.sqrt(3) * 0.02;
  let offset = 0, matmulWeights = 0;
  const where = new Map<string, { location: string; offset: number }>();
  const m = new Model();
  m.opsets.set("", 17);
  const g = m.graph;
  // An initializer backed by `count` random floats appended to the data file (or a constant fill).
  const weight = async (name: string, dims: number[], fill?: number): Promise<Value> => {
    const count = dims.reduce((a, b) => a * b, 1);
    for (let done = 0; done < count;) {
      const n = Math.min(chunk.length, count - done);
      for (let i = 0; i < n; i++) {
        if (fill !== undefined) {
          chunk[i] = fill;
          continue;
        }
        s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
        chunk[i] = ((s >>> 0) / 4294967296 * 2 - 1) * amp;
      }
      const bytes = new Uint8Array(chunk.buffer, 0, n * 4);
      for (let w = 0; w < bytes.length;) w += await file.write(bytes.subarray(w));
      done += n;
    }
    const v = g.value(name);
    v.type = { elemType: DataType.FLOAT, shape: dims };
    const proto = {
      name,
      dims,
      data_type: DataType.FLOAT,
      data_location: 1,
      external_data: [
        { key: "location", value: location },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(count * 4) },
      ],
    };
    v.setEncodedConst(proto, () => {
      throw new TypeError(`synthetic LM weight "${name}" is written to ${location}, not decoded here`);
    });
    g.initializers.push(v);
    where.set(name, { location, offset });
    offset += count * 4;
    return v;
  };
  const i64 = (name: string, v: number[]) =>
    g.addInitializer(name, makeTensor(DataType.INT64, [v.length], BigInt64Array.from(v, BigInt)));
  let n = 0;
  const node = (op: string, inputs: Value[], attrs = [] as ReturnType<typeof intAttr>[]) =>
    g.addNode(op, inputs, [`t${n++}`], { name: `${op}_${n}`, attrs }).outputs[0]!;
  const ids = g.value("input_ids");
  ids.type = { elemType: DataType.INT64, shape: ["batch", "seq"] };
  g.inputs.push(ids);
  let x = node(Op.Gather.type, [await weight("embed", [V, D]), ids]);
  const heads = i64("heads_shape", [0, 0, H, D / H]), flat = i64("flat_shape", [0, 0, D]);
  const ln = async (name: string, h: Value) =>
    node(Op.LayerNormalization.type, [
      h,
      await weight(`${name}.g`, [D], 1),
      await weight(`${name}.b`, [D], 0),
    ], [
      intAttr("axis", -1),
    ]);
  const linear = async (name: string, h: Value, k: number, out: number) => {
    matmulWeights += k * out;
    const y = node(Op.MatMul.type, [h, await weight(`${name}.w`, [k, out])]);
    return node(Op.Add.type, [y, await weight(`${name}.b`, [out], 0)]);
  };
  for (let l = 0; l < L; l++) {
    const h = await ln(`l${l}.ln1`, x);
    const split = (v: Value, perm: number[]) =>
      node(Op.Transpose.type, [node(Op.Reshape.type, [v, heads])], [intsAttr("perm", perm)]);
    const q = split(await linear(`l${l}.q`, h, D, D), [0, 2, 1, 3]);
    const k = split(await linear(`l${l}.k`, h, D, D), [0, 2, 3, 1]);
    const v = split(await linear(`l${l}.v`, h, D, D), [0, 2, 1, 3]);
    const att = node(Op.Softmax.type, [node(Op.MatMul.type, [q, k])], [intAttr("axis", -1)]);
    const ctx = node(Op.Reshape.type, [
      node(Op.Transpose.type, [node(Op.MatMul.type, [att, v])], [intsAttr("perm", [0, 2, 1, 3])]),
      flat,
    ]);
    x = node(Op.Add.type, [x, await linear(`l${l}.o`, ctx, D, D)]);
    const h2 = await ln(`l${l}.ln2`, x);
    const f = node(Op.Relu.type, [await linear(`l${l}.fc1`, h2, D, F)]);
    x = node(Op.Add.type, [x, await linear(`l${l}.fc2`, f, F, D)]);
  }
  const logits = await linear("head", await ln("lnf", x), D, V);
  logits.type = { elemType: DataType.FLOAT, shape: ["batch", "seq", V] };
  g.rename(logits, "logits");
  g.outputs.push(logits);
  file.close();
  const model = `${dir}/synthetic-lm.onnx`;
  // Every weight already sits in the data file: the hook names where, without reading it.
  await Deno.writeFile(model, encodeModel(m, { externalize: (v) => where.get(v.name) }));
  return { model, data: dataPath, dataBytes: offset, matmulWeights };
}
