/**
 * A small Chrome DevTools Protocol client for the browser test (private): starts Debian's `chromium` headless
 * with a DevTools port, connects to a page target over its websocket, and sends commands. Only what the test
 * needs; no download of a browser, no puppeteer.
 * @module
 */

/** One CDP connection to a page. */
export class CdpPage {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();
  #listeners: ((method: string, params: Record<string, unknown>) => void)[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: Record<string, unknown>;
      };
      if (m.id !== undefined) {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (!p) return;
        if (m.error) p.reject(new Error(`CDP ${p.method}: ${m.error.message}`));
        else p.resolve(m.result);
      } else if (m.method) {
        for (const l of this.#listeners) l(m.method, m.params ?? {});
      }
    };
  }

  /**
   * Connect to a target's websocket.
   *
   * @param url the target's `webSocketDebuggerUrl`
   * @returns the connection
   */
  static async connect(url: string): Promise<CdpPage> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`Cannot open the DevTools websocket ${url}`));
    });
    return new CdpPage(ws);
  }

  /**
   * Send a command and wait for its result.
   *
   * @param method CDP method, e.g. `Page.navigate`
   * @param params its parameters
   * @returns the result object
   */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
    });
  }

  /**
   * Listen to events.
   *
   * @param listener called with each event
   */
  on(listener: (method: string, params: Record<string, unknown>) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Evaluate an expression in the page and return its value (awaiting promises).
   *
   * @param expression JavaScript
   * @returns the value, JSON-transferred
   */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send<
      { result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }
    >(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
    );
    if (r.exceptionDetails) {
      throw new Error(`page threw: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value as T;
  }

  /** Close the websocket. */
  close(): void {
    this.#ws.close();
  }
}

/** A running headless chromium. */
export interface Browser {
  /** The first page target, connected. */
  page: CdpPage;
  /** The browser's version line. */
  version: string;
  /** Stop the browser and remove its profile. */
  close(): Promise<void>;
}

/**
 * Start chromium headless and connect to its page.
 *
 * @param executable the chromium binary
 * @param extraArgs more command-line switches
 * @returns the browser
 * @throws {Error} when chromium does not start or print its DevTools address within 30 s
 */
export async function launchChromium(executable: string, extraArgs: string[] = []): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "shiftkit-chromium-" });
  const child = new Deno.Command(executable, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu-sandbox",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "--window-size=1100,1400",
      ...extraArgs,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 30_000;
  let wsUrl: string | undefined;
  while (!wsUrl) {
    const left = deadline - Date.now();
    const chunk = await Promise.race([
      reader.read(),
      new Promise<{ done: true; value: undefined }>((r) =>
        setTimeout(() => r({ done: true, value: undefined }), left)
      ),
    ]);
    if (chunk.done) break;
    seen += chunk.value;
    wsUrl = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1];
  }
  // Keep draining stderr so chromium never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* drain */ }
    } catch { /* closed */ }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  if (!wsUrl) {
    await stop();
    throw new Error(`chromium printed no DevTools address within 30 s:\n${seen.slice(-2000)}`);
  }
  const http = wsUrl.replace(/^ws:/, "http:").replace(/\/devtools\/browser\/.*$/, "");
  const version = (await (await fetch(`${http}/json/version`)).json()).Browser as string;
  const targets = (await (await fetch(`${http}/json/list`)).json()) as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = targets.find((t) => t.type === "page");
  if (!target) {
    await stop();
    throw new Error("chromium has no page target");
  }
  const page = await CdpPage.connect(target.webSocketDebuggerUrl);
  return {
    page,
    version,
    close: async () => {
      page.close();
      await stop();
    },
  };
}
