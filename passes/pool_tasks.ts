/**
 * Every {@link PoolTask} a pass hands to `ctx.pool`, in one list: a worker that cannot import a task's module
 * by its URL (the browser page's bundled pool worker, web/pool_worker.ts: in a bundle every module's
 * `import.meta.url` is the bundle's) finds the task's function here by its name. A new task goes in this list;
 * passes/pool_tasks_test.ts fails for an exported task left out, and for two tasks sharing a name with
 * different functions.
 * @module
 */
import { DENSE_SHIFT_LEARNED_TASK, DENSE_SHIFT_NEAREST_TASK } from "./denseshift/dense_shift_task.ts";
import { GRAM_FOLD_TASK } from "./hessians.ts";
import type { PoolTask } from "./pass.ts";
import { SHIFT_ADD_TASK } from "./shiftadd/shift_add_task.ts";
import { GPTQ_TASK, RTN_TASK } from "./weightonly/weight_only_task.ts";

/** The pool tasks of every pass (several may share one function, under one name). */
// deno-lint-ignore no-explicit-any
export const POOL_TASKS: readonly PoolTask<any, any>[] = [
  GPTQ_TASK,
  RTN_TASK,
  SHIFT_ADD_TASK,
  DENSE_SHIFT_LEARNED_TASK,
  DENSE_SHIFT_NEAREST_TASK,
  GRAM_FOLD_TASK,
];

/**
 * The tasks' functions by name.
 *
 * @param tasks the tasks to index
 * @returns name -> function
 * @throws {RangeError} when two tasks share a name but not a function
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { poolTaskFunctions } from "./pool_tasks.ts";
 * assertEquals([...poolTaskFunctions().keys()].sort(), ["blockwiseLayer", "denseShiftGroup", "gramFold", "shiftAddGroup"]);
 * ```
 */
export function poolTaskFunctions(
  // deno-lint-ignore no-explicit-any
  tasks: readonly PoolTask<any, any>[] = POOL_TASKS,
): Map<string, (args: unknown) => unknown> {
  const byName = new Map<string, (args: unknown) => unknown>();
  for (const t of tasks) {
    const had = byName.get(t.name);
    if (had && had !== t.fn) {
      throw new RangeError(`Two pool tasks are named "${t.name}" with different functions (${t.url})`);
    }
    byName.set(t.name, t.fn);
  }
  return byName;
}
