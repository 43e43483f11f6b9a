/**
 * The command table. To add a command: write `cli/<name>.ts` exporting a {@link Command} and add one line
 * here.
 * @module
 */
import type { Command } from "./command.ts";
import { decodeCommand } from "./decode.ts";
import { evalCommand } from "./eval.ts";
import { exportCommand } from "./export.ts";
import { inspectCommand } from "./inspect.ts";
import { quantizeCommand } from "./quantize.ts";
import { validateCommand } from "./validate.ts";

/** Every command, in the order `shiftkit --help` lists them. */
export const COMMANDS: readonly Command[] = [
  inspectCommand,
  quantizeCommand,
  evalCommand,
  validateCommand,
  exportCommand,
  decodeCommand,
];
