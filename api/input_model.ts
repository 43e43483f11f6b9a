/**
 * The check `quantize()` runs on the model it is given, before any work: a model that fails
 * shiftkit's `verify()` is refused as bad input ("input model invalid: ..."), so a broken file never
 * surfaces later as an internal error of a pass.
 * @module
 */
import type { Model } from "../onnx/ir.ts";
import { verify } from "../onnx/verify.ts";

/** The model given to shiftkit is not a valid ONNX model. Exit code 2 in the CLI. */
export class InputModelError extends TypeError {
  /** @param problems what verify() found */
  constructor(readonly problems: readonly string[]) {
    super(
      `input model invalid: ${problems.slice(0, 5).join("; ")}${
        problems.length > 5 ? `; and ${problems.length - 5} more problems` : ""
      }`,
    );
    this.name = "InputModelError";
  }
}

/**
 * Throw {@link InputModelError} when `verify(model)` finds problems.
 *
 * @param model the model as given
 * @throws {InputModelError} listing the first five problems
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { Model } from "../onnx/ir.ts";
 * import { checkInputModel, InputModelError } from "./input_model.ts";
 * const m = new Model();
 * m.opsets.set("", 13);
 * const y = m.graph.value("y"); // an output nothing produces
 * m.graph.outputs.push(y);
 * assertThrows(() => checkInputModel(m), InputModelError, "input model invalid:");
 * ```
 */
export function checkInputModel(model: Model): void {
  const problems = verify(model);
  if (problems.length > 0) throw new InputModelError(problems);
}
