/**
 * Progress and diagnostics for long work. Library code never prints: it reports through a Reporter that
 * the caller injects (the CLI renders progress bars; tests collect messages; the default is silent).
 * @module
 */

/** Receives progress and diagnostics. Every method is optional to implement via {@link makeReporter}. */
export interface Reporter {
  /** `done` of `total` units of `task` are finished. */
  progress(task: string, done: number, total: number): void;
  /** Informational message. */
  info(message: string): void;
  /** Something the user should know (a layer skipped, a fallback taken). */
  warn(message: string): void;
}

/** A reporter that ignores everything. */
export const silentReporter: Reporter = { progress() {}, info() {}, warn() {} };

/**
 * Build a reporter from partial handlers (missing ones do nothing).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { makeReporter } from "./reporter.ts";
 * const warnings: string[] = [];
 * const r = makeReporter({ warn: (m) => warnings.push(m) });
 * r.warn("layer fc1 kept in float");
 * r.info("ignored");
 * assertEquals(warnings, ["layer fc1 kept in float"]);
 * ```
 */
export function makeReporter(handlers: Partial<Reporter>): Reporter {
  return { ...silentReporter, ...handlers };
}

/** A reporter that records everything (for tests and reports). */
export class RecordingReporter implements Reporter {
  /** Every info message, in order. */
  readonly infos: string[] = [];
  /** Every warning, in order. */
  readonly warnings: string[] = [];
  /** Every progress event as [task, done, total]. */
  readonly progressEvents: [string, number, number][] = [];
  /** @inheritdoc */
  /** Record a progress event. */
  progress(task: string, done: number, total: number): void {
    this.progressEvents.push([task, done, total]);
  }
  /** @inheritdoc */
  /** Record an info message. */
  info(message: string): void {
    this.infos.push(message);
  }
  /** @inheritdoc */
  /** Record a warning. */
  warn(message: string): void {
    this.warnings.push(message);
  }
}
