/**
 * Times the quantization page's conversions with 1 and more threads (the per-layer fits on Web Workers started
 * from the page's Worker) in headless chromium, on one model and one calibration .npz made from an image set:
 *
 *   deno run -A web/build.ts && deno run -A web/pool_bench.ts --model segmenter-base --threads 1,2 [--runs 2]
 *     [--samples 8] [--method denseshift --bits 4] [--query ?poolMinWeights=0]
 *
 * `--model NAME` is testdata/NAME.onnx calibrated on testdata/NAME-calib (preset segmenter). Prints per run the
 * threads, `quantize()`'s wall time in the page, the pool's summary and the file's sha256 (the same for every
 * thread count, or it throws).
 * @module
 */
import { npzOf, openPoolPage } from "./_pool_page.ts";

const root = new URL("../", import.meta.url).pathname;
const arg = (name: string, dflt: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1]! : dflt;
};
const model = arg("model", "segmenter-base");
const threads = arg("threads", "1,2").split(",").map(Number);
const runs = Number(arg("runs", "1"));
const samples = Number(arg("samples", "8"));
const tmp = await Deno.makeTempDir({ prefix: "shiftkit-pool-bench-" });
try {
  const calib = `${tmp}/calib.npz`;
  await npzOf(`${root}testdata/${model}-calib`, samples, calib);
  const page = await openPoolPage({
    model: `${root}testdata/${model}.onnx`,
    calib: [calib],
    method: arg("method", "denseshift"),
    bits: arg("bits", "4"),
    query: arg("query", ""),
    timeoutMs: 600_000,
  });
  try {
    console.log(`${page.version}, ${navigator.hardwareConcurrency} cores: ${model}, ${samples} samples`);
    let sha: string | undefined;
    for (let r = 0; r < runs; r++) {
      for (const n of threads) {
        const c = await page.convert(n);
        sha ??= c.sha256;
        if (c.sha256 !== sha) throw new Error(`threads ${n}: sha256 ${c.sha256}, another run wrote ${sha}`);
        const t = c.threads;
        console.log(
          `threads ${n}: quantize() ${
            (c.elapsedMs / 1000).toFixed(2)
          } s; ${t.workers} workers, ${t.parallelJobs} ` +
            `jobs on workers, ${t.serialJobs} serially${
              t.serialReasons.length ? ` (${t.serialReasons.join("; ")})` : ""
            }; ` +
            `sha256 ${c.sha256.slice(0, 16)}…`,
        );
      }
    }
  } finally {
    await page.close();
  }
} finally {
  await Deno.remove(tmp, { recursive: true });
}
