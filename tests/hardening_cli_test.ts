/**
 * Issue #12's refusals through the CLI, each with its hostile input built here: exit code 2, one line on
 * stderr naming the file / tensor / input and the limit, no stack trace, well within 20 s. And issue #11
 * item 4: a model with external data works from any working directory, and its sizes count the data.
 */
import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "@std/assert";
import { main } from "../cli.ts";
import { encodeModel } from "../onnx/codec.ts";
import { Model } from "../onnx/ir.ts";
import { loadModel, saveModel } from "../onnx/io.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { encodeNpz } from "../runtime/npy.ts";
import { repoPath } from "./_models.ts";
import { quantizeArgs, withTempDir } from "./_cli.ts";

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
  ms: number;
}

async function shiftkit(...args: string[]): Promise<Run> {
  const stdout: string[] = [], stderr: string[] = [];
  const t0 = performance.now();
  const code = await main(args, {
    stdout: (l) => stdout.push(l),
    stderr: (l) => stderr.push(l),
    env: () => undefined,
  });
  return { code, stdout, stderr, ms: performance.now() - t0 };
}

/** Exit 2, one line (plus the usage hint for usage errors), no stack, fast. */
function assertRefused(r: Run, ...parts: (string | RegExp)[]): void {
  assertEquals(r.code, 2, r.stderr.join("\n"));
  const line = r.stderr[0]!;
  assertEquals(line.includes("\n"), false);
  assert(r.stderr.length === 1 || r.stderr[1]!.startsWith("Run 'shiftkit"), r.stderr.join("\n"));
  assert(!/\n\s+at /.test(r.stderr.join("\n")), "no stack trace");
  for (const p of parts) {
    if (typeof p === "string") assertStringIncludes(line, p);
    else assertMatch(line, p);
  }
  assertLess(r.ms, 20_000);
}

/** y = x @ W (W 4x4) with x of the given declared shape. */
function matmulModel(shape: (number | string)[] = ["batch", 4]): Model {
  const m = new Model();
  m.opsets.set("", 17);
  const x = m.graph.value("x");
  x.type = { elemType: DataType.FLOAT, shape };
  m.graph.inputs.push(x);
  const w = m.graph.addInitializer(
    "W",
    makeTensor(DataType.FLOAT, [4, 4], Float32Array.from({ length: 16 }, (_, i) => (i % 5) - 2)),
  );
  const mm = m.graph.addNode("MatMul", [x, w], ["y"], { name: "mm" });
  mm.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [...shape.slice(0, -1), 4] };
  m.graph.outputs.push(mm.outputs[0]!);
  return m;
}

Deno.test("cli hardening: inspect refuses external data symlinked outside the model's folder", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await Deno.writeFile(`${dir}/outside.bin`, new Uint8Array(64));
    await Deno.writeFile(
      `${dir}/m/m.onnx`,
      encodeModel(matmulModel(), { externalize: () => ({ location: "w.bin", offset: 0 }) }),
    );
    await Deno.symlink(`${dir}/outside.bin`, `${dir}/m/w.bin`);
    assertRefused(
      await shiftkit("inspect", `${dir}/m/m.onnx`),
      `tensor "W"`,
      "escapes the model's directory",
    );
    await Deno.remove(`${dir}/m/w.bin`);
    await Deno.symlink("/dev/zero", `${dir}/m/w.bin`);
    assertRefused(await shiftkit("inspect", `${dir}/m/m.onnx`), `external data file "w.bin"`);
  });
});

Deno.test("cli hardening: validate refuses to generate a 4 GiB input and asks for --data", async () => {
  await withTempDir(async (dir) => {
    await saveModel(matmulModel([2 ** 28, 4]), `${dir}/big.onnx`);
    assertRefused(
      await shiftkit("validate", `${dir}/big.onnx`),
      `"x" of shape [268435456, 4]`,
      "over the limit of 268435456",
      "pass --data",
    );
  });
});

Deno.test("cli hardening: one NaN in the calibration data is refused by every method", async () => {
  await withTempDir(async (dir) => {
    await saveModel(matmulModel(), `${dir}/m.onnx`);
    const x = new Float32Array(8 * 4).map((_, i) => Math.sin(i));
    x[13] = NaN;
    await Deno.writeFile(
      `${dir}/calib.npz`,
      encodeNpz(new Map([["x", { dtype: DataType.FLOAT, dims: [8, 4], data: x }]])),
    );
    for (const method of ["denseshift", "qdq", "shiftadd"]) {
      const r = await shiftkit(...quantizeArgs(`${dir}/m.onnx`, `${dir}/q.onnx`, method, `${dir}/calib.npz`));
      assertRefused(
        r,
        `input "x" of sample 3 holds NaN at element 1`,
        "non-finite calibration values are refused",
      );
    }
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["calib.npz", "m.onnx"],
      "nothing written",
    );
  });
});

