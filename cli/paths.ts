/**
 * Paths typed by the user resolve against the folder the command was typed in. `deno task shiftkit ...`
 * runs cli.ts in the project folder and passes the folder it was typed in as `INIT_CWD` (checked with
 * deno 2.9: the variable is set when absent and kept when already set, as npm does), so where the process
 * runs in the project folder and `INIT_CWD` names another folder, relative paths resolve against
 * `INIT_CWD`; everywhere else against the current folder (and are left as typed).
 * @module
 */
import { exists } from "../api/data.ts";
import { isAbsolute, resolve } from "node:path";

/** The project folder (where deno.json and cli.ts live), without a trailing slash. */
export const PROJECT_DIR: string = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(
  /\/$/,
  "",
);

/**
 * The folder user paths are relative to.
 *
 * @param cwd the process's current folder
 * @param initCwd the `INIT_CWD` environment variable
 * @param projectDir the project folder @default PROJECT_DIR
 * @returns `initCwd` when the process runs in the project folder through `deno task`, else `cwd`
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { userDir } from "./paths.ts";
 * assertEquals(userDir("/repo", "/home/me/models", "/repo"), "/home/me/models");
 * assertEquals(userDir("/elsewhere", "/home/me/models", "/repo"), "/elsewhere");
 * assertEquals(userDir("/repo", undefined, "/repo"), "/repo");
 * ```
 */
export function userDir(cwd: string, initCwd: string | undefined, projectDir: string = PROJECT_DIR): string {
  const strip = (p: string) => p.replace(/\/+$/, "");
  if (initCwd && isAbsolute(initCwd) && strip(cwd) === strip(projectDir)) return strip(initCwd);
  return cwd;
}

/**
 * Resolve a path the user typed.
 *
 * @param path as typed
 * @param base the folder from {@link userDir}
 * @param cwd the process's current folder (paths stay as typed where `base` is it)
 * @returns the path to open
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { userPath } from "./paths.ts";
 * assertEquals(userPath("m.onnx", "/home/me", "/repo"), "/home/me/m.onnx");
 * assertEquals(userPath("m.onnx", "/repo", "/repo"), "m.onnx");
 * assertEquals(userPath("/abs/m.onnx", "/home/me", "/repo"), "/abs/m.onnx");
 * ```
 */
export function userPath(path: string, base: string, cwd: string): string {
  if (base === cwd || isAbsolute(path)) return path;
  return resolve(base, path);
}

/**
 * Resolve a DATA spec the user typed: like {@link userPath}, except that an eval-set name such as
 * `models/ocr-lines-sans` that exists only in the project (testdata/, ../shared/models) is left as typed for
 * api/data.ts to find.
 *
 * @param spec as typed
 * @param base the folder from {@link userDir}
 * @param cwd the process's current folder
 * @returns the spec to open
 */
export async function userDataPath(spec: string, base: string, cwd: string): Promise<string> {
  const p = userPath(spec, base, cwd);
  if (p === spec) return spec;
  if (await exists(p) || await exists(`${p.replace(/\.json$/i, "")}.json`)) return p;
  return /^(?:\.\/)?models\//.test(spec) ? spec : p;
}
