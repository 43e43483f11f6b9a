/**
 * Child process of bench/streaming.ts: loads a byte-level LM in onnxruntime-node from its path (external
 * data next to it, read by onnxruntime itself) and writes the logits of one fixed input (the first `--bytes`
 * bytes of testdata/lm-eval.txt) as raw float32 to `--out`. Run as its own process so that its peak RSS is
 * the model in onnxruntime alone.
 *
 *   deno run -A bench/_run_lm.ts MODEL --out FILE [--bytes 32] [--opt all|extended|basic|disabled] [--runs 1]
 *
 * It prints `RUN_LM <session creation ms> <first run ms> <median run ms>` on stderr (`--runs N`: N runs,
 * the median over all but the first). A model whose first input is float32 (an image model) gets one fixed
 * pseudo-random tensor in [-1, 1) of the input's shape (symbolic dims 1) instead of bytes.
 * @module
 */
import * as ort from "npm:onnxruntime-node@1.30.0";
import { listArg, numArg, repo } from "./_cases.ts";
import { mulberry32 } from "../quant/_rng.ts";

const model = Deno.args[0]!;
const out = listArg(Deno.args, "--out")?.[0];
if (!out) throw new TypeError("missing --out FILE");
const n = numArg(Deno.args, "--bytes", 32);
const text = (await Deno.readFile(repo("testdata/lm-eval.txt"))).subarray(0, n);
// `--opt disabled` keeps onnxruntime from folding constant subgraphs at load: a ShiftAdd file then decodes its
// weights on every call instead of holding every layer's decode at once (about 80 bytes per weight).
const opt = (listArg(Deno.args, "--opt")?.[0] ?? "all") as "disabled" | "basic" | "extended" | "all";
const runs = Math.max(1, numArg(Deno.args, "--runs", 1));
const t0 = performance.now();
const session = await ort.InferenceSession.create(model, {
  logSeverityLevel: 3,
  intraOpNumThreads: 2,
  graphOptimizationLevel: opt,
});
const loadMs = performance.now() - t0;
const meta = session.inputMetadata[0];
const floatShape = meta?.isTensor && meta.type === "float32"
  ? meta.shape.map((d) => typeof d === "number" ? d : 1)
  : undefined;
const rand = mulberry32(1);
const ids = floatShape
  ? new ort.Tensor(
    "float32",
    Float32Array.from(
      { length: floatShape.reduce((a, b) => a * b, 1) },
      () => 2 * rand() - 1,
    ),
    floatShape,
  )
  : new ort.Tensor("int64", BigInt64Array.from(text, (b) => BigInt(b)), [1, n]);
const times: number[] = [];
let r!: ort.InferenceSession.ReturnType;
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  r = await session.run({ [session.inputNames[0]!]: ids });
  times.push(performance.now() - t);
}
const rest = times.slice(1).sort((a, b) => a - b);
const medianMs = rest.length ? rest[Math.floor(rest.length / 2)]! : times[0]!;
console.error(`RUN_LM ${loadMs.toFixed(1)} ${times[0]!.toFixed(1)} ${medianMs.toFixed(1)}`);
const logits = r[session.outputNames[0]!]!.data as Float32Array;
await Deno.writeFile(out, new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
await session.release();
