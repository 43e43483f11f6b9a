/**
 * What a CLI command is. Adding a command = one file in cli/ exporting a {@link Command}, plus one line in
 * cli/commands.ts. The framework (cli.ts) parses flags from the command's declaration, renders `--help`,
 * handles `--json`, exit codes and errors; a command only computes its result.
 * @module
 */
import type { Reporter } from "../onnx/reporter.ts";

/** One flag a command accepts. */
export interface FlagSpec {
  /** Long name without dashes, e.g. "output". */
  readonly name: string;
  /** Value kind; booleans take no value. */
  readonly type: "boolean" | "string" | "number";
  /** One-letter alias without the dash, e.g. "o". */
  readonly short?: string;
  /** Placeholder shown in help, e.g. "FILE". @default the upper-cased type */
  readonly value?: string;
  /** One-line help. */
  readonly help: string;
  /** Whether the flag may repeat (its value is then an array). @default false */
  readonly multiple?: boolean;
  /**
   * The value is a path the user typed ("file") or a DATA spec ("data"): cli.ts resolves it against the
   * folder the command was typed in (cli/paths.ts) before the command runs. @default undefined (not a path)
   */
  readonly path?: "file" | "data";
}

/** Parsed command line of one command. */
export interface ParsedArgs {
  /** Positional arguments. */
  readonly positionals: string[];
  /** Flag values by long name (absent when not given). */
  readonly flags: Record<string, string | number | boolean | (string | number)[]>;
}

/** What a command run hands back to the framework. */
export interface CommandResult {
  /** 0 = ok, 1 = a check failed (validate mismatch, metric under a bound). @default 0 */
  readonly exitCode?: 0 | 1;
  /** Human-readable output (printed to stdout without `--json`). */
  readonly text: string;
  /** Machine-readable output (printed as the last stdout line with `--json`). */
  readonly json: Record<string, unknown>;
}

/** What a command may use while it runs. */
export interface CommandContext {
  /** Progress bars and warnings on stderr (silent where stderr is not a terminal). */
  readonly reporter: Reporter;
  /** True when `--json` was given (commands may skip building text). */
  readonly json: boolean;
  /** Reads one environment variable (the CLI's injected environment; undefined where unset). */
  readonly env: (name: string) => string | undefined;
}

/** A CLI command. */
export interface Command {
  /** Name as typed: `shiftkit <name>`. */
  readonly name: string;
  /** One line for the tool's command list. */
  readonly summary: string;
  /** Usage line after `shiftkit `, e.g. "inspect MODEL [--json]". */
  readonly usage: string;
  /** Longer help text (paragraphs), shown by `shiftkit <name> --help`. */
  readonly description: string;
  /** Positional arguments: names for help and how many are required / allowed. */
  readonly positionals: {
    readonly names: readonly string[];
    readonly min: number;
    readonly max: number;
    /** Whether the positionals are file paths (resolved like path flags). @default false */
    readonly paths?: boolean;
  };
  /** Flags besides the common --json, --help and --progress. */
  readonly flags: readonly FlagSpec[];
  /** Run the command. Throw {@link UsageError} for bad usage; any other error is reported as bad input. */
  run(args: ParsedArgs, ctx: CommandContext): Promise<CommandResult>;
}

/** Bad usage: unknown flag, missing argument, invalid value. Exit code 2, with a pointer to `--help`. */
export class UsageError extends Error {
  /** @param message what is wrong with the command line */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
