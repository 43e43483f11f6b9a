/**
 * Whether the user's model loads in the float runtime, so that a rejection of a model shiftkit built is
 * known to be shiftkit's bug (exit 3), never blamed on the input (exit 2).
 *
 * A small model is checked only when a conversion fails: its encoding is kept (a snapshot: passes change the
 * model in place) and loaded after the failure, and a rejection then replaces the failure's error with
 * {@link InputModelError} (the original as its cause). The answer is the same as an eager check's for every
 * failing conversion, and a successful one never pays the session (a conversion whose emitted model loads
 * needs no attribution). On the repository's Segmenters that session was 12-19 ms of CPU, 0.15x of a float
 * pass over their calibration set. A larger model is checked before any work, as its snapshot would double
 * its memory for the whole conversion.
 * @module
 */
import { encodeModel } from "../onnx/codec.ts";
import type { Model } from "../onnx/ir.ts";
import type { RuntimeFactory } from "../runtime/runtime.ts";
import { InputModelError } from "./input_model.ts";

/**
 * Largest stored size (bytes) whose load check waits for a failure; larger models are checked first.
 * 64 MB: the snapshot costs at most that much memory, and above it the check's session is a small part of
 * any conversion.
 */
export const DEFERRED_INPUT_CHECK_BYTES = 64e6;

/** The input model's load check, run once, eagerly or on a failure. */
export interface InputLoadCheck {
  /**
   * Run `work`; if it throws, load the input (once) and throw {@link InputModelError} when the runtime
   * rejects it, else rethrow what `work` threw.
   */
  guard<T>(work: () => Promise<T>): Promise<T>;
  /** Whether the input was loaded (eagerly or after a failure). */
  readonly ran: boolean;
}

/**
 * Check the input now (`deferred: false`) or keep its encoding to check on a failure.
 *
 * @param model the user's model, before any pass changed it
 * @param factory the runtime that loads it (never run)
 * @param deferred wait for a failure (small models) instead of checking now
 * @returns the check, whose `guard` wraps the conversion
 * @throws {InputModelError} when checked now and the runtime rejects the model
 */
export async function inputLoadCheck(
  model: Model,
  factory: RuntimeFactory,
  deferred: boolean,
): Promise<InputLoadCheck> {
  let snapshot: Uint8Array | undefined = encodeModel(model);
  let ran = false;
  const check = async () => {
    const bytes = snapshot!;
    snapshot = undefined;
    ran = true;
    await loads(bytes, factory);
  };
  if (!deferred) await check();
  return {
    get ran() {
      return ran;
    },
    async guard(work) {
      try {
        return await work();
      } catch (e) {
        if (snapshot) {
          try {
            await check();
          } catch (rejected) {
            if (rejected instanceof InputModelError) throw Object.assign(rejected, { cause: e });
            throw rejected;
          }
        }
        throw e;
      } finally {
        snapshot = undefined;
      }
    },
  };
}

async function loads(bytes: Uint8Array, factory: RuntimeFactory): Promise<void> {
  let rt;
  try {
    rt = await factory(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/\s*\n\s*/g, " ") : String(e);
    throw new InputModelError([`the float runtime cannot load it: ${why}`]);
  }
  await rt.release();
}
