/**
 * The data-source registry: DATA specs as the CLI's `--calib` and `--data` take them (DESIGN.md, "CLI and
 * API"). Each kind lives in its own file and implements {@link DataKind}; {@link openDataSource} asks the
 * kinds in {@link DATA_KINDS} order and opens the spec with the first that matches. A new kind is a new
 * file plus one entry here.
 * @module
 */
import { evalSetKind } from "./evalsets.ts";
import { imageFolderKind } from "./image_folder.ts";
import { npyKind, npzKind } from "./npz.ts";
import { npzFolderKind } from "./npz_folder.ts";
import {
  checkFeedsCover,
  checkFirstSample,
  type DataKind,
  type DataSource,
  type OpenDataOptions,
} from "./source.ts";
import { textKind } from "./text.ts";

/**
 * The kinds, in the order they are asked: file extensions first, then eval-set prefixes, folders, and any
 * other file as LM text.
 */
export const DATA_KINDS: readonly DataKind[] = [
  npzKind,
  npyKind,
  evalSetKind,
  npzFolderKind,
  imageFolderKind,
  textKind,
];

/**
 * The kind that reads `spec`, or undefined.
 *
 * @param spec a path or eval-set prefix
 * @param kinds the kinds to ask, in order @default DATA_KINDS
 * @returns the first kind that matches
 */
export async function findDataKind(
  spec: string,
  kinds: readonly DataKind[] = DATA_KINDS,
): Promise<DataKind | undefined> {
  for (const k of kinds) if (await k.matches(spec)) return k;
  return undefined;
}

/**
 * Open DATA: `X.npz` (input name -> array), `X.npy` (one input), an eval-set prefix `X` with `X.json` +
 * `X.rgb.gz` (OCR lines, segmentation with optional `X.mask.gz`, or text pages, told apart by the JSON), a
 * folder of `.npz` files (one sample each), a folder of PNG/JPEG images (`preset` required; files in name
 * order), or any other file as byte-level LM text. With `inputs`, the source is checked against the model
 * before it is returned (nothing has run yet).
 *
 * @param spec the path or prefix
 * @param options see {@link OpenDataOptions}
 * @returns the source
 * @throws {Deno.errors.NotFound} when no kind reads `spec` (nothing exists there, nor `spec.json`)
 * @throws {TypeError} when a `.npy` has no input name or an image folder no preset
 * @throws {RangeError} (DataMismatchError) when the data does not fit `inputs`
 * @throws {SyntaxError} for unparsable files
 */
export async function openDataSource(spec: string, options: OpenDataOptions = {}): Promise<DataSource> {
  const kind = await findDataKind(spec);
  if (!kind) {
    const prefix = spec.replace(/\.json$/i, "");
    throw new Deno.errors.NotFound(
      `No data at "${spec}" (nor "${prefix}.json" + "${prefix}.rgb.gz"); DATA is one of: ` +
        DATA_KINDS.map((k) => k.describe).join("; "),
    );
  }
  const source = await kind.open(spec, options);
  if (options.inputs && source.kind !== "tensors") {
    checkFeedsCover(source, options.inputs);
    await checkFirstSample(source, options.inputs);
  }
  return source;
}
