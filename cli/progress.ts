/**
 * The terminal renderer of {@link Reporter}: one progress bar line on stderr, redrawn at most every
 * `intervalMs`, plus warnings (always) and info lines (when verbose). Draws bars only where stderr is a
 * terminal, unless forced (`--progress`), so logs and pipes stay clean.
 * @module
 */
import type { Reporter } from "../onnx/reporter.ts";

/** Options for {@link ProgressReporter}. */
export interface ProgressOptions {
  /** Where text goes. @default synchronous writes to Deno.stderr */
  write?: (text: string) => void;
  /** Draw progress bars. @default whether stderr is a terminal */
  bars?: boolean;
  /** Print info messages too (warnings are always printed). @default false */
  verbose?: boolean;
  /** Minimum milliseconds between redraws of the same task. @default 100 */
  intervalMs?: number;
  /** Bar width in characters. @default 30 */
  width?: number;
  /** Clock, for tests. @default performance.now */
  now?: () => number;
}

const encoder = new TextEncoder();

function stderrWrite(text: string): void {
  const b = encoder.encode(text);
  let off = 0;
  while (off < b.length) off += Deno.stderr.writeSync(b.subarray(off));
}

/**
 * A {@link Reporter} that draws progress bars on stderr.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ProgressReporter } from "./progress.ts";
 * let out = "";
 * let t = 0;
 * const r = new ProgressReporter({ write: (s) => out += s, bars: true, now: () => t, width: 4 });
 * r.progress("calibrate", 1, 4); // drawn
 * r.progress("calibrate", 2, 4); // throttled: same instant
 * t = 500;
 * r.progress("calibrate", 4, 4); // the last step is always drawn, then the line ends
 * assertEquals(out, "\r\x1b[2Kcalibrate [#...] 1/4 25%\r\x1b[2Kcalibrate [####] 4/4 100%\n");
 * ```
 */
export class ProgressReporter implements Reporter {
  readonly #write: (text: string) => void;
  readonly #bars: boolean;
  readonly #verbose: boolean;
  readonly #interval: number;
  readonly #width: number;
  readonly #now: () => number;
  #open = false;
  #lastTask = "";
  #lastDraw = -Infinity;

  /** @param options output, throttling and what to show */
  constructor(options: ProgressOptions = {}) {
    this.#write = options.write ?? stderrWrite;
    this.#bars = options.bars ?? Deno.stderr.isTerminal();
    this.#verbose = options.verbose ?? false;
    this.#interval = options.intervalMs ?? 100;
    this.#width = options.width ?? 30;
    this.#now = options.now ?? (() => performance.now());
  }

  /** @inheritdoc */
  progress(task: string, done: number, total: number): void {
    if (!this.#bars) return;
    const t = this.#now();
    const last = total > 0 && done >= total;
    if (!last && task === this.#lastTask && t - this.#lastDraw < this.#interval) return;
    this.#lastTask = task;
    this.#lastDraw = t;
    const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const fill = Math.round(frac * this.#width);
    const bar = "#".repeat(fill) + ".".repeat(this.#width - fill);
    this.#write(`\r\x1b[2K${task} [${bar}] ${done}/${total} ${Math.round(frac * 100)}%${last ? "\n" : ""}`);
    this.#open = !last;
  }

  /** @inheritdoc */
  info(message: string): void {
    if (this.#verbose) this.#line(message);
  }

  /** @inheritdoc */
  warn(message: string): void {
    this.#line(`warning: ${message}`);
  }

  /** End an unfinished bar line (call when the work stops early). */
  finish(): void {
    if (this.#open) this.#write("\n");
    this.#open = false;
  }

  #line(text: string): void {
    this.#write(`${this.#open ? "\r\x1b[2K" : ""}${text}\n`);
    this.#open = false;
    this.#lastDraw = -Infinity; // redraw the bar on the next progress call
  }
}
