import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { decodeModel } from "../onnx/codec.ts";
import { isOp, Op } from "../onnx/ops.ts";
import { repoPath } from "./_models.ts";
import { cliProcess as cli, quantizeArgs } from "./_cli.ts";

Deno.test("quantize CLI: qdq W8A8 writes a valid quantized model, with --task metric and an HTML report", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/lm.onnx`, report = `${dir}/r.html`;
  const r = await cli(
    "quantize",
    repoPath("testdata/byte-lm-opt.onnx"),
    "-o",
    out,
    "--method",
    "qdq",
    "--bits",
    "W8A8",
    "--calib",
    "models/lm-calib.txt",
    "--samples",
    "4",
    "--task",
    "lm",
    "--data",
    "models/lm-eval.txt",
    "--report",
    report,
    "--json",
  );
  assertEquals(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assertEquals(json.method, "qdq");
  // int8 codes + a float32 scale and an int8 zero point per output channel (K = 256 or 1024).
  assert(json.bitsPerWeight > 8 && json.bitsPerWeight < 8.2, `bits per weight ${json.bitsPerWeight}`);
  assert(json.sizeAfter < json.sizeBefore / 3);
  assert(Math.abs(json.metric.after - json.metric.before) < 0.01, JSON.stringify(json.metric));
  const m = decodeModel(await Deno.readFile(out));
  assert([...m.allNodes()].some((n) => isOp(n, Op.DequantizeLinear)));
  const html = await Deno.readTextFile(report);
  assertStringIncludes(html, "Weight SQNR per layer");
  assertStringIncludes(html, "<svg");
  // Quantizing the quantized model again is refused (exit 2), and nothing is written.
  const again = await cli(...quantizeArgs(out, `${dir}/again.onnx`, "qdq", "models/lm-calib.txt"));
  assertEquals(again.code, 2);
  assertStringIncludes(again.stderr, "already quantized");
  await Deno.stat(`${dir}/again.onnx`).then(() => assert(false, "file written"), () => {});
  await Deno.remove(dir, { recursive: true });
});

Deno.test("quantize CLI: bad usage exits 2 with a message and writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  const cases: [string[], string][] = [
    [["--method", "nope", "--calib", "models/lm-calib.txt"], "--method must be one of"],
    [["--method", "qdq", "--bits", "W5A5", "--calib", "models/lm-calib.txt"], "W8A8, W6A6 or W4A4"],
    [["--method", "shiftadd", "--bits", "7", "--calib", "models/lm-calib.txt"], "2, 3, 4"],
    [["--method", "qdq", "--gelu", "shift", "--calib", "models/lm-calib.txt"], "applies to --method intvit"],
    [["--method", "rtn", "--bits", "3", "--calib", "models/lm-calib.txt"], "use --format qdq"],
    [["--method", "rtn", "--act-order", "--calib", "models/lm-calib.txt"], "applies to --method gptq"],
    [
      ["--method", "qdq", "--calib", "models/lm-calib.txt", "--task", "lm", "--data", "models/lm-calib.txt"],
      "must not be",
    ],
    [["--method", "qdq", "--calib", "/no/such/data.txt"], "data.txt"],
  ];
  for (const [args, msg] of cases) {
    const r = await cli("quantize", repoPath("testdata/byte-lm-opt.onnx"), "-o", `${dir}/x.onnx`, ...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, msg);
  }
  assertEquals([...Deno.readDirSync(dir)], []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("quantize CLI: every method-specific flag is declared and documented in --help", async () => {
  const r = await cli("quantize", "--help");
  assertEquals(r.code, 0);
  for (
    const flag of [
      "mode",
      "budget",
      "objective",
      "group-size",
      "min-sqnr",
      "keep-first-last",
      "max-bits",
      "sequential",
      "blockwise",
      "keep-l2norm",
      "gelu",
      "region",
      "format",
      "symmetric",
      "act-order",
    ]
  ) {
    assertStringIncludes(r.stdout, `--${flag}`);
  }
});

Deno.test("quantize CLI: gptq writes MatMulNBits and reports true bits per weight (text, JSON, HTML)", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/lm.onnx`, report = `${dir}/r.html`;
  const args = [
    "quantize",
    repoPath("testdata/byte-lm-opt.onnx"),
    "-o",
    out,
    "--calib",
    "models/lm-calib.txt",
  ];
  const r = await cli(
    ...args,
    "--method",
    "gptq",
    "--bits",
    "4",
    "--group-size",
    "128",
    "--samples",
    "2",
    "--exclude",
    "/head/MatMul",
    "--report",
    report,
    "--json",
  );
  assertEquals(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  // 4-bit codes + a float32 scale and a 4-bit zero point per 128 weights.
  assertEquals(json.bitsPerWeight, 4 + 36 / 128);
  assertEquals(json.storage.layers, 24);
  const m = decodeModel(await Deno.readFile(out));
  assertEquals([...m.allNodes()].filter((n) => isOp(n, Op.MatMulNBits)).length, 24);
  assert([...m.allNodes()].some((n) => n.name === "/head/MatMul"));
  const html = await Deno.readTextFile(report);
  assertStringIncludes(html, "bits per weight (stored)");
  assertStringIncludes(html, "Storage per converted layer");
  const text = await cli(...args, "--method", "rtn", "--bits", "2", "--symmetric", "--format", "qdq");
  assertEquals(text.code, 0, text.stderr);
  // Symmetric 2-bit codes stored as INT4 (no narrower ONNX type) + a float32 scale per 32 weights.
  assertStringIncludes(text.stdout, "storage: 5.000 bits per weight over 25 converted layers");
  await Deno.remove(dir, { recursive: true });
});
