/**
 * The consumer example (examples/consumer/) is a separate Deno project with its own deno.json and no import
 * map: running it proves that mod.ts and everything it reaches resolve from an importer outside this
 * repository (npm packages as `npm:` specifiers, no bare names that only this deno.json maps).
 * @module
 */
import { assert, assertEquals } from "@std/assert";

Deno.test("examples/consumer: a separate Deno project imports shiftkit by path and quantizes", async () => {
  const cwd = new URL("../examples/consumer/", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `consumer exited with ${out.code}:\n${stderr}`);
  // Resolved through the consumer's own config, not this repository's import map.
  assert(!stderr.includes("not a dependency"), stderr);
  const line = stdout.trim().split("\n").at(-1)!;
  const r = JSON.parse(line) as {
    method: string;
    bits: string;
    sizeBefore: number;
    sizeAfter: number;
    metrics: { sqnrDb: number; cosine: number };
  };
  assertEquals([r.method, r.bits], ["qdq", "W8A8"]);
  // int8 weights: about a quarter of the float file (plus QDQ nodes and scales).
  assert(
    r.sizeAfter < r.sizeBefore * 0.35,
    `${r.sizeAfter} vs ${r.sizeBefore}`,
  );
  assert(r.metrics.sqnrDb > 30, `output SQNR ${r.metrics.sqnrDb} dB vs float`);
  assert(r.metrics.cosine > 0.999, `cosine ${r.metrics.cosine}`);
});

Deno.test("deno doc --lint mod.ts: every public symbol documented, no private type in the public API", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  const errors = text.split("\n").filter((l) => l.startsWith("error[")).slice(0, 5);
  assertEquals(out.code, 0, `deno doc --lint mod.ts failed:\n${errors.join("\n")}\n${text.slice(0, 2000)}`);
});
