/**
 * The CLI as tests run it: in this process (`cli.ts`'s `main` with captured lines) or as a user does (a
 * `deno run -A cli.ts ...` subprocess), plus the argument list of one `quantize` call and a temp folder.
 * @module
 */
import { main } from "../cli.ts";
import { repoPath } from "./_models.ts";

/** One CLI run: exit code, captured output, the last stdout line parsed when it is JSON, wall time. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed, when it starts with `{` (the `--json` report); otherwise null. */
  // deno-lint-ignore no-explicit-any
  json: any;
  ms: number;
}

/** The last stdout line as JSON, or null when it is not an object. */
// deno-lint-ignore no-explicit-any
export function lastJson(stdout: string): any {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return last.startsWith("{") ? JSON.parse(last) : null;
}

/** Run `main(args)` in this process (no environment; `cwd` optional). */
export async function cliInProcess(args: string[], options: { cwd?: string } = {}): Promise<CliRun> {
  const out: string[] = [], err: string[] = [];
  const t0 = performance.now();
  const code = await main(args, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: () => undefined,
    ...(options.cwd ? { cwd: () => options.cwd! } : {}),
  });
  const stdout = out.join("\n");
  return { code, stdout, stderr: err.join("\n"), json: lastJson(stdout), ms: performance.now() - t0 };
}

/** Run `deno run -A cli.ts ...args` in a subprocess, as a user does (NO_COLOR set). */
export async function cliProcess(...args: string[]): Promise<CliRun> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", repoPath("cli.ts"), ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  return {
    code: out.code,
    stdout,
    stderr: dec.decode(out.stderr),
    json: lastJson(stdout),
    ms: performance.now() - t0,
  };
}

/** `quantize MODEL -o OUT --method METHOD --calib CALIB ...more`. */
export function quantizeArgs(
  model: string,
  out: string,
  method: string,
  calib: string,
  ...more: string[]
): string[] {
  return ["quantize", model, "-o", out, "--method", method, "--calib", calib, ...more];
}

/** Run `f` with a fresh temp folder, removed afterwards whatever happens. */
export async function withTempDir(
  f: (dir: string) => Promise<void>,
  prefix = "shiftkit_test_",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
