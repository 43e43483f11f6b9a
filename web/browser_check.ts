/**
 * The quantization page in a real browser (`deno task test:browser`, run by .ci/run; not part of `deno task
 * test` because it needs Debian's `chromium`). It builds web/dist, serves it, drives headless chromium over
 * the DevTools protocol: picks testdata/segmenter-tiny.onnx, calibration data (a .npz; or PNG images, decoded
 * by the browser) and an evaluation .npz, quantizes with QDQ W8A8, checks the agreement the page reports and
 * the WebGPU validation, downloads the file and compares it byte for byte with what
 * `shiftkit quantize --runtime cpu` writes for the same inputs. With SHIFTKIT_SCREENSHOT=FILE
 * it also saves a screenshot of the finished page (docs/web-page.png in the README).
 *
 * CHROMIUM=/path overrides the browser (default: `chromium` on PATH).
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { gunzipSync } from "npm:fflate@0.8.2";
import { PNG } from "npm:pngjs@7.0.0";
import type { Buffer } from "node:buffer";
import { launchChromium } from "./_cdp.ts";
import { npzOf, openPoolPage } from "./_pool_page.ts";
import type { Agreement, Validation } from "./protocol.ts";
import { serveFolder } from "./serve.ts";

const root = new URL("../", import.meta.url).pathname;

async function run(args: string[]): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), { args, cwd: root, stdout: "piped", stderr: "piped" })
    .output();
  if (r.code !== 0) {
    throw new Error(
      `deno ${args.join(" ")} failed (${r.code}):\n${new TextDecoder().decode(r.stderr).slice(-3000)}`,
    );
  }
}

/** The first `n` 64x64 images of segmenter-tiny-calib as PNG files in `dir` (sorted names). */
async function pngsOf(n: number, dir: string): Promise<string[]> {
  const rgb = gunzipSync(await Deno.readFile(`${root}testdata/segmenter-tiny-calib.rgb.gz`));
  await Deno.mkdir(dir);
  const paths = [];
  for (let i = 0; i < n; i++) {
    const png = new PNG({ width: 64, height: 64 });
    for (let p = 0; p < 64 * 64; p++) {
      for (let c = 0; c < 3; c++) png.data[p * 4 + c] = rgb[i * 64 * 64 * 3 + p * 3 + c]!;
      png.data[p * 4 + 3] = 255;
    }
    const path = `${dir}/calib-${String(i).padStart(2, "0")}.png`;
    await Deno.writeFile(path, new Uint8Array(PNG.sync.write(png as unknown as PNG & Buffer)));
    paths.push(path);
  }
  return paths;
}

/**
 * Quantize in the page and with the CLI from the same calibration files; return what the page reported.
 * `cliCalib` is the CLI's --calib (the .npz, or the folder of the PNGs); `cliArgs` more CLI flags.
 */
