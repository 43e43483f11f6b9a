/// <reference lib="dom" />
/**
 * The quantization page's main thread: reads the picked files, hands them to the Worker (web/worker.ts),
 * shows progress, and renders the result (sizes, agreement, WebGPU validation, per-layer report, download).
 * `window.shiftkitPage` exposes the state for the browser test (web/browser_test.ts).
 * @module
 */
import type { QuantizeRequest, WorkerMessage } from "./protocol.ts";

type Result = Extract<WorkerMessage, { type: "result" }>;

/** What the page exposes for tests. */
interface PageState {
  state: "idle" | "running" | "done" | "error";
  error?: string;
  result?: Omit<Result, "bytes" | "reportHtml">;
  log: string[];
}

const state: PageState = { state: "idle", log: [] };
(globalThis as unknown as { shiftkitPage: PageState }).shiftkitPage = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const files = (id: string) => Array.from($<HTMLInputElement>(id).files ?? []);

function ready(): void {
  $<HTMLButtonElement>("run").disabled = files("model").length !== 1 || files("calib").length === 0;
}
for (const id of ["model", "calib"]) $(id).addEventListener("change", ready);

/** Bit settings per method (api/quantize.ts): activations too for qdq / osplus, weights only for denseshift. */
const BITS: Record<string, string[]> = {
  qdq: ["W8A8", "W6A6", "W4A4"],
  osplus: ["W8A8", "W6A6", "W4A4"],
  denseshift: ["4", "3", "5", "6"],
};
$("method").addEventListener("change", () => {
  const bits = BITS[$<HTMLSelectElement>("method").value] ?? [];
  $("bits").replaceChildren(
    ...bits.map((b) => Object.assign(document.createElement("option"), { textContent: b })),
  );
});
/** `?poolMinWeights=N`: every pool task's threshold replaced (tests and measurements on small models). */
const poolMinWeights = new URLSearchParams(location.search).get("poolMinWeights");
if (poolMinWeights !== null && !/^\d+$/.test(poolMinWeights)) {
  state.state = "error";
  state.error = `?poolMinWeights must be a non-negative integer, got "${poolMinWeights}"`;
  $("error").textContent = state.error;
  $<HTMLButtonElement>("run").hidden = true;
}

async function pick(f: File) {
  return { name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) };
}

function logLine(level: string, message: string): void {
  state.log.push(`${level}: ${message}`);
  const div = document.createElement("div");
  div.className = level;
  div.textContent = message;
  $("log").append(div);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : v.toPrecision(5);
}

function show(r: Result): void {
  const { bytes, reportHtml, ...rest } = r;
  state.result = rest;
  $("result").classList.remove("hidden");
  $("sizes").textContent = `${r.method} ${r.bits}: ${(r.sizeBefore / 1e6).toFixed(2)} MB -> ${
    (r.sizeAfter / 1e6).toFixed(2)
  } MB (${(r.sizeBefore / r.sizeAfter).toFixed(2)}x smaller), ${r.calibrationSamples} calibration samples, ${
    (r.elapsedMs / 1000).toFixed(1)
  } s`;
  const a = $<HTMLAnchorElement>("download");
  a.href = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" }),
  );
  a.download = r.fileName;
  a.textContent = `Download ${r.fileName} (${(bytes.length / 1e6).toFixed(2)} MB)`;
  $("sha256").textContent = `sha256 ${r.sha256}`;
  const rows = Object.entries(r.agreement.metrics).map(([k, v]) =>
    `<tr><td>${k}</td><td>${fmt(v)}</td></tr>`
  );
  $("agreement").innerHTML = `<tr><th>metric</th><th>value</th></tr>${rows.join("")}` +
    `<caption>${r.agreement.samples} samples of the ${r.agreement.data} data, ${r.agreement.runtime}</caption>`;
  const v = r.validation;
  $("validation").innerHTML = v.ran
    ? `<table><tr><th>op</th><th>runs</th><th>on GPU</th><th>compared</th><th>bit-exact</th><th>notes</th></tr>${
      (v.ops ?? []).filter((o) => o.gpu > 0 || o.notes.length > 0).map((o) =>
        `<tr><td>${o.op}</td><td>${o.runs}</td><td>${o.gpu}</td><td>${o.compared}</td><td>${o.exact}</td>` +
        `<td>${escapeHtml(o.notes.join("; "))}</td></tr>`
      ).join("")
    }</table><p>Ops without a WebGPU kernel ran on the CPU evaluator only.</p>`
    : `<p style="color:#a60">${v.reason}</p>`;
  $<HTMLIFrameElement>("report").srcdoc = reportHtml;
}

$("run").addEventListener("click", async () => {
  state.state = "running";
  state.log = [];
  $("error").textContent = "";
  $("log").textContent = "";
  $("result").classList.add("hidden");
  $("progress-box").classList.remove("hidden");
  const req: QuantizeRequest = {
    type: "quantize",
    model: await pick(files("model")[0]!),
    calib: await Promise.all(files("calib").map(pick)),
    eval: await Promise.all(files("eval").map(pick)),
    preset: $<HTMLSelectElement>("preset").value,
    method: $<HTMLSelectElement>("method").value as QuantizeRequest["method"],
    bits: $<HTMLSelectElement>("bits").value,
    threads: Number($<HTMLSelectElement>("threads").value),
    ...(poolMinWeights !== null ? { poolMinWeights: Number(poolMinWeights) } : {}),
    samples: Number($<HTMLInputElement>("samples").value) || 0,
    calibRuntime: $<HTMLSelectElement>("runtime").value as QuantizeRequest["calibRuntime"],
    provider: $<HTMLSelectElement>("provider").value as QuantizeRequest["provider"],
  };
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
    const m = e.data;
    if (m.type === "progress") {
      const p = $<HTMLProgressElement>("progress");
      p.max = Math.max(1, m.total);
      p.value = m.done;
      $("status").textContent = `${m.task}: ${m.done} / ${m.total}`;
    } else if (m.type === "log") {
      logLine(m.level, m.message);
    } else if (m.type === "result") {
      show(m);
      state.state = "done";
      worker.terminate();
    } else {
      state.error = m.message;
      state.state = "error";
      $("error").textContent = m.message;
      worker.terminate();
    }
  };
  worker.onerror = (e) => {
    state.error = e.message;
    state.state = "error";
    $("error").textContent = `Worker failed: ${e.message}`;
  };
  const transfer = [
    req.model.bytes.buffer,
    ...req.calib.map((f) => f.bytes.buffer),
    ...req.eval.map((f) => f.bytes.buffer),
  ];
  worker.postMessage(req, transfer as Transferable[]);
});
