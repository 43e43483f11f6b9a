/**
 * `shiftkit quantize --threads N` as a user runs it (a subprocess, which must also exit by itself once its
 * workers are done): the summary, `--json` and `--report` say how many threads ran the per-layer fits and why any ran
 * serially; `--threads 0` is bad usage.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { cliProcess, quantizeArgs, withTempDir } from "./_cli.ts";
import { modelPath, repoPath } from "./_models.ts";

const calib = repoPath("testdata/lm-calib.txt");

Deno.test("cli: quantize --threads 2 runs GPTQ's layers on workers and says so; --threads 1 says why not", async () => {
  await withTempDir(async (dir) => {
    const two = await cliProcess(
      ...quantizeArgs(modelPath("byte-lm-llama"), `${dir}/two.onnx`, "gptq", calib, "--samples", "4"),
      "--threads",
      "2",
      "--json",
      "--report",
      `${dir}/report.html`,
    );
    assertEquals(two.code, 0, two.stderr);
    const t = two.json.threads;
    assertEquals([t.threads, t.workers, t.serialJobs, t.serialReasons], [2, 2, 0, []]);
    assert(t.parallelJobs > 1, JSON.stringify(t));
    assertStringIncludes(
      await Deno.readTextFile(`${dir}/report.html`),
      `2 asked; ${t.parallelJobs} of ${t.parallelJobs} per-layer jobs ran on 2 workers`,
    );
    const one = await cliProcess(
      ...quantizeArgs(modelPath("byte-lm-llama"), `${dir}/one.onnx`, "gptq", calib, "--samples", "4"),
      "--threads",
      "1",
    );
    assertEquals(one.code, 0, one.stderr);
    assertStringIncludes(
      one.stdout,
      `threads: 1 asked; all ${t.parallelJobs} per-layer jobs ran serially: 1 thread asked (${t.parallelJobs} jobs)`,
    );
    assertEquals(await Deno.readFile(`${dir}/two.onnx`), await Deno.readFile(`${dir}/one.onnx`));
  });
});

Deno.test("cli: quantize --threads 0 is bad usage (exit 2)", async () => {
  await withTempDir(async (dir) => {
    const r = await cliProcess(
      ...quantizeArgs(modelPath("byte-lm-llama"), `${dir}/x.onnx`, "gptq", calib),
      "--threads",
      "0",
    );
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "--threads");
  });
});