async function pageAgainstCli(
  calibFiles: string[],
  cliCalib: string,
  cliArgs: string[],
  tmp: string,
  screenshot?: string,
): Promise<void> {
  const evalNpz = `${tmp}/segmenter-tiny-eval.npz`;
  await npzOf(`${root}testdata/segmenter-tiny-eval`, 8, evalNpz);
  const cliOut = `${tmp}/cli.onnx`;
  await cliQuantize(cliOut, "qdq", "W8A8", cliCalib, cliArgs);
  const { server, url } = serveFolder(`${root}web/dist`);
  // --enable-unsafe-webgpu: Chromium on Linux exposes WebGPU only with it (a SwiftShader adapter without a GPU).
  const browser = await launchChromium(Deno.env.get("CHROMIUM") ?? "chromium", ["--enable-unsafe-webgpu"]);
  const downloads = `${tmp}/downloads`;
  await Deno.mkdir(downloads);
  try {
    const page = browser.page;
    const consoleLines: string[] = [];
    page.on((method, params) => {
      if (method === "Runtime.exceptionThrown") consoleLines.push(JSON.stringify(params).slice(0, 500));
      if (method === "Runtime.consoleAPICalled") {
        consoleLines.push((params.args as { value?: unknown }[]).map((a) => String(a.value)).join(" "));
      }
    });
    await page.send("Runtime.enable");
    await page.send("Page.enable");
    await page.send("Browser.setDownloadBehavior", {
      behavior: "allow",
      downloadPath: downloads,
      eventsEnabled: true,
    });
    await page.send("Page.navigate", { url });
    for (let i = 0; i < 100 && !(await page.evaluate<boolean>("!!globalThis.shiftkitPage")); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const { root: doc } = await page.send<{ root: { nodeId: number } }>("DOM.getDocument");
    const setFiles = async (selector: string, files: string[]) => {
      const { nodeId } = await page.send<{ nodeId: number }>("DOM.querySelector", {
        nodeId: doc.nodeId,
        selector,
      });
      await page.send("DOM.setFileInputFiles", { nodeId, files });
    };
    await setFiles("#model", [`${root}testdata/segmenter-tiny.onnx`]);
    await setFiles("#calib", calibFiles);
    await setFiles("#eval", [evalNpz]);
    assertEquals(await page.evaluate<boolean>("document.getElementById('run').disabled"), false);
    await page.evaluate("document.getElementById('run').click()");
    let state = "running";
    const deadline = Date.now() + 150_000;
    while (state === "running" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      state = await page.evaluate<string>("globalThis.shiftkitPage.state");
    }
    const pageState = await page.evaluate<{
      error?: string;
      log: string[];
      result?: {
        method: string;
        bits: string;
        sizeBefore: number;
        sizeAfter: number;
        sha256: string;
        fileName: string;
        agreement: Agreement;
        validation: Validation;
      };
    }>("globalThis.shiftkitPage");
    assertEquals(state, "done", `page state ${state}: ${pageState.error}\n${consoleLines.join("\n")}`);
    const r = pageState.result!;
    assertEquals([r.method, r.bits], ["qdq", "W8A8"]);
    // Reported agreement on the evaluation .npz (8 samples), as the consumer example checks in Deno.
    assertEquals([r.agreement.samples, r.agreement.data], [8, "eval"]);
    assert(r.agreement.metrics["sqnrDb"]! > 30, `SQNR ${r.agreement.metrics["sqnrDb"]} dB`);
    assert(r.agreement.metrics["cosine"]! > 0.999, `cosine ${r.agreement.metrics["cosine"]}`);
    assert(r.sizeAfter < r.sizeBefore * 0.35, `${r.sizeAfter} vs ${r.sizeBefore}`);
    // WebGPU validation (shiftkit's kernels vs its CPU evaluator) ran on Chromium's WebGPU adapter: the QDQ
    // ops went to the GPU and every integer result compared bit for bit.
    assert(r.validation.ran, `WebGPU validation did not run: ${r.validation.reason}`);
    const ops = r.validation.ops!;
    const gpuOps = ops.filter((o) => o.gpu > 0);
    assert(gpuOps.length > 0, `no op ran on the GPU: ${JSON.stringify(ops)}`);
    for (const o of ops.filter((o) => o.integer)) {
      assertEquals(o.exact, o.compared, `${o.op}: ${JSON.stringify(o)}`);
    }
    // The rendered page shows the numbers and the per-layer report.
    const shown = await page.evaluate<string>("document.getElementById('agreement').textContent");
    assert(shown.includes("sqnrDb") && shown.includes("cosine"), shown);
    const reportLen = await page.evaluate<number>("document.getElementById('report').srcdoc.length");
    assert(reportLen > 1000, `per-layer report ${reportLen} chars`);
    // Download through the link, as a user would; compare with the CLI's file.
    await page.evaluate("document.getElementById('download').click()");
    const target = `${downloads}/${r.fileName}`;
    let got: Uint8Array | undefined;
    for (let i = 0; i < 100 && !got; i++) {
      await new Promise((r) => setTimeout(r, 200));
      got = await Deno.readFile(target).catch(() => undefined);
    }
    assert(got, `no download at ${target}`);
    const want = await Deno.readFile(cliOut);
    assertEquals(got.length, want.length, "downloaded file and CLI file differ in length");
    assert(got.every((b, i) => b === want[i]), "downloaded file and CLI file differ");
    const hex = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", want)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assertEquals(r.sha256, hex);
    if (screenshot) {
      const h = await page.evaluate<number>("document.documentElement.scrollHeight");
      await page.send("Emulation.setDeviceMetricsOverride", {
        width: 1100,
        height: h,
        deviceScaleFactor: 1,
        mobile: false,
      });
      const { data } = await page.send<{ data: string }>("Page.captureScreenshot", { format: "png" });
      await Deno.writeFile(screenshot, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    }
    console.log(
      `${browser.version}: ${r.fileName} ${r.sizeAfter} bytes, sha256 ${r.sha256.slice(0, 16)}…, ` +
        `SQNR ${r.agreement.metrics["sqnrDb"]!.toFixed(2)} dB, cosine ${
          r.agreement.metrics["cosine"]!.toFixed(6)
        } ` +
        `(${r.agreement.runtime}); WebGPU validation: ${
          gpuOps.map((o) => `${o.op} ${o.gpu} GPU runs, ${o.exact}/${o.compared} exact`).join("; ")
        }`,
    );
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

/** segmenter-tiny through the CLI (the CPU evaluator as its runtime): the bytes the page must match. */
async function cliQuantize(
  out: string,
  method: string,
  bits: string,
  calib: string,
  extra: string[] = [],
): Promise<void> {
  await run([
    "run",
    "-A",
    "cli.ts",
    "quantize",
    "testdata/segmenter-tiny.onnx",
    "-o",
    out,
    "--method",
    method,
    "--bits",
    bits,
    "--calib",
    calib,
    "--runtime",
    "cpu",
    ...extra,
  ]);
}

/**
 * DenseShift in the page with 1 thread, then 2 (the per-layer fits on Web Workers started from the page's
 * Worker: web/dist/pool_worker.js), in one page: the 2-thread report says workers ran jobs and the two files
 * are the same bytes, and the CLI's. `?poolMinWeights=0`: workers whatever the tasks' thresholds, as
 * tests/pool_identity_test.ts does in Deno (segmenter-tiny's 28 layers are above DenseShift's today).
 */
async function poolInPage(calib: string, tmp: string): Promise<void> {
  const cliOut = `${tmp}/cli-denseshift.onnx`;
  await cliQuantize(cliOut, "denseshift", "4", calib);
  const page = await openPoolPage({
    model: `${root}testdata/segmenter-tiny.onnx`,
    calib: [calib],
    method: "denseshift",
    bits: "4",
    query: "?poolMinWeights=0",
  });
  try {
    const one = await page.convert(1);
    const two = await page.convert(2);
    assertEquals([one.method, one.bits, two.method, two.bits], ["denseshift", "4", "denseshift", "4"]);
    assertEquals(one.threads.workers, 0, JSON.stringify(one.threads));
    assertEquals(one.threads.serialReasons, [`1 thread asked (${one.threads.serialJobs} jobs)`]);
    const t = two.threads;
    assert(t.workers === 2 && t.parallelJobs > 1, `2 threads in the page: ${JSON.stringify(t)}`);
    assert(!t.serialReasons.some((r) => r.startsWith("workers unavailable")), JSON.stringify(t));
    assertEquals(t.parallelJobs + t.serialJobs, one.threads.serialJobs);
    assertEquals([two.sizeAfter, two.sha256], [one.sizeAfter, one.sha256], "2 threads wrote other bytes");
    // ... and the CLI's bytes for the same inputs (Deno, serial: segmenter-tiny is below the thresholds).
    const want = await Deno.readFile(cliOut);
    const hex = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", want)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assertEquals(two.sha256, hex, "the page's file differs from the CLI's");
    console.log(
      `${page.version}: denseshift 4 on segmenter-tiny, 1 thread and 2 (${t.workers} workers, ${t.parallelJobs} ` +
        `jobs on workers, ${t.serialJobs} serially, start-up ${t.startupMs?.toFixed(0)} ms): ` +
        `sha256 ${one.sha256.slice(0, 16)}… both, as the CLI's; quantize() ${
          one.elapsedMs.toFixed(0)
        } ms on 1 thread, ` +
        `${two.elapsedMs.toFixed(0)} ms on 2`,
    );
  } finally {
    await page.close();
  }
}

Deno.test("web page: build", async () => {
  await run(["run", "-A", "web/build.ts"]);
});

Deno.test("web page: QDQ W8A8 from a calibration .npz in headless chromium, same bytes as the CLI", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shiftkit-web-" });
  try {
    const calib = `${tmp}/segmenter-tiny-calib.npz`;
    await npzOf(`${root}testdata/segmenter-tiny-calib`, 8, calib);
    await pageAgainstCli([calib], calib, [], tmp, Deno.env.get("SHIFTKIT_SCREENSHOT"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("web page: QDQ W8A8 from PNG images decoded by the browser, same bytes as the CLI's pngjs path", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shiftkit-web-" });
  try {
    const pngs = await pngsOf(8, `${tmp}/calib-png`);
    await pageAgainstCli(pngs, `${tmp}/calib-png`, ["--preprocess", "segmenter"], tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("web page: DenseShift with 2 threads runs its fits on Web Workers, same bytes as 1 thread", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shiftkit-web-" });
  try {
    const calib = `${tmp}/segmenter-tiny-calib.npz`;
    await npzOf(`${root}testdata/segmenter-tiny-calib`, 4, calib);
    await poolInPage(calib, tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
