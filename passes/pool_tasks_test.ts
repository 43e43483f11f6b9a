import { assert, assertEquals, assertThrows } from "@std/assert";
import { POOL_TASKS, poolTaskFunctions } from "./pool_tasks.ts";

/** Every module under passes/ whose name ends in `_task.ts`. */
async function taskModules(dir = new URL("./", import.meta.url)): Promise<URL[]> {
  const out: URL[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...await taskModules(new URL(`${e.name}/`, dir)));
    else if (e.name.endsWith("_task.ts")) out.push(new URL(e.name, dir));
  }
  return out;
}

Deno.test("pool tasks: every task a *_task.ts module exports is listed", async () => {
  const modules = await taskModules();
  assert(modules.length >= 3, `found ${modules.length} task modules`);
  const missing: string[] = [];
  for (const url of modules) {
    for (const [k, v] of Object.entries(await import(url.href))) {
      const t = v as { url?: unknown; name?: unknown; fn?: unknown; minWeights?: unknown };
      const isTask = typeof t === "object" && t !== null && typeof t.fn === "function" &&
        typeof t.url === "string" && typeof t.name === "string" && typeof t.minWeights === "number";
      if (isTask && !POOL_TASKS.includes(v as (typeof POOL_TASKS)[number])) {
        missing.push(`${url.pathname} ${k}`);
      }
    }
  }
  assertEquals(missing, []);
});

Deno.test("pool tasks: each name finds the function a worker would import from the task's URL", async () => {
  const fns = poolTaskFunctions();
  for (const t of POOL_TASKS) {
    const exported = (await import(t.url))[t.name];
    assert(exported === t.fn, `${t.url} ${t.name}`);
    assert(fns.get(t.name) === t.fn, t.name);
  }
});

Deno.test("pool tasks: two tasks of one name and different functions are refused", () => {
  const a = { url: "file:///a.ts", name: "same", fn: (x: number) => x, minWeights: 0 };
  const b = { ...a, url: "file:///b.ts", fn: (x: number) => -x };
  assertEquals(poolTaskFunctions([a, { ...a }]).size, 1);
  assertThrows(() => poolTaskFunctions([a, b]), RangeError, `Two pool tasks are named "same"`);
});
