import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { main } from "../cli.ts";
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { encodeNpz } from "../runtime/npy.ts";
import { repoPath } from "./_models.ts";
import { cliInProcess as cli, quantizeArgs, withTempDir as withDir } from "./_cli.ts";
import { fixedBatchConvModel, ifModel, noise, twoLayerModel } from "./_intake_models.ts";

const float = (dims: number[], seed: number) =>
  makeTensor(DataType.FLOAT, dims, noise(dims.reduce((a, b) => a * b, 1), seed));

async function write(dir: string, files: Record<string, Model | Map<string, Tensor>>): Promise<void> {
  for (const [name, v] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, v instanceof Map ? encodeNpz(v) : encodeModel(v));
  }
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("paths: `deno task shiftkit` typed in another folder reads and writes there (was: file not found)", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/data`);
    await write(dir, {
      "fixed.onnx": fixedBatchConvModel(),
      "data/calib.npz": new Map([["x", float([8, 3, 8, 8], 1)]]),
      "eval.npz": new Map([["x", float([4, 3, 8, 8], 2)]]),
    });
    const env: Record<string, string> = { NO_COLOR: "1" };
    // A clean environment: an INIT_CWD inherited from an outer npm/npx would be kept by deno task.
    for (const k of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
      const v = Deno.env.get(k);
      if (v !== undefined) env[k] = v;
    }
    const task = async (...args: string[]) => {
      const o = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "--config", repoPath("deno.json"), "shiftkit", ...args],
        cwd: dir,
        clearEnv: true,
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: o.code, stdout: d.decode(o.stdout), stderr: d.decode(o.stderr) };
    };
    await Deno.mkdir(`${dir}/out`);
    const q = await task(
      ...quantizeArgs(
        "fixed.onnx",
        "out/q.onnx",
        "qdq",
        "data/calib.npz",
        "--report",
        "r.html",
        "--task",
        "compare",
        "--data",
        "eval.npz",
      ),
    );
    assertEquals(q.code, 0, q.stderr);
    assert(await exists(`${dir}/out/q.onnx`), "the output lands in the folder the command was typed in");
    assert(await exists(`${dir}/r.html`));
    const e = await task(
      "eval",
      "out/q.onnx",
      "--task",
      "compare",
      "--data",
      "eval.npz",
      "--reference",
      "fixed.onnx",
      "--json",
    );
    assertEquals(e.code, 0, e.stderr);
    const json = JSON.parse(e.stdout.trim().split("\n").at(-1)!);
    assertEquals(json.samples, 4);
    assertGreater(json.metrics.cosine, 0.99);
  });
});

Deno.test("paths: resolved against INIT_CWD only where the process runs in the project folder", async () => {
  await withDir(async (dir) => {
    await write(dir, { "m.onnx": twoLayerModel() });
    const project = repoPath("").replace(/\/$/, "");
    const run = (cwd: string, init: string | undefined) =>
      main(["inspect", "m.onnx", "--json"], {
        stdout: () => {},
        stderr: () => {},
        env: (k) => (k === "INIT_CWD" ? init : undefined),
        cwd: () => cwd,
      });
    assertEquals(await run(project, dir), 0);
    assertEquals(await run(project, undefined), 2); // no m.onnx in the project folder
  });
});

Deno.test("errors: onnxruntime's multi-line message is kept on one line (was: cut to its first line)", async () => {
  await withDir(async (dir) => {
    // The candidate takes any batch, the reference a fixed batch of 1: 4 stacked samples reach the reference.
    await write(dir, {
      "dyn.onnx": fixedBatchConvModel({ batch: "batch" }),
      "ref.onnx": fixedBatchConvModel(),
      "x.npz": new Map([["x", float([4, 3, 8, 8], 3)]]),
    });
    const r = await cli([
      "eval",
      `${dir}/dyn.onnx`,
      "--task",
      "compare",
      "--data",
      `${dir}/x.npz`,
      "--reference",
      `${dir}/ref.onnx`,
      "--json",
    ]);
    assertEquals(r.code, 2);
    assertEquals(r.stderr.split("\n").length, 1, r.stderr);
    assertStringIncludes(r.stderr, "Got invalid dimensions for input: x");
    assertStringIncludes(r.stderr, "index: 0 Got: 4 Expected: 1");
    assertStringIncludes(r.json.error, "index: 0 Got: 4 Expected: 1");
  });
});

Deno.test("errors: a broken input model reads 'input model invalid' (exit 2), before any work", async () => {
  await withDir(async (dir) => {
    const m = twoLayerModel();
    // Loads (the loader refuses only unrunnable graphs: cycles, undefined values) but is not a valid ONNX
    // model: a graph output without a type, which the ONNX checker rejects.
    m.graph.outputs[0]!.type = undefined;
    await write(dir, { "bad.onnx": m, "x.npz": new Map([["x", float([4, 8], 1)]]) });
    const r = await cli(quantizeArgs(`${dir}/bad.onnx`, `${dir}/q.onnx`, "qdq", `${dir}/x.npz`));
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, "shiftkit quantize: input model invalid: ");
    assert(!r.stderr.includes("Internal error"), r.stderr);
    assert(!(await exists(`${dir}/q.onnx`)));
  });
});

Deno.test("no silent no-ops: a method that converts nothing exits 2 with the reason, writes nothing", async () => {
  await withDir(async (dir) => {
    await write(dir, {
      "conv.onnx": fixedBatchConvModel({ batch: "batch", head: false }),
      "if.onnx": ifModel(),
      "img.npz": new Map([["x", float([4, 3, 8, 8], 4)]]),
      "ifx.npz": new Map<string, Tensor>([
        ["x", float([4, 1, 8], 5)],
        ["cond", makeTensor(DataType.BOOL, [4], new Uint8Array([1, 0, 1, 0]))],
      ]),
    });
    const shiftadd = (model: string, data: string, ...more: string[]) =>
      cli(quantizeArgs(`${dir}/${model}`, `${dir}/q.onnx`, "shiftadd", `${dir}/${data}`, ...more));
    const conv = await shiftadd("conv.onnx", "img.npz");
    assertEquals(conv.code, 2, conv.stdout);
    assertStringIncludes(conv.stderr, "--method shiftadd converted nothing");
    assertStringIncludes(conv.stderr, "no MatMul/Gemm with a constant float weight");
    assert(!(await exists(`${dir}/q.onnx`)));
    const iff = await shiftadd("if.onnx", "ifx.npz");
    assertEquals(iff.code, 2);
    assertStringIncludes(
      iff.stderr,
      `all compute is inside If/Loop/Scan bodies (2 MatMul/Gemm/Conv nodes in If "branch")`,
    );
    const dense = await cli(quantizeArgs(`${dir}/if.onnx`, `${dir}/q.onnx`, "denseshift", `${dir}/ifx.npz`));
    assertEquals(dense.code, 2);
    assertStringIncludes(dense.stderr, "--method denseshift converted nothing");
    assertStringIncludes(dense.stderr, "all compute is inside If/Loop/Scan bodies");
    // The escape hatch writes the copy and says so.
    const allowed = await shiftadd("conv.onnx", "img.npz", "--allow-no-sites", "--json");
    assertEquals(allowed.code, 0, allowed.stderr);
    assertEquals(allowed.json.sites.converted, 0);
    assert(await exists(`${dir}/q.onnx`));
  });
});

Deno.test("no silent no-ops: a partial conversion says which part, in the summary and --json", async () => {
  await withDir(async (dir) => {
    await write(dir, { "m.onnx": twoLayerModel(), "x.npz": new Map([["x", float([6, 8], 6)]]) });
    const args = quantizeArgs(`${dir}/m.onnx`, `${dir}/q.onnx`, "qdq", `${dir}/x.npz`, "--exclude", "fc2");
    const text = await cli(args);
    assertEquals(text.code, 0, text.stderr);
    assertStringIncludes(text.stdout, "converted 1 of 2 nodes; left: fc2 kept in float: excluded");
    const json = await cli([...args, "--json"]);
    assertEquals(json.json.sites, {
      converted: 1,
      skipped: ["fc2 kept in float: excluded"],
      what: "nodes",
      counted: true,
    });
    const dense = await cli([...args.map((a) => a === "qdq" ? "denseshift" : a), "--json"]);
    assertEquals(dense.code, 0, dense.stderr);
    assertEquals([dense.json.sites.converted, dense.json.sites.skipped.length], [1, 1]);
    assertStringIncludes(dense.json.sites.skipped[0], "fc2");
  });
});

Deno.test("data mismatch: exit 2 naming the input and both shapes, nothing written", async () => {
  await withDir(async (dir) => {
    await write(dir, {
      "fixed.onnx": fixedBatchConvModel(),
      "x.npz": new Map([["x", float([8, 3, 9, 8], 1)]]),
    });
    const r = await cli(quantizeArgs(`${dir}/fixed.onnx`, `${dir}/q.onnx`, "qdq", `${dir}/x.npz`));
    assertEquals(r.code, 2);
    assertStringIncludes(
      r.stderr,
      `Data does not fit input "x": expected [1, 3, 8, 8] per sample, i.e. [samples, 1, 3, 8, 8], or stacked [1, 3, 8, 8], given [8, 3, 9, 8] (dim 2 is 9, the model fixes 8)`,
    );
    assert(!(await exists(`${dir}/q.onnx`)));
  });
});
