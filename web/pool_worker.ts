/**
 * The browser page's pool worker (web/dist/pool_worker.js): the worker of runtime/pool.ts, bundled with every
 * pass's pool task (passes/pool_tasks.ts). In a bundle a task's URL is the bundle's own, so the worker finds the
 * task's function by name in the tasks it carries instead of importing its module (runtime/pool_worker.ts
 * does that in Deno). web/worker.ts starts the page's pool with this module as `workerUrl`, so the per-layer
 * fits run on workers started from the page's Worker (nested dedicated workers).
 * @module
 */
import { poolTaskFunctions } from "../passes/pool_tasks.ts";
import { servePoolJobs } from "../runtime/pool_serve.ts";

const tasks = poolTaskFunctions();

servePoolJobs((_url, name) => {
  const fn = tasks.get(name);
  if (!fn) {
    return Promise.reject(
      new TypeError(
        `The page's pool worker carries no task "${name}" (it carries ${
          [...tasks.keys()].join(", ")
        }: passes/pool_tasks.ts)`,
      ),
    );
  }
  return Promise.resolve(fn);
});
