/**
 * Models larger than memory (issue 17, item 3): builds a synthetic OPT-shaped LM with external data
 * (bench/_synthetic_lm.ts; default 24 layers, width 1536: 2.72 GB of weights), then quantizes it weight-only
 * with `shiftkit quantize` in a child process and reports the child's peak RSS (`/usr/bin/time`'s maximum
 * resident set) and wall time. Target: peak RSS <= 1.5 GB for RTN at 4 bits.
 *
 *   nice -n 10 deno run -A bench/streaming.ts [--dir DIR] [--layers 24] [--width 1536] [--method rtn]
 *     [--bits 4] [--keep] [--json] [-- more quantize flags]
 *
 * The model is generated once into `--dir` (default a temporary folder, removed afterwards unless
 * `--keep`); calibration data is one window of testdata/lm-calib.txt (weight-only methods need none, the
 * CLI asks for it).
 * @module
 */
import { listArg, numArg, repo } from "./_cases.ts";
import { writeSyntheticLm } from "./_synthetic_lm.ts";

const args = Deno.args;
const layers = numArg(args, "--layers", 24), width = numArg(args, "--width", 1536);
const method = listArg(args, "--method")?.[0] ?? "rtn";
const bits = numArg(args, "--bits", 4);
const dirArg = listArg(args, "--dir")?.[0];
// Further `shiftkit quantize` flags after `--`, e.g. `-- --objective weight --group-size 128`.
const passThrough = args.includes("--") ? args.slice(args.indexOf("--") + 1) : [];
const dir = dirArg ?? await Deno.makeTempDir({ prefix: "shiftkit-streaming-" });
await Deno.mkdir(dir, { recursive: true });

const t0 = performance.now();
const lm = await writeSyntheticLm(dir, { layers, width });
const genS = (performance.now() - t0) / 1000;
console.error(`generated ${(lm.dataBytes / 1e9).toFixed(2)} GB of weights in ${genS.toFixed(0)} s`);

const out = `${dir}/quantized.onnx`;
const cmd = new Deno.Command("/usr/bin/time", {
  args: [
    "-f",
    "STREAMING_TIME %M %e",
    Deno.execPath(),
    "run",
    "-A",
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
    "1",
    "--json",
    ...passThrough,
  ],
  stdout: "piped",
  stderr: "piped",
});
const res = await cmd.output();
const err = new TextDecoder().decode(res.stderr);
const m = /STREAMING_TIME (\d+) ([\d.]+)/.exec(err);
let outBytes = 0;
try {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("quantized")) outBytes += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
} catch { /* no output */ }
const row = {
  layers,
  width,
  method,
  bits,
  weightsGB: lm.dataBytes / 1e9,
  exitCode: res.code,
  peakRssMB: m ? Number(m[1]) / 1024 : NaN,
  seconds: m ? Number(m[2]) : NaN,
  outputMB: outBytes / 1e6,
  error: res.code === 0
    ? undefined
    : err.split("\n").filter((l) => l && !l.startsWith("STREAMING_TIME")).slice(-3)
      .join(" | "),
};
if (!dirArg && !args.includes("--keep")) await Deno.remove(dir, { recursive: true });
if (args.includes("--json")) console.log(JSON.stringify(row));
else {
  console.log("| model | weights | method | exit | peak RSS | time | output |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  console.log(
    `| synthetic OPT ${layers}x${width} | ${
      row.weightsGB.toFixed(2)
    } GB | ${method} ${bits}-bit | ${res.code} | ${row.peakRssMB.toFixed(0)} MB | ${
      row.seconds.toFixed(0)
    } s | ${row.outputMB.toFixed(0)} MB |`,
  );
  if (row.error) console.log(`\nerror: ${row.error}`);
}
Deno.exit(res.code === 0 ? 0 : 1);
