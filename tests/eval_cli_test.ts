/**
 * `shiftkit eval` end to end, as a user runs it (a `deno run -A cli.ts eval ...` subprocess): the float
 * metrics of the model cards (MODELS.md) come back in the `--json` line, bounds exit 1, bad usage exits 2.
 */
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { MODELS, repoPath } from "./_models.ts";

interface CliRun {
  code: number;
  json: Record<string, unknown>;
  stderr: string;
}

async function shiftkit(...args: string[]): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", repoPath("cli.ts"), ...args, "--json"],
    cwd: repoPath("."),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr);
  const last = stdout.split("\n").at(-1) ?? "";
  assert(last.startsWith("{"), `no JSON line on stdout (exit ${out.code}): ${stdout}\n${stderr}`);
  return { code: out.code, json: JSON.parse(last), stderr };
}

const metrics = (r: CliRun) => r.json.metrics as Record<string, number>;

Deno.test("shiftkit eval --task lm: bits/byte of byte-lm-opt on lm-eval.txt (card 2.4347)", async () => {
  const r = await shiftkit("eval", MODELS["byte-lm-opt"], "--task", "lm", "--data", "testdata/lm-eval.txt");
  assertEquals([r.code, r.json.ok, r.json.task, r.json.samples], [0, true, "lm", 512]);
  assertAlmostEquals(metrics(r).bitsPerByte!, 2.4347, 0.01);
});

Deno.test("shiftkit eval --task seg: mean IoU of segmenter-tiny (card 0.4222); a --min-miou above the value exits 1", async () => {
  const r = await shiftkit(
    "eval",
    MODELS["segmenter-tiny"],
    "--task",
    "seg",
    "--data",
    "testdata/segmenter-tiny-eval",
  );
  assertEquals([r.code, r.json.ok, r.json.task, r.json.samples], [0, true, "seg", 256]);
  assertAlmostEquals(metrics(r).meanIoU!, 0.4222, 0.005);
  const bound = await shiftkit(
    "eval",
    MODELS["segmenter-tiny"],
    "--task",
    "seg",
    "--data",
    "testdata/segmenter-tiny-eval",
    "--samples",
    "32",
    "--min-miou",
    "0.9",
  );
  // On the first 32 images only (time): the metric is computed and reported, then the bound fails.
  assertEquals([bound.code, bound.json.ok, bound.json.samples], [1, false, 32]);
  const v = metrics(bound).meanIoU!;
  assert(v > 0.2 && v < 0.9, `meanIoU ${v}`);
  assertEquals(bound.json.failed, [`meanIoU ${v.toFixed(4)} < 0.9`]);
});

Deno.test("shiftkit eval --task ocr: PP-OCRv4 rec reads 63 of 66 ocr-lines-sans lines exactly", async () => {
  const r = await shiftkit("eval", MODELS["ppocr-rec"], "--task", "ocr", "--data", "testdata/ocr-lines-sans");
  assertEquals([r.code, r.json.ok, r.json.task, r.json.samples], [0, true, "ocr", 66]);
  const m = metrics(r);
  assertAlmostEquals(m.exactMatch!, 63 / 66, 1e-9);
  assertAlmostEquals(m.charAccuracy!, 1 - 3 / 674, 1e-3);
});

Deno.test("shiftkit eval without --data exits 2 (bad usage)", async () => {
  const r = await shiftkit("eval", MODELS["byte-lm-opt"], "--task", "lm");
  assertEquals([r.code, r.json.ok, r.json.exitCode], [2, false, 2]);
  assert(String(r.json.error).includes("--data"), String(r.json.error));
});
