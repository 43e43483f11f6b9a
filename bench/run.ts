/**
 * `deno task bench [NAME...]`: runs the benchmark scripts in bench/ one after another (each prints a Markdown
 * table; pass `--json` through for machine output). Without names it lists them. Benchmarks are long
 * measurements on real models; they are never part of the timed test suite.
 * @module
 */
const dir = new URL("./", import.meta.url);
const names: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith(".ts") && e.name !== "run.ts" && !e.name.startsWith("_")) {
    names.push(e.name.slice(0, -3));
  }
}
names.sort();
const wanted = Deno.args.filter((a) => !a.startsWith("--"));
const pass = Deno.args.filter((a) => a.startsWith("--"));
if (wanted.length === 0) {
  console.log(
    `Benchmarks (run one with: deno task bench NAME [--json]):\n${names.map((n) => `  ${n}`).join("\n")}`,
  );
  console.log(`Run all with: deno task bench all`);
  Deno.exit(0);
}
const run = wanted.includes("all") ? names : wanted;
let failed = 0;
for (const name of run) {
  if (!names.includes(name)) {
    console.error(`No benchmark named "${name}" (have: ${names.join(", ")})`);
    Deno.exit(2);
  }
  console.log(`\n### bench/${name}.ts\n`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`./${name}.ts`, dir).pathname, ...pass],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) failed++;
}
Deno.exit(failed ? 1 : 0);
