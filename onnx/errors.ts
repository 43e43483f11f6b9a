/**
 * Errors that are shiftkit's fault, not the user's: a model shiftkit built (a rewritten, calibration or
 * emitted model) that onnxruntime or `verify()` rejects. The CLI exits 3 on these, never 2 ("bad input"),
 * and asks for a bug report.
 * @module
 */

/**
 * A shiftkit bug: something shiftkit produced is invalid. The message says what was rejected and by whom;
 * `cause` carries the original error.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { InternalError } from "./errors.ts";
 * const e = new InternalError("onnxruntime rejected the emitted model: Slice: bad ends");
 * assert(e instanceof Error && e.name === "InternalError");
 * ```
 */
export class InternalError extends Error {
  /**
   * @param message what shiftkit produced that was rejected, and why
   * @param options the original error as `cause`
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InternalError";
  }
}
