/**
 * How many cores this process gets right now: `n` workers spin for `ms` each, and the process CPU time they
 * used is divided by the wall time. On the shared 2-core machine other sessions' jobs (in other containers,
 * invisible to `top`) take their share, so a 2-thread conversion can only be as fast as this allows; the
 * benchmarks that compare thread counts print it beside their tables.
 * @module
 */
import process from "node:process";

/**
 * Cores available to this process now (CPU seconds per wall second of `n` spinning workers).
 *
 * @param n workers (the threads compared)
 * @param ms spin time of each
 * @returns about `n` on an idle machine with `n` cores, less under load
 */
export async function coresAvailable(n = 2, ms = 1000): Promise<number> {
  const ws = Array.from(
    { length: n },
    () => new Worker(new URL("./_spin_worker.ts", import.meta.url), { type: "module" }),
  );
  try {
    await Promise.all(ws.map((w) => new Promise((r) => (w.onmessage = r, w.postMessage(1))))); // loaded
    const u0 = process.cpuUsage(), t0 = performance.now();
    await Promise.all(ws.map((w) => new Promise((r) => (w.onmessage = r, w.postMessage(ms)))));
    const u = process.cpuUsage(u0);
    return (u.user + u.system) / 1e6 / ((performance.now() - t0) / 1000);
  } finally {
    ws.forEach((w) => w.terminate());
  }
}
