/**
 * The worker side of runtime/pool.ts: imports a task's module (once per worker), calls the named export on
 * the arguments it is sent, and posts the result back with its own typed-array buffers transferred, not
 * copied. Only web-standard APIs (`postMessage`, message events, dynamic `import()`), so the same module
 * runs as a Deno and a browser module Worker.
 *
 * Protocol: the worker posts `{ ready: true }` once loaded; then for each `{ id, url, name, args }` it posts
 * `{ id, ok: true, result, ms }` or `{ id, ok: false, error: { name, message, stack } }`.
 * @module
 */

/** A job as the pool sends it. */
interface Request {
  id: number;
  url: string;
  name: string;
  args: unknown;
}

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: "message", listener: (e: MessageEvent<Request>) => void): void;
};

const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * The buffers of the typed arrays in a result that the result alone views whole (so moving them loses
 * nothing): not a view into a larger buffer, not shared, not a WebAssembly memory (that throws, and the
 * result is then copied instead).
 */
function ownedBuffers(value: unknown, out = new Set<ArrayBuffer>(), depth = 0): Set<ArrayBuffer> {
  if (depth > 8 || value === null || typeof value !== "object") return out;
  if (ArrayBuffer.isView(value)) {
    const b = value.buffer;
    if (b instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === b.byteLength) out.add(b);
    return out;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) ownedBuffers(v, out, depth + 1);
  return out;
}

scope.addEventListener("message", async (e: MessageEvent<Request>) => {
  const { id, url, name, args } = e.data;
  const t0 = performance.now();
  try {
    let m = modules.get(url);
    if (!m) modules.set(url, m = import(url));
    const fn = (await m)[name];
    if (typeof fn !== "function") throw new TypeError(`Module ${url} exports no function "${name}"`);
    const result = await fn(args);
    const reply = { id, ok: true, result, ms: performance.now() - t0 };
    try {
      scope.postMessage(reply, [...ownedBuffers(result)]);
    } catch {
      scope.postMessage(reply); // a buffer that cannot move (a WebAssembly memory): copied
    }
  } catch (err) {
    const x = err instanceof Error ? err : new Error(String(err));
    scope.postMessage({ id, ok: false, error: { name: x.name, message: x.message, stack: x.stack ?? "" } });
  }
});

scope.postMessage({ ready: true });