Deno.test("cli hardening: DATA that is a device or a FIFO is refused at once", async () => {
  await withTempDir(async (dir) => {
    const lm = repoPath("testdata/byte-lm-opt.onnx");
    assertRefused(
      await shiftkit("eval", lm, "--task", "lm", "--data", "/dev/zero"),
      `DATA "/dev/zero" is not a regular file or a folder`,
    );
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/calib.txt`] }).output();
    assert(mk.success, "mkfifo");
    const r = await shiftkit(...quantizeArgs(lm, `${dir}/q.onnx`, "qdq", `${dir}/calib.txt`));
    assertRefused(r, `DATA "${dir}/calib.txt" is not a regular file or a folder`);
  });
});

Deno.test("cli hardening: empty data gives '0 samples' for eval and '0 calibration samples' for quantize", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/empty.txt`, new Uint8Array());
    const lm = repoPath("testdata/byte-lm-opt.onnx");
    assertRefused(await shiftkit("eval", lm, "--task", "lm", "--data", `${dir}/empty.txt`), "0 samples");
    const r = await shiftkit(...quantizeArgs(lm, `${dir}/q.onnx`, "osplus", `${dir}/empty.txt`));
    assertRefused(r, `0 calibration samples in ${dir}/empty.txt`);
  });
});

Deno.test("cli hardening: -o over the input, its external data or the report is refused without --force", async () => {
  await withTempDir(async (dir) => {
    const model = `${dir}/m.onnx`;
    await saveModel(matmulModel(), model, { externalData: { threshold: 0 } });
    const x = new Float32Array(8 * 4).map((_, i) => Math.cos(i));
    await Deno.writeFile(
      `${dir}/calib.npz`,
      encodeNpz(new Map([["x", { dtype: DataType.FLOAT, dims: [8, 4], data: x }]])),
    );
    const before = await Deno.readFile(model);
    const q = (...a: string[]) =>
      shiftkit("quantize", model, "--method", "qdq", "--calib", `${dir}/calib.npz`, ...a);
    assertRefused(await q("-o", model), `-o "${model}" would overwrite the input model`, "--force");
    assertRefused(await q("-o", `${dir}/./m.onnx`), "would overwrite the input model");
    assertRefused(await q("-o", `${dir}/m.onnx.data`), "would overwrite its external data");
    assertRefused(
      await q("-o", `${dir}/q.onnx`, "--report", `${dir}/q.onnx`),
      "-o and --report are the same file",
    );
    assertRefused(
      await q("-o", `${dir}/q.onnx`, "--report", model),
      "--report",
      "would overwrite the input model",
    );
    assertEquals(await Deno.readFile(model), before);
    // With --force the user gets what they asked for: the input is replaced by the quantized model.
    const forced = await q("-o", model, "--force");
    assertEquals(forced.code, 0, forced.stderr.join("\n"));
    assert((await loadModel(model)).graph.nodes.some((n) => n.opType === "DequantizeLinear"));
  });
});

Deno.test("cli hardening: a model with external data works from any folder, and its size counts the data", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/model`);
    await Deno.mkdir(`${dir}/elsewhere`);
    const model = `${dir}/model/seg.onnx`;
    await saveModel(await loadModel(repoPath("testdata/segmenter-tiny.onnx")), model, { externalData: true });
    const dataBytes = (await Deno.stat(`${model}.data`)).size;
    const cwd = Deno.cwd();
    const calib = repoPath("testdata/segmenter-tiny-calib");
    const evalSet = repoPath("testdata/segmenter-tiny-eval");
    Deno.chdir(`${dir}/elsewhere`);
    try {
      const inspect = await shiftkit("inspect", model, "--json");
      assertEquals(inspect.code, 0, inspect.stderr.join("\n"));
      const info = JSON.parse(inspect.stdout.at(-1)!);
      assert(
        info.fileBytes > dataBytes,
        `fileBytes ${info.fileBytes} counts the ${dataBytes}-byte data file`,
      );

      const q = await shiftkit(
        ...quantizeArgs(model, `${dir}/elsewhere/q.onnx`, "qdq", calib, "--samples", "2", "--json"),
      );
      assertEquals(q.code, 0, q.stderr.join("\n"));
      const report = JSON.parse(q.stdout.at(-1)!);
      assert(report.sizeBefore > dataBytes, `sizeBefore ${report.sizeBefore} counts the external data`);
      assert(report.sizeBefore / report.sizeAfter < 5, `${report.sizeBefore} -> ${report.sizeAfter}`);

      const ev = await shiftkit(
        "eval",
        model,
        "--task",
        "seg",
        "--data",
        evalSet,
        "--samples",
        "8",
        "--json",
      );
      assertEquals(ev.code, 0, ev.stderr.join("\n"));
      assert(JSON.parse(ev.stdout.at(-1)!).metrics.meanIoU > 0);

      const v = await shiftkit(
        "validate",
        `${dir}/elsewhere/q.onnx`,
        "--reference",
        model,
        "--samples",
        "1",
        "--json",
      );
      assert(v.code === 0 || v.code === 1, v.stderr.join("\n"));
      assert(JSON.parse(v.stdout.at(-1)!).inputs !== undefined);
    } finally {
      Deno.chdir(cwd);
    }
  });
});
