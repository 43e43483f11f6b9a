/**
 * The worker side of runtime/pool.ts, shared by its two worker entries: runtime/pool_worker.ts (Deno, and any
 * runtime that can import a task's module by URL) and web/pool_worker.ts (the browser page's bundle, which
 * carries its tasks in itself: in a bundle every module's `import.meta.url` is the bundle's, so a task's URL
 * names nothing a worker could import). Only web-standard APIs (`postMessage`, message events), so it runs as
 * a Deno and a browser module Worker.
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

/**
 * Finds a task's function: by its module's URL and export name (runtime/pool_worker.ts imports the module), or
 * by name alone from the tasks a bundle carries (web/pool_worker.ts).
 */
export type TaskResolver = (url: string, name: string) => Promise<(args: unknown) => unknown>;

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

/**
 * Serve the pool's jobs in this worker: resolve each job's task with `resolve`, call it on the job's arguments,
 * post the result back with its own typed-array buffers transferred, not copied; then post `{ ready: true }`.
 *
 * @param resolve finds a task's function (a rejection or throw is posted back as the job's error)
 */
export function servePoolJobs(resolve: TaskResolver): void {
  const scope = globalThis as unknown as {
    postMessage(message: unknown, transfer?: Transferable[]): void;
    addEventListener(type: "message", listener: (e: MessageEvent<Request>) => void): void;
  };
  scope.addEventListener("message", async (e: MessageEvent<Request>) => {
    const { id, url, name, args } = e.data;
    const t0 = performance.now();
    try {
      const fn = await resolve(url, name);
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
}
