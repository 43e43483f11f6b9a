/**
 * `shiftkit quantize --threads N` as a user runs it (a subprocess, which must also exit by itself once its
 * workers are done): the summary, `--json` and `--report` say how many threads ran the per-layer fits and
 * why any ran serially; `--threads 0` is bad usage.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { cliProcess, quantizeArgs, withTempDir } from "./_cli.ts";
import { modelPath, repoPath } from "./_models.ts";
import { threadsLine } from "../cli/report.ts";

const segCalib = repoPath("testdata/segmenter-tiny-calib");

Deno.test("cli: quantize --threads 2 runs DenseShift's layers on workers and says so; --threads 1 says why not", async () => {
  await withTempDir(async (dir) => {
    const convert = (out: string, ...more: string[]) =>
      cliProcess(
        ...quantizeArgs(
          modelPath("segmenter-tiny"),
          `${dir}/${out}`,
          "denseshift",
          segCalib,
          "--samples",
          "4",
        ),
        ...more,
      );
    const two = await convert("two.onnx", "--threads", "2", "--json", "--report", `${dir}/report.html`);
    assertEquals(two.code, 0, two.stderr);
    const t = two.json.threads;
    assertEquals([t.threads, t.workers, t.serialJobs, t.serialReasons], [2, 2, 0, []]);
    assert(t.parallelJobs > 1, JSON.stringify(t));
    assertStringIncludes(
      await Deno.readTextFile(`${dir}/report.html`),
      `2 asked; ${t.parallelJobs} of ${t.parallelJobs} per-layer jobs ran on 2 workers`,
    );
    const one = await convert("one.onnx", "--threads", "1");
    assertEquals(one.code, 0, one.stderr);
    assertStringIncludes(
      one.stdout,
      `threads: 1 asked; all ${t.parallelJobs} per-layer jobs ran serially: 1 thread asked (${t.parallelJobs} jobs)`,
    );
    assertEquals(await Deno.readFile(`${dir}/two.onnx`), await Deno.readFile(`${dir}/one.onnx`));
  });
});

Deno.test("cli: quantize --threads 2 on work too small for workers says so (never silently serial)", async () => {
  await withTempDir(async (dir) => {
    const r = await cliProcess(
      ...quantizeArgs(modelPath("byte-lm-llama"), `${dir}/x.onnx`, "gptq", repoPath("testdata/lm-calib.txt")),
      "--samples",
      "4",
      "--threads",
      "2",
      "--json",
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.json.threads.workers, 0);
    assertEquals(r.json.threads.serialReasons, [
      // the calibration's Gram folds (one job per layer input and batch: 21 inputs, 1 batch of 4 samples)
      "gramFold: under 1073741824 multiply-adds per batch, less than starting workers costs (21 jobs)",
      "blockwiseLayer: 2996224 weights, below the 4194304 that pay for starting workers (36 jobs)",
    ]);
    assertEquals(r.json.threads.tasks, {
      gramFold: { parallel: 0, serial: 21 },
      blockwiseLayer: { parallel: 0, serial: 36 },
    });
    assertEquals(
      threadsLine(r.json.threads),
      `threads: 2 asked; all 57 per-layer jobs (gramFold 21, blockwiseLayer 36) ran serially: ${
        r.json.threads.serialReasons.join("; ")
      }`,
    );
  });
});

Deno.test("cli: quantize --threads 0 is bad usage (exit 2)", async () => {
  await withTempDir(async (dir) => {
    const r = await cliProcess(
      ...quantizeArgs(modelPath("byte-lm-llama"), `${dir}/x.onnx`, "gptq", repoPath("testdata/lm-calib.txt")),
      "--threads",
      "0",
    );
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "--threads");
  });
});
