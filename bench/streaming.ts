/**
 * Models larger than memory (issue 17, item 3): builds a synthetic OPT-shaped LM with external data
 * (bench/_synthetic_lm.ts; default 24 layers, width 1536: 2.72 GB of weights), then quantizes it weight-only
 * with `shiftkit quantize` in a child process and reports the child's peak RSS (`/usr/bin/time`'s maximum
 * resident set) and wall time. Target: peak RSS <= 1.5 GB for RTN at 4 bits; GPTQ and ShiftAdd (output
 * objective) calibrate per layer (passes/sequential.ts) and stay within one segment's working set plus the
 * boundary activations. The emitted model is then loaded by onnxruntime-node from its path in another child
 * process and run on one 32-byte input (its peak RSS reported too); `--compare-float` also runs the float
 * model that way (it needs the whole model in memory) and reports the cosine of the logits.
 *
 *   nice -n 10 deno run -A bench/streaming.ts [--dir DIR] [--layers 24] [--width 1536] [--method rtn]
 *     [--bits 4] [--samples 8] [--compare-float] [--keep] [--json] [--mmap-threshold 131072]
 *     [--ort-opt all] [--log FILE] [-- more quantize flags]
 *
 * The model is generated once into `--dir` (default a temporary folder, removed afterwards unless
 * `--keep`); calibration data is `--samples` windows of 128 bytes of testdata/lm-calib.txt.
 *
 * The quantize child runs with glibc's `MALLOC_MMAP_THRESHOLD_` at `--mmap-threshold` bytes (default 131072;
 * 0 keeps glibc's own): every block from that size on is its own mapping, returned to the system when freed.
 * glibc's default threshold rises to 32 MiB after the first large free, and from then on tens-of-MB buffers
 * (emitted tensors, onnxruntime's outputs) come from the main heap, where freed space stays resident.
 *
 * `--ort-opt disabled` loads the emitted model in onnxruntime without graph optimizations (no constant
 * folding: a ShiftAdd file decodes per call rather than all layers at load, which a 24-layer file could not
 * afford); `--log FILE` sends the quantize child's stderr (with `-- --progress`, its progress bars) to FILE as
 * it runs instead of collecting it.
 * @module
 */
import { listArg, numArg, repo } from "./_cases.ts";
import { writeSyntheticLm } from "./_synthetic_lm.ts";
import { cosineSimilarity } from "../quant/error_metrics.ts";

const args = Deno.args;
const layers = numArg(args, "--layers", 24), width = numArg(args, "--width", 1536);
const method = listArg(args, "--method")?.[0] ?? "rtn";
const bits = numArg(args, "--bits", 4), samples = numArg(args, "--samples", 8);
const dirArg = listArg(args, "--dir")?.[0];
const ortOpt = listArg(args, "--ort-opt")?.[0] ?? "all", logFile = listArg(args, "--log")?.[0];
const mmapThreshold = numArg(args, "--mmap-threshold", 131072);
// Further `shiftkit quantize` flags after `--`, e.g. `-- --objective weight --group-size 128`.
const passThrough = args.includes("--") ? args.slice(args.indexOf("--") + 1) : [];
const dir = dirArg ?? await Deno.makeTempDir({ prefix: "shiftkit-streaming-" });
await Deno.mkdir(dir, { recursive: true });

const t0 = performance.now();
const lm = await writeSyntheticLm(dir, { layers, width });
const genS = (performance.now() - t0) / 1000;
console.error(`generated ${(lm.dataBytes / 1e9).toFixed(2)} GB of weights in ${genS.toFixed(0)} s`);

/** `deno run -A ...denoArgs` under /usr/bin/time, which appends the peak RSS and wall time to stderr. */
function timedDeno(...denoArgs: string[]): string[] {
  return ["-f", "STREAMING_TIME %M %e", Deno.execPath(), "run", "-A", ...denoArgs];
}

