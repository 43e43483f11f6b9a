/**
 * Drives the quantization page (web/dist, built) in headless chromium for the worker pool's checks: one page,
 * one model and calibration file, a method and bits, then as many conversions as asked, each with its own
 * `threads`. Used by web/browser_check.ts (same bytes with 1 and 2 threads) and web/pool_bench.ts (times).
 * @module
 */
import { assertEquals } from "@std/assert";
import { DataType, makeTensor, type Tensor } from "../onnx/tensor.ts";
import { openDataSource } from "../runtime/data/mod.ts";
import { encodeNpz } from "../runtime/npy.ts";
import type { PoolSummary } from "../runtime/pool.ts";
import { type Browser, launchChromium } from "./_cdp.ts";
import { serveFolder } from "./serve.ts";

/** What the page reports of one conversion (web/protocol.ts, less the bytes and the report). */
export interface PageConversion {
  sha256: string;
  sizeAfter: number;
  method: string;
  bits: string;
  elapsedMs: number;
  threads: PoolSummary;
}

/** An open page with its files picked. */
export interface PoolPage {
  /** The browser's version (`Chrome/156...`). */
  version: string;
  /** Convert with `threads` (0: all cores); throws when the page ends in an error or times out. */
  convert(threads: number): Promise<PageConversion>;
  /** Close the browser and the server. */
  close(): Promise<void>;
}

/** Options of {@linkcode openPoolPage}. */
export interface PoolPageOptions {
  /** The float model's path. */
  model: string;
  /** Calibration files' paths (one .npz, or images). */
  calib: string[];
  /** `qdq`, `osplus` or `denseshift`. */
  method: string;
  /** A bit setting the page offers for the method. */
  bits: string;
  /** Query string of the page (`?poolMinWeights=0`). @default {""} */
  query?: string;
  /** Ms a conversion may take. @default {150000} */
  timeoutMs?: number;
}

/**
 * Build nothing, serve web/dist, open the page in headless chromium and pick the files and settings.
 *
 * @param options the files and settings
 * @returns the page, ready to convert
 */
export async function openPoolPage(options: PoolPageOptions): Promise<PoolPage> {
  const dist = new URL("./dist/", import.meta.url).pathname;
  const { server, url } = serveFolder(dist);
  let browser: Browser;
  try {
    browser = await launchChromium(Deno.env.get("CHROMIUM") ?? "chromium", ["--enable-unsafe-webgpu"]);
  } catch (e) {
    await server.shutdown();
    throw e;
  }
  const close = async () => {
    await browser.close();
    await server.shutdown();
  };
  try {
    const page = browser.page;
    const exceptions: string[] = [];
    page.on((method, params) => {
      if (method === "Runtime.exceptionThrown") exceptions.push(JSON.stringify(params).slice(0, 500));
    });
    await page.send("Runtime.enable");
    await page.send("Page.enable");
    await page.send("Page.navigate", { url: `${url}${options.query ?? ""}` });
    for (let i = 0; i < 100 && !(await page.evaluate<boolean>("!!globalThis.shiftkitPage")); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const { root: doc } = await page.send<{ root: { nodeId: number } }>("DOM.getDocument");
    for (const [selector, files] of [["#model", [options.model]], ["#calib", options.calib]] as const) {
      const { nodeId } = await page.send<{ nodeId: number }>("DOM.querySelector", {
        nodeId: doc.nodeId,
        selector,
      });
      await page.send("DOM.setFileInputFiles", { nodeId, files });
    }
    const select = (id: string, value: string) =>
      page.evaluate<string>(
        `(() => { const s = document.getElementById(${JSON.stringify(id)}); s.value = ${
          JSON.stringify(value)
        }; s.dispatchEvent(new Event("change")); return s.value; })()`,
      );
    assertEquals(await select("method", options.method), options.method);
    assertEquals(await select("bits", options.bits), options.bits);
    const convert = async (threads: number): Promise<PageConversion> => {
      assertEquals(await select("threads", String(threads)), String(threads));
      await page.evaluate("document.getElementById('run').click()");
      let state = "running";
      const deadline = Date.now() + (options.timeoutMs ?? 150_000);
      while (state === "running" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        state = await page.evaluate<string>("globalThis.shiftkitPage.state");
      }
      const s = await page.evaluate<{ error?: string; result?: PageConversion }>("globalThis.shiftkitPage");
      if (state !== "done") {
        throw new Error(`threads ${threads}: page state ${state}: ${s.error}\n${exceptions.join("\n")}`);
      }
      return s.result!;
    };
    return { version: browser.version, convert, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * The first `n` samples of a Segmenter data set (a path prefix such as `testdata/segmenter-tiny-calib`),
 * preprocessed, written as one .npz at `path` (inputs stacked on axis 0): what the page and the CLI both read.
 */
export async function npzOf(prefix: string, n: number, path: string): Promise<void> {
  const src = await openDataSource(prefix, { preset: "segmenter", maxSamples: n });
  const parts: Float32Array[] = [];
  let dims: readonly number[] = [];
  for await (const b of src.batches(n)) {
    const t = b["pixel_values"] as Tensor;
    parts.push(t.data as Float32Array);
    dims = t.dims;
  }
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (all.set(p, o), o + p.length), 0);
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  const x = makeTensor(DataType.FLOAT, [all.length / per, ...dims.slice(1)], all);
  await Deno.writeFile(path, encodeNpz(new Map([["pixel_values", x]])));
}
