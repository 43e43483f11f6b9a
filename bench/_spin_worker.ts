/** Worker for bench/_cores.ts: spins for the milliseconds it is sent, then answers. @module */
const scope = globalThis as unknown as {
  postMessage(m: unknown): void;
  addEventListener(type: "message", l: (e: MessageEvent<number>) => void): void;
};
scope.addEventListener("message", (e) => {
  const t0 = performance.now();
  let x = 0;
  while (performance.now() - t0 < e.data) x += Math.sqrt(x + 1);
  scope.postMessage(x);
});
