/**
 * Command-line parsing driven by a command's {@link FlagSpec} list (no dependency: JSR is unreachable here).
 * Accepts `--name value`, `--name=value`, `-n value`, boolean `--name`, and `--` to end flags.
 * @module
 */
import { type FlagSpec, type ParsedArgs, UsageError } from "./command.ts";

/**
 * Parse `argv` against `flags`.
 *
 * @param argv the arguments after the command name
 * @param flags the accepted flags
 * @returns positionals and flag values
 * @throws {UsageError} for an unknown flag, a missing value or a non-numeric number
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseArgs } from "./args.ts";
 * const flags = [
 *   { name: "output", short: "o", type: "string", help: "" },
 *   { name: "bits", type: "number", help: "" },
 *   { name: "json", type: "boolean", help: "" },
 * ] as const;
 * const a = parseArgs(["m.onnx", "-o", "q.onnx", "--bits=4", "--json"], flags);
 * assertEquals(a, { positionals: ["m.onnx"], flags: { output: "q.onnx", bits: 4, json: true } });
 * ```
 */
export function parseArgs(argv: readonly string[], flags: readonly FlagSpec[]): ParsedArgs {
  const positionals: string[] = [];
  const out: ParsedArgs["flags"] = {};
  const byName = new Map<string, FlagSpec>();
  for (const f of flags) {
    byName.set(`--${f.name}`, f);
    if (f.short) byName.set(`-${f.short}`, f);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-" || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (!spec) throw new UsageError(`unknown option ${key}`);
    let value: string | number | boolean;
    if (spec.type === "boolean") {
      if (eq > 0) throw new UsageError(`option --${spec.name} takes no value`);
      value = true;
    } else {
      let raw: string | undefined;
      if (eq > 0) raw = arg.slice(eq + 1);
      else {
        raw = argv[++i];
        if (raw === undefined) throw new UsageError(`option --${spec.name} needs a value`);
      }
      if (spec.type === "number") {
        const n = Number(raw);
        if (raw.trim() === "" || !Number.isFinite(n)) {
          throw new UsageError(`option --${spec.name} expects a number, got "${raw}"`);
        }
        value = n;
      } else value = raw;
    }
    if (spec.multiple && typeof value !== "boolean") {
      const prev = out[spec.name];
      out[spec.name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      if (spec.name in out && spec.type !== "boolean") {
        throw new UsageError(`option --${spec.name} is given twice`);
      }
      out[spec.name] = value;
    }
  }
  return { positionals, flags: out };
}

/**
 * A flag value that must be a positive integer.
 *
 * @param v the parsed value
 * @param flag the flag name, for the message
 * @returns the integer
 * @throws {UsageError} otherwise
 */
export function positiveInt(v: unknown, flag: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new UsageError(`--${flag} must be a positive integer, got ${v}`);
  }
  return v;
}
