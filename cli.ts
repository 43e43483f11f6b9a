/**
 * The `shiftkit` command line: `deno run -A cli.ts <command> [args]`. Thin: parse, call the command (which
 * calls the public API), print. Commands live in cli/ and are listed in cli/commands.ts.
 *
 * Conventions for every command: `--help`; `--json` prints exactly one JSON object as the last stdout line;
 * `--progress` draws progress bars even when stderr is not a terminal; exit code 0 ok, 1 a check failed,
 * 2 bad usage or bad input, 3 an internal error (a shiftkit bug) (one-line message on stderr; a stack trace only with SHIFTKIT_DEBUG=1).
 * @module
 */
import { parseArgs } from "./cli/args.ts";
import { InternalError } from "./onnx/errors.ts";
import { type Command, type FlagSpec, type ParsedArgs, UsageError } from "./cli/command.ts";
import { COMMANDS } from "./cli/commands.ts";
import { PROJECT_DIR, userDataPath, userDir, userPath } from "./cli/paths.ts";
import { ProgressReporter } from "./cli/progress.ts";

/** Flags every command accepts. */
const COMMON_FLAGS: readonly FlagSpec[] = [
  { name: "json", type: "boolean", help: "print one JSON object as the last line of stdout" },
  { name: "progress", type: "boolean", help: "draw progress bars even when stderr is not a terminal" },
  { name: "help", short: "h", type: "boolean", help: "show this help" },
];

/** Where the CLI writes; injectable for tests. */
export interface CliIO {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Environment lookup (SHIFTKIT_DEBUG, INIT_CWD). */
  env(name: string): string | undefined;
  /** The current folder. @default Deno.cwd() */
  cwd?(): string;
}

const denoIO: CliIO = {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
  env: (name) => Deno.env.get(name),
  cwd: () => Deno.cwd(),
};

function toolHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "shiftkit: quantize ONNX models and prove how much accuracy was kept",
    "",
    "Usage: shiftkit <command> [arguments] [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "Run 'shiftkit <command> --help' for a command's arguments and options.",
    "",
    "Exit codes: 0 ok, 1 a check failed, 2 bad usage or bad input, 3 internal error (a shiftkit bug).",
    "Set SHIFTKIT_DEBUG=1 to see stack traces.",
  ].join("\n");
}

function commandHelp(cmd: Command): string {
  const flags = [...cmd.flags, ...COMMON_FLAGS];
  const label = (f: FlagSpec) =>
    `${f.short ? `-${f.short}, ` : "    "}--${f.name}${
      f.type === "boolean" ? "" : ` ${f.value ?? f.type.toUpperCase()}`
    }${f.multiple ? " ..." : ""}`;
  const w = Math.max(...flags.map((f) => label(f).length));
  return [
    `Usage: shiftkit ${cmd.usage}`,
    "",
    cmd.summary + ".",
    "",
    cmd.description,
    "",
    "Options:",
    ...flags.map((f) => `  ${label(f).padEnd(w)}  ${f.help}`),
  ].join("\n");
}

/**
 * The exit code for an error: 3 for a shiftkit bug ({@link InternalError}), 2 for everything else (bad usage
 * or bad input).
 *
 * @param e the error
 * @returns 2 or 3
 */
export function exitCodeOf(e: unknown): 2 | 3 {
  return e instanceof InternalError ? 3 : 2;
}

/** A message on one line: every line of it kept, joined (onnxruntime and verify() causes span lines). */
function oneLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0).join(" | ");
}

/**
 * The error as the user reads it: the whole message on one line (messages carry their cause's reason, as
 * ModelIOError and OrtRuntime.create do); with SHIFTKIT_DEBUG=1 the stack traces and the causes.
 */
function errorText(e: unknown, debug: boolean): string {
  if (!(e instanceof Error)) return oneLine(String(e));
  if (!debug) return oneLine(e.message);
  let text = e.stack ?? e.message;
  for (let c = e.cause; c instanceof Error; c = c.cause) text += `\nCaused by: ${c.stack ?? c.message}`;
  return text;
}

