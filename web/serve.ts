/**
 * A static file server for the built page (web/dist/), for the browser test and for trying the page locally:
 *
 *   deno run -A web/serve.ts [--port 8000]     then open http://127.0.0.1:8000/
 * @module
 */

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  wasm: "application/wasm",
  png: "image/png",
  onnx: "application/octet-stream",
};

/**
 * Serve a folder on 127.0.0.1.
 *
 * @param root the folder
 * @param port the port (0 = any free one)
 * @returns the server and its base URL
 */
export function serveFolder(root: string, port = 0): { server: Deno.HttpServer<Deno.NetAddr>; url: string } {
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    const file = `${root}/${path === "/" ? "index.html" : path.slice(1)}`;
    try {
      const body = await Deno.readFile(file);
      const ext = file.slice(file.lastIndexOf(".") + 1);
      return new Response(body, { headers: { "content-type": TYPES[ext] ?? "application/octet-stream" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}/` };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  const { url } = serveFolder(
    new URL("dist", import.meta.url).pathname,
    i >= 0 ? Number(Deno.args[i + 1]) : 8000,
  );
  console.log(`serving web/dist at ${url}`);
}
