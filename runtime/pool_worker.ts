/**
 * The worker of runtime/pool.ts where a task's module can be imported by its URL (Deno; a browser serving the
 * sources unbundled): imports each task's module once and calls the named export (runtime/pool_serve.ts has
 * the protocol). The browser page's bundle uses web/pool_worker.ts instead.
 * @module
 */
import { servePoolJobs } from "./pool_serve.ts";

const modules = new Map<string, Promise<Record<string, unknown>>>();

servePoolJobs(async (url, name) => {
  let m = modules.get(url);
  if (!m) modules.set(url, m = import(url));
  const fn = (await m)[name];
  if (typeof fn !== "function") throw new TypeError(`Module ${url} exports no function "${name}"`);
  return fn as (args: unknown) => unknown;
});
