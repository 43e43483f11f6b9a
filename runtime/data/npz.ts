/**
 * Data kinds `npz` (`X.npz`: array name = input name) and `npy` (`X.npy`: the single input's array), read
 * as ready tensors under the data contract of tensors.ts.
 * @module
 */
import { decodeNpy, decodeNpz } from "../npy.ts";
import type { DataKind, DataSource, OpenDataOptions } from "./source.ts";
import { tensorOptions, tensorSource } from "./tensors.ts";

/** `X.npz`: one array per model input, named after it. */
export const npzKind: DataKind = {
  name: "npz",
  describe: "X.npz: one array per model input, named after it (axis 0 = samples)",
  matches: (spec) => Promise.resolve(/\.npz$/i.test(spec)),
  async open(spec: string, options: OpenDataOptions): Promise<DataSource> {
    return tensorSource(decodeNpz(await Deno.readFile(spec)), tensorOptions(options));
  },
};

/** `X.npy`: the array of a single-input model. */
export const npyKind: DataKind = {
  name: "npy",
  describe: "X.npy: the array of a single-input model (axis 0 = samples)",
  matches: (spec) => Promise.resolve(/\.npy$/i.test(spec)),
  async open(spec: string, options: OpenDataOptions): Promise<DataSource> {
    const only = options.inputs?.length === 1 ? options.inputs[0]!.name : undefined;
    const name = options.inputName ?? only;
    if (!name) {
      const inputs = options.inputs?.map((i) => i.name).join(", ");
      throw new TypeError(
        `Cannot use ${spec}: a .npy feeds one input and needs the model's input name` +
          (inputs ? ` (the model has inputs ${inputs}: use a .npz with one array per input)` : ""),
      );
    }
    return tensorSource(new Map([[name, decodeNpy(await Deno.readFile(spec))]]), tensorOptions(options));
  },
};
