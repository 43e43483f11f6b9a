/**
 * The library core runs in a browser: codec, IR, passes, quant, kernels and the evaluator use no `Deno.*`
 * outside the listed adapters, and the browser bundle (web/build.ts, with the seams of web/seams.json) builds
 * with no Node-only import left. The page itself is tested in chromium by web/browser_check.ts.
 * @module
 */
import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);

/** Files of the core allowed to touch Deno, and why. */
const ADAPTERS: Record<string, string> = {
  "onnx/_fs.ts": "the file-system adapter of onnx/io.ts (path loads only; byte loads need no Deno)",
  "onnx/evaluate/cases/_gen.ts": "a generator script for the op cases, run by hand, imported by nothing",
  "kernels/_test_util.ts": "test helper reading tests/ops/*.json",
};

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(dir, root))) {
    const p = `${dir}${e.name}`;
    if (e.isDirectory) yield* walk(`${p}/`);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield p;
  }
}

/** Source without comments (doc examples mention Deno legitimately). */
function code(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

Deno.test("library core: no Deno.* outside the listed adapters", async () => {
  const offenders: string[] = [];
  for (const dir of ["onnx/", "quant/", "passes/", "kernels/"]) {
    for await (const f of walk(dir)) {
      if (f in ADAPTERS) continue;
      if (/\bDeno\./.test(code(await Deno.readTextFile(new URL(f, root))))) offenders.push(f);
    }
  }
  assertEquals(offenders, []);
  // The exceptions still exist (a stale entry would hide nothing but mislead).
  for (const f of Object.keys(ADAPTERS)) assert((await Deno.stat(new URL(f, root))).isFile, f);
});

Deno.test("browser bundle: builds with no Node-only import (onnxruntime-node, node:*) left", async () => {
  const out = await Deno.makeTempDir({ prefix: "shiftkit-web-dist-" });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "web/build.ts", "--out", out],
      cwd: root.pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
    const worker = await Deno.readTextFile(`${out}/worker.js`);
    assert(!/from\s*"node:|require\("node:/.test(worker), "node: import left in worker.js");
    assert(
      !/from\s*"[^"]*onnxruntime-node|require\("[^"]*onnxruntime-node/.test(worker),
      "onnxruntime-node left",
    );
    assert(worker.includes("InferenceSession"), "onnxruntime-web is not in the bundle");
    // The worker pool's worker, with every pass's pool task and nothing of onnxruntime.
    const pool = await Deno.readTextFile(`${out}/pool_worker.js`);
    assert(!/from\s*"node:|require\("node:/.test(pool), "node: import left in pool_worker.js");
    assert(!pool.includes("InferenceSession"), "onnxruntime in pool_worker.js");
    for (const name of ["blockwiseLayer", "shiftAddGroup", "denseShiftGroup"]) {
      assert(pool.includes(`"${name}"`), `pool_worker.js has no task ${name}`);
    }
    for (const f of ["index.html", "main.js", "ort-wasm-simd-threaded.jsep.wasm", "qdq.wgsl"]) {
      assert((await Deno.stat(`${out}/${f}`)).size > 0, f);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