/** The peak RSS (MB) and wall time (s) /usr/bin/time wrote into a child's stderr; NaN where absent. */
function timedResult(stderr: string): { rssMB: number; seconds: number } {
  const t = /STREAMING_TIME (\d+) ([\d.]+)/.exec(stderr);
  return { rssMB: t ? Number(t[1]) / 1024 : NaN, seconds: t ? Number(t[2]) : NaN };
}

const out = `${dir}/quantized.onnx`;
// Outputs of an earlier run in the same --dir would be counted in the output size.
for (const f of [out, `${out}.data`]) await Deno.remove(f).catch(() => {});
const cmd = new Deno.Command("/usr/bin/time", {
  args: timedDeno(
    // a full collection between segments (passes/sequential.ts): freed buffers leave the resident set
    "--v8-flags=--expose-gc",
    repo("cli.ts"),
    "quantize",
    lm.model,
    "-o",
    out,
    "--method",
    method,
    "--bits",
    String(bits),
    "--calib",
    repo("testdata/lm-calib.txt"),
    "--samples",
    String(samples),
    "--json",
    ...passThrough,
  ),
  stdout: "piped",
  stderr: "piped",
  env: mmapThreshold > 0 ? { MALLOC_MMAP_THRESHOLD_: String(mmapThreshold) } : {},
});
// The child's stderr is collected (its tail) and, with `--log`, written to the file as it comes.
const child = cmd.spawn();
const log = logFile ? await Deno.open(logFile, { write: true, create: true, append: true }) : undefined;
let err = "";
const errDone = (async () => {
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    await log?.write(chunk);
    err = (err + dec.decode(chunk, { stream: true })).slice(-65536);
  }
})();
const stdoutText = new Response(child.stdout).text();
const res = { code: (await child.status).code, stdout: new TextEncoder().encode(await stdoutText) };
await errDone;
log?.close();
const quantizeTime = timedResult(err);
let outBytes = 0;
try {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("quantized")) outBytes += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
} catch { /* no output */ }
const json = res.code === 0 ? lastJson(new TextDecoder().decode(res.stdout)) : undefined;
// deno-lint-ignore no-explicit-any
const cal = (json?.steps as any[] | undefined)?.find((st) => st.calibration)?.calibration;
const spilled = json?.spilled as { tensors: number; bytes: number } | undefined;

/**
 * GPTQ's computed peak for one full-width block (MiB, bench/README.md "GPTQ on the 2.72 GB model, bound and
 * measurement side by side", the Hessian consumed): fc2's Hessian (K = 4W, float64) beside the output-energy
 * statistics' pair buffers (`Mᵀ`, the masked H and the Gram of two of four feature blocks, quant/gptq_stats.ts `quadTraces`) and its
 * float32 weight; one batch of fc2's input and the boundary activations; fc1's Hessian and Ŵ; 300 MiB of
 * runtime and model IR (measured through the first attention segment). Plus the emitted tensors still in
 * memory at the end: all of them without spilling, those under the spill threshold with it.
 */
function gptqBoundMiB(emittedInMemory: number): number {
  const W = width, K = 4 * width, N = width, rows = Math.min(samples, 8) * 128, mib = 2 ** 20;
  const hessian = 8 * K * K, pairs = 8 * (K / 2 * N + 2 * (K / 2) ** 2), weight = 4 * K * N;
  const activations = 4 * rows * K + 4 * samples * 128 * W;
  const rest = 8 * W * W + 4 * W * K;
  return (hessian + pairs + weight + activations + rest + emittedInMemory) / mib + 300;
}

