/**
 * DATA arguments as users write them (DESIGN.md, CLI and API): a path, or an eval-set prefix such as
 * `models/ocr-lines-sans` that names the data shipped in ../shared/models (copied into testdata/).
 * @module
 */
import { type DataSource, type OpenDataOptions, openDataSource } from "../runtime/data/mod.ts";

/**
 * Whether a path exists (any kind of file).
 *
 * @param path the path
 * @returns true when `Deno.stat` succeeds
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolve a DATA spec to a path that exists: as given; else, for `models/X`, `testdata/X` in this
 * repository or `../shared/models/X`.
 *
 * @param spec the user's DATA argument
 * @returns the path to open
 */
export async function resolveDataSpec(spec: string): Promise<string> {
  const probe = async (p: string) => await exists(p) || await exists(`${p}.json`);
  if (await probe(spec)) return spec;
  const m = /^(?:\.\/)?(?:\.\.\/shared\/)?models\/(.+)$/.exec(spec);
  if (m) {
    const repoRoot = new URL("../", import.meta.url).pathname;
    for (const base of [`${repoRoot}testdata/`, `${repoRoot}../shared/models/`]) {
      if (await probe(base + m[1])) return base + m[1];
    }
  }
  return spec;
}

/**
 * Open a DATA spec (or pass a ready source through).
 *
 * @param data a spec or a source
 * @param options preprocessing preset, input name, sample limit
 * @returns the data source
 */
export async function openData(
  data: string | DataSource,
  options: OpenDataOptions = {},
): Promise<DataSource> {
  if (typeof data !== "string") return data;
  const path = await resolveDataSpec(data);
  // A FIFO or a device (/dev/zero, /dev/urandom) would block or never end.
  const info = await Deno.stat(path).catch(() => undefined);
  if (info && !info.isFile && !info.isDirectory) {
    throw new RangeError(`DATA "${data}" is not a regular file or a folder (a device, FIFO or socket)`);
  }
  try {
    return await openDataSource(path, options);
  } catch (e) {
    // Image errors name the image's size, not its folder: add the DATA folder (one line, same class).
    if (e instanceof Error && e.message.startsWith("Cannot decode image") && !e.message.includes(`"`)) {
      const Cls = e instanceof RangeError ? RangeError : SyntaxError;
      throw new Cls(`DATA "${data}": ${e.message}`, { cause: e });
    }
    throw e;
  }
}
