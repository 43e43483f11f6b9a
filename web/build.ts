/**
 * Builds the quantization page into web/dist/: `main.js` (page), `worker.js` (the library core + the Worker),
 * `pool_worker.js` (the worker pool's worker with every pass's pool task, web/pool_worker.ts: the per-layer fits
 * on workers started from worker.js), `index.html`, and onnxruntime-web's wasm files. Bundled by `deno bundle --platform browser` (esbuild) with the
 * seams of web/seams.json: onnxruntime-node -> onnxruntime-web (same InferenceSession / Tensor API), and the
 * Node-only PNG decoder (pngjs, node:buffer) -> modules that say the browser decodes images itself.
 *
 *   deno run -A web/build.ts [--out web/dist]
 * @module
 */

const web = new URL("./", import.meta.url);
const i = Deno.args.indexOf("--out");
const out = i >= 0 ? Deno.args[i + 1]! : new URL("dist/", web).pathname;

async function bundle(entry: string, output: string): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "browser",
      "--import-map",
      new URL("seams.json", web).pathname,
      "-o",
      output,
      new URL(entry, web).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (r.code !== 0) {
    throw new Error(`deno bundle ${entry} failed (exit ${r.code}):\n${new TextDecoder().decode(r.stderr)}`);
  }
}

await Deno.mkdir(out, { recursive: true });
await bundle("main.ts", `${out}/main.js`);
await bundle("worker.ts", `${out}/worker.js`);
await bundle("pool_worker.ts", `${out}/pool_worker.js`);
await Deno.copyFile(new URL("index.html", web), `${out}/index.html`);
// onnxruntime-web loads its wasm glue and binary next to the bundle (the JSEP build: wasm + WebGPU).
const candidates = [
  "../node_modules/.deno/onnxruntime-web@1.30.0/node_modules/onnxruntime-web/dist/",
  "../node_modules/onnxruntime-web/dist/",
].map((p) => new URL(p, web));
const files = ["ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"];
const ortDist = candidates.find((d) => {
  try {
    return Deno.statSync(new URL(files[1]!, d)).isFile;
  } catch {
    return false;
  }
});
if (!ortDist) {
  throw new Error(`onnxruntime-web 1.30.0 is not in node_modules (looked in ${candidates.join(", ")})`);
}
for (const f of files) await Deno.copyFile(new URL(f, ortDist), `${out}/${f}`);
// The WebGPU kernels fetch their WGSL next to the module that loads them (kernels/wgsl.ts): in the bundle,
// next to worker.js.
let wgsl = 0;
for await (const e of Deno.readDir(new URL("../kernels/", web))) {
  if (e.isFile && e.name.endsWith(".wgsl")) {
    await Deno.copyFile(new URL(`../kernels/${e.name}`, web), `${out}/${e.name}`);
    wgsl++;
  }
}
if (wgsl === 0) throw new Error("no kernels/*.wgsl found to copy");
const worker = await Deno.readTextFile(`${out}/worker.js`);
const poolWorker = await Deno.readTextFile(`${out}/pool_worker.js`);
for (
  const [name, code] of [["worker.js", worker], ["pool_worker.js", poolWorker]] as const
) {
  for (
    const bad of [
      /from\s*"node:/,
      /require\("node:/,
      /from\s*"[^"]*onnxruntime-node/,
      /require\("[^"]*onnxruntime-node/,
    ]
  ) {
    if (bad.test(code)) throw new Error(`web/dist/${name} still references ${bad.source}: a seam is missing`);
  }
}
console.log(
  `built ${out}: main.js, worker.js (${(worker.length / 1e6).toFixed(2)} MB), pool_worker.js (${
    (poolWorker.length / 1e6).toFixed(2)
  } MB), index.html, ort wasm`,
);