/** Run an LM from its path in a child process: logits of one input, the child's peak RSS and time. */
async function runLm(model: string): Promise<{ logits?: Float32Array; rssMB: number; seconds: number }> {
  const file = `${dir}/logits-${crypto.randomUUID()}.f32`;
  const r = await new Deno.Command("/usr/bin/time", {
    args: timedDeno(repo("bench/_run_lm.ts"), model, "--opt", ortOpt, "--out", file),
    stdout: "piped",
    stderr: "piped",
  }).output();
  let logits: Float32Array | undefined;
  if (r.code === 0) {
    logits = new Float32Array((await Deno.readFile(file)).buffer);
    await Deno.remove(file);
  }
  return { ...(logits ? { logits } : {}), ...timedResult(new TextDecoder().decode(r.stderr)) };
}
const emitted = res.code === 0 ? await runLm(out) : undefined;
const float = res.code === 0 && args.includes("--compare-float") ? await runLm(lm.model) : undefined;
const cosine = (a?: Float32Array, b?: Float32Array) =>
  a && b && a.length === b.length ? cosineSimilarity(a, b) : NaN;
const row = {
  layers,
  width,
  method,
  bits,
  samples,
  flags: passThrough.join(" "),
  mallocMmapThreshold: mmapThreshold || "glibc default",
  weightsGB: lm.dataBytes / 1e9,
  exitCode: res.code,
  peakRssMB: quantizeTime.rssMB,
  seconds: quantizeTime.seconds,
  outputMB: outBytes / 1e6,
  spilledMB: spilled ? spilled.bytes / 1e6 : 0,
  // MiB, GPTQ only: one block's working set plus what of the output stays in memory (bounds above)
  boundMiB: method === "gptq" && res.code === 0 ? gptqBoundMiB(outBytes - (spilled?.bytes ?? 0)) : NaN,
  calibration: cal
    ? {
      mode: cal.mode,
      segments: cal.segments,
      rows: cal.rows,
      layerInputs: cal.layerInputs,
      reason: cal.reason,
    }
    : null,
  emittedRuns: emitted?.logits ? emitted.logits.every(Number.isFinite) : false,
  emittedRssMB: emitted?.rssMB ?? NaN,
  floatRssMB: float?.rssMB ?? NaN,
  cosineToFloat: cosine(emitted?.logits, float?.logits),
  error: res.code === 0
    ? undefined
    : err.split("\n").filter((l) => l && !l.startsWith("STREAMING_TIME")).slice(-3)
      .join(" | "),
};
if (!dirArg && !args.includes("--keep")) await Deno.remove(dir, { recursive: true });
if (args.includes("--json")) console.log(JSON.stringify(row));
else {
  const calib = row.calibration
    ? `${row.calibration.mode}${
      row.calibration.mode === "per-layer" ? ` (${row.calibration.segments} segments)` : ""
    }`
    : "none";
  console.log(
    "| model | weights | method | samples | calibration | exit | peak RSS | time | output | output in ORT |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  console.log(
    `| synthetic OPT ${layers}x${width} | ${
      row.weightsGB.toFixed(2)
    } GB | ${method} ${bits}-bit ${row.flags} | ${
      method === "rtn" ? "-" : samples
    } | ${calib} | ${res.code} | ${row.peakRssMB.toFixed(0)} MB | ${row.seconds.toFixed(0)} s | ${
      row.outputMB.toFixed(0)
    } MB${row.spilledMB ? ` (${row.spilledMB.toFixed(0)} MB spilled)` : ""}${
      Number.isNaN(row.boundMiB) ? "" : `, bound ${row.boundMiB.toFixed(0)} MiB`
    } | ${row.emittedRuns ? "runs" : "FAILED"}, ${row.emittedRssMB.toFixed(0)} MB RSS${
      Number.isNaN(row.cosineToFloat) ? "" : `, logits cosine to float ${row.cosineToFloat.toFixed(3)}`
    } |`,
  );
  if (row.error) console.log(`\nerror: ${row.error}`);
}
Deno.exit(res.code === 0 && row.emittedRuns ? 0 : 1);

/** The last line of stdout that parses as a JSON object (`--json`). */
function lastJson(text: string): Record<string, unknown> | undefined {
  const lines = text.trim().split("\n").reverse();
  for (const l of lines) {
    try {
      const v = JSON.parse(l);
      if (v && typeof v === "object") return v;
    } catch { /* not JSON */ }
  }
  return undefined;
}
