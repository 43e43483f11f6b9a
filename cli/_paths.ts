/**
 * Paths the CLI compares: two spellings of one file (`x.onnx`, `./x.onnx`, a symbolic link to it) are the
 * same file, so `quantize X -o ./X` is caught like `quantize X -o X`.
 * @module
 */

function split(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return i < 0 ? [".", path] : [path.slice(0, i) || "/", path.slice(i + 1)];
}

/**
 * The canonical form of a path: its real path when it exists, else its folder's real path plus its name.
 *
 * @param path a file path
 * @returns an absolute path
 */
export function canonicalPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    const [dir, name] = split(path);
    try {
      return `${Deno.realPathSync(dir)}/${name}`;
    } catch {
      return path;
    }
  }
}

/**
 * The first pair of the same file among the outputs and between outputs and inputs.
 *
 * @param outputs files a command will write, by role (e.g. `-o`, `--report`)
 * @param inputs files it reads, by role (e.g. "the input model", "its external data")
 * @returns a sentence naming both roles and the file, or undefined when all differ
 */
export function pathClash(
  outputs: readonly [string, string][],
  inputs: readonly [string, string][],
): string | undefined {
  const outs = outputs.map(([role, p]) => [role, p, canonicalPath(p)] as const);
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      if (outs[i]![2] === outs[j]![2]) {
        return `${outs[i]![0]} and ${outs[j]![0]} are the same file "${outs[i]![1]}"`;
      }
    }
    for (const [role, p] of inputs) {
      if (outs[i]![2] === canonicalPath(p)) {
        return `${outs[i]![0]} "${outs[i]![1]}" would overwrite ${role} "${p}"`;
      }
    }
  }
  return undefined;
}