/** Resolve the path positionals and path flags of `cmd` against the folder the command was typed in. */
async function resolvePaths(cmd: Command, parsed: ParsedArgs, io: CliIO): Promise<ParsedArgs> {
  const cwd = io.cwd?.() ?? Deno.cwd();
  const base = userDir(cwd, io.env("INIT_CWD"), PROJECT_DIR);
  if (base === cwd) return parsed;
  const flags = { ...parsed.flags };
  for (const spec of cmd.flags) {
    const v = flags[spec.name];
    if (!spec.path || v === undefined || typeof v === "boolean") continue;
    const one = (x: string | number) =>
      spec.path === "data"
        ? userDataPath(String(x), base, cwd)
        : Promise.resolve(userPath(String(x), base, cwd));
    flags[spec.name] = Array.isArray(v) ? await Promise.all(v.map(one)) : await one(v);
  }
  const positionals = cmd.positionals.paths
    ? parsed.positionals.map((p) => userPath(p, base, cwd))
    : parsed.positionals;
  return { positionals, flags };
}

/**
 * Run the CLI.
 *
 * @param args command-line arguments (without the program name)
 * @param io output and environment
 * @returns the exit code: 0 ok, 1 a check failed, 2 bad usage or bad input, 3 an internal error
 * @example
 * ```ts
 * import { assertEquals, assertStringIncludes } from "@std/assert";
 * import { main } from "./cli.ts";
 * const out: string[] = [];
 * const io = { stdout: (l: string) => out.push(l), stderr: (l: string) => out.push(l), env: () => undefined };
 * assertEquals(await main(["--help"], io), 0);
 * assertStringIncludes(out.join("\n"), "inspect");
 * assertEquals(await main(["no-such-command"], io), 2);
 * ```
 */
export async function main(args: readonly string[], io: CliIO = denoIO): Promise<number> {
  const first = args[0];
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" ? COMMANDS.find((c) => c.name === args[1]) : undefined;
    const text = topic ? commandHelp(topic) : toolHelp();
    if (first === undefined) {
      io.stderr(text);
      return 2;
    }
    io.stdout(text);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  const wantJson = args.includes("--json");
  const debug = io.env("SHIFTKIT_DEBUG") === "1";
  const fail = (e: unknown, prefix: string): number => {
    const text = errorText(e, debug);
    const code = exitCodeOf(e);
    io.stderr(`${prefix}: ${code === 3 ? "Internal error: " : ""}${text}`);
    if (e instanceof UsageError) io.stderr(`Run 'shiftkit ${cmd ? `${cmd.name} ` : ""}--help' for usage.`);
    if (code === 3) io.stderr("This is a shiftkit bug: please report it with the command and the model.");
    if (wantJson) io.stdout(JSON.stringify({ ok: false, exitCode: code, error: oneLine(text) }));
    return code;
  };
  if (!cmd) {
    return fail(
      new UsageError(`unknown command "${first}" (commands: ${COMMANDS.map((c) => c.name).join(", ")})`),
      "shiftkit",
    );
  }
  const prefix = `shiftkit ${cmd.name}`;
  let reporter: ProgressReporter | undefined;
  try {
    const typed = parseArgs(args.slice(1), [...cmd.flags, ...COMMON_FLAGS]);
    if (typed.flags.help) {
      io.stdout(commandHelp(cmd));
      return 0;
    }
    const n = typed.positionals.length;
    const { names, min, max } = cmd.positionals;
    if (n < min) throw new UsageError(`missing ${names.slice(n, min).join(" ")}`);
    if (n > max) throw new UsageError(`unexpected argument "${typed.positionals[max]}"`);
    const parsed = await resolvePaths(cmd, typed, io);
    reporter = new ProgressReporter(parsed.flags.progress ? { bars: true } : {});
    const result = await cmd.run(parsed, { reporter, json: wantJson, env: io.env });
    reporter.finish();
    if (wantJson) io.stdout(JSON.stringify({ ok: (result.exitCode ?? 0) === 0, ...result.json }));
    else io.stdout(result.text);
    return result.exitCode ?? 0;
  } catch (e) {
    reporter?.finish();
    return fail(e, prefix);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
